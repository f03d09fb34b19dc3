// secformer/dealer/matmul_material.hpp: the material of matrix products (protocols/matmul.hpp):
// matrix triples (MatTriple, id 3), masks of fixed weights (WeightMask, id 5) and the input masks
// of products with them (FixedMatTriple, id 6). The dealer multiplies with the ring GEMM
// (core/gemm.hpp): this is the only material header that includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/gemm.hpp"
#include "material.hpp"
#include "prg.hpp"

namespace secformer::material {

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

}  // namespace secformer::material
