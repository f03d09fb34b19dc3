// secformer/protocols/div.hpp: reciprocal and division of shares.
//   GoldschmidtReciprocal<Iters, DeflateLog2, RangeLog2>  SecFormer's Pi_Div, deflated (the default)
//   NewtonReciprocal<Iters, DeflateLog2>                  CrypTen's reciprocal (exp start, Newton)
//   reciprocal<Policy>(y, ctx), div<Policy>(x, y, ctx), mul_rows_raw(x, r, ctx)
// Every policy computes a "scaled inverse": shares of K / y (K = 2^log2k public) with a chosen number
// of fractional bits (inverse_scaled); reciprocal, div and the softmaxes (softmax.hpp) take it from
// there. The deflation K keeps the iteration's input in its convergence range.
// Schedules, fixed-point budget, errors and ranges: docs/protocols.md#division-goldschmidt-pi_div.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/matmul_material.hpp"
#include "exp.hpp"
#include "mul.hpp"
#include "trunc.hpp"

namespace secformer {

// ------------------------------------------------------------------------------------------------
// Products with a per-row factor

namespace detail {
template <class S1, class S2>
bool has_row_shape(const S1& x, const S2& r) {
  if (x.size() != r.size() || x.size() == 0) return false;
  for (std::size_t i = 0; i + 1 < x.size(); ++i)
    if (x[i] != r[i]) return false;
  return r[r.size() - 1] == 1;
}
}  // namespace detail

/// x * r with r of x's shape except a last axis of 1 (one factor per row). Raw product (doubled
/// scale). 1 round, N + R words each way; dealer: N words (matrix triple (R, n, 1, 1)).
template <class T, class Ring, class P, class C, class Ctx>
Shared<product_t<T>, Ring, P, C> mul_rows_raw(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& r, Ctx& ctx) {
  using W = typename Ring::word_type;
  using Out = Shared<product_t<T>, Ring, P, C>;
  SECFORMER_ASSERT(x.dimension() >= 1 && detail::has_row_shape(x.shape(), r.shape()),
                   "mul_rows: the factor must have the share's shape with a last axis of 1");
  const std::size_t n = x.shape()[x.dimension() - 1];
  const std::size_t rows = r.size();
  const std::vector<std::size_t> sx = detail::shape_of(x);
  auto g = ctx.scope("mul");
  C x2 = x.share();
  x2.reshape({rows, n});
  C r2 = r.share();
  r2.reshape({rows, std::size_t(1)});
  if constexpr (P::is_solo) {
    ctx.count_round((rows * n + rows) * sizeof(W), (rows * n + rows) * sizeof(W));
    C z = x2 * r2;
    z.reshape(sx);
    return Out(std::move(z));
  } else {
    auto m = ctx.template material<material::MatTriple, W>(material::Params{}.value(rows).value(n).value(1).value(1));
    C a = m[0], b = m[1], c = m[2];
    a.reshape({rows, n});
    b.reshape({rows, std::size_t(1)});
    c.reshape({rows, n});
    using I = Shared<T, Ring, P, C>;
    auto [e, f] = ctx.open_many(I(C(x2 - a)), I(C(r2 - b)));
    C z = e * b + a * f + c;
    if constexpr (P::id == 0) z += e * f;
    z.reshape(sx);
    return Out(std::move(z));
  }
}

// ------------------------------------------------------------------------------------------------
// Common pieces

namespace detail {
/// Ring units a product may reach on the b path of Goldschmidt (local truncation failure ~ 2^(B-63);
/// trunc::Dealer in Z2k<32> needs |x| < 2^30).
template <class Ring> inline constexpr int recip_path_bits = Ring::bits == 64 ? 36 : 29;
/// Ring units a product of a row with its inverse may reach (summed over a row): sets the inverse's
/// fractional bits in the softmaxes.
template <class Ring> inline constexpr int recip_out_bits = Ring::bits == 64 ? 40 : 29;
/// The same for div (per element, |x / y| times this).
template <class Ring> inline constexpr int recip_div_bits = Ring::bits == 64 ? 42 : 29;

/// Shifts an Int-typed share right by s bits (truncation with policy Tr), or left for s < 0.
template <class Tr, class S, class Ctx>
S recip_shift(const S& x, int s, Ctx& ctx) {
  using W = typename S::word_type;
  if (s > 0) return truncate_by<Int, Tr>(x, static_cast<unsigned>(s), ctx);
  if (s < 0) return x * static_cast<W>(W(1) << static_cast<unsigned>(-s));
  return x;
}
}  // namespace detail

/// Shares of K / y: value = words / 2^frac, K = 2^log2k.
template <class Ring, class P, class C>
struct ScaledInverse {
  Shared<Int, Ring, P, C> words;
  int frac;
  int log2k;
};

// ------------------------------------------------------------------------------------------------
// Goldschmidt

namespace detail::goldschmidt {
struct Step {
  int e;         ///< extra fractional bits of b_j (b_j held at scale 2^(F + e))
  int sm;        ///< fractional bits of m_j
  int ca;        ///< extra fractional bits of a_j (j >= 1; a_j held at scale 2^(F + ca))
  double alpha;  ///< scaling of step j
  double lo, hi; ///< interval of b_j
};
struct Schedule {
  std::vector<Step> steps;
  double center = 1;  ///< applied to the last m (a only)
  double bound = 0;   ///< |a_T b_0 - 1| bound from the interval arithmetic
};

inline double g(double z) { return z * (2 - z); }

/// The public schedule for T iterations, input b_0 = y / 2^k in [2^-r, 1], F fractional bits and
/// products of the b path below 2^Rb.
inline Schedule make_schedule(int T, int k, int r, int F, int Rb, int ring_bits) {
  Schedule s;
  double l = std::ldexp(1.0, -r), u = 1.0;
  for (int j = 0; j < T; ++j) {
    Step st{};
    st.e = j == 0 ? k : std::max(0, static_cast<int>(std::floor(std::log2(1 / l) + 1e-9)) + 1);
    // m keeps at least 6 bits (the first step may then exceed Rb: products up to 2^(F + k + 6)).
    st.sm = std::min(F, std::max(6, Rb - F - st.e));
    if (F + st.e + st.sm > (ring_bits == 64 ? 46 : Rb))
      throw usage_error("secformer: GoldschmidtReciprocal: deflation 2^" + std::to_string(k) + " too large for this ring and encoding");
    // a_j >= l_j: 1 or 2 extra bits while l_j < 1/2 (a may be small), none after (products stay small)
    st.ca = j == 0 || l >= 0.5 ? 0 : std::clamp(static_cast<int>(std::ceil(std::log2(1 / l) - 1e-9)), 1, 2);
    // alpha u <= 1 + sqrt(1 - u/4) keeps m >= 1/4 at the top of the interval (u may exceed 1 a little).
    st.alpha = std::min((1 + std::sqrt(std::max(0.0, 1 - u / 4))) / u, 2 / (l + u));
    st.lo = l;
    st.hi = u;
    const double a = st.alpha;
    // m's error: t (+-1 LSB at 2^-sm) times alpha^2, alpha^2 t (+-1), 2 alpha (+-1/2), alpha^2 (2^-F).
    const double E = (a * a + 3) * std::ldexp(1.0, -st.sm) + std::ldexp(1.0, -F);
    double nl = 1e300, nu = -1e300;
    auto at = [&](double b) {
      const double m = a * (2 - a * b);
      nl = std::min(nl, b * (m - E));
      nu = std::max(nu, b * (m + E));
    };
    at(l);
    at(u);
    if (l < 1 / a && 1 / a < u) at(1 / a);
    constexpr int grid = 512;
    for (int i = 1; i < grid; ++i) at(l * std::pow(u / l, static_cast<double>(i) / grid));
    // rounding of the product b m (relative 2^-(F-1))
    nl *= 1 - std::ldexp(1.0, 2 - F);
    nu *= 1 + std::ldexp(1.0, 2 - F);
    if (!(nl > 0)) throw usage_error("secformer: GoldschmidtReciprocal: schedule does not converge for this range");
    s.steps.push_back(st);
    l = nl;
    u = nu;
  }
  s.center = 2 / (l + u);
  s.bound = (u - l) / (u + l);
  return s;
}
}  // namespace detail::goldschmidt

/// GoldschmidtReciprocal: K / y by Goldschmidt's iteration, deflated by K and optimally scaled per step
/// | paper  | SecFormer Pi_Div; docs/protocols.md#division-goldschmidt-pi_div
/// | rounds | 9
/// | online | 256 B/element/party
/// | dealer | 128 B/element
/// | error  | relative max 8e-5 over [1, 4096] (tests/protocols_softmax.cpp); error_bound() 1.4e-4
/// | range  | y in [K 2^-RangeLog2, K] = [1, 4096] (Solo throws outside)
/// Iters rounds, 4 (Iters - 1) words online and 2 (Iters - 1) dealer words per element; trunc::Dealer:
/// rounds_for<E, Ring>(). Z2k<32> holds only K / y < 16 (e.g. GoldschmidtReciprocal<6, 4, 4>).
/// Local truncation fails (a result off by about 2^(64 - shift)) with probability about (K / y) 2^-29
/// per element.
template <int Iters = 9, int DeflateLog2 = 12, int RangeLog2 = 12>
struct GoldschmidtReciprocal {
  static_assert(Iters >= 2 && Iters <= 30, "secformer: GoldschmidtReciprocal needs 2..30 iterations");
  static_assert(RangeLog2 >= 0 && RangeLog2 <= 40 && DeflateLog2 >= 0 && DeflateLog2 <= 40, "secformer: range out of bounds");
  static constexpr int iterations = Iters;
  static constexpr int log2k = DeflateLog2;
  static constexpr int range_log2 = RangeLog2;
  static constexpr double range_min = static_cast<double>(std::uint64_t(1) << (DeflateLog2 < RangeLog2 ? 0 : DeflateLog2 - RangeLog2)) /
                                      static_cast<double>(std::uint64_t(1) << (DeflateLog2 < RangeLog2 ? RangeLog2 - DeflateLog2 : 0));
  static constexpr double range_max = static_cast<double>(std::uint64_t(1) << DeflateLog2);
  /// Online rounds with local truncation (the default encodings).
  static constexpr int online_rounds = Iters;
  /// Ring words each party sends per element of y (trunc::Local).
  static constexpr int words_per_element = 4 * (Iters - 1);
  /// Dealer words to party 1 per element of y.
  static constexpr int dealer_words_per_element = 2 * (Iters - 1);

  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static const detail::goldschmidt::Schedule& schedule() {
    static const detail::goldschmidt::Schedule s =
        detail::goldschmidt::make_schedule(Iters, DeflateLog2, RangeLog2, static_cast<int>(E::frac_bits), detail::recip_path_bits<Ring>,
                                           static_cast<int>(Ring::bits));
    return s;
  }
  /// Bound on the relative error of the iteration (approximation and the error of m; not the
  /// rounding of the products).
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static double error_bound() { return schedule<E, Ring>().bound; }

  /// Online rounds for encoding E (trunc::Dealer: one more per truncation).
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static int rounds_for() {
    if (!std::is_same_v<typename E::trunc_policy, trunc::Dealer>) return Iters;
    const auto& s = schedule<E, Ring>();
    const int F = static_cast<int>(E::frac_bits);
    int n = Iters;
    for (int j = 0; j < Iters; ++j) {
      const auto& st = s.steps[static_cast<std::size_t>(j)];
      n += (F + st.e - st.sm > 0) + 1;                          // t, alpha^2 t
      if (j + 1 < Iters) n += (st.e + st.sm - s.steps[static_cast<std::size_t>(j) + 1].e > 0);  // b m
      if (j > 0 && j + 1 < Iters) n += (st.ca + st.sm - s.steps[static_cast<std::size_t>(j) + 1].ca > 0);  // a m
      if (j + 1 == Iters) n += 1;                                // final a m to the output scale
    }
    return n;
  }

  /// The same iteration in double precision: ~ 1/x.
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static double approx(double x) {
    const auto& s = schedule<E, Ring>();
    const double K = std::ldexp(1.0, DeflateLog2);
    double b = x / K, a = 1;
    for (int j = 0; j < Iters; ++j) {
      const double al = s.steps[static_cast<std::size_t>(j)].alpha;
      const double m = al * (2 - al * b);
      a *= j + 1 == Iters ? m * s.center : m;
      b *= m;
    }
    return a / K;
  }

  /// Shares of K / y with out_frac fractional bits. skip (null or one byte per element): entries
  /// exempt from the simulation's range check (e.g. fully masked softmax rows).
  template <class T, class Ring, class P, class C, class Ctx>
  static ScaledInverse<Ring, P, C> inverse_scaled(const Shared<T, Ring, P, C>& y, Ctx& ctx, int out_frac,
                                                  const unsigned char* skip = nullptr) {
    using I = Shared<Int, Ring, P, C>;
    using W = typename Ring::word_type;
    using Tr = typename T::trunc_policy;
    constexpr int F = static_cast<int>(T::frac_bits);
    static_assert(F > 0, "secformer: GoldschmidtReciprocal needs a fixed-point encoding");
    detail::solo_check_range(y, range_min, range_max, "GoldschmidtReciprocal", skip);
    auto g = ctx.scope("reciprocal");
    const auto& s = schedule<T, Ring>();
    auto sh = [&](const I& v, int k) { return detail::recip_shift<Tr>(v, k, ctx); };
    auto word = [](double v, int frac) { return static_cast<W>(static_cast<std::int64_t>(std::nearbyint(std::ldexp(v, frac)))); };
    I B = y.template reinterpret<Int>();  // b_0 = y / K at scale 2^(F + k)
    I A;
    for (int j = 0; j < Iters; ++j) {
      const auto& st = s.steps[static_cast<std::size_t>(j)];
      const bool last = j + 1 == Iters;
      const double c = last ? s.center : 1.0;
      // m = 2 alpha c - alpha^2 c b at scale 2^sm, from b at scale 2^sm.
      const I t = sh(B, F + st.e - st.sm);
      const I u = sh(t * word(st.alpha * st.alpha * c, F), F);
      const I M = (-u).add_public_words(word(2 * st.alpha * c, st.sm));
      if (j == 0) {
        const auto& nx = s.steps[1];
        A = sh(M, st.sm - (F + nx.ca));
        B = sh(mul_raw(B, M, ctx), st.e + st.sm - nx.e);
      } else if (!last) {
        const auto& nx = s.steps[static_cast<std::size_t>(j) + 1];
        auto p = mul_many_raw(std::vector<std::pair<I, I>>{{A, M}, {B, M}}, ctx);
        A = sh(p[0], st.ca + st.sm - nx.ca);
        B = sh(p[1], st.e + st.sm - nx.e);
      } else {
        A = sh(mul_raw(A, M, ctx), F + st.ca + st.sm - out_frac);
      }
    }
    return {std::move(A), out_frac, DeflateLog2};
  }

  /// 1/y in y's encoding.
  template <class S, class Ctx>
  static S eval(const S& y, Ctx& ctx) {
    constexpr int F = static_cast<int>(S::encoding_type::frac_bits);
    return inverse_scaled(y, ctx, F - DeflateLog2).words.template reinterpret<typename S::encoding_type>();
  }
};

// ------------------------------------------------------------------------------------------------
// Newton (CrypTen)

/// NewtonReciprocal: 2^d / y as CrypTen: y_0 = 3 exp(1 - 2z) + 0.003, then Iters steps y (2 - z y)
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#division-goldschmidt-pi_div
/// | rounds | 28
/// | online | 384 B/element/party
/// | dealer | 224 B/element
/// | error  | |error| <= 3 LSB (1 + 1/z); relative mean 1.2e-4, max 2e-3 over [2^-8, 250]
/// | range  | z = y / 2^d in [2^-8, 250] (d = DeflateLog2 = 0: CrypTen; Solo throws outside)
/// Evaluated as y (2 - (z y)), which keeps its precision for large z (CrypTen's 2y - (y y) z does not).
template <int Iters = 10, int DeflateLog2 = 0>
struct NewtonReciprocal {
  static_assert(Iters >= 1 && DeflateLog2 >= 0 && DeflateLog2 <= 20, "secformer: NewtonReciprocal parameters");
  using exp_policy = CrypTenExp;
  static constexpr int iterations = Iters;
  static constexpr int log2k = DeflateLog2;
  static constexpr double range_min = static_cast<double>(std::uint64_t(1) << DeflateLog2) / 256.0;
  static constexpr double range_max = 250.0 * static_cast<double>(std::uint64_t(1) << DeflateLog2);
  static constexpr int online_rounds = exp_policy::online_rounds + 2 * Iters;
  static constexpr int words_per_element = exp_policy::words_per_element + 4 * Iters;
  static constexpr int dealer_words_per_element = exp_policy::dealer_words_per_element + 2 * Iters;

  /// Online rounds for encoding E (trunc::Dealer: one more per truncation); out_shift: whether the
  /// caller asks for fewer fractional bits than E has (one more truncation).
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr int rounds_for(bool out_shift = false) {
    const int d = detail::trunc_round_v<E>;
    return exp_policy::template rounds_for<E> + 2 * Iters * (1 + d) + d * ((DeflateLog2 > 0) + (out_shift ? 1 : 0));
  }

  /// The same iteration in double precision (with CrypTen's exp): ~ 1/x.
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static double approx(double x) {
    const double z = std::ldexp(x, -DeflateLog2);
    double y = 3 * exp_policy::approx(1 - 2 * z) + 0.003;
    for (int i = 0; i < Iters; ++i) y = y * (2 - z * y);
    return std::ldexp(y, -DeflateLog2);
  }

  template <class T, class Ring, class P, class C, class Ctx>
  static ScaledInverse<Ring, P, C> inverse_scaled(const Shared<T, Ring, P, C>& x, Ctx& ctx, int out_frac,
                                                  const unsigned char* skip = nullptr) {
    using S = Shared<T, Ring, P, C>;
    constexpr int F = static_cast<int>(T::frac_bits);
    static_assert(F > 0, "secformer: NewtonReciprocal needs a fixed-point encoding");
    detail::solo_check_range(x, range_min, range_max, "NewtonReciprocal", skip);
    auto g = ctx.scope("reciprocal");
    const S z = DeflateLog2 > 0 ? div_pow2(x, DeflateLog2, ctx) : x;
    S y = exp_policy::eval_unchecked(1.0 - z * 2, ctx) * 3 + 0.003;
    for (int i = 0; i < Iters; ++i) {
      const S zy = mul(z, y, ctx);
      y = mul(y, 2.0 - zy, ctx);
    }
    auto w = detail::recip_shift<typename T::trunc_policy>(y.template reinterpret<Int>(), F - out_frac, ctx);
    return {std::move(w), out_frac, DeflateLog2};
  }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    constexpr int F = static_cast<int>(S::encoding_type::frac_bits);
    return inverse_scaled(x, ctx, F - DeflateLog2).words.template reinterpret<typename S::encoding_type>();
  }
};

// ------------------------------------------------------------------------------------------------
// Functions

/// 1/y with the policy (default: Goldschmidt over [1, 4096]).
template <class Policy = GoldschmidtReciprocal<>, class S, class Ctx>
S reciprocal(const S& y, Ctx& ctx) {
  return Policy::eval(y, ctx);
}

/// x / y with the policy; y has x's shape or x's shape with a last axis of 1.
template <class Policy = GoldschmidtReciprocal<>, class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> div(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  using I = Shared<Int, Ring, P, C>;
  constexpr int F = static_cast<int>(T::frac_bits);
  const bool rows = !(x.shape() == y.shape());
  SECFORMER_ASSERT(!rows || detail::has_row_shape(x.shape(), y.shape()),
                   "div: the divisor must have the dividend's shape, or its shape with a last axis of 1");
  auto g = ctx.scope("div");
  const int out_frac = std::min(F, detail::recip_div_bits<Ring> - F - Policy::log2k);
  auto inv = Policy::inverse_scaled(y, ctx, out_frac);
  const I xi = x.template reinterpret<Int>();
  I z = rows ? mul_rows_raw(xi, inv.words, ctx) : mul_raw(xi, inv.words, ctx);
  return detail::recip_shift<typename T::trunc_policy>(z, inv.frac + inv.log2k, ctx).template reinterpret<T>();
}

}  // namespace secformer
