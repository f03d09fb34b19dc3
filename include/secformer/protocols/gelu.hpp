// secformer/protocols/gelu.hpp: GeLU(x) = 0.5 x (1 + erf(x / sqrt 2)) of shared fixed-point tensors.
//   BasicSecFormerGelu<Erf, Compare, Frac>     SecFormer's Pi_GeLU: segmented erf, Pi_Sin (default)
//   PaperErf<TMilli>, FittedErf<TMilli>        the erf series and threshold of its middle segment
//   PumaGelu, QuadGelu, CrypTenGelu            the baselines (PUMA, MPCFormer, CrypTen): gelu_baselines.hpp
//   gelu<Policy>(x, ctx)                       the policy; else the context's suite's; else SecFormerGelu
// Every policy: online_rounds (Fixed<16>, Z2k<64>, local truncation), rounds_for<Encoding, Ring>,
// bytes_sent<Encoding, Ring>(n) (online bytes each party sends for n elements), input_bound<Ring, F>
// (the documented range |x| <= input_bound; the simulation throws range_error outside it, the
// two-party run cannot see it), eval(x, ctx), and approx(double), the same approximation in double.
// The fused and separate structures, the comparison band, errors: docs/protocols.md#gelu-pi_gelu.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/fourier_material.hpp"
#include "../dealer/gelu_material.hpp"
#include "compare.hpp"
#include "ride_along.hpp"
#include "exp.hpp"
#include "mul.hpp"
#include "policy.hpp"
#include "sin.hpp"
#include "trunc.hpp"

namespace secformer {

/// Exact GeLU in double precision.
inline double gelu_exact(double x) noexcept { return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752440)); }

namespace detail {
inline constexpr double sqrt2 = 1.41421356237309504880;

/// The comparison policy used in a ring: MaskedCompare<B> with B >= l - 1 compares the whole ring,
/// i.e. is MaskedCompare<0> (so MaskedCompare<31> is the full comparison in Z2k<32>).
template <class Compare, class Ring> struct ring_compare { using type = Compare; };
template <unsigned B, class Ring>
  requires(B >= Ring::bits - 1)
struct ring_compare<MaskedCompare<B>, Ring> { using type = MaskedCompare<0>; };
template <class Compare, class Ring> using ring_compare_t = typename ring_compare<Compare, Ring>::type;

/// Largest |x| (real value) a comparison policy handles for an F-bit encoding, less a margin of 8
/// for the public shifts (up to 4) the GeLU policies apply before comparing.
template <class Compare, class Ring, unsigned F>
constexpr double compare_bound() {
  unsigned L = Ring::bits - 1;
  using Cmp = ring_compare_t<Compare, Ring>;
  if constexpr (requires { Cmp::template compared_bits<Ring>; }) L = Cmp::template compared_bits<Ring>;
  if (L > Ring::bits - 1) L = Ring::bits - 1;
  double b = 1.0;
  for (unsigned i = F; i < L; ++i) b *= 2.0;
  return b - 8.0;
}

template <class Cmp> inline constexpr bool is_masked_compare_v = false;
template <unsigned B> inline constexpr bool is_masked_compare_v<MaskedCompare<B>> = true;

/// The comparisons of a segmented approximation (SecFormerGelu, PumaGelu) for an F-bit encoding.
/// With a MaskedCompare<B> in a ring of 64 bits or more, the comparisons read x with only
/// CompareFrac fractional bits: a local truncation by drop = F - CompareFrac bits (0 rounds, +-1
/// LSB of the reduced value; a wrong result with probability about |x| 2^F / 2^63 per element), so
/// that B compared bits cover |x| < 2^(B - CompareFrac) instead of 2^(B - F), and a threshold is
/// placed to within 2^(1 - CompareFrac) (two LSBs of the reduced value). In smaller rings that
/// truncation would fail too often (|x| 2^F / 2^31), so a MaskedCompare there compares the whole
/// ring at full precision (MaskedCompare<0>, drop 0). Other policies (CrypTenCompare) are unchanged.
template <class Compare, class Ring, unsigned F, unsigned CompareFrac>
struct segment_compare {
  static constexpr bool masked = is_masked_compare_v<Compare>;
  static constexpr bool reduced = masked && Ring::bits >= 64;
  using type = std::conditional_t<masked && !reduced, MaskedCompare<0>, ring_compare_t<Compare, Ring>>;
  static constexpr unsigned drop = reduced && F > CompareFrac ? F - CompareFrac : 0;
  static constexpr double bound = compare_bound<type, Ring, F - drop>();
  /// Inputs within band of a segment's jump may take the other segment's value (0: exact comparisons).
  static constexpr double band = drop > 0 ? 2.0 / static_cast<double>(std::uint64_t(1) << (F - drop)) : 0.0;
};

template <class E>
inline constexpr bool dealer_trunc_v = std::is_same_v<typename E::trunc_policy, trunc::Dealer>;

}  // namespace detail

// =====================================================================================================
/// The erf series of SecFormerGelu's middle segment, a policy: the threshold T on u = x / sqrt 2 and
/// the 7 coefficients of f(u) = sum_j beta_j sin(j pi u / 10). Any coefficients cost the same.
/// PaperErf<TMilli>: SecFormer's beta (docs/protocols.md#gelu-pi_gelu, a series of erf over a whole period)
///   with T = TMilli / 1000. GeLU max error on [-8, 8]: T = 1.7 (the paper's) 0.0195, 2.0 0.038,
///   2.5 (the reference code's) 0.058.
template <int TMilli>
struct PaperErf {
  static constexpr double threshold = TMilli / 1000.0;
  static constexpr std::array<double, 7> beta = erf_fourier_beta;
};
/// FittedErf<TMilli>: the series refitted to erf on [-T, T] only, where it is used (weighted ridge
///   least squares, sum |beta| <= 2.3; bench/fit_erf_series.py prints these constants and errors).
///   GeLU max error on [-8, 8] / p99 on N(0, 4) / jump at +-T sqrt 2: T = 1.7: 0.0195 / 0.0173 /
///   0.018; T = 2.0: 0.0066 / 0.0055 / 0.0069; T = 2.3: 0.0022 / 0.0022 / 0.0032 (the default, 9x
///   below the paper's series); T = 2.5: 0.0039 / 0.0036 / 0.0046. Other T: run the script.
template <int TMilli>
struct FittedErf {
  static_assert(TMilli < 0, "secformer: no FittedErf for this T; bench/fit_erf_series.py fits one");
};
template <>
struct FittedErf<1700> {
  static constexpr double threshold = 1.7;
  static constexpr std::array<double, 7> beta = {0.142577, 0.331241, 0.483606, 0.397396, -0.035479, -0.451752, 0.371811};
};
template <>
struct FittedErf<2000> {
  static constexpr double threshold = 2.0;
  static constexpr std::array<double, 7> beta = {0.070556, 0.268919, 0.506201, 0.479584, -0.012384, -0.543561, 0.404748};
};
template <>
struct FittedErf<2300> {
  static constexpr double threshold = 2.3;
  static constexpr std::array<double, 7> beta = {0.235742, 0.409195, 0.440029, 0.265613, -0.058795, -0.245471, 0.264379};
};
template <>
struct FittedErf<2500> {
  static constexpr double threshold = 2.5;
  static constexpr std::array<double, 7> beta = {0.308408, 0.467034, 0.405177, 0.173635, -0.068599, -0.116583, 0.196984};
};

/// SecFormerGelu: GeLU by SecFormer's Pi_GeLU: erf in three segments, a 7-term sine series (Pi_Sin)
/// | paper  | SecFormer Pi_GeLU and Pi_Sin; docs/protocols.md#gelu-pi_gelu
/// | rounds | 3
/// | online | 22.25 B/element/party
/// | dealer | 204.75 B/element
/// | error  | max 2.2e-3, p99 2.2e-3 vs exact GeLU on N(0, 4) (bench_protocols, 128 x 3072)
/// | range  | |x| <= 1016 (input_bound; the whole ring in Z2k<32>)
/// Erf: the middle segment's series and threshold, FittedErf<2300> (the smallest error) or
/// PaperErf<1700> (the paper's: max 2.0e-2, the same cost). Compare: the segment comparisons, read with
/// CompareFrac fractional bits (inputs within 1/32 of +-T sqrt 2 may take the other segment's value).
/// Fused structure (MaskedCompare, trunc::Local): the comparison's rounds only; otherwise one more.
template <class Erf = FittedErf<2300>, class Compare = MaskedCompare<16>, unsigned CompareFrac = 6>
struct BasicSecFormerGelu {
  using erf_policy = Erf;
  using compare_policy = Compare;
  /// The comparisons actually run for an encoding with F fractional bits in Ring, and their reach.
  template <class Ring, unsigned F> using segment = detail::segment_compare<Compare, Ring, F, CompareFrac>;
  /// The fused structure runs when the comparison is a MaskedCompare whose plan ends in one final
  /// child and truncation is local; otherwise the separate one (docs/protocols.md#gelu-pi_gelu).
  template <class E, class Ring>
  static constexpr bool fused = [] {
    using Cmp = typename segment<Ring, E::frac_bits>::type;
    if constexpr (detail::is_masked_compare_v<Cmp>)
      return Cmp::template plan<Ring>.final_children == 1 && std::is_same_v<typename E::trunc_policy, trunc::Local>;
    else
      return false;
  }();
  static constexpr double threshold = Erf::threshold;
  static constexpr const std::array<double, 7>& beta = Erf::beta;
  static constexpr double period = erf_fourier_period;  ///< of the series in u
  static constexpr std::size_t terms = beta.size();

  /// Online rounds for an encoding and ring (local truncation adds none; dealer truncation two).
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr int rounds_for =
      segment<Ring, E::frac_bits>::type::template online_rounds<Ring> + (fused<E, Ring> ? 0 : 1 + (detail::dealer_trunc_v<E> ? 2 : 0));
  static constexpr int online_rounds = rounds_for<>;
  /// Online bytes each party sends for n elements: two comparisons of n, four opened words per
  /// element, and with dealer truncation two more (the truncations of f and of the result).
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t n) {
    constexpr std::uint64_t w = sizeof(typename Ring::word_type);
    if constexpr (fused<E, Ring>) return segment<Ring, E::frac_bits>::type::template bytes_sent<Ring>(2 * n) + 2 * n * w;
    return segment<Ring, E::frac_bits>::type::template bytes_sent<Ring>(2 * n) + 4 * n * w + (detail::dealer_trunc_v<E> ? 2 * n * w : 0);
  }
  /// Dealer words to party 1 per element, besides the comparisons' material.
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr std::uint64_t dealer_words_per_element =
      2 * terms + (fused<E, Ring> ? material::GeluMaterial::products : material::FourierGeluMask::products);
  /// Documented input range |x| <= input_bound<Ring, F> (the comparisons' range).
  template <class Ring = Z2k<64>, unsigned F = 16>
  static constexpr double input_bound = segment<Ring, F>::bound;

  /// The approximation in double precision.
  static double approx(double x) noexcept {
    const double u = x / detail::sqrt2;
    double e;
    if (u < -threshold) e = -1.0;
    else if (u < threshold) {
      e = 0.0;
      for (std::size_t j = 0; j < terms; ++j) e += beta[j] * std::sin(static_cast<double>(j + 1) * 6.283185307179586 * u / period);
    } else e = 1.0;
    return 0.5 * x * (1.0 + e);
  }

  /// Pi_Sin's local part: f_e = sum_j beta_j sin(j (delta_e + t_e)) at scale 2F (shifted to F when
  /// Shift), with delta_e = c X_e and sin(j t_e), cos(j t_e) (scale F) at D[e es + 2j js],
  /// D[e es + (2j + 1) js] (es = 1: planes of N words, read in place; else rows, copied per chunk).
  /// With Shift, f is truncated locally and, when `risk` is given (the simulation), the expected
  /// number of those truncations a two-party run gets wrong is added to *risk (trunc.hpp).
  template <class Ring, class P, unsigned F, bool Shift>
  static void series(const typename Ring::word_type* exw, const typename Ring::word_type* D, std::size_t es, std::size_t js, std::size_t N,
                     typename Ring::word_type c, typename Ring::word_type* fo, double* risk = nullptr) {
    using W = typename Ring::word_type;
    constexpr std::size_t n = terms, m2 = 2 * terms;
    // In chunks of CH elements as structures of arrays with fixed trip counts, so that the loops
    // over elements vectorise.
    constexpr std::size_t CH = 32;
    constexpr double scale = static_cast<double>(std::uint64_t(1) << F);
    alignas(64) double s1[CH], c1[CH], sk[CH], ck[CH];
    alignas(64) W acc[CH];
    alignas(64) W dcol[m2][CH];
    const W* col[m2];
    for (std::size_t e0 = 0; e0 < N; e0 += CH) {
      const std::size_t ne = std::min(CH, N - e0);
      for (std::size_t i = 0; i < ne; ++i) detail::ring_sincos<W>(static_cast<W>(c * exw[e0 + i]), s1[i], c1[i]);
      if (es == 1 && ne == CH) {
        for (std::size_t j = 0; j < m2; ++j) col[j] = D + j * js + e0;
      } else {
        for (std::size_t i = 0; i < ne; ++i)
          for (std::size_t j = 0; j < m2; ++j) dcol[j][i] = D[(e0 + i) * es + j * js];
        for (std::size_t j = 0; j < m2; ++j) col[j] = dcol[j];
      }
      for (std::size_t i = ne; i < CH; ++i) {
        s1[i] = 0.0;
        c1[i] = 1.0;
        for (std::size_t j = 0; j < m2; ++j) dcol[j][i] = 0;
      }
      for (std::size_t i = 0; i < CH; ++i) {
        sk[i] = s1[i];
        ck[i] = c1[i];
        acc[i] = 0;
      }
      for (std::size_t j = 0; j < n; ++j) {
        const double bj = beta[j] * scale;
        const W* dc = col[2 * j];
        const W* ds = col[2 * j + 1];
        for (std::size_t i = 0; i < CH; ++i) {
          acc[i] = static_cast<W>(acc[i] + detail::round_to_word<W>(bj * ck[i]) * dc[i] + detail::round_to_word<W>(bj * sk[i]) * ds[i]);
          const double sn = sk[i] * c1[i] + ck[i] * s1[i];
          ck[i] = ck[i] * c1[i] - sk[i] * s1[i];
          sk[i] = sn;
        }
      }
      if constexpr (Shift) {
        if (risk) *risk += detail::local_truncation_risk<Ring>(acc, ne);
        for (std::size_t i = 0; i < ne; ++i) fo[e0 + i] = detail::local_shift<Ring, P>(acc[i], F);
      } else {
        for (std::size_t i = 0; i < ne; ++i) fo[e0 + i] = acc[i];
      }
    }
  }

  /// The 2N comparison inputs from this party's share of x: element e < N reads x + T sqrt 2 (its
  /// sign is c0 = [x < -T sqrt 2]), element N + e reads x - T sqrt 2 (c1), both locally truncated by
  /// the segment comparison's drop bits (Shift = false: before that truncation).
  template <class T, class Ring, class P, bool Shift = true>
  static auto segment_inputs(const typename Ring::word_type* xw, std::size_t N) {
    using W = typename Ring::word_type;
    constexpr unsigned drop = segment<Ring, T::frac_bits>::drop;
    constexpr bool p0 = (P::id == 0);
    const W lo = p0 ? encode_one<T, Ring>(threshold * detail::sqrt2) : W(0), hi = p0 ? encode_one<T, Ring>(-threshold * detail::sqrt2) : W(0);
    return [xw, N, lo, hi](std::size_t e) -> W {
      const W v = e < N ? static_cast<W>(xw[e] + lo) : static_cast<W>(xw[e - N] + hi);
      if constexpr (drop > 0 && Shift) return detail::local_shift<Ring, P>(v, drop);
      else return v;
    };
  }

  /// The simulation's forecast of failed local truncations in segment_inputs (trunc.hpp).
  template <class T, class Ring>
  static double segment_inputs_risk(const typename Ring::word_type* xw, std::size_t N) {
    if constexpr (segment<Ring, T::frac_bits>::drop == 0) return 0.0;
    else {
      const auto in = segment_inputs<T, Ring, Solo, false>(xw, N);
      double r = 0;
      for (std::size_t e = 0; e < 2 * N; ++e) {
        const auto v = in(e);
        r += detail::local_truncation_risk<Ring>(&v, 1);
      }
      return r;
    }
  }

  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> eval(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
    static_assert(detail::is_fixed_encoding_v<T>, "secformer: GeLU of a fixed-point input");
    if constexpr (fused<T, Ring>) return eval_fused(x, ctx);
    else return eval_separate(x, ctx);
  }

  /// The fused structure (docs/protocols.md#gelu-pi_gelu): the comparisons' results stay masked by dealer bits s
  /// correlated with the masks of x and f; f - b rides along with the comparison's last round.
  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> eval_fused(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
    using W = typename Ring::word_type;
    using Cmp = typename segment<Ring, T::frac_bits>::type;
    constexpr unsigned F = T::frac_bits;
    constexpr material::cmp::Plan pl = Cmp::template plan<Ring>;
    static_assert(material::GeluMaterial::products == 7, "the loop below reads Q's 7 planes");
    constexpr bool p0 = (P::id == 0);
    constexpr W ione = p0 ? W(1) : W(0);
    auto g = ctx.scope("gelu");
    detail::solo_check_range(x, -input_bound<Ring, F>, input_bound<Ring, F>, "SecFormerGelu");
    const std::size_t N = x.size();
    if (N == 0) return Shared<T, Ring, P, C>(C(x.shape()));

    const W c = fourier_angle_scale<Ring, F>(period * detail::sqrt2);  // angle of x: 2 pi k x / (20 sqrt 2)
    material::Params params;
    params.value(pl.L).value(Ring::bits).shape({N}).value(F).value(c).value(terms);
    for (std::size_t k = 1; k <= terms; ++k) params.value(k);
    auto mat = ctx.template material<material::GeluMaterial, W>(params);
    const material::GeluMaterial::View<W> mv(mat, pl);
    const W *a = mv.a(), *b = mv.b(), *AR = mv.compare().AR(), *G = mv.G();
    const auto cm = Cmp::template Parts<W>::of(mv.compare());
    const W* xw = x.share().data();

    // Rides along with the comparison: X = x - a in its first round, then (with f computed from X)
    // F' = f - b in its last round; the comparison leaves the public bits p = c xor s.
    auto bufs = detail::cmpx::uninit<W>(2 * N);
    double risk = 0;  // the simulation's forecast of failed local truncations (trunc.hpp)
    if constexpr (P::is_solo) risk += segment_inputs_risk<T, Ring>(xw, N);
    struct FusedRide : detail::MaskedInputOpening<W> {  // a ride-along with a final part (ride_along.hpp)
      static constexpr bool public_bits() noexcept { return true; }
      const W *b, *G, c;
      W* Fp;
      double* risk;  // the simulation's forecast of failed local truncations (else null)
      std::size_t final_size() const noexcept { return this->N; }
      void final_fill(W* dst) const {
        const std::size_t N = this->N;
        series<Ring, P, F, true>(this->X, G, 1, N, N, c, Fp, risk);  // f (scale F)
        for (std::size_t e = 0; e < N; ++e) dst[e] = Fp[e] = static_cast<W>(Fp[e] - b[e]);
      }
      void final_take(const W* theirs) const noexcept {
        for (std::size_t e = 0; e < this->N; ++e) Fp[e] = static_cast<W>(Fp[e] + theirs[e]);
      }
    } extra{{xw, a, bufs.get(), N}, b, G, c, bufs.get() + N, P::is_solo ? &risk : nullptr};
    if constexpr (P::is_solo) extra.fill(extra.X);  // the peer's share is zero
    auto pub = detail::cmpx::uninit<W>(2 * N);  // p0 = c0 xor s0 (e < N), p1 = c1 xor s1
    {
      auto g2 = ctx.scope("compare");
      Cmp::template sign_bits_on<Ring, P>(
          cm,
          segment_inputs<T, Ring, P>(xw, N),
          2 * N, pub.get(), ctx, extra);
    }

    // Local: with c = p xor s = p + (1 - 2p) s, c x = p x + (1 - 2p) s x and c x f likewise, where
    // s x = s X + [s a] and s x f = s X F' + X [s b] + F' [s a] + [s a b] (X, F' public).
    C out(x.shape());
    W* o = out.data();
    const W* X = extra.X;
    const W* Fp = extra.Fp;
    const W* pb = pub.get();
    using GM = material::GeluMaterial;
    const W *q0 = mv.Q(GM::q_ab, N), *q1 = mv.Q(GM::q_s0a, N), *q2 = mv.Q(GM::q_s0b, N), *q3 = mv.Q(GM::q_s0ab, N),
            *q4 = mv.Q(GM::q_s1a, N), *q5 = mv.Q(GM::q_s1b, N), *q6 = mv.Q(GM::q_s1ab, N);
    for (std::size_t e = 0; e < N; ++e) {
      const W Xe = X[e], Fe = Fp[e], XF = static_cast<W>(Xe * Fe);
      const W xf = static_cast<W>(ione * XF + Xe * b[e] + Fe * a[e] + q0[e]);  // x f, scale 2F
      const W sx0 = static_cast<W>(AR[e] * Xe + q1[e]), sxf0 = static_cast<W>(AR[e] * XF + Xe * q2[e] + Fe * q1[e] + q3[e]);
      const W sx1 = static_cast<W>(AR[N + e] * Xe + q4[e]), sxf1 = static_cast<W>(AR[N + e] * XF + Xe * q5[e] + Fe * q4[e] + q6[e]);
      // p ? v - s : s without a branch on the (random) public bit
      const W m0 = static_cast<W>(W(0) - pb[e]), m1 = static_cast<W>(W(0) - pb[N + e]);
      const W c0x = static_cast<W>(sx0 + (m0 & (xw[e] - 2 * sx0))), c0xf = static_cast<W>(sxf0 + (m0 & (xf - 2 * sxf0)));
      const W c1x = static_cast<W>(sx1 + (m1 & (xw[e] - 2 * sx1))), c1xf = static_cast<W>(sxf1 + (m1 & (xf - 2 * sxf1)));
      const W dx1f = static_cast<W>(((c1x - c0x) << F) + c1xf - c0xf);  // d x (1 + f) at scale 2F
      if constexpr (P::is_solo) risk += detail::local_truncation_risk<Ring>(&dx1f, 1);
      o[e] = static_cast<W>(xw[e] - c1x + detail::local_shift<Ring, P>(dx1f, F + 1));
    }
    if constexpr (P::is_solo) ctx.add_truncation_risk(risk);
    return Shared<T, Ring, P, C>(std::move(out));
  }

  /// The separate structure: (1) the comparisons with X = x - a riding along, (2) Pi_Sin locally,
  /// (3) one round for f - b, c1 - m1, d - md and the result (separate_finish).
  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> eval_separate(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
    using W = typename Ring::word_type;
    using Scaled2 = Shared<product_t<T>, Ring, P, C>;
    using Ix = material::FourierGeluMask::Index;
    constexpr unsigned F = T::frac_bits;
    // Local truncation (the default) is fused into the loops that produce f and the result.
    constexpr bool local_trunc = std::is_same_v<typename T::trunc_policy, trunc::Local>;
    auto g = ctx.scope("gelu");
    detail::solo_check_range(x, -input_bound<Ring, F>, input_bound<Ring, F>, "SecFormerGelu");
    const std::size_t N = x.size();

    // Dealer: a, b, m1, md, then per element the trig values of t = c a and the mask products.
    const W c = fourier_angle_scale<Ring, F>(period * detail::sqrt2);  // angle of x: 2 pi k x / (20 sqrt 2)
    material::Params params;
    params.shape({N}).value(F).value(c).value(terms);
    for (std::size_t k = 1; k <= terms; ++k) params.value(k);
    auto mat = ctx.template material<material::FourierGeluMask, W>(params);
    const material::FourierGeluMask::View<W> mv{mat};
    const W* xw = x.share().data();

    // (1) c0, c1 with X = x - a riding along (delta = c (x - a) = c x - t is the masked angle of Pi_Sin).
    using Cmp = typename segment<Ring, F>::type;
    auto exwb = detail::cmpx::uninit<W>(N);
    const SeparateBits<W, C> bits = separate_compare<T>(x, mv.a(), exwb.get(), ctx);

    // (2) Pi_Sin, local: f = sum_j beta_j sin(k_j (delta + t)) (scale 2F, then truncated).
    C facc(std::vector<std::size_t>{N});
    double risk = 0;  // the simulation's forecast of failed local truncations (trunc.hpp)
    if constexpr (P::is_solo && detail::is_masked_compare_v<Cmp>) risk += segment_inputs_risk<T, Ring>(xw, N);
    series<Ring, P, F, local_trunc>(exwb.get(), mv.D(), Ix::row(terms), 1, N, c, facc.data(), P::is_solo ? &risk : nullptr);
    const auto f = [&] {
      if constexpr (local_trunc) return Shared<T, Ring, P, C>(std::move(facc));
      else return truncate_by<T, typename T::trunc_policy>(Scaled2(std::move(facc)), F, ctx);
    }();

    // (3)
    return separate_finish(x, f, bits, exwb.get(), mv, risk, ctx);
  }

  /// The bits c0 (elements e < N) and c1 of the separate structure, from either comparison path.
  template <class W, class C>
  struct SeparateBits {
    C c0s, c1s;                  // the generic path's bits
    std::unique_ptr<W[]> bits2;  // the MaskedCompare path's bits: c0 then c1
    std::size_t N = 0;
    const W* c0() const noexcept { return bits2 ? bits2.get() : c0s.data(); }
    const W* c1() const noexcept { return bits2 ? bits2.get() + N : c1s.data(); }
  };

  /// Step (1) of the separate structure: c0 = [x < -T sqrt 2], c1 = [x < T sqrt 2] in one batched
  /// comparison; X = x - a (the ride-along MaskedInputOpening, kept in exw) rides along with its
  /// first round: directly for a MaskedCompare, through a RideAlongContext for other policies.
  template <class T, class Ring, class P, class C, class Ctx>
  static SeparateBits<typename Ring::word_type, C> separate_compare(const Shared<T, Ring, P, C>& x, const typename Ring::word_type* a,
                                                                    typename Ring::word_type* exw, Ctx& ctx) {
    using W = typename Ring::word_type;
    using Cmp = typename segment<Ring, T::frac_bits>::type;
    const std::size_t N = x.size();
    const W* xw = x.share().data();
    SeparateBits<W, C> out;
    out.N = N;
    detail::MaskedInputOpening<W> ride{xw, a, exw, N};
    if constexpr (P::is_solo) ride.fill(exw);  // the peer's share is zero
    if constexpr (detail::is_masked_compare_v<Cmp>) {
      // The comparison reads x +- T sqrt 2 directly and X rides along in its own buffer.
      out.bits2 = detail::cmpx::uninit<W>(2 * N);
      auto g2 = ctx.scope("compare");
      Cmp::template sign_bits_with<Ring, P>(segment_inputs<T, Ring, P>(xw, N), 2 * N, out.bits2.get(), ctx, ride);
      if (N == 0) ctx.exchange_words(std::span<const W>(exw, 0), std::span<W>(exw, 0));  // as RideAlongContext::finish
    } else {
      const double tx = threshold * detail::sqrt2;
      detail::RideAlongContext<Ctx, detail::MaskedInputOpening<W>> rctx(ctx, ride);
      static_assert(protocol_context<decltype(rctx)>, "secformer: the ride-along view models protocol_context");
      auto bits = ltz_many<Cmp>(std::vector<Shared<T, Ring, P, C>>{x + tx, x - tx}, rctx);
      rctx.finish();
      out.c0s = std::move(bits[0].share());
      out.c1s = std::move(bits[1].share());
    }
    return out;
  }

  /// Step (3) of the separate structure: one round opens f - b, c1 - m1 and d - md; then c1 x, d x
  /// and d x f from the dealer's products, and the result x - c1 x + 0.5 d x (1 + f).
  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> separate_finish(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& f,
                                               const SeparateBits<typename Ring::word_type, C>& bits, const typename Ring::word_type* exw,
                                               const material::FourierGeluMask::View<typename Ring::word_type>& mv, double risk, Ctx& ctx) {
    using W = typename Ring::word_type;
    using Scaled2 = Shared<product_t<T>, Ring, P, C>;
    using Ix = material::FourierGeluMask::Index;
    constexpr unsigned F = T::frac_bits;
    constexpr bool local_trunc = std::is_same_v<typename T::trunc_policy, trunc::Local>;
    constexpr bool p0 = (P::id == 0);
    constexpr std::size_t n = terms, row = Ix::row(n);
    const std::size_t N = x.size();
    const W *a = mv.a(), *b = mv.b(), *m1 = mv.m1(), *md = mv.md(), *D = mv.D(), *xw = x.share().data();
    const W *c0w = bits.c0(), *c1w = bits.c1();
    auto sndE = detail::cmpx::uninit<W>(3 * N), rcvE = detail::cmpx::uninit<W>(3 * N);
    {
      const W* fw = f.share().data();
      W *ef = sndE.get(), *e1 = ef + N, *ed = e1 + N;
      for (std::size_t e = 0; e < N; ++e) {
        ef[e] = static_cast<W>(fw[e] - b[e]);
        e1[e] = static_cast<W>(c1w[e] - m1[e]);
        ed[e] = static_cast<W>(c1w[e] - c0w[e] - md[e]);
      }
    }
    ctx.exchange_words(std::span<const W>(sndE.get(), 3 * N), std::span<W>(rcvE.get(), 3 * N));
    const W *sf_ = sndE.get(), *rf_ = rcvE.get();
    C out(x.shape()), y(local_trunc ? std::vector<std::size_t>{0} : std::vector<std::size_t>{N});
    for (std::size_t e = 0; e < N; ++e) {
      const W* r = D + e * row;
      const W m1a = r[Ix::m1a(n)], mda = r[Ix::mda(n)], ab = r[Ix::ab(n)], mdb = r[Ix::mdb(n)], mdab = r[Ix::mdab(n)];
      const W X = exw[e], Fv = static_cast<W>(sf_[e] + rf_[e]), B1 = static_cast<W>(sf_[N + e] + rf_[N + e]),
              Dv = static_cast<W>(sf_[2 * N + e] + rf_[2 * N + e]);
      const W c1x = static_cast<W>((p0 ? B1 * X : W(0)) + B1 * a[e] + m1[e] * X + m1a);
      const W dx = static_cast<W>((p0 ? Dv * X : W(0)) + Dv * a[e] + md[e] * X + mda);
      // (Dv + md)(X + a)(Fv + b)
      const W dxf = static_cast<W>((p0 ? Dv * X * Fv : W(0)) + Dv * X * b[e] + Dv * Fv * a[e] + Dv * ab + md[e] * X * Fv + mdb * X +
                                   mda * Fv + mdab);
      const W dx1f = static_cast<W>((dx << F) + dxf);  // d x (1 + f) at scale 2F
      if constexpr (local_trunc) {
        if constexpr (P::is_solo) risk += detail::local_truncation_risk<Ring>(&dx1f, 1);
        out.data()[e] = static_cast<W>(xw[e] - c1x + detail::local_shift<Ring, P>(dx1f, F + 1));  // 0.5 d x (1 + f)
      } else {
        out.data()[e] = static_cast<W>(xw[e] - c1x);
        y.data()[e] = dx1f;
      }
    }
    if constexpr (P::is_solo) ctx.add_truncation_risk(risk);
    if constexpr (local_trunc) return Shared<T, Ring, P, C>(std::move(out));
    // 0.5 d x (1 + f): shift by F + 1.
    const auto half = truncate_by<T, typename T::trunc_policy>(Scaled2(std::move(y)), F + 1, ctx);
    const W* hv = half.share().data();
    for (std::size_t e = 0; e < N; ++e) out.data()[e] = static_cast<W>(out.data()[e] + hv[e]);
    return Shared<T, Ring, P, C>(std::move(out));
  }
};
using SecFormerGelu = BasicSecFormerGelu<>;

// =====================================================================================================
namespace detail {
/// The single point where the default GeLU policy is chosen: Policy, else (void) the context's
/// suite's gelu if it names one, else SecFormerGelu.
template <class Policy, class Ctx>
using gelu_policy_t = pick_policy_t<Policy, Ctx, suite_gelu_t, SecFormerGelu>;
}  // namespace detail

/// GeLU with the policy Policy (void: detail::gelu_policy_t's choice).
template <class Policy = void, class S, class Ctx>
S gelu(const S& x, Ctx& ctx) {
  return detail::gelu_policy_t<Policy, Ctx>::eval(x, ctx);
}

}  // namespace secformer
