// secformer/protocols/exp.hpp: the exponential of a share, CrypTen's limit approximation.
//   BasicCrypTenExp<s>  exp(x) ~ (1 + x / 2^s)^(2^s): one public scaling, then s squarings
//   CrypTenExp          BasicCrypTenExp<8>, CrypTen's setting
//   exp<Policy>(x, ctx)
// Approximation and fixed-point error, range, and why Z2k<32> is not meaningful:
// docs/protocols.md#exponential-cryptens-exp.
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

/// CrypTenExp: exp(x) ~ (1 + x / 2^s)^(2^s) with s = Squarings = 8 squarings
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#exponential-cryptens-exp
/// | rounds | 8
/// | online | 64 B/element/party
/// | dealer | 64 B/element
/// | error  | relative about x^2 / 512 (approximation) plus up to 2^(s-16) = 0.4% (fixed point)
/// | range  | x in [-2^s, 8] = [-256, 8] (Solo throws outside); Z2k<64>
/// s rounds, s words online and s dealer words per element; trunc::Dealer: rounds_for<E> = 2 s + 1.
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
