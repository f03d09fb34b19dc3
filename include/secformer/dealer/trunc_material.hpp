// secformer/dealer/trunc_material.hpp: the material of the dealer-assisted truncation
// (protocols/trunc.hpp, trunc::Dealer): truncation pairs (TruncPair, id 4).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "material.hpp"

namespace secformer::material {

/// Truncation pair for the dealer-assisted truncation (protocols/trunc.hpp): params (shape, f);
/// R = {r}, D = {(r mod 2^(l-1)) >> f, msb(r)}. Dealer -> P1: 2 words per element.
struct TruncPair {
  static constexpr std::uint32_t id = 4;
  static constexpr std::string_view name = "truncation pair";
  static Layout layout(std::span<const std::uint64_t> p) { auto s = Reader(p).shape(); return {{s}, {s, s}, {}}; }
  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    Reader rd(p);
    rd.shape();
    const unsigned f = static_cast<unsigned>(rd.value());
    constexpr unsigned l = 8 * sizeof(W);
    const W low = (W(1) << (l - 1)) - 1;
    auto o1 = d[0].begin(), o2 = d[1].begin();
    for (W v : r[0]) {
      *o1++ = static_cast<W>((v & low) >> f);
      *o2++ = static_cast<W>(v >> (l - 1));
    }
  }
};

}  // namespace secformer::material
