// secformer/protocols/sin.hpp: Pi_Sin, a truncated Fourier series of a shared fixed-point value,
// with a mask uniform over the ring (perfect hiding) instead of the reference code's bounded real mask.
//   fourier_series(u, s, ctx) = s.constant + sum_{k=1..n} b_k sin(2 pi k u / P) + a_k cos(2 pi k u / P)
//   sin_series(u, P, b, ctx)  = sum_{k=1..n} b_k sin(2 pi k u / P)
//   erf_fourier(u, ctx)       = sum_{j=1..7} beta_j sin(j pi u / 10)  (SecFormer's series of erf, P = 20)
//   fourier_mask / open / fourier_combine: the same in steps, so that the opening can be batched.
// The angle of u is c u mod 2^l with c = round(2^(l-F) / P): one period spans the whole ring, so no
// reduction is needed and the opened delta = c u - t (t uniform) reveals nothing.
// Scaling, error analysis and the reference code's bug: docs/protocols.md#fourier-series-pi_sin.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/fourier_material.hpp"
#include "trunc.hpp"

namespace secformer {

/// The coefficients of the 7-term odd sine series of erf on (-10, 10) (period 20), SecFormer's beta.
inline constexpr std::array<double, 7> erf_fourier_beta = {1.25772, -0.0299154, 0.382155, -0.0519123,
                                                           0.196033, -0.0624557, 0.118029};
inline constexpr double erf_fourier_period = 20.0;

/// A truncated Fourier series: constant + sum_{k=1..n} sin_coeffs[k-1] sin(2 pi k u / period)
///                                                 + cos_coeffs[k-1] cos(2 pi k u / period).
struct FourierSeries {
  double period = 2 * 3.141592653589793;
  std::vector<double> sin_coeffs;
  std::vector<double> cos_coeffs;
  double constant = 0.0;

  std::size_t terms() const noexcept { return sin_coeffs.size() > cos_coeffs.size() ? sin_coeffs.size() : cos_coeffs.size(); }
  double b(std::size_t k) const noexcept { return k < sin_coeffs.size() ? sin_coeffs[k] : 0.0; }
  double a(std::size_t k) const noexcept { return k < cos_coeffs.size() ? cos_coeffs[k] : 0.0; }
  /// The series in double precision (the reference for tests).
  double operator()(double u) const noexcept {
    double s = constant;
    for (std::size_t k = 0; k < terms(); ++k) {
      const double ang = 6.283185307179586 * static_cast<double>(k + 1) * u / period;
      s += b(k) * std::sin(ang) + a(k) * std::cos(ang);
    }
    return s;
  }
};

/// SecFormer's erf series (erf_fourier_beta) as a FourierSeries.
inline FourierSeries erf_fourier_series() {
  return FourierSeries{erf_fourier_period, std::vector<double>(erf_fourier_beta.begin(), erf_fourier_beta.end()), {}, 0.0};
}

/// Online rounds of fourier_series for an encoding (the opening plus the truncation).
template <class E>
inline constexpr int fourier_series_rounds = 1 + (std::is_same_v<typename E::trunc_policy, trunc::Dealer> ? 1 : 0);

/// c = round(2^(l-F) / period): multiplying an F-bit fixed-point word by c maps one period onto the
/// whole ring. Throws usage_error when the period is not positive or too small for the ring.
template <class Ring, unsigned F>
typename Ring::word_type fourier_angle_scale(double period) {
  using W = typename Ring::word_type;
  SECFORMER_ASSERT(period > 0 && std::isfinite(period), "Fourier series with a non-positive period");
  const double c = std::nearbyint(std::ldexp(1.0, static_cast<int>(Ring::bits - F)) / period);
  SECFORMER_ASSERT(c >= 16.0 && c < std::ldexp(1.0, static_cast<int>(Ring::bits) - 1),
                   "Fourier series period too small or too large for the ring and fixed-point precision");
  return static_cast<W>(c);
}

namespace detail {
/// sin(k delta) and cos(k delta) for k = 1..n of the angle of a ring word (Chebyshev recurrence from
/// one sincos: error below n * 1e-16).
/// sin and cos of 256 equally spaced angles k 2 pi / 256 (for ring_sincos).
struct SinCosTable {
  double s[256], c[256];
  SinCosTable() noexcept {
    for (int k = 0; k < 256; ++k) {
      const double a = 6.283185307179586476925 * k / 256.0;
      s[k] = std::sin(a);
      c[k] = std::cos(a);
    }
  }
};
inline const SinCosTable& sincos_table() noexcept {
  static const SinCosTable t;
  return t;
}
/// sin and cos of the angle 2 pi w / 2^l of a ring word without a libm call: the top 8 bits (rounded)
/// index a table, the rest is an angle |r| <= pi / 256 whose sine and cosine come from their Taylor
/// polynomials (truncation error below 1e-19); total error a few ulp, as std::sin / std::cos.
template <class W>
inline void ring_sincos(W w, double& s, double& c) noexcept {
  const std::uint64_t u = sizeof(W) == 8 ? static_cast<std::uint64_t>(w) : static_cast<std::uint64_t>(w) << 32;
  const std::uint64_t v = u + (std::uint64_t(1) << 55);  // round to the nearest table angle
  const unsigned k = static_cast<unsigned>(v >> 56);
  const std::int64_t rest = static_cast<std::int64_t>(v & ((std::uint64_t(1) << 56) - 1)) - (std::int64_t(1) << 55);
  const double r = static_cast<double>(rest) * (6.283185307179586476925 / 18446744073709551616.0);
  const double r2 = r * r;
  const double sr = r * (1.0 - r2 * (1.0 / 6 - r2 * (1.0 / 120 - r2 * (1.0 / 5040))));
  const double cr = 1.0 - r2 * (0.5 - r2 * (1.0 / 24 - r2 * (1.0 / 720 - r2 * (1.0 / 40320))));
  const SinCosTable& t = sincos_table();
  s = t.s[k] * cr + t.c[k] * sr;
  c = t.c[k] * cr - t.s[k] * sr;
}

template <class W>
inline void harmonics(W delta, std::size_t n, double* s, double* c) noexcept {
  double s1, c1;
  ring_sincos<W>(delta, s1, c1);
  double sk = s1, ck = c1;
  for (std::size_t k = 0; k < n; ++k) {
    s[k] = sk;
    c[k] = ck;
    const double sn = sk * c1 + ck * s1;
    ck = ck * c1 - sk * s1;
    sk = sn;
  }
}

template <class W, unsigned F>
inline W encode_real(double v) noexcept {
  constexpr double scale = static_cast<double>(std::uint64_t(1) << F);
  return static_cast<W>(static_cast<std::make_signed_t<W>>(std::nearbyint(v * scale)));
}

/// nearbyint(v) as a ring word for |v| < 2^51 (round half to even, as nearbyint in the default
/// rounding mode), without a libm call: adding 1.5 * 2^52 leaves the rounded integer in the low bits.
template <class W>
inline W round_to_word(double v) noexcept {
  constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
  return static_cast<W>(std::bit_cast<std::uint64_t>(v + magic) - std::bit_cast<std::uint64_t>(magic));
}

template <class T>
inline constexpr bool is_fixed_encoding_v = !std::is_same_v<T, Int> && std::is_same_v<typename T::base, T> && (T::frac_bits > 0);
}  // namespace detail

/// The local part of Pi_Sin before the opening: the masked angle (to open) and the dealer's trig shares.
template <class T, class Ring, class P, class C>
struct FourierMasked {
  using word_type = typename Ring::word_type;
  Shared<Int, Ring, P, C> masked;   ///< c u - t, to be opened (uniform over the ring)
  xt::xarray<word_type> trig;        ///< N x 2n: shares of sin(k t), cos(k t), fixed-point F bits
  std::size_t terms = 0;
};

/// Step 1 (local, dealer material only): masks the scaled angle of u for frequencies 1..n.
template <class T, class Ring, class P, class C, class Ctx>
FourierMasked<T, Ring, P, C> fourier_mask(const Shared<T, Ring, P, C>& u, double period, std::size_t n, Ctx& ctx) {
  static_assert(detail::is_fixed_encoding_v<T>, "secformer: Pi_Sin needs a fixed-point input");
  using W = typename Ring::word_type;
  constexpr unsigned F = T::frac_bits;
  SECFORMER_ASSERT(n >= 1 && n <= material::fourier_detail::max_frequencies, "Fourier series with 0 or too many terms");
  const W c = fourier_angle_scale<Ring, F>(period);
  const std::size_t N = u.size();
  material::Params params;
  params.shape({N}).value(F).value(n);
  for (std::size_t k = 1; k <= n; ++k) params.value(k);
  auto m = ctx.template material<material::FourierMask, W>(params);
  C masked(u.shape());
  const W* uw = u.share().data();
  const W* t = m[0].data();
  W* o = masked.data();
  for (std::size_t i = 0; i < N; ++i) o[i] = static_cast<W>(c * uw[i] - t[i]);
  return {Shared<Int, Ring, P, C>(std::move(masked)), std::move(m[1]), n};
}

/// Step 3 (local): combines the opened delta with the trig shares into the series' share.
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> fourier_combine(const FourierMasked<T, Ring, P, C>& fm, const C& delta, const FourierSeries& s, Ctx& ctx) {
  using W = typename Ring::word_type;
  constexpr unsigned F = T::frac_bits;
  const std::size_t N = delta.size(), n = fm.terms;
  SECFORMER_ASSERT(s.terms() <= n, "Fourier series with more terms than the mask");
  SECFORMER_ASSERT(fm.trig.size() == N * 2 * n, "Fourier mask of the wrong size");
  std::vector<double> sk(n), ck(n);
  std::vector<double> b(n), a(n);
  for (std::size_t k = 0; k < n; ++k) { b[k] = s.b(k); a[k] = s.a(k); }
  C acc(delta.shape());
  const W* d = delta.data();
  const W* tr = fm.trig.data();
  W* o = acc.data();
  const W constant = (P::id == 0) ? detail::encode_real<W, 2 * F>(s.constant) : W(0);
  for (std::size_t i = 0; i < N; ++i) {
    detail::harmonics<W>(d[i], n, sk.data(), ck.data());
    const W* row = tr + i * 2 * n;
    W sum = constant;
    for (std::size_t k = 0; k < n; ++k) {
      // b sin(k(d+t)) + a cos(k(d+t)) = (b sin kd + a cos kd) cos kt + (b cos kd - a sin kd) sin kt
      const W p = detail::encode_real<W, F>(b[k] * sk[k] + a[k] * ck[k]);
      const W q = detail::encode_real<W, F>(b[k] * ck[k] - a[k] * sk[k]);
      sum = static_cast<W>(sum + p * row[2 * k + 1] + q * row[2 * k]);
    }
    o[i] = sum;
  }
  return truncate(Shared<product_t<T>, Ring, P, C>(std::move(acc)), ctx);
}

/// Pi_Sin: the Fourier series s of the shared u. 1 round (+ the truncation); see erf_fourier's card.
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> fourier_series(const Shared<T, Ring, P, C>& u, const FourierSeries& s, Ctx& ctx) {
  auto g = ctx.scope("sin");
  auto fm = fourier_mask(u, s.period, s.terms(), ctx);
  auto delta = ctx.open(fm.masked);
  return fourier_combine(fm, delta, s, ctx);
}

/// sum_{k=1..n} coefficients[k-1] sin(2 pi k u / period).
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> sin_series(const Shared<T, Ring, P, C>& u, double period, std::span<const double> coefficients, Ctx& ctx) {
  return fourier_series(u, FourierSeries{period, std::vector<double>(coefficients.begin(), coefficients.end()), {}, 0.0}, ctx);
}

/// erf_fourier: SecFormer's 7-term sine series of erf, sum_j beta_j sin(j pi u / 10), by Pi_Sin
/// | paper  | SecFormer Pi_Sin; docs/protocols.md#fourier-series-pi_sin
/// | rounds | 1
/// | online | 8 B/element/party
/// | dealer | 112 B/element
/// | error  | at most 1.7e-4 vs the series in double (measured: max 6e-5, mean 1.2e-5)
/// | range  | every encodable u (the angle is taken modulo the ring, i.e. modulo the period)
/// The series itself is off erf by up to 0.022 on |u| <= 1.7 and 0.036 on |u| <= 2.5: use it only on
/// the middle segment (gelu.hpp).
/// Any fourier_series of n terms: 1 round, l/8 bytes per element, 2n dealer words per element;
/// trunc::Dealer adds one round and one word (fourier_series_rounds<E>).
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> erf_fourier(const Shared<T, Ring, P, C>& u, Ctx& ctx) {
  return fourier_series(u, erf_fourier_series(), ctx);
}

}  // namespace secformer
