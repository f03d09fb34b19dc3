// secformer/dealer/material.hpp: the vocabulary of dealer material, what a protocol and a Context
// need to ask for it (Params, Parts, MaterialRequest) and what a kind of material is (Layout,
// derive). The kinds themselves live next to the protocols that use them (mul_material.hpp,
// trunc_material.hpp, matmul_material.hpp, compare_material.hpp, ...); the engine that makes them
// (the dealer role and the parties' clients) is dealer/dealer.hpp.
//
// A kind of material has uniform random components R (each party expands its own share of every R
// from its own dealer stream: no traffic) and derived components D = g(R) (party 0 expands its share
// of D from its stream; the dealer sends party 1 the correction D - D_0, or D xor D_0 for bit
// vectors). So dealer traffic to party 0 is one seed; to party 1 it is the size of D.
// Every request has an index; its stream is AES-CTR under the party's dealer key with IV = index.
// A kind is a type with: static id (u32, unique in a dealer's KindList), name, layout(params) ->
// Layout, and template <class W> derive(params, R, D, state) filling D from the whole R.
// Every kind and its cost: docs/protocols.md#dealer-material.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "prg.hpp"

namespace secformer::material {

using Shape = std::vector<std::size_t>;

struct Layout {
  std::vector<Shape> randoms;
  std::vector<Shape> derived;
  std::vector<bool> derived_xor;  ///< per derived component: xor-shared (true) or additive (empty: all additive)
  bool is_xor(std::size_t j) const { return j < derived_xor.size() && derived_xor[j]; }
};

/// Dealer-side memory that outlives one request (weight masks), keyed by a handle. The dealer keeps
/// only where a mask came from (its request index: both parties' streams regenerate it on use, so
/// a model's masks cost the dealer no memory); the simulation keeps whole masks.
struct State {
  struct Source {
    std::uint64_t index;
    std::uint32_t word_bits;
    std::size_t words;
  };
  std::map<std::uint64_t, std::vector<std::uint64_t>> tensors;  ///< simulation (deal_whole)
  std::map<std::uint64_t, Source> sources;                      ///< dealer (deal)
  // Set by deal() for the request being derived.
  const Seed* key0 = nullptr;
  const Seed* key1 = nullptr;
  std::uint64_t index = 0;
};

inline std::size_t elements(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

/// Parameters travel as 64-bit words: shapes as [rank, d0, d1, ...].
struct Params {
  std::vector<std::uint64_t> words;
  Params& shape(const Shape& s) {
    words.push_back(s.size());
    for (auto d : s) words.push_back(d);
    return *this;
  }
  Params& value(std::uint64_t v) { words.push_back(v); return *this; }
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint64_t> p) : p_(p) {}
  std::uint64_t value() {
    if (at_ >= p_.size()) throw usage_error("secformer: malformed dealer request (too few parameters)");
    return p_[at_++];
  }
  Shape shape() {
    const auto rank = value();
    if (rank > 8) throw usage_error("secformer: malformed dealer request (rank " + std::to_string(rank) + ")");
    Shape s(rank);
    std::size_t n = 1;
    for (auto& d : s) {
      d = static_cast<std::size_t>(value());
      if (d > (std::uint64_t(1) << 32)) throw usage_error("secformer: malformed dealer request (dimension too large)");
      n *= d;
      if (n > (std::uint64_t(1) << 33)) throw usage_error("secformer: dealer request too large");
    }
    return s;
  }
 private:
  std::span<const std::uint64_t> p_;
  std::size_t at_ = 0;
};

template <class W> using Parts = std::vector<xt::xarray<W>>;

/// What a kind of material provides (its derive is a template over the word type, checked on use).
template <class K>
concept kind = requires(std::span<const std::uint64_t> p) {
  { K::id } -> std::convertible_to<std::uint32_t>;
  { K::name } -> std::convertible_to<std::string_view>;
  { K::layout(p) } -> std::same_as<Layout>;
};

/// The kinds a dealer serves (DefaultKinds in dealer/dealer.hpp lists the library's; a program with
/// kinds of its own serves a longer list: BasicDealer<KindList<...>>, DealerClient<P, C, KindList<...>>).
template <class... K> struct KindList {};

template <class... K, class F>
bool dispatch(KindList<K...>, std::uint32_t id, F&& f) {
  return ((K::id == id ? (f.template operator()<K>(), true) : false) || ...);
}

}  // namespace secformer::material

namespace secformer {

/// One piece of material as the dealer sees it: kind, word size and parameters.
struct MaterialRequest {
  std::uint32_t kind = 0;
  std::uint32_t word_bits = 0;
  std::vector<std::uint64_t> params;
  friend bool operator==(const MaterialRequest&, const MaterialRequest&) = default;
};
/// Everything one run of a program asks of the dealer, in order (see plan_material in run.hpp).
using MaterialPlan = std::vector<MaterialRequest>;

}  // namespace secformer
