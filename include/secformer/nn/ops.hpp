// secformer/nn/ops.hpp: the operations the layers are written in, for both number systems:
// xt::xarray<double> with a PlainContext (nn/plain.hpp) and Shared<T, Ring, P> with a Context
// (the Solo simulation or one party of a two-party run). Overloads are chosen by the tensor type.
//
//   affine(x, w, b, ctx)       x W + b; shares: W a MaskedWeight (1 round, rows k words each way,
//                              then the encoding's truncation), b a share (local)
//   matmul_many_raw(pairs)     several products with masked weights in ONE round (raw, scale 2F)
//   bmm(a, b, ctx, s)          batched product of two secret tensors (..., m, k) (..., k, n), times
//                              the public s: 1 round (matrix triple). With trunc::Local, s < 1
//                              scales a first (a local truncation: 0 rounds), so that the product's
//                              raw values, and with them its truncation's failure probability
//                              (trunc.hpp), are s times smaller (attention scores: 1/8 for heads
//                              of 64); the price is a's rounding, 2^-F sqrt(k) |b| on the result.
//                              With trunc::Dealer (exact), s = 2^-j folds into the product's
//                              truncation and other s cost a second one (1 round each)
//   add_bias, reshape, permute, take (index on axis 0), first_token       local
//   activation<P>, softmax<P>, layernorm<P>, tanh<P>                       the policy's eval on
//                              shares; on doubles P::approx (Approx) or the exact function (Exact)
//
// Policies: a layer's policy parameter void (the default) means "the context's suite's":
// typename Ctx::suite::gelu / softmax / layernorm / compare (protocols/suite.hpp); a suite that
// names none (e.g. Basic<>) gets the library defaults SecFormerGelu, Quad2Softmax,
// SecFormerLayerNorm and DefaultCompare. An explicit policy overrides the suite. The resolution is
// the protocols' own (detail::pick_policy_t, protocols/policy.hpp).
//
// Exact policies (plain only: ExactGelu, ExactGeluTanh, ExactSoftmax, ExactOf<P>, ExactLayerNorm,
// ExactTanh, below): the exact functions as policies whose approx is exact, for a
// PlainContext<Suite, Approx> model with explicit policies, e.g. a Hugging Face model as
// transformers computes it, or a 2Quad student's own function (ExactOf<Quad2Softmax>), which
// PlainContext<Suite, Exact> (the exp softmax always) cannot express.
//
// SigmoidTanh<Compare, Exp, Iters> (the pooler's tanh; not in the paper, which leaves the pooler
//   out): tanh(x) = sign(x) (2 r - 1), r = 1 / (1 + exp(-2|x|)) = sigmoid(2|x|):
//     b = [x < 0] (Compare), s = 1 - 2b, a = s x = |x| (1 round, bit product, exact),
//     e = exp(-2a) (Exp: CrypTen's (1 + y/256)^256, 8 rounds), d = 1 + e in (1, 2],
//     r = Newton for 1/d from 0.75 (the first step is local, then 2 rounds per step),
//     tanh = s (2 r - 1) (1 round).
//   Rounds: Compare + 1 + 8 + 2 (Iters - 1) + 1 (MaskedCompare<0> in Z2k<64>, Iters = 4: 20).
//   Words each way per element: Compare's + 2 + 8 + 4 (Iters - 1) + 2 (26 + the comparison).
//   Error: Newton from 0.75 on d in [1, 2]: relative (1 - 0.75 d)^(2^Iters) <= 2^-16 (Iters = 4);
//   exp: absolute <= 1.1e-3 on e, relative ~2^-8 fixed-point noise: |tanh error| <= 5e-3 (worst
//   near 0, where e ~ 1), measured in tests/nn_models.cpp. Input range |x| <= 64 (exp's argument
//   stays in [-128, 0]); the simulation throws range_error outside it.
//   It is used on one vector per sequence (the [CLS] row): its cost is negligible in a model.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../protocols/compare.hpp"
#include "../protocols/exp.hpp"
#include "../protocols/gelu.hpp"
#include "../protocols/layernorm.hpp"
#include "../protocols/matmul.hpp"
#include "../protocols/mul.hpp"
#include "../protocols/policy.hpp"
#include "../protocols/softmax.hpp"
#include "../protocols/trunc.hpp"
#include "plain.hpp"

namespace secformer::nn {

// ================================================================================================
// Policies from the suite

/// A layer's policy: the explicit one, or (void) the context's suite's, else the library default
/// (the same resolution as sf::gelu, sf::softmax, sf::layernorm and sf::ltz: protocols/policy.hpp).
template <class Policy, class Ctx>
using gelu_policy_t = secformer::detail::gelu_policy_t<Policy, Ctx>;
template <class Policy, class Ctx>
using softmax_policy_t = secformer::detail::softmax_policy_t<Policy, Ctx>;
template <class Policy, class Ctx>
using layernorm_policy_t = secformer::detail::layernorm_policy_t<Policy, Ctx>;
template <class Policy, class Ctx>
using compare_policy_t = secformer::detail::compare_policy_t<Policy, Ctx>;

// ================================================================================================
// Extra policies of the nn layer

/// ReLU as an activation policy (the comparison from the suite unless given).
template <class Compare = void>
struct Relu {
  static double approx(double x) noexcept { return x > 0 ? x : 0.0; }
  static double exact(double x) noexcept { return approx(x); }
  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    return secformer::relu<compare_policy_t<Compare, Ctx>>(x, ctx);
  }
};

/// tanh(x) = sign(x) (2 sigmoid(2|x|) - 1) (see the header comment).
template <class Compare = void, class Exp = CrypTenExp, int Iters = 4>
struct SigmoidTanh {
  static_assert(Iters >= 1, "secformer: SigmoidTanh needs at least one Newton step");
  static constexpr double input_bound = 64.0;
  static constexpr int newton_iters = Iters;
  /// Online rounds with a comparison policy Cmp in Ring (local truncation).
  template <class Cmp = DefaultCompare, class Ring = Z2k<64>>
  static constexpr int rounds_for = Cmp::template online_rounds<Ring> + 1 + Exp::online_rounds + 2 * (Iters - 1) + 1;

  static double approx(double x) noexcept {
    const double a = std::abs(x);
    const double d = 1.0 + Exp::approx(-2.0 * a);
    double r = 0.75;
    for (int i = 0; i < Iters; ++i) r = r * (2.0 - r * d);
    const double t = 2.0 * r - 1.0;
    return x < 0 ? -t : t;
  }
  static double exact(double x) noexcept { return std::tanh(x); }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    using Cmp = compare_policy_t<Compare, Ctx>;
    [[maybe_unused]] auto g = ctx.scope("tanh");
    secformer::detail::solo_check_range(x, -input_bound, input_bound, "SigmoidTanh");
    const auto b = ltz<Cmp>(x, ctx);
    const auto sgn = 1.0 - b * 2;                          // +-1 (Int)
    const S a = mul(sgn, x, ctx);                          // |x|, exact
    const S d = Exp::eval_unchecked(a * (-2), ctx) + 1.0;  // 1 + exp(-2|x|) in (1, 2]
    S r = truncate(d * (-0.5625), ctx) + 1.5;              // 0.75 (2 - 0.75 d)
    for (int i = 1; i < Iters; ++i) {
      const S rd = mul(r, d, ctx);
      r = mul(r, 2.0 - rd, ctx);
    }
    return mul(sgn, r * 2 - 1.0, ctx);
  }
};

/// The exact functions as policies, for PlainContext<Suite, Approx> (whose layers apply
/// Policy::approx): the model transformers computes (--mode exact of examples/bert_classify.cpp),
/// or a 2Quad student's own function. Plain only (no eval on shares).
///   ExactGelu       0.5 x (1 + erf(x / sqrt 2))                  (hidden_act "gelu")
///   ExactGeluTanh   0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))  ("gelu_new")
///   ExactSoftmax    exp(x - max) / sum over the unmasked entries (masked: 0, as Hugging Face's
///                   additive finfo.min mask gives after exp)
///   ExactOf<P>      P::exact (e.g. ExactOf<Quad2Softmax>: 2Quad without the reciprocal's iteration)
///   ExactLayerNorm  (x - mean) / sqrt(var + eps) gamma + beta (biased variance, as torch)
///   ExactTanh       std::tanh
struct ExactGelu {
  static double approx(double x) noexcept { return plain::gelu(x); }
  static double exact(double x) noexcept { return plain::gelu(x); }
};
struct ExactGeluTanh {
  static double approx(double x) noexcept {
    return 0.5 * x * (1.0 + std::tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
  }
  static double exact(double x) noexcept { return approx(x); }
};
struct ExactSoftmax {
  static Tensor approx(const Tensor& x) { return plain::softmax(x, nullptr); }
  static Tensor approx(const Tensor& x, const Tensor& mask) { return plain::softmax(x, &mask); }
};
template <class P>
struct ExactOf {
  static Tensor approx(const Tensor& x) { return P::exact(x); }
  static Tensor approx(const Tensor& x, const Tensor& mask) { return P::exact(x, mask); }
};
struct ExactLayerNorm {
  static Tensor approx(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
    return plain::layernorm(x, gamma, beta, eps);
  }
};
struct ExactTanh {
  static double approx(double x) noexcept { return std::tanh(x); }
  static double exact(double x) noexcept { return std::tanh(x); }
};

/// The exact function an activation policy approximates: P::exact if it has one, else GeLU.
template <class P>
double exact_activation(double x) {
  if constexpr (requires { P::exact(x); }) return P::exact(x);
  else return plain::gelu(x);
}

// ================================================================================================
// Linear algebra

/// x W + b (plain).
template <class Ctx>
Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b, Ctx&) {
  return plain::add_bias(plain::matmul(x, w), b);
}

/// b broadcast over the rows of x (local).
template <class T, class Ring, class P, class C>
Shared<T, Ring, P, C> add_bias(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& b) {
  const std::size_t n = b.size();
  SECFORMER_ASSERT(n > 0 && x.dimension() >= 1 && x.shape()[x.dimension() - 1] == n,
                   "bias of " + std::to_string(n) + " entries for rows of " + std::to_string(x.shape()[x.dimension() - 1]));
  C out = x.share();
  const auto* bw = b.share().data();
  auto* o = out.data();
  for (std::size_t i = 0; i < out.size(); ++i) o[i] += bw[i % n];
  return Shared<T, Ring, P, C>(std::move(out));
}
inline Tensor add_bias(const Tensor& x, const Tensor& b) { return plain::add_bias(x, b); }

/// x W + b with a masked weight (1 round) and a shared bias.
template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<T, Ring, P, C> affine(const Shared<T, Ring, P, C>& x, const MaskedWeight<T, Ring, P, C>& w, const Shared<T, Ring, P, C>& b, Ctx& ctx) {
  SECFORMER_ASSERT(w.k > 0, "a weight matrix that was not shared (skipped or default-constructed)");
  return add_bias(secformer::matmul(x, w, ctx), b);
}

/// Several products x_i W_i with masked weights in ONE round (raw products at the doubled scale).
template <class T, class Ring, class P, class C, protocol_context Ctx>
std::vector<Shared<product_t<T>, Ring, P, C>> matmul_many_raw(
    const std::vector<std::pair<const Shared<T, Ring, P, C>*, const MaskedWeight<T, Ring, P, C>*>>& xw, Ctx& ctx) {
  using W = typename Ring::word_type;
  using S = Shared<T, Ring, P, C>;
  [[maybe_unused]] auto g = ctx.scope("matmul");
  std::vector<std::vector<std::size_t>> shapes;
  std::size_t words = 0;
  for (const auto& [x, w] : xw) {
    SECFORMER_ASSERT(w->k > 0, "a weight matrix that was not shared (skipped or default-constructed)");
    SECFORMER_ASSERT(x->dimension() >= 1 && x->shape()[x->dimension() - 1] == w->k, "matmul by a weight of " + std::to_string(w->k) + " rows");
    std::vector<std::size_t> s(x->shape().begin(), x->shape().end());
    s.back() = w->n;
    shapes.push_back(std::move(s));
    words += x->size();
  }
  std::vector<Shared<product_t<T>, Ring, P, C>> out;
  if constexpr (P::is_solo) {
    ctx.count_round(words * sizeof(W), words * sizeof(W));
    for (std::size_t i = 0; i < xw.size(); ++i) {
      const auto& [x, w] = xw[i];
      C z(shapes[i]);
      kernels::gemm<W>(x->size() / w->k, w->n, w->k, x->share().data(), w->k, w->fb.data(), w->n, z.data(), w->n, false, 1);
      out.emplace_back(std::move(z));
    }
  } else {
    std::vector<material::Parts<W>> mats;
    std::vector<S> masked;
    for (const auto& [x, w] : xw) {
      mats.push_back(ctx.template material<material::FixedMatTriple, W>(
          material::Params{}.value(w->handle).value(x->size() / w->k).value(w->k).value(w->n)));
      mats.back()[0].reshape(x->shape());
      masked.emplace_back(C(x->share() - mats.back()[0]));
    }
    auto e = secformer::detail::open_through(ctx, masked);
    for (std::size_t i = 0; i < xw.size(); ++i) {
      const auto& [x, w] = xw[i];
      const std::size_t rows = x->size() / w->k;
      C z(shapes[i]);
      kernels::gemm<W>(rows, w->n, w->k, e[i].data(), w->k, w->fb.data(), w->n, z.data(), w->n, false, 1);
      kernels::gemm<W>(rows, w->n, w->k, mats[i][0].data(), w->k, w->f.data(), w->n, z.data(), w->n, true, 1);
      const W* c = mats[i][1].data();
      W* zp = z.data();
      for (std::size_t j = 0; j < z.size(); ++j) zp[j] += c[j];
      out.emplace_back(std::move(z));
    }
  }
  return out;
}

namespace detail {
/// j with s = 2^-j exactly (0 < j < 32), else -1.
inline int neg_pow2(double s) {
  int e = 0;
  const double m = std::frexp(s, &e);  // s = m 2^e, m in [0.5, 1)
  if (m != 0.5 || e > 0) return -1;
  const int j = 1 - e;
  return j > 0 && j < 32 ? j : -1;
}
}  // namespace detail

/// a b s for two plain tensors (batched).
template <class Ctx>
Tensor bmm(const Tensor& a, const Tensor& b, Ctx&, double s = 1.0) {
  Tensor r = plain::bmm(a, b);
  if (s != 1.0) r *= s;
  return r;
}

/// a b s for two secret tensors (batched, 1 round; see the header comment for the truncations).
template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<T, Ring, P, C> bmm(const Shared<T, Ring, P, C>& a, const Shared<T, Ring, P, C>& b, Ctx& ctx, double s = 1.0) {
  if constexpr (std::is_same_v<typename T::trunc_policy, trunc::Local>) {
    if (s < 1.0) {
      const int j = detail::neg_pow2(s);
      const Shared<T, Ring, P, C> as = j > 0 ? truncate_by<T, trunc::Local>(a, static_cast<unsigned>(j), ctx) : truncate(a * s, ctx);
      return truncate(secformer::matmul_raw(as, b, ctx), ctx);
    }
  }
  auto raw = secformer::matmul_raw(a, b, ctx);
  if (s == 1.0) return truncate(raw, ctx);
  if (const int j = detail::neg_pow2(s); j > 0) return truncate_by<T, typename T::trunc_policy>(raw, T::frac_bits + static_cast<unsigned>(j), ctx);
  return truncate(truncate(raw, ctx) * s, ctx);
}

// ================================================================================================
// Shapes (local)

inline Tensor reshape(const Tensor& x, const std::vector<std::size_t>& shape) {
  Tensor r = x;
  r.reshape(shape);
  return r;
}
template <class T, class Ring, class P, class C>
Shared<T, Ring, P, C> reshape(const Shared<T, Ring, P, C>& x, const std::vector<std::size_t>& shape) {
  return x.reshape(shape);
}
inline Tensor permute(const Tensor& x, const std::vector<std::size_t>& perm) { return Tensor(xt::transpose(x, perm)); }
template <class T, class Ring, class P, class C>
Shared<T, Ring, P, C> permute(const Shared<T, Ring, P, C>& x, const std::vector<std::size_t>& perm) {
  return x.transpose(perm);
}
/// x[i] (the first axis removed).
inline Tensor take(const Tensor& x, std::size_t i) { return Tensor(xt::view(x, i)); }
template <class T, class Ring, class P, class C>
Shared<T, Ring, P, C> take(const Shared<T, Ring, P, C>& x, std::size_t i) {
  return x.slice(i);
}
/// The first row of each sequence: (s, d) -> (1, d); (b, s, d) -> (b, d).
inline Tensor first_token(const Tensor& x) {
  SECFORMER_ASSERT(x.dimension() == 2 || x.dimension() == 3, "first_token of a tensor that is not (s, d) or (b, s, d)");
  if (x.dimension() == 2) return Tensor(xt::view(x, xt::range(0, 1), xt::all()));
  return Tensor(xt::view(x, xt::all(), 0, xt::all()));
}
template <class T, class Ring, class P, class C>
Shared<T, Ring, P, C> first_token(const Shared<T, Ring, P, C>& x) {
  SECFORMER_ASSERT(x.dimension() == 2 || x.dimension() == 3, "first_token of a tensor that is not (s, d) or (b, s, d)");
  if (x.dimension() == 2) return x.slice(xt::range(0, 1), xt::all());
  return x.slice(xt::all(), 0, xt::all());
}

// ================================================================================================
// Nonlinear functions

template <class Policy, class Ctx>
Tensor activation(const Tensor& x, Ctx&) {
  if constexpr (Ctx::is_exact) return plain::map(x, [](double v) { return exact_activation<Policy>(v); });
  else return plain::map(x, [](double v) { return Policy::approx(v); });
}
template <class Policy, shared_tensor S, protocol_context Ctx>
S activation(const S& x, Ctx& ctx) {
  return Policy::eval(x, ctx);
}

template <class Policy, class Ctx>
Tensor tanh(const Tensor& x, Ctx&) {
  if constexpr (Ctx::is_exact) return plain::map(x, [](double v) { return std::tanh(v); });
  else return plain::map(x, [](double v) { return Policy::approx(v); });
}
template <class Policy, shared_tensor S, protocol_context Ctx>
S tanh(const S& x, Ctx& ctx) {
  return Policy::eval(x, ctx);
}

/// Softmax over the last axis with an optional public 0/1 mask (right-aligned broadcast).
template <class Policy, class Ctx>
Tensor softmax(const Tensor& x, const Tensor* mask, Ctx&) {
  if constexpr (Ctx::is_exact) return plain::softmax(x, mask);
  else return mask ? Tensor(Policy::approx(x, *mask)) : Tensor(Policy::approx(x));
}
template <class Policy, shared_tensor S, protocol_context Ctx>
S softmax(const S& x, const Tensor* mask, Ctx& ctx) {
  return mask ? Policy::eval(x, *mask, ctx) : Policy::eval(x, ctx);
}

/// LayerNorm over the last axis.
template <class Policy, class Ctx>
Tensor layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Ctx&) {
  if constexpr (Ctx::is_exact) return plain::layernorm(x, gamma, beta, eps);
  else return Tensor(Policy::approx(x, gamma, beta, eps));
}
template <class Policy, shared_tensor S, class G, class B, protocol_context Ctx>
S layernorm(const S& x, const G& gamma, const B& beta, double eps, Ctx& ctx) {
  return Policy::eval(x, gamma, beta, ctx, eps);
}

}  // namespace secformer::nn
