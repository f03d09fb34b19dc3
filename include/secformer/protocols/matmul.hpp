// secformer/protocols/matmul.hpp: matrix products of shares (protocols.md section 2).
//
// matmul(X, Y): X is (..., m, k), Y is (..., k, n) with the same leading (batch) axes, or Y is 2-D.
//   Matrix triple (A, B, C = AB) from the dealer; open E = X - A and F = Y - B together;
//   Z_i = E (F [i = 0] + B_i) + A_i F + C_i: two ring GEMMs per party. 1 round; words each way:
//   batch (m k + k n); dealer: batch m n words to party 1. Then truncation (see trunc.hpp).
// prepare_weight(W) / matmul(X, MaskedWeight): a fixed weight's mask B is drawn once and F = W - B
//   is opened once when the model is loaded (1 round, k n words each way); each product then opens
//   only E = X - A with a fresh A: 1 round, rows k words each way; dealer: rows n words.
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

/// Raw matrix product (doubled scale). 1 round.
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
