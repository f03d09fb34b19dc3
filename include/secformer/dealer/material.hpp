// secformer/dealer/material.hpp: kinds of correlated randomness and the generic way they are made.
//
// A kind of material has uniform random components R (each party expands its own share of every R
// from its own dealer stream: no traffic) and derived components D = g(R) (party 0 expands its share
// of D from its stream; the dealer sends party 1 the correction D - D_0, or D xor D_0 for bit
// vectors). So dealer traffic to party 0 is one seed; to party 1 it is the size of D.
// Every request has an index; its stream is AES-CTR under the party's dealer key with IV = index.
// Every kind and its cost: docs/protocols.md#dealer-material.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../core/gemm.hpp"
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

// ---------------------------------------------------------------------------------------------
// The kinds used by the foundation protocols. Each: id, name, layout(params), derive(params, R, D, state).

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

/// Batched matrix triple: params (batch, m, k, n); R = {A: batch x m x k, B: batch x k x n},
/// D = {C = A B: batch x m x n}. Dealer -> P1: batch*m*n words.
struct MatTriple {
  static constexpr std::uint32_t id = 3;
  static constexpr std::string_view name = "matmul triple";
  static Layout layout(std::span<const std::uint64_t> p) {
    Reader r(p);
    const std::size_t b = r.value(), m = r.value(), k = r.value(), n = r.value();
    check(b, m, k, n);
    return {{{b, m, k}, {b, k, n}}, {{b, m, n}}, {}};
  }
  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    Reader rd(p);
    const std::size_t b = rd.value(), m = rd.value(), k = rd.value(), n = rd.value();
    kernels::gemm_batched<W>(b, m, n, k, r[0].data(), m * k, k, r[1].data(), k * n, n, d[0].data(), m * n, n, false, 0);
  }
  static void check(std::size_t b, std::size_t m, std::size_t k, std::size_t n) {
    if (b * m * k > (std::size_t(1) << 33) || b * k * n > (std::size_t(1) << 33) || b * m * n > (std::size_t(1) << 33))
      throw usage_error("secformer: matrix triple too large");
  }
};

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

/// Mask of a fixed weight (docs/protocols.md#linear-layers-and-fixed-weights): params (handle, k, n); R = {B: k x n}, no D.
/// The dealer keeps B under the handle for later FixedMatTriple requests.
struct WeightMask {
  static constexpr std::uint32_t id = 5;
  static constexpr std::string_view name = "weight mask";
  static Layout layout(std::span<const std::uint64_t> p) {
    Reader r(p);
    r.value();
    const std::size_t k = r.value(), n = r.value();
    MatTriple::check(1, 1, k, n);
    return {{{k, n}}, {}, {}};
  }
  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>&, State& st) {
    const auto handle = Reader(p).value();
    if (st.key0) {
      st.sources[handle] = State::Source{st.index, static_cast<std::uint32_t>(8 * sizeof(W)), r[0].size()};
    } else {
      auto& t = st.tensors[handle];
      t.assign(r[0].begin(), r[0].end());
    }
  }
};

/// Input mask for a product with a fixed weight: params (handle, rows, k, n); R = {A: rows x k},
/// D = {C = A B_handle: rows x n}. Dealer -> P1: rows*n words.
struct FixedMatTriple {
  static constexpr std::uint32_t id = 6;
  static constexpr std::string_view name = "fixed-weight triple";
  static Layout layout(std::span<const std::uint64_t> p) {
    Reader r(p);
    r.value();
    const std::size_t rows = r.value(), k = r.value(), n = r.value();
    MatTriple::check(1, rows, k, n);
    return {{{rows, k}}, {{rows, n}}, {}};
  }
  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State& st) {
    Reader rd(p);
    const auto handle = rd.value();
    const std::size_t rows = rd.value(), k = rd.value(), n = rd.value();
    if (auto src = st.sources.find(handle); src != st.sources.end() && st.key0) {
      if (src->second.word_bits != 8 * sizeof(W) || src->second.words != k * n)
        throw usage_error("secformer: fixed-weight triple that does not match its weight mask (ring or shape)");
      // B = party 0's stream + party 1's stream of the mask's request (randoms come first in both).
      std::vector<W> b(k * n);
      Prg g0(*st.key0, src->second.index), g1(*st.key1, src->second.index);
      g0.fill(std::span<W>(b));
      g1.combine(std::span<W>(b), [](W x, W y) { return static_cast<W>(x + y); });
      kernels::gemm<W>(rows, n, k, r[0].data(), k, b.data(), n, d[0].data(), n, false, 0);
      return;
    }
    auto it = st.tensors.find(handle);
    if (it == st.tensors.end() || it->second.size() != k * n)
      throw usage_error("secformer: fixed-weight triple for an unknown weight handle");
    if constexpr (std::is_same_v<W, std::uint64_t>) {
      kernels::gemm<W>(rows, n, k, r[0].data(), k, it->second.data(), n, d[0].data(), n, false, 0);
    } else {
      std::vector<W> b(it->second.begin(), it->second.end());
      kernels::gemm<W>(rows, n, k, r[0].data(), k, b.data(), n, d[0].data(), n, false, 0);
    }
  }
};

// ---------------------------------------------------------------------------------------------
// The generic engine.

template <class W>
Parts<W> make_parts(const std::vector<Shape>& shapes) {
  Parts<W> out;
  out.reserve(shapes.size());
  for (auto& s : shapes) out.emplace_back(s);
  return out;
}

template <class W>
void fill_from(Prg& prg, Parts<W>& parts) {
  for (auto& t : parts) prg.fill(std::span<W>(t.data(), t.size()));
}

/// Party 0's shares (randoms then derived), all from its stream.
template <class W>
Parts<W> expand_p0(const Layout& lay, const Seed& key, std::uint64_t index) {
  Prg prg(key, index);
  auto r = make_parts<W>(lay.randoms);
  auto d = make_parts<W>(lay.derived);
  fill_from(prg, r);
  fill_from(prg, d);
  for (auto& t : d) r.push_back(std::move(t));
  return r;
}

/// Party 1's random shares from its stream (derived ones arrive from the dealer).
template <class W>
Parts<W> expand_p1_randoms(const Layout& lay, const Seed& key, std::uint64_t index) {
  Prg prg(key, index);
  auto r = make_parts<W>(lay.randoms);
  fill_from(prg, r);
  return r;
}

/// The dealer's work for one request: returns party 1's corrections (derived components). The
/// parties' streams are folded into the buffers as they are generated: the whole randoms are party
/// 0's stream plus party 1's, the corrections are the derived values minus (xor) party 0's stream.
template <class Kind, class W>
Parts<W> deal(std::span<const std::uint64_t> params, const Seed& key0, const Seed& key1, std::uint64_t index, State& st) {
  const Layout lay = Kind::layout(params);
  Prg g0(key0, index), g1(key1, index);
  auto full = make_parts<W>(lay.randoms);
  fill_from(g0, full);
  for (auto& t : full) g1.combine(std::span<W>(t.data(), t.size()), [](W a, W b) { return static_cast<W>(a + b); });
  auto d = make_parts<W>(lay.derived);
  st.key0 = &key0;
  st.key1 = &key1;
  st.index = index;
  Kind::template derive<W>(params, full, d, st);
  st.key0 = st.key1 = nullptr;
  for (std::size_t j = 0; j < d.size(); ++j) {
    const std::span<W> dj(d[j].data(), d[j].size());
    if (lay.is_xor(j)) g0.combine(dj, [](W a, W b) { return static_cast<W>(a ^ b); });
    else g0.combine(dj, [](W a, W b) { return static_cast<W>(a - b); });
  }
  return d;
}

/// Whole material for the plaintext simulation (the peer's shares are zero).
template <class Kind, class W>
Parts<W> deal_whole(std::span<const std::uint64_t> params, Prg& prg, State& st) {
  const Layout lay = Kind::layout(params);
  auto r = make_parts<W>(lay.randoms);
  fill_from(prg, r);
  auto d = make_parts<W>(lay.derived);
  Kind::template derive<W>(params, r, d, st);
  for (auto& t : d) r.push_back(std::move(t));
  return r;
}

/// The kinds a dealer serves. Protocol layers add theirs by extending this list (DefaultKinds in
/// dealer/dealer.hpp).
template <class... K> struct KindList {};

template <class... K, class F>
bool dispatch(KindList<K...>, std::uint32_t id, F&& f) {
  return ((K::id == id ? (f.template operator()<K>(), true) : false) || ...);
}

}  // namespace secformer::material
