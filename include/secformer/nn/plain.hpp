// secformer/nn/plain.hpp: the plaintext number system of the nn layer, xt::xarray<double> tensors
// with a "context" that only says which functions to apply:
//
//   PlainContext<Suite, Approx>  the reference model WITH the suite's approximations: every
//                                nonlinearity applies its policy's double-precision twin
//                                (`Policy::approx`), so this model differs from the secure one by
//                                fixed-point noise only;
//   PlainContext<Suite, Exact>   the exact model (erf GeLU, exp softmax, 1/sqrt LayerNorm, tanh):
//                                what the approximations are measured against.
//
// The same layer objects (nn/layers.hpp) run over these, over the fixed-point simulation
// (Shared<..., Solo>, sf::run_solo) and over shares (sf::run_two_party). This header holds the
// double-precision kernels: matrix products (plain loops, no BLAS: xtensor has no matmul) and the
// exact functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xbuilder.hpp>

#include "../config.hpp"
#include "../protocols/policy.hpp"

namespace secformer::nn {

/// A plaintext tensor.
using Tensor = xt::xarray<double>;

/// Plain model modes: the policies' double-precision approximations, or the exact functions.
struct Approx {};
struct Exact {};

/// The context of the plaintext models. Suite chooses the approximations (as a secure context's
/// suite does); Mode says whether to apply them (Approx) or the exact functions (Exact).
template <class Suite = Basic<>, class Mode = Approx>
struct PlainContext {
  using suite = Suite;
  using mode = Mode;
  static constexpr bool is_plain = true;
  static constexpr bool is_exact = std::is_same_v<Mode, Exact>;
  struct Scope {};
  /// No costs to tag in plaintext: the layers call scope() uniformly.
  Scope scope(const std::string&) const noexcept { return {}; }
  /// Identity "input" and "reveal", so that a whole program can be written once for every
  /// number system (the owner's values are the values).
  template <class P>
  Tensor input(P, const Tensor& x) const {
    return x;
  }
  Tensor reveal(const Tensor& x) const { return x; }
};

template <class Ctx>
concept plain_context = requires { requires Ctx::is_plain; };

namespace plain {

inline std::vector<std::size_t> shape_of(const Tensor& x) { return {x.shape().begin(), x.shape().end()}; }

/// x (..., k) times w (k x n).
inline Tensor matmul(const Tensor& x, const Tensor& w) {
  SECFORMER_ASSERT(w.dimension() == 2, "plain matmul by a weight that is not a matrix");
  SECFORMER_ASSERT(x.dimension() >= 1 && x.shape()[x.dimension() - 1] == w.shape()[0],
                   "plain matmul: inner dimensions differ (" + std::to_string(x.shape()[x.dimension() - 1]) + " vs " +
                       std::to_string(w.shape()[0]) + ")");
  const std::size_t k = w.shape()[0], n = w.shape()[1], rows = x.size() / k;
  auto shape = shape_of(x);
  shape.back() = n;
  Tensor out = xt::zeros<double>(shape);
  const double* xp = x.data();
  const double* wp = w.data();
  double* o = out.data();
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t p = 0; p < k; ++p) {
      const double a = xp[i * k + p];
      const double* wr = wp + p * n;
      double* orow = o + i * n;
      for (std::size_t j = 0; j < n; ++j) orow[j] += a * wr[j];
    }
  return out;
}

/// Batched product: a (..., m, k) times b (..., k, n) with the same leading axes.
inline Tensor bmm(const Tensor& a, const Tensor& b) {
  SECFORMER_ASSERT(a.dimension() >= 2 && a.dimension() == b.dimension(), "plain batched matmul of tensors of different ranks");
  const std::size_t d = a.dimension();
  for (std::size_t i = 0; i + 2 < d; ++i) SECFORMER_ASSERT(a.shape()[i] == b.shape()[i], "plain batched matmul: batch axes differ");
  const std::size_t m = a.shape()[d - 2], k = a.shape()[d - 1], n = b.shape()[d - 1];
  SECFORMER_ASSERT(b.shape()[d - 2] == k, "plain batched matmul: inner dimensions differ");
  const std::size_t batch = a.size() / (m * k);
  auto shape = shape_of(a);
  shape.back() = n;
  Tensor out = xt::zeros<double>(shape);
  for (std::size_t t = 0; t < batch; ++t) {
    const double* ap = a.data() + t * m * k;
    const double* bp = b.data() + t * k * n;
    double* o = out.data() + t * m * n;
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t p = 0; p < k; ++p) {
        const double v = ap[i * k + p];
        for (std::size_t j = 0; j < n; ++j) o[i * n + j] += v * bp[p * n + j];
      }
  }
  return out;
}

/// x + b with b of shape {n} broadcast over the rows of x (..., n).
inline Tensor add_bias(const Tensor& x, const Tensor& b) {
  SECFORMER_ASSERT(b.size() == x.shape()[x.dimension() - 1], "bias of " + std::to_string(b.size()) +
                                                                 " entries for rows of " + std::to_string(x.shape()[x.dimension() - 1]));
  Tensor out = x;
  const std::size_t n = b.size();
  for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] += b.data()[i % n];
  return out;
}

inline double gelu(double x) noexcept { return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752440)); }

/// Softmax over the last axis; mask (may be null) broadcasts to x's shape, 1 = attend; masked
/// entries get 0 and a row without unmasked entries gives zeros (as the secure policies).
inline Tensor softmax(const Tensor& x, const Tensor* mask) {
  Tensor m = mask ? Tensor(xt::broadcast(*mask, shape_of(x))) : Tensor(xt::ones<double>(shape_of(x)));
  const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
  Tensor out(x.shape());
  for (std::size_t r = 0; r < rows; ++r) {
    const double* xr = x.data() + r * n;
    const double* mr = m.data() + r * n;
    double mx = -1e300, s = 0;
    for (std::size_t j = 0; j < n; ++j)
      if (mr[j] != 0) mx = std::max(mx, xr[j]);
    for (std::size_t j = 0; j < n; ++j) s += out.data()[r * n + j] = mr[j] != 0 ? std::exp(xr[j] - mx) : 0.0;
    for (std::size_t j = 0; j < n; ++j) out.data()[r * n + j] = s > 0 ? out.data()[r * n + j] / s : 0.0;
  }
  return out;
}

/// LayerNorm over the last axis with gamma, beta of shape {n}.
inline Tensor layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
  SECFORMER_ASSERT(gamma.size() == n && beta.size() == n, "layernorm: gamma and beta must have n entries");
  Tensor out(x.shape());
  for (std::size_t r = 0; r < rows; ++r) {
    const double* xr = x.data() + r * n;
    double mu = 0, var = 0;
    for (std::size_t j = 0; j < n; ++j) mu += xr[j];
    mu /= static_cast<double>(n);
    for (std::size_t j = 0; j < n; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    var /= static_cast<double>(n);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (std::size_t j = 0; j < n; ++j) out.data()[r * n + j] = gamma.data()[j] * (xr[j] - mu) * inv + beta.data()[j];
  }
  return out;
}

/// Applies f to every element.
template <class F>
Tensor map(const Tensor& x, F&& f) {
  Tensor out(x.shape());
  for (std::size_t i = 0; i < x.size(); ++i) out.data()[i] = f(x.data()[i]);
  return out;
}

}  // namespace plain
}  // namespace secformer::nn
