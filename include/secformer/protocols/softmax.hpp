// secformer/protocols/softmax.hpp: softmax over the last axis (protocols.md sections 5 and 7), with an
// optional PUBLIC 0/1 attention mask (any shape that broadcasts to x's; 1 = attend). Masked entries
// get probability 0; a row with no unmasked entry gives all zeros. N elements, R rows of n entries,
// W bytes per ring word (8 in Z2k<64>); costs per party, trunc::Local (the default encodings).
//
// Quad2Softmax = BasicQuad2Softmax<GoldschmidtReciprocal<9, 10, 12>> (SecFormer, section 5):
//   2Quad(x)_i = (x_i + c)^2 mask_i / sum_j (x_j + c)^2 mask_j, c = 5. No comparison, no exp, no max.
//   Evaluated as q'_i = ((x_i + c) / sqrt(n_r))^2 mask_i (n_r = the row's public count of unmasked
//   entries: a public rescaling that cancels in the ratio), S' = sum_i q'_i = the row's mean of
//   (x + c)^2, then q'_i (K / S') / K with K / S' from Goldschmidt (div.hpp). The mean (not the sum)
//   keeps the reciprocal's input in a range that does not depend on n, and keeps every product small
//   (local truncation fails with probability ~ |product| / 2^63: about 2^-22 per row in all for a
//   row mean of 29; the reciprocal's a path grows with 1024 / mean).
//   The mask multiplies the squares (adding -10000 before squaring would blow padded entries up).
//   Documented range: per row (with an unmasked entry), mean of (x + c)^2 over the unmasked
//   entries in [1/4, 1024] (the reciprocal's range; 2^12; e.g. logits N(0, 2^2): mean ~ 29). The
//   simulation (Solo) throws range_error outside it.
//   Rounds: 1 (square) + 9 (Goldschmidt) + 1 (row product) = 11.
//   Bytes each way: W (2 N + R + 32 R) (square: N words; product: N + R; Goldschmidt: 32 per row);
//   dealer: W (2 N + 16 R). 12 x 128 x 128 in Z2k<64>: 18.1 B per element.
//   Error (measured, tests/protocols_softmax.cpp, 12 x 128 x 128, N(0, 2^2) logits, padded rows):
//   against exact 2Quad in double, absolute mean 3e-6 .. 5e-6, p99 1.4e-5, max 1.6e-5 (about one LSB
//   of the output, the last truncation's); relative to the row's largest probability <= 8e-4;
//   ||p - p_exact|| / ||p_exact|| <= 6.5e-4. Masked entries are 0 within 1 LSB. The reciprocal's
//   own approximation error is below 1e-6 of p.
//
// MPCFormerSoftmax = BasicQuad2Softmax<NewtonReciprocal<10, 3>> (MPCFormer: 2Quad with CrypTen's
//   reciprocal). CrypTen's Newton converges only for inputs in about [2^-8, 250] (div.hpp); the raw
//   sum (about 29 n for N(0, 4) logits: 3700 for 128 keys) is far outside, so, as above, the row
//   mean is used and deflated by 2^3 (documented mean range [1/32, 2000]; below 1/4 the deflation
//   costs precision). Rounds: 1 + 28 + 1 = 30. Bytes each way: W (2 N + R + 48 R); dealer
//   W (2 N + 28 R): 19.1 B per element for 12 x 128 x 128. Error as Quad2Softmax's (max 1.3 LSB).
//
// CrypTenSoftmax = BasicCrypTenSoftmax<CrypTenCompare> (CrypTen, section 7):
//   m = max_j x_j (comparison tree, compare.hpp), e_i = exp(x_i - m) mask_i with CrypTen's exp
//   (1 + x/256)^256, then e_i (1 / sum_j e_j) with CrypTen's Newton reciprocal (sum in [1, n]).
//   With a mask, masked logits are replaced by -64 before the max (a public, local operation), so
//   the max is the unmasked entries' max and every exp argument stays in [-128, 0].
//   Documented range: unmasked logits in [-64, 64]; n <= 250 entries per row (Newton's range).
//   Rounds: Compare::max_rounds(n) + 8 (exp) + 28 (reciprocal) + 1 = 100 for n = 128 with
//   CrypTenCompare (63 + 37; 72 with MaskedCompare<>). Bytes: the comparison tree's (n - 1
//   comparisons and selections per row: 200 + 16 B per comparison with CrypTenCompare), 8 words per
//   element for exp, 48 per row, N + R for the product: 289 B per element for n = 128 (104 B with
//   MaskedCompare<>). Exact formulas: online_rounds_for, bytes_sent, dealer_bytes.
//   Error (measured, 12 x 128 x 128, N(0, 2^2) logits): against the exact softmax max abs 9.6e-3,
//   row-relative 1.7e-2, ||.||-relative 1.1e-2, dominated by the exp's (1 + x/256)^256 (relative
//   error of e_i about (x_i - m)^2 / 512); against the same approximation in double max abs 9e-4
//   (the exp base's rounding: 2^-8 relative).
// PumaSoftmax: PUMA's softmax as specified (CrypTen's, with the max subtracted before exp) is the
//   same computation as CrypTenSoftmax here, because CrypTen's softmax also subtracts the max:
//   identical results and costs (a distinct type so that suites and reports can name it).
//
// Z2k<32> is not supported (static_assert): with Fixed<12> every product must stay below 2^30 ring
// units, i.e. values below 64 at 24 fractional bits, which (x + 5)^2 and the reciprocal's K / S
// exceed, and CrypTen's exp needs 16 fractional bits (exp.hpp).
//
// Each policy: online_rounds_for<Ring>(n) and bytes_sent<Ring>(R, n) (checked by the tests),
// dealer_bytes<Ring>(R, n), and a double-precision twin approx(x[, mask]) of the whole
// approximation (the same reciprocal / exp iterations in double).
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
}  // namespace detail::smx

// ------------------------------------------------------------------------------------------------
// 2Quad (SecFormer, MPCFormer)

template <class Reciprocal = GoldschmidtReciprocal<9, 10, 12>, double C = 5.0>
struct BasicQuad2Softmax {
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

  /// The approximation in double precision (the reciprocal's iteration included).
  static xt::xarray<double> approx(const xt::xarray<double>& x) { return approx_impl(x, nullptr); }
  static xt::xarray<double> approx(const xt::xarray<double>& x, const xt::xarray<double>& mask) { return approx_impl(x, &mask); }
  /// Exact 2Quad in double precision.
  static xt::xarray<double> exact(const xt::xarray<double>& x) { return exact_impl(x, nullptr); }
  static xt::xarray<double> exact(const xt::xarray<double>& x, const xt::xarray<double>& mask) { return exact_impl(x, &mask); }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) { return eval_impl(x, nullptr, ctx); }
  template <class S, class Ctx>
  static S eval(const S& x, const xt::xarray<double>& mask, Ctx& ctx) { return eval_impl(x, &mask, ctx); }

 private:
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
/// MPCFormer's softmax: 2Quad with CrypTen's Newton reciprocal (row mean deflated by 8).
using MPCFormerSoftmax = BasicQuad2Softmax<NewtonReciprocal<10, 3>>;

// ------------------------------------------------------------------------------------------------
// CrypTen / PUMA

template <class Compare = CrypTenCompare, class Reciprocal = NewtonReciprocal<10, 0>, class Exp = CrypTenExp>
struct BasicCrypTenSoftmax {
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

  static xt::xarray<double> approx(const xt::xarray<double>& x) { return approx_impl(x, nullptr); }
  static xt::xarray<double> approx(const xt::xarray<double>& x, const xt::xarray<double>& mask) { return approx_impl(x, &mask); }
  /// Exact (masked) softmax in double precision.
  static xt::xarray<double> exact(const xt::xarray<double>& x) { return exact_impl(x, nullptr); }
  static xt::xarray<double> exact(const xt::xarray<double>& x, const xt::xarray<double>& mask) { return exact_impl(x, &mask); }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) { return eval_impl(x, nullptr, ctx); }
  template <class S, class Ctx>
  static S eval(const S& x, const xt::xarray<double>& mask, Ctx& ctx) { return eval_impl(x, &mask, ctx); }

 private:
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
/// PUMA's softmax as specified: identical to CrypTen's here (see the header comment).
struct PumaSoftmax : BasicCrypTenSoftmax<> {};

// ------------------------------------------------------------------------------------------------

/// Softmax over the last axis with the policy (default: the context's suite's, else SecFormer's 2Quad).
template <class Policy = void, class S, class Ctx>
S softmax(const S& x, Ctx& ctx) {
  return detail::pick_policy_t<Policy, Ctx, detail::suite_softmax_t, Quad2Softmax>::eval(x, ctx);
}
/// Softmax over the last axis with a public 0/1 mask (broadcast to x's shape; 1 = attend).
template <class Policy = void, class S, class Ctx>
S softmax(const S& x, const xt::xarray<double>& mask, Ctx& ctx) {
  return detail::pick_policy_t<Policy, Ctx, detail::suite_softmax_t, Quad2Softmax>::eval(x, mask, ctx);
}

}  // namespace secformer
