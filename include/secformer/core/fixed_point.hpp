// secformer/core/fixed_point.hpp: encodings and their conversion to and from the ring.
//   Fixed<F, Trunc>  real numbers as round(v * 2^F), two's complement in the ring
//   Int              integers (no scaling; products need no truncation)
//   Scaled<E, S>     the raw product of two E-encoded values: scale 2^S (S = 2F); it must pass
//                    through truncate() before it can be used as an E again (enforced by the types).
// Encoding rejects NaN and values whose encoding would not fit in the signed half of the ring.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "ring.hpp"

namespace secformer {

namespace trunc {
/// SecureML local truncation: each party shifts its own share. 0 rounds, 0 bytes. Error +-1 LSB;
/// fails (result off by about 2^(l-S)) with probability about |x| * 2^S / 2^l per element.
struct Local {};
/// Dealer-assisted truncation (open x + r once, correct by the mask's top bit): 1 round, one word
/// per element each way, two dealer words per element; error +-1 LSB; exact in Z2k<32> too as long
/// as |x * 2^S| < 2^(l-2).
struct Dealer {};
}  // namespace trunc

template <unsigned Frac, class Trunc = trunc::Local>
struct Fixed {
  static constexpr unsigned frac_bits = Frac;
  using trunc_policy = Trunc;
  using base = Fixed;
};

struct Int {
  static constexpr unsigned frac_bits = 0;
  using trunc_policy = trunc::Local;
  using base = Int;
};

/// A value at scale 2^Scale that truncates back to Base (Base::frac_bits < Scale).
template <class Base, unsigned Scale>
struct Scaled {
  static constexpr unsigned frac_bits = Scale;
  using trunc_policy = typename Base::trunc_policy;
  using base = Base;
};

template <class E>
concept encoding = requires {
  { E::frac_bits } -> std::convertible_to<unsigned>;
  typename E::trunc_policy;
  typename E::base;
};

namespace detail {
template <class E> struct product_of { using type = Scaled<E, 2 * E::frac_bits>; };
template <> struct product_of<Int> { using type = Int; };
}  // namespace detail
/// Encoding of the product of two E values before truncation.
template <class E> using product_t = typename detail::product_of<E>::type;

namespace detail {
template <class E> struct is_scaled : std::false_type {};
template <class B, unsigned S> struct is_scaled<Scaled<B, S>> : std::true_type {};
}  // namespace detail
/// A base encoding fits a ring when its products (2F fractional bits) leave the sign bit free.
template <class E, class Ring>
inline constexpr bool encoding_fits_v =
    detail::is_scaled<E>::value ? (E::frac_bits < Ring::bits - 1) : (product_t<E>::frac_bits < Ring::bits - 1);

/// Encodes one double. Throws usage_error for NaN or values out of the ring's signed range.
template <encoding E, ring_like Ring>
typename Ring::word_type encode_one(double v) {
  static_assert(encoding_fits_v<E, Ring>, "secformer: fractional bits too large for the ring");
  using W = typename Ring::word_type;
  using S = typename Ring::signed_type;
  const double scaled = std::nearbyint(std::ldexp(v, static_cast<int>(E::frac_bits)));
  const double limit = std::ldexp(1.0, static_cast<int>(Ring::bits) - 1);
  if (!(scaled > -limit && scaled < limit))
    throw usage_error("secformer: value out of range for the fixed-point encoding (" +
                      std::to_string(Ring::bits) + "-bit ring, " + std::to_string(E::frac_bits) +
                      " fractional bits)");
  return static_cast<W>(static_cast<S>(scaled));
}

template <encoding E, ring_like Ring>
double decode_one(typename Ring::word_type w) noexcept {
  return std::ldexp(static_cast<double>(as_signed(w)), -static_cast<int>(E::frac_bits));
}

template <encoding E, ring_like Ring>
xt::xarray<typename Ring::word_type> encode(const xt::xarray<double>& v) {
  xt::xarray<typename Ring::word_type> out(v.shape());
  auto o = out.begin();
  for (double x : v) *o++ = encode_one<E, Ring>(x);
  return out;
}

template <encoding E, ring_like Ring, class Words>
xt::xarray<double> decode(const Words& w) {
  xt::xarray<double> out(w.shape());
  auto o = out.begin();
  for (auto x : w) *o++ = decode_one<E, Ring>(static_cast<typename Ring::word_type>(x));
  return out;
}

}  // namespace secformer
