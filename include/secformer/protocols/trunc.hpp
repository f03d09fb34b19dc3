// secformer/protocols/trunc.hpp: truncation of a Scaled<E, S> value back to E (divides by 2^(S-F)).
//   truncate_by<Out, Policy>(x, shift, ctx)  with trunc::Local (SecureML, 0 rounds) or trunc::Dealer
//   truncate(x, ctx)                          a raw product back to its encoding, with E's policy
//   div_pow2(x, k, ctx)                       x / 2^k in the same encoding
// The simulation (Solo) adds up the local truncations' failure probabilities:
// Context::truncation_risk() is the expected number of failures a two-party run would see.
// Both policies, their errors and failure probabilities: docs/protocols.md#truncation-local-and-dealer.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

#include <xtensor/xarray.hpp>

#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/trunc_material.hpp"

namespace secformer {

namespace detail {
/// Sum of |v| / 2^l over raw ring words v (read as signed): the expected number of elements that
/// trunc::Local gets wrong when two parties truncate these values (each fails with probability
/// |v| / 2^l; the simulation reports it through Context::add_truncation_risk).
template <class Ring>
double local_truncation_risk(const typename Ring::word_type* v, std::size_t n) noexcept {
  using S = typename Ring::signed_type;
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::abs(static_cast<double>(static_cast<S>(v[i])));
  return std::ldexp(s, -static_cast<int>(Ring::bits));
}

/// Local (SecureML) truncation of one share word by k bits, the one used by trunc::Local and by
/// the protocols that fuse it into their loops: party 0 (and the simulation) shifts its share
/// arithmetically, party 1 shifts the negated share and negates back.
template <class Ring, class P>
constexpr typename Ring::word_type local_shift(typename Ring::word_type v, unsigned k) noexcept {
  using W = typename Ring::word_type;
  using S = typename Ring::signed_type;
  if constexpr (P::id == 0) return static_cast<W>(static_cast<S>(v) >> k);
  else return static_cast<W>(-(static_cast<S>(W(0) - v) >> k));
}

/// A bound or value of a range message: whole numbers without decimals, others with 6 digits.
inline std::string range_number(double v) {
  char buf[64];
  if (v == std::floor(v) && std::abs(v) < 1e18) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// The simulation's range failure, one message for every protocol: "secformer: <who>: input <v>
/// outside the documented range [lo, hi]" (the two-party run cannot see its inputs).
[[noreturn]] inline void throw_outside_range(std::string_view who, double v, double lo, double hi) {
  throw range_error("secformer: " + std::string(who) + ": input " + range_number(v) + " outside the documented range [" +
                    range_number(lo) + ", " + range_number(hi) + "]");
}

/// Checks one real value against the documented range [lo, hi] (NaN fails).
inline void check_range(double v, double lo, double hi, std::string_view who) {
  if (!(v >= lo && v <= hi)) throw_outside_range(who, v, lo, hi);
}

/// Simulation-only range check of a share: in Solo the share is the whole value, so every element
/// is decoded and checked (entries where `skip`, same size, may be null, is nonzero are not); the
/// parties check nothing.
template <class S>
void solo_check_range(const S& x, double lo, double hi, std::string_view who, const unsigned char* skip = nullptr) {
  if constexpr (S::party_type::is_solo) {
    using E = typename S::encoding_type;
    using R = typename S::ring_type;
    const auto* w = x.share().data();
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (skip && skip[i]) continue;
      check_range(decode_one<E, R>(w[i]), lo, hi, who);
    }
  }
}
}  // namespace detail

/// trunc::Local: x / 2^shift by SecureML's local shift (party 0 shifts, party 1 negates around it)
/// | paper  | SecureML (Mohassel and Zhang 2017); docs/protocols.md#truncation-local-and-dealer
/// | rounds | 0
/// | online | 0 B/element/party
/// | dealer | 0 B/element
/// | error  | +-1 LSB; with probability about |x| 2^S / 2^l per element off by about 2^(l-S)
/// | range  | any x; the failure probability grows with |x| 2^S (S the input's fractional bits)
///
/// trunc::Dealer: x / 2^shift exactly up to the floor, from the dealer's shares of a uniform mask
/// | paper  | none; docs/protocols.md#truncation-local-and-dealer
/// | rounds | 1
/// | online | 8 B/element/party
/// | dealer | 16 B/element
/// | error  | -1..0 LSB, never more (Z2k<32> as Z2k<64>)
/// | range  | |x| 2^S < 2^(l-2) (the opened y = x + 2^(l-2) must stay in [0, 2^(l-1)))
///
/// Shifts by `shift` bits with the policy Policy; the encoding of the result is chosen by the caller.
template <class Out, class Policy, class T, class Ring, class P, class C, class Ctx>
Shared<Out, Ring, P, C> truncate_by(const Shared<T, Ring, P, C>& x, unsigned shift, Ctx& ctx) {
  using W = typename Ring::word_type;
  constexpr unsigned l = Ring::bits;
  if (shift == 0) return Shared<Out, Ring, P, C>(x.share());
  if constexpr (std::is_same_v<Policy, trunc::Local> || P::is_solo) {
    if constexpr (P::is_solo && std::is_same_v<Policy, trunc::Dealer>) {
      auto g = ctx.scope("trunc");
      ctx.count_round(x.size() * sizeof(W), x.size() * sizeof(W));
    }
    C out(x.shape());
    auto o = out.data();
    const W* in = x.share().data();
    const std::size_t n = x.size();
    if constexpr (P::is_solo && std::is_same_v<Policy, trunc::Local>) ctx.add_truncation_risk(detail::local_truncation_risk<Ring>(in, n));
    for (std::size_t i = 0; i < n; ++i) o[i] = detail::local_shift<Ring, P>(in[i], shift);
    return Shared<Out, Ring, P, C>(std::move(out));
  } else {
    static_assert(std::is_same_v<Policy, trunc::Dealer>, "secformer: unknown truncation policy");
    auto g = ctx.scope("trunc");
    std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
    auto m = ctx.template material<material::TruncPair, W>(material::Params{}.shape(shape).value(shift));
    const W offset = W(1) << (l - 2);
    C masked = x.share() + m[0];
    if constexpr (P::id == 0) masked += offset;
    auto c = ctx.open(Shared<T, Ring, P, C>(std::move(masked)));
    const W low = (W(1) << (l - 1)) - 1;
    const W hi = W(1) << (l - 1 - shift);
    const W off_shifted = W(1) << (l - 2 - shift);
    C out(x.shape());
    const W* rq = m[1].data();
    const W* rm = m[2].data();
    const W* cw = c.data();
    W* o = out.data();
    for (std::size_t i = 0; i < x.size(); ++i) {
      const W cm = cw[i] >> (l - 1);
      // b = cm xor rm = cm + rm (1 - 2 cm); party 0 adds the public cm.
      W b = static_cast<W>(rm[i] * (W(1) - W(2) * cm));
      W v = static_cast<W>(hi * b - rq[i]);
      if constexpr (P::id == 0) v = static_cast<W>(v + hi * cm + ((cw[i] & low) >> shift) - off_shifted);
      o[i] = v;
    }
    return Shared<Out, Ring, P, C>(std::move(out));
  }
}

/// Truncates a raw product (Scaled<E, S>) back to E with E's truncation policy.
template <class E, unsigned S, class Ring, class P, class C, class Ctx>
Shared<E, Ring, P, C> truncate(const Shared<Scaled<E, S>, Ring, P, C>& x, Ctx& ctx) {
  static_assert(S > E::frac_bits, "secformer: nothing to truncate");
  return truncate_by<E, typename E::trunc_policy>(x, S - E::frac_bits, ctx);
}
/// Int products need no truncation.
template <class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> truncate(const Shared<Int, Ring, P, C>& x, Ctx&) { return x; }

/// Divides by the public power of two 2^k in the same encoding (value / 2^k, error +-1 LSB).
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> div_pow2(const Shared<T, Ring, P, C>& x, unsigned k, Ctx& ctx) {
  return truncate_by<T, typename T::trunc_policy>(x, k, ctx);
}

}  // namespace secformer
