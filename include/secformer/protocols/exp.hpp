// secformer/protocols/exp.hpp: the exponential of a share (protocols.md section 7, CrypTen's exp).
//
// CrypTenExp = BasicCrypTenExp<8>; BasicCrypTenExp<s>: exp(x) ~ (1 + x / 2^s)^(2^s) (CrypTen: s = 8). One public
//   scaling by 2^-s (a local truncation), the public constant 1 added by party 0, then s squarings.
//   Online: s rounds (trunc::Local); 1 ring word per element each way per squaring (8 words = 64 B per
//   element in Z2k<64>). Dealer: one squaring pair per squaring (1 word per element to party 1).
//   With trunc::Dealer every truncation adds one round (s + 1 in all).
//   Documented input range: [-2^s, 8] (s = 8: [-256, 8]). Below -2^s the base 1 + x/2^s is negative
//   and the result is meaningless (it grows again below -2^(s+1)); above 8 the intermediate squares
//   make local truncation likely to fail (probability about e^x 2^-31 per element). The simulation
//   (Solo) throws range_error outside the range; the two-party run cannot see it.
//   Error (Fixed<16>, Z2k<64>, s = 8), two sources:
//     approximation   (1 + x/256)^256 = exp(x - x^2/512 + x^3/196608 - ...): relative error about
//                     x^2/512 (2e-3 at |x| = 1, 3e-2 at |x| = 4, 12% at |x| = 8); never above exp(x)
//                     (ln(1 + t) <= t); absolute error <= 1.1e-3 over [-256, 0].
//     fixed point     the base carries +-1 LSB (2^-16), amplified 2^s times: relative error up to
//                     2^(s-16) = 2^-8 ~ 0.4% (stochastic rounding in the two-party run; the
//                     simulation's floor is biased low by half that), plus a few LSB absolute from
//                     the squarings. Measured against approx() over [-4, 4]: relative mean 1.5e-3,
//                     p99 4.5e-3, max 5.5e-3 (two-party; Solo: mean 3.7e-3, max 7.5e-3); over
//                     [-16, -4): at most 4 LSB (Solo 8).
//   Z2k<32> (at most 15 fractional bits, Fixed<12> in practice): the base's LSB 2^-12 amplified 256
//   times gives ~6% relative error: not meaningful there; use Z2k<64>.
// The double-precision twin of the approximation is BasicCrypTenExp<s>::approx(x).
#pragma once

#include <cmath>
#include <string>
#include <type_traits>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "mul.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail {
/// Number of local truncations that cost a round under the encoding's truncation policy.
template <class E>
inline constexpr int trunc_round_v = std::is_same_v<typename E::trunc_policy, trunc::Dealer> ? 1 : 0;
}  // namespace detail

template <int Squarings>
struct BasicCrypTenExp {
  static_assert(Squarings >= 1 && Squarings <= 16, "secformer: CrypTenExp needs 1..16 squarings");
  static constexpr int squarings = Squarings;
  /// Online rounds with local truncation (the default encodings).
  static constexpr int online_rounds = Squarings;
  /// Online rounds for an encoding E (trunc::Dealer adds one round per truncation).
  template <class E>
  static constexpr int rounds_for = Squarings + detail::trunc_round_v<E> * (Squarings + 1);
  /// Ring words each party sends per element.
  static constexpr int words_per_element = Squarings;
  /// Dealer words to party 1 per element.
  static constexpr int dealer_words_per_element = Squarings;
  static constexpr double range_min = -static_cast<double>(1 << Squarings);
  static constexpr double range_max = 8.0;

  /// The approximation in double precision.
  static double approx(double x) {
    double y = 1.0 + std::ldexp(x, -Squarings);
    for (int i = 0; i < Squarings; ++i) y *= y;
    return y;
  }

  /// exp without the range check (callers that guarantee or mask out-of-range entries).
  template <class S, class Ctx>
  static S eval_unchecked(const S& x, Ctx& ctx) {
    auto g = ctx.scope("exp");
    S y = div_pow2(x, Squarings, ctx) + 1.0;
    for (int i = 0; i < Squarings; ++i) y = square(y, ctx);
    return y;
  }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    detail::solo_check_range(x, range_min, range_max, "CrypTenExp");
    return eval_unchecked(x, ctx);
  }
};

/// CrypTen's exp: (1 + x/256)^256.
using CrypTenExp = BasicCrypTenExp<8>;

/// exp(x) with the policy (default: CrypTen's (1 + x/256)^256).
template <class Policy = CrypTenExp, class S, class Ctx>
S exp(const S& x, Ctx& ctx) {
  return Policy::eval(x, ctx);
}

}  // namespace secformer
