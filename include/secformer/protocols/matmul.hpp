// secformer/protocols/matmul.hpp: matrix products of shares.
//   matmul(X, Y)                X (..., m, k) times Y (..., k, n) with the same batch axes, or Y 2-D
//   prepare_weight(W)           a fixed secret weight masked once per loaded model (MaskedWeight)
//   matmul(X, MaskedWeight)     then each product opens only X - A with a fresh A
//   matmul_raw(...)             the same at the doubled scale (no truncation)
// Per party i: Z_i = E (F [i = 0] + B_i) + A_i F + C_i, two ring GEMMs.
// docs/protocols.md#linear-layers-and-fixed-weights.
#pragma once

#include <cstdint>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/gemm.hpp"
#include "../core/share.hpp"
#include "../dealer/matmul_material.hpp"
#include "mul.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail {
struct MatShape {
  std::size_t batch, m, k, n;
  bool y_broadcast;  // Y is 2-D and shared by every batch element
  std::vector<std::size_t> out_shape;
};

template <class SX, class SY>
MatShape mat_shape(const SX& xs, const SY& ys) {
  SECFORMER_ASSERT(xs.size() >= 2 && ys.size() >= 2, "matmul needs matrices (rank >= 2)");
  MatShape s{1, xs[xs.size() - 2], xs[xs.size() - 1], ys[ys.size() - 1], ys.size() == 2, {}};
  SECFORMER_ASSERT(ys[ys.size() - 2] == s.k, "matmul of (" + std::to_string(s.m) + " x " + std::to_string(s.k) +
                                                  ") by (" + std::to_string(ys[ys.size() - 2]) + " x " + std::to_string(s.n) + ")");
  for (std::size_t i = 0; i + 2 < xs.size(); ++i) s.batch *= xs[i];
  if (!s.y_broadcast) {
    SECFORMER_ASSERT(ys.size() == xs.size(), "matmul: batch axes of different ranks");
    for (std::size_t i = 0; i + 2 < xs.size(); ++i) SECFORMER_ASSERT(xs[i] == ys[i], "matmul: batch axes differ");
  }
  s.out_shape.assign(xs.begin(), xs.end());
  s.out_shape.back() = s.n;
  if (s.y_broadcast) {  // fold the batch into the rows
    s.m *= s.batch;
    s.batch = 1;
  }
  return s;
}

/// z (+)= x y over a batch (strides 0 for a shared operand).
template <class W>
void gemm_batch(const MatShape& s, const W* x, std::size_t sx, const W* y, std::size_t sy, W* z, bool acc) {
  if (s.batch == 1) kernels::gemm<W>(s.m, s.n, s.k, x, s.k, y, s.n, z, s.n, acc, 1);
  else kernels::gemm_batched<W>(s.batch, s.m, s.n, s.k, x, sx, s.k, y, sy, s.n, z, s.m * s.n, s.n, acc, 1);
}
}  // namespace detail

/// matmul: X Y of two shared matrices by a matrix triple (A, B, C = A B): open X - A and Y - B together
/// | paper  | none (Beaver's triple for matrices); docs/protocols.md#linear-layers-and-fixed-weights
/// | rounds | 1
/// | online | 8 B/element/party (per element of X and of Y)
/// | dealer | 8 B/element (per element of the product)
/// | error  | exact in the ring at scale 2F, then the truncation's (trunc::Local: +-1 LSB)
/// | range  | every product entry below 2^(63-2F); trunc::Local fails with probability about |z| 2^(2F-64)
/// matmul_raw: the raw product (doubled scale); matmul truncates it.
template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<product_t<T>, Ring, P, C> matmul_raw(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  using W = typename Ring::word_type;
  const auto s = detail::mat_shape(x.shape(), y.shape());
  const std::size_t sx = s.m * s.k, sy = s.y_broadcast ? 0 : s.k * s.n;
  auto g = ctx.scope("matmul");
  C z(s.out_shape);
  if constexpr (P::is_solo) {
    const std::size_t ny = s.y_broadcast ? s.k * s.n : s.batch * s.k * s.n;
    ctx.count_round((x.size() + ny) * sizeof(W), (x.size() + ny) * sizeof(W));
    detail::gemm_batch<W>(s, x.share().data(), sx, y.share().data(), sy, z.data(), false);
  } else {
    auto m = ctx.template material<material::MatTriple, W>(material::Params{}.value(s.batch).value(s.m).value(s.k).value(s.n));
    m[0].reshape(x.shape());
    m[1].reshape(y.shape());
    auto [e, f] = ctx.open_many(Shared<T, Ring, P, C>(C(x.share() - m[0])), Shared<T, Ring, P, C>(C(y.share() - m[1])));
    C fb = m[1];
    if constexpr (P::id == 0) fb += f;
    detail::gemm_batch<W>(s, e.data(), sx, fb.data(), sy, z.data(), false);
    detail::gemm_batch<W>(s, m[0].data(), sx, f.data(), sy, z.data(), true);
    z += m[2].reshape(s.out_shape);
  }
  return Shared<product_t<T>, Ring, P, C>(std::move(z));
}

template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<T, Ring, P, C> matmul(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  return truncate(matmul_raw(x, y, ctx), ctx);
}

/// A secret weight (k x n) prepared for repeated products: public F = W - B, and this party's
/// F [i = 0] + B_i. Made once per loaded model by prepare_weight.
template <class T, class Ring, class P, class C = xt::xarray<typename Ring::word_type>>
struct MaskedWeight {
  std::uint64_t handle = 0;
  std::size_t k = 0, n = 0;
  C f;   ///< W - B, public
  C fb;  ///< F [i = 0] + B_i
};

/// Masks a secret weight matrix once (1 round, k n words each way).
template <class T, class Ring, class P, class C, protocol_context Ctx>
MaskedWeight<T, Ring, P, C> prepare_weight(const Shared<T, Ring, P, C>& w, Ctx& ctx) {
  using W = typename Ring::word_type;
  SECFORMER_ASSERT(w.dimension() == 2, "prepare_weight needs a 2-D weight");
  auto g = ctx.scope("weight mask");
  MaskedWeight<T, Ring, P, C> out;
  out.handle = ctx.new_handle();
  out.k = w.shape()[0];
  out.n = w.shape()[1];
  auto m = ctx.template material<material::WeightMask, W>(material::Params{}.value(out.handle).value(out.k).value(out.n));
  out.f = ctx.open(Shared<T, Ring, P, C>(C(w.share() - m[0])));
  if constexpr (P::id == 0) out.fb = out.f + m[0];
  else out.fb = m[0];
  return out;
}

/// matmul(X, MaskedWeight): X times a prepared weight: only E = X - A is opened, F = W - B was opened once
/// | paper  | none; docs/protocols.md#linear-layers-and-fixed-weights
/// | rounds | 1
/// | online | 8 B/element/party (per element of X)
/// | dealer | 8 B/element (per element of the product)
/// | error  | exact in the ring at scale 2F, then the truncation's (trunc::Local: +-1 LSB)
/// | range  | every product entry below 2^(63-2F); trunc::Local fails with probability about |z| 2^(2F-64)
/// prepare_weight(W) costs 1 round and k n words each way once per loaded model; never reuse A.
/// X (..., k) times a prepared weight (k x n): raw product (doubled scale). 1 round.
template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<product_t<T>, Ring, P, C> matmul_raw(const Shared<T, Ring, P, C>& x, const MaskedWeight<T, Ring, P, C>& w, Ctx& ctx) {
  using W = typename Ring::word_type;
  SECFORMER_ASSERT(x.dimension() >= 1 && x.shape()[x.dimension() - 1] == w.k,
                   "matmul by a weight of " + std::to_string(w.k) + " rows");
  const std::size_t rows = x.size() / w.k;
  std::vector<std::size_t> out_shape(x.shape().begin(), x.shape().end());
  out_shape.back() = w.n;
  auto g = ctx.scope("matmul");
  C z(out_shape);
  if constexpr (P::is_solo) {
    ctx.count_round(x.size() * sizeof(W), x.size() * sizeof(W));
    // In the simulation fb = (W - B) + B = W.
    kernels::gemm<W>(rows, w.n, w.k, x.share().data(), w.k, w.fb.data(), w.n, z.data(), w.n, false, 1);
  } else {
    auto m = ctx.template material<material::FixedMatTriple, W>(material::Params{}.value(w.handle).value(rows).value(w.k).value(w.n));
    m[0].reshape(x.shape());
    auto e = ctx.open(Shared<T, Ring, P, C>(C(x.share() - m[0])));
    kernels::gemm<W>(rows, w.n, w.k, e.data(), w.k, w.fb.data(), w.n, z.data(), w.n, false, 1);
    kernels::gemm<W>(rows, w.n, w.k, m[0].data(), w.k, w.f.data(), w.n, z.data(), w.n, true, 1);
    const W* c = m[1].data();
    W* zp = z.data();
    for (std::size_t i = 0; i < z.size(); ++i) zp[i] += c[i];
  }
  return Shared<product_t<T>, Ring, P, C>(std::move(z));
}

template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<T, Ring, P, C> matmul(const Shared<T, Ring, P, C>& x, const MaskedWeight<T, Ring, P, C>& w, Ctx& ctx) {
  return truncate(matmul_raw(x, w, ctx), ctx);
}

}  // namespace secformer
