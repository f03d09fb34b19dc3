// secformer/protocols/softmax.hpp: softmax over the last axis, with an optional PUBLIC 0/1 attention
// mask (any shape that broadcasts to x's; 1 = attend). Masked entries get probability 0; a row with
// no unmasked entry gives all zeros.
//   Quad2Softmax      SecFormer's 2Quad with the Goldschmidt reciprocal of the row mean (the default)
//   MPCFormerSoftmax  2Quad with CrypTen's Newton reciprocal
//   CrypTenSoftmax    max (comparison tree), CrypTen's exp, Newton reciprocal; PumaSoftmax: the same
//   softmax<Policy>(x, ctx), softmax<Policy>(x, mask, ctx)
// Each policy: online_rounds_for<Ring>(n), bytes_sent<Ring>(R, n), dealer_bytes<Ring>(R, n) (R rows
// of n entries, trunc::Local), and approx(x[, mask]), the whole approximation in double precision.
// Z2k<64> only. Row-mean rescaling, ranges, errors: docs/protocols.md#softmax-2quad.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "compare.hpp"
#include "div.hpp"
#include "exp.hpp"
#include "mul.hpp"
#include "policy.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail::smx {
/// The public mask broadcast to x's shape (0/1 ring words), and per row: the count of unmasked
/// entries and whether the row is empty.
template <class W>
struct Rows {
  std::size_t rows = 0, n = 0;
  bool masked = false;
  xt::xarray<double> mask;  ///< full shape, 0/1 (when masked)
  xt::xarray<W> words;      ///< full shape, 0/1 (when masked)
  std::vector<double> count;
  std::vector<unsigned char> empty;
  std::vector<std::size_t> row_shape;
};

template <class W, class Shape>
Rows<W> rows_of(const Shape& shape, const xt::xarray<double>* mask) {
  SECFORMER_ASSERT(shape.size() >= 1 && shape[shape.size() - 1] > 0, "softmax over an empty last axis");
  Rows<W> r;
  r.n = shape[shape.size() - 1];
  std::size_t total = 1;
  for (auto d : shape) total *= d;
  r.rows = total / r.n;
  r.row_shape.assign(shape.begin(), shape.end());
  r.row_shape.back() = 1;
  r.count.assign(r.rows, static_cast<double>(r.n));
  r.empty.assign(r.rows, 0);
  if (mask) {
    SECFORMER_ASSERT(mask->dimension() <= shape.size(), "softmax: the mask has more axes than the scores");
    for (std::size_t i = 0; i < mask->dimension(); ++i) {
      const auto dm = mask->shape()[i], dx = shape[shape.size() - mask->dimension() + i];
      SECFORMER_ASSERT(dm == dx || dm == 1, "softmax: the mask does not broadcast to the scores' shape");
    }
    std::vector<std::size_t> sh(shape.begin(), shape.end());
    r.masked = true;
    r.mask = xt::broadcast(*mask, sh);
    r.words = xt::xarray<W>(sh);
    const double* m = r.mask.data();
    W* w = r.words.data();
    for (std::size_t row = 0; row < r.rows; ++row) {
      double c = 0;
      for (std::size_t j = 0; j < r.n; ++j) {
        const double v = m[row * r.n + j];
        SECFORMER_ASSERT(v == 0.0 || v == 1.0, "softmax: the attention mask must be 0/1");
        w[row * r.n + j] = static_cast<W>(v);
        c += v;
      }
      r.count[row] = c;
      r.empty[row] = c == 0;
    }
  }
  return r;
}

/// Exact 2Quad, softmax and the masked variants in double precision (test references).
inline xt::xarray<double> mask_full(const xt::xarray<double>& x, const xt::xarray<double>* mask) {
  const std::vector<std::size_t> sh(x.shape().begin(), x.shape().end());
  if (!mask) return xt::ones<double>(sh);
  return xt::xarray<double>(xt::broadcast(*mask, sh));
}

/// The public face every softmax policy shares: approx, exact and eval, each with and without a
/// public 0/1 mask, forwarding to the policy's approx_impl, exact_impl and eval_impl (a null mask
/// pointer: no mask). A policy derives from Api<itself> and befriends it.
template <class Policy>
struct Api {
  /// The approximation in double precision.
  static xt::xarray<double> approx(const xt::xarray<double>& x) { return Policy::approx_impl(x, nullptr); }
  static xt::xarray<double> approx(const xt::xarray<double>& x, const xt::xarray<double>& mask) { return Policy::approx_impl(x, &mask); }
  /// The function the policy approximates, in double precision.
  static xt::xarray<double> exact(const xt::xarray<double>& x) { return Policy::exact_impl(x, nullptr); }
  static xt::xarray<double> exact(const xt::xarray<double>& x, const xt::xarray<double>& mask) { return Policy::exact_impl(x, &mask); }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) { return Policy::eval_impl(x, nullptr, ctx); }
  template <class S, class Ctx>
  static S eval(const S& x, const xt::xarray<double>& mask, Ctx& ctx) { return Policy::eval_impl(x, &mask, ctx); }
};
}  // namespace detail::smx

// ------------------------------------------------------------------------------------------------
// 2Quad (SecFormer, MPCFormer)

/// Quad2Softmax: 2Quad, (x_i + 5)^2 mask_i / sum_j (x_j + 5)^2 mask_j, with Goldschmidt on the row mean
/// | paper  | SecFormer 2Quad and Pi_Div; docs/protocols.md#softmax-2quad
/// | rounds | 11
/// | online | 18.06 B/element/party (rows of 128: 2 words per element + 33 words per row)
/// | dealer | 17 B/element (rows of 128: 2 words per element + 16 words per row)
/// | error  | max 1.6e-5, p99 1.4e-5 vs exact 2Quad, N(0, 4) logits (bench_protocols, 12 x 128 x 128)
/// | range  | per row, the mean of (x + 5)^2 over the unmasked entries in [1/4, 1024] (Solo throws outside)
/// BasicQuad2Softmax<Reciprocal, C>: any reciprocal policy and constant c; no comparison, no exp, no max.
template <class Reciprocal = GoldschmidtReciprocal<9, 10, 12>, double C = 5.0>
struct BasicQuad2Softmax : detail::smx::Api<BasicQuad2Softmax<Reciprocal, C>> {
  using reciprocal_policy = Reciprocal;
  static constexpr double c = C;
  /// Documented range of the row mean of (x + c)^2 (the reciprocal's input).
  static constexpr double mean_min = Reciprocal::range_min;
  static constexpr double mean_max = Reciprocal::range_max;
  static constexpr int online_rounds = 2 + Reciprocal::online_rounds;
  template <class Ring = Z2k<64>>
  static constexpr int online_rounds_for(std::size_t /*n*/) { return online_rounds; }
  /// Bytes each party sends for R rows of n entries (trunc::Local).
  template <class Ring = Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t rows, std::size_t n) {
    return sizeof(typename Ring::word_type) * (2 * rows * n + rows + rows * static_cast<std::size_t>(Reciprocal::words_per_element));
  }
  /// Dealer bytes to party 1.
  template <class Ring = Z2k<64>>
  static constexpr std::uint64_t dealer_bytes(std::size_t rows, std::size_t n) {
    return sizeof(typename Ring::word_type) * (2 * rows * n + rows * static_cast<std::size_t>(Reciprocal::dealer_words_per_element));
  }

  // approx (the reciprocal's iteration included), exact (2Quad itself) and eval: detail::smx::Api.

 private:
  friend struct detail::smx::Api<BasicQuad2Softmax>;
  template <class S, class Ctx>
  static S eval_impl(const S& x, const xt::xarray<double>* mask, Ctx& ctx) {
    using T = typename S::encoding_type;
    using Ring = typename S::ring_type;
    using W = typename Ring::word_type;
    using Tr = typename T::trunc_policy;
    constexpr int F = static_cast<int>(T::frac_bits);
    static_assert(F > 0, "secformer: softmax needs a fixed-point encoding");
    static_assert(Ring::bits == 64, "secformer: the softmaxes need Z2k<64>: in Z2k<32> every product must stay below 2^30 ring units "
                  "(values below 64 at 2F = 24 bits), which (x + 5)^2 and the reciprocal's K / S exceed");
    auto g = ctx.scope("softmax");
    const auto info = detail::smx::rows_of<W>(x.shape(), mask);
    xt::xarray<double> scale(info.row_shape);
    for (std::size_t r = 0; r < info.rows; ++r) scale.data()[r] = 1 / std::sqrt(std::max(info.count[r], 1.0));
    const S y = truncate((x + C).mul_public(scale), ctx);  // (x + c) / sqrt(n_r)
    S q = square(y, ctx);
    if (info.masked) q = q.mul_public_words(info.words);
    const S mean = q.sum(x.dimension() - 1, true);
    const int out_frac = std::min(F, detail::recip_out_bits<Ring> - F - Reciprocal::log2k);
    auto inv = Reciprocal::inverse_scaled(mean, ctx, out_frac, info.empty.data());
    auto z = mul_rows_raw(q.template reinterpret<Int>(), inv.words, ctx);
    return detail::recip_shift<Tr>(z, inv.frac + inv.log2k, ctx).template reinterpret<T>();
  }

  static xt::xarray<double> exact_impl(const xt::xarray<double>& x, const xt::xarray<double>* mask) {
    const xt::xarray<double> m = detail::smx::mask_full(x, mask);
    const xt::xarray<double> q = (x + C) * (x + C) * m;
    xt::xarray<double> s = xt::sum(q, {x.dimension() - 1}, xt::keep_dims);
    s = xt::where(xt::equal(s, 0.0), 1.0, s);
    return q / s;
  }
  static xt::xarray<double> approx_impl(const xt::xarray<double>& x, const xt::xarray<double>* mask) {
    const xt::xarray<double> m = detail::smx::mask_full(x, mask);
    const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
    xt::xarray<double> out(x.shape());
    const double* xv = x.data();
    const double* mv = m.data();
    double* o = out.data();
    for (std::size_t r = 0; r < rows; ++r) {
      double cnt = 0, s = 0;
      for (std::size_t j = 0; j < n; ++j) cnt += mv[r * n + j];
      const double k = 1 / std::max(cnt, 1.0);
      for (std::size_t j = 0; j < n; ++j) s += (xv[r * n + j] + C) * (xv[r * n + j] + C) * k * mv[r * n + j];
      const double inv = cnt > 0 ? Reciprocal::approx(s) : 0.0;
      for (std::size_t j = 0; j < n; ++j) o[r * n + j] = (xv[r * n + j] + C) * (xv[r * n + j] + C) * k * mv[r * n + j] * inv;
    }
    return out;
  }
};

/// SecFormer's softmax: 2Quad with the Goldschmidt reciprocal of the row mean over [1/4, 1024].
using Quad2Softmax = BasicQuad2Softmax<>;
/// MPCFormerSoftmax: 2Quad with CrypTen's Newton reciprocal of the row mean, deflated by 2^3
/// | paper  | MPCFormer (Li et al. 2023); docs/protocols.md#softmax-2quad
/// | rounds | 30
/// | online | 19.06 B/element/party (rows of 128: 2 words per element + 49 words per row)
/// | dealer | 17.75 B/element (rows of 128: 2 words per element + 28 words per row)
/// | error  | max 1.6e-5, p99 1.4e-5 vs exact 2Quad, N(0, 4) logits (bench_protocols, 12 x 128 x 128)
/// | range  | per row, the mean of (x + 5)^2 in [1/32, 2000] (NewtonReciprocal's range, deflated)
using MPCFormerSoftmax = BasicQuad2Softmax<NewtonReciprocal<10, 3>>;

// ------------------------------------------------------------------------------------------------
// CrypTen / PUMA

/// CrypTenSoftmax: exp(x_i - max x) / sum_j exp(x_j - max x) as CrypTen: max tree, exp, Newton
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#softmax-2quad
/// | rounds | 100
/// | online | 289.4 B/element/party (rows of 128)
/// | dealer | 383.3 B/element (rows of 128)
/// | error  | max 9.6e-3 vs the exact softmax, N(0, 4) logits (bench_protocols, 12 x 128 x 128), mostly exp's
/// | range  | unmasked logits in [-64, 64]; n <= 250 entries per row (Newton's range); Solo throws outside
/// Rounds and bytes depend on n: online_rounds_for<Ring>(n) = Compare::max_rounds(n) + 8 + 28 + 1
/// (online_rounds: n = 128). With MaskedCompare<> instead: 72 rounds, 104 B per element.
template <class Compare = CrypTenCompare, class Reciprocal = NewtonReciprocal<10, 0>, class Exp = CrypTenExp>
struct BasicCrypTenSoftmax : detail::smx::Api<BasicCrypTenSoftmax<Compare, Reciprocal, Exp>> {
  using compare_policy = Compare;
  using reciprocal_policy = Reciprocal;
  using exp_policy = Exp;
  /// Documented range of the unmasked logits; masked ones are replaced by -fill.
  static constexpr double logit_max = 64.0;
  static constexpr double fill = 64.0;

  template <class Ring = Z2k<64>>
  static constexpr int online_rounds_for(std::size_t n) {
    return Compare::template max_rounds<Ring>(n) + Exp::online_rounds + Reciprocal::online_rounds + 1;
  }
  /// For n = 128 entries per row (BERT-base at 128 tokens) in Z2k<64>; other n: online_rounds_for(n).
  static constexpr int online_rounds = online_rounds_for<Z2k<64>>(128);

  /// Bytes each party sends for R rows of n entries (trunc::Local).
  template <class Ring = Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t rows, std::size_t n) {
    constexpr std::uint64_t w = sizeof(typename Ring::word_type);
    std::uint64_t b = 0;
    for (std::size_t k = n; k > 1; k -= k / 2) {  // tournament levels: k/2 comparisons and selections per row
      const std::size_t h = k / 2;
      b += Compare::template bytes_sent<Ring>(rows * h) + 2 * rows * h * w;
    }
    return b + w * (static_cast<std::uint64_t>(Exp::words_per_element) * rows * n +
                    static_cast<std::uint64_t>(Reciprocal::words_per_element) * rows + rows * n + rows);
  }
  template <class Ring = Z2k<64>>
  static constexpr std::uint64_t dealer_bytes(std::size_t rows, std::size_t n) {
    constexpr std::uint64_t w = sizeof(typename Ring::word_type);
    std::uint64_t b = 0;
    for (std::size_t k = n; k > 1; k -= k / 2) {
      const std::size_t h = k / 2;
      b += Compare::template dealer_bytes<Ring>(rows * h) + rows * h * w;
    }
    return b + w * (static_cast<std::uint64_t>(Exp::dealer_words_per_element) * rows * n +
                    static_cast<std::uint64_t>(Reciprocal::dealer_words_per_element) * rows + rows * n);
  }

  // approx, exact (the masked softmax itself) and eval: detail::smx::Api.

 private:
  friend struct detail::smx::Api<BasicCrypTenSoftmax>;
  template <class S, class Ctx>
  static S eval_impl(const S& x, const xt::xarray<double>* mask, Ctx& ctx) {
    using T = typename S::encoding_type;
    using Ring = typename S::ring_type;
    using W = typename Ring::word_type;
    using CT = typename S::container_type;
    using Tr = typename T::trunc_policy;
    constexpr int F = static_cast<int>(T::frac_bits);
    static_assert(F > 0, "secformer: softmax needs a fixed-point encoding");
    static_assert(Ring::bits == 64, "secformer: the softmaxes need Z2k<64>: CrypTen's exp needs 16 fractional bits, which "
                  "leave no room for products in Z2k<32> (2F must stay below 31)");
    auto g = ctx.scope("softmax");
    const auto info = detail::smx::rows_of<W>(x.shape(), mask);
    if constexpr (S::party_type::is_solo) {
      std::vector<unsigned char> skip(x.size(), 0);
      if (info.masked)
        for (std::size_t i = 0; i < x.size(); ++i) skip[i] = info.words.data()[i] == 0;
      detail::solo_check_range(x, -logit_max, logit_max, "CrypTenSoftmax logits", skip.data());
    }
    const std::size_t last = x.dimension() - 1;
    // masked logits -> -fill (local: a public 0/1 product and a public constant)
    const S xm = info.masked ? x.mul_public_words(info.words).add_public_words(
                                   encode<T, Ring>(xt::xarray<double>((info.mask - 1.0) * fill)))
                             : x;
    const S mx = max<Compare>(xm, last, ctx, true);
    const S d = xm - S(CT(xt::broadcast(mx.share(), x.shape())));
    S e = Exp::eval_unchecked(d, ctx);
    if (info.masked) e = e.mul_public_words(info.words);
    const S s = e.sum(last, true);
    const int out_frac = std::min(F, detail::recip_out_bits<Ring> - F - Reciprocal::log2k);
    auto inv = Reciprocal::inverse_scaled(s, ctx, out_frac, info.empty.data());
    auto z = mul_rows_raw(e.template reinterpret<Int>(), inv.words, ctx);
    return detail::recip_shift<Tr>(z, inv.frac + inv.log2k, ctx).template reinterpret<T>();
  }

  static xt::xarray<double> exact_impl(const xt::xarray<double>& x, const xt::xarray<double>* mask) {
    const xt::xarray<double> m = detail::smx::mask_full(x, mask);
    const std::size_t last = x.dimension() - 1;
    const xt::xarray<double> xm = x * m + (m - 1.0) * fill;
    const xt::xarray<double> mx = xt::amax(xm, {last}, xt::keep_dims);
    const xt::xarray<double> e = xt::exp(xm - mx) * m;
    xt::xarray<double> s = xt::sum(e, {last}, xt::keep_dims);
    s = xt::where(xt::equal(s, 0.0), 1.0, s);
    return e / s;
  }
  static xt::xarray<double> approx_impl(const xt::xarray<double>& x, const xt::xarray<double>* mask) {
    const xt::xarray<double> m = detail::smx::mask_full(x, mask);
    const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
    const xt::xarray<double> xm = x * m + (m - 1.0) * fill;
    xt::xarray<double> out(x.shape());
    const double* xv = xm.data();
    const double* mv = m.data();
    double* o = out.data();
    std::vector<double> e(n);
    for (std::size_t r = 0; r < rows; ++r) {
      double mx = xv[r * n];
      for (std::size_t j = 1; j < n; ++j) mx = std::max(mx, xv[r * n + j]);
      double s = 0;
      for (std::size_t j = 0; j < n; ++j) s += e[j] = Exp::approx(xv[r * n + j] - mx) * mv[r * n + j];
      const double inv = s > 0 ? Reciprocal::approx(s) : 0.0;
      for (std::size_t j = 0; j < n; ++j) o[r * n + j] = e[j] * inv;
    }
    return out;
  }
};

/// CrypTen's softmax: comparison-tree max (CrypTen's comparison), exp, Newton reciprocal.
using CrypTenSoftmax = BasicCrypTenSoftmax<>;
/// PumaSoftmax: PUMA's softmax as specified (CrypTen's, max subtracted before exp): CrypTenSoftmax
/// | paper  | PUMA (Dong et al. 2023); docs/protocols.md#baselines-crypten-puma-mpcformer
/// | rounds | 100
/// | online | 289.4 B/element/party (rows of 128)
/// | dealer | 383.3 B/element (rows of 128)
/// | error  | as CrypTenSoftmax's: the same computation
/// | range  | as CrypTenSoftmax's
/// A distinct type so that suites and reports can name it; identical results and costs.
struct PumaSoftmax : BasicCrypTenSoftmax<> {};

// ------------------------------------------------------------------------------------------------

namespace detail {
/// The single point where the default softmax policy is chosen: Policy, else (void) the context's
/// suite's softmax, else SecFormer's 2Quad (Quad2Softmax).
template <class Policy, class Ctx>
using softmax_policy_t = pick_policy_t<Policy, Ctx, suite_softmax_t, Quad2Softmax>;
}  // namespace detail

/// Softmax over the last axis with the policy (void: detail::softmax_policy_t's choice).
template <class Policy = void, class S, class Ctx>
S softmax(const S& x, Ctx& ctx) {
  return detail::softmax_policy_t<Policy, Ctx>::eval(x, ctx);
}
/// Softmax over the last axis with a public 0/1 mask (broadcast to x's shape; 1 = attend).
template <class Policy = void, class S, class Ctx>
S softmax(const S& x, const xt::xarray<double>& mask, Ctx& ctx) {
  return detail::softmax_policy_t<Policy, Ctx>::eval(x, mask, ctx);
}

}  // namespace secformer
