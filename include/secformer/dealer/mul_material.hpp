// secformer/dealer/mul_material.hpp: the material of element-wise products (protocols/mul.hpp):
// Beaver triples (Triple, id 1) and square pairs (SquarePair, id 2).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "material.hpp"

namespace secformer::material {

/// Element-wise Beaver triple: R = {a, b}, D = {a * b}. Dealer -> P1: 1 word per element.
struct Triple {
  static constexpr std::uint32_t id = 1;
  static constexpr std::string_view name = "triple";
  static Layout layout(std::span<const std::uint64_t> p) { auto s = Reader(p).shape(); return {{s, s}, {s}, {}}; }
  template <class W>
  static void derive(std::span<const std::uint64_t>, const Parts<W>& r, Parts<W>& d, State&) { d[0] = r[0] * r[1]; }
};

/// Square pair: R = {a}, D = {a^2}. Dealer -> P1: 1 word per element.
struct SquarePair {
  static constexpr std::uint32_t id = 2;
  static constexpr std::string_view name = "square";
  static Layout layout(std::span<const std::uint64_t> p) { auto s = Reader(p).shape(); return {{s}, {s}, {}}; }
  template <class W>
  static void derive(std::span<const std::uint64_t>, const Parts<W>& r, Parts<W>& d, State&) { d[0] = r[0] * r[0]; }
};

}  // namespace secformer::material
