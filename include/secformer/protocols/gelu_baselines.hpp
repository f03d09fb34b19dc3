// secformer/protocols/gelu_baselines.hpp: the GeLU policies of other systems, for comparison with
// SecFormerGelu (protocols/gelu.hpp, whose header describes them): PumaGelu (PUMA's piecewise
// polynomial), QuadGelu (MPCFormer's quadratic) and CrypTenGelu (CrypTen's tanh form). Each is used
// as gelu<Policy>(x, ctx) or through a suite (protocols/suite.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "../context.hpp"
#include "../core/share.hpp"
#include "compare.hpp"
#include "exp.hpp"
#include "gelu.hpp"
#include "mul.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail {
/// Several bit-times-value products in one round: out_i = b_i x_i (x_i of any encoding, no truncation).
template <class T, class Ring, class P, class C, class Ctx>
std::vector<Shared<T, Ring, P, C>> bit_products(const std::vector<Shared<Int, Ring, P, C>>& bits,
                                                const std::vector<Shared<T, Ring, P, C>>& xs, Ctx& ctx) {
  using SI = Shared<Int, Ring, P, C>;
  std::vector<std::pair<SI, SI>> pairs;
  for (std::size_t i = 0; i < bits.size(); ++i) pairs.emplace_back(bits[i], xs[i].template reinterpret<Int>());
  auto raw = mul_many_raw(pairs, ctx);
  std::vector<Shared<T, Ring, P, C>> out;
  for (auto& r : raw) out.push_back(std::move(r).template reinterpret<T>());
  return out;
}
}  // namespace detail

// =====================================================================================================
/// PumaGelu: GeLU by PUMA's segments: 0, poly0 on [-4, -1.95), poly1 on [-1.95, 3), x from 3 on
/// | paper  | PUMA (Dong et al. 2023), segments corrected; docs/protocols.md#baselines-crypten-puma-mpcformer
/// | rounds | 7
/// | online | 105.375 B/element/party
/// | dealer | 111.1 B/element (bench_protocols, 128 x 3072)
/// | error  | max 2.0e-2 (the jump at x = 3), p99 8.5e-3 vs exact GeLU on N(0, 4) (bench_protocols)
/// | range  | |x| <= 1016 (input_bound, the comparisons' range)
/// Three comparisons in one batch (as SecFormerGelu's, the same band), powers in three rounds, the
/// selection in one round of three bit products.
template <class Compare = MaskedCompare<16>, unsigned CompareFrac = 6>
struct BasicPumaGelu {
  using compare_policy = Compare;
  template <class Ring, unsigned F> using segment = detail::segment_compare<Compare, Ring, F, CompareFrac>;
  static constexpr double poly0_c[4] = {-0.5054031199708174, -0.42226581151983866, -0.11807612951181953, -0.011034134030615728};
  static constexpr double poly1_c0 = 0.008526321541038084, poly1_c1 = 0.5, poly1_c2 = 0.3603292692789629,
                          poly1_c4 = -0.037688200365904236, poly1_c6 = 0.0018067462606141187;

  /// Online rounds: comparisons, three power rounds, the selection; dealer truncation: 8 more.
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr int rounds_for = segment<Ring, E::frac_bits>::type::template online_rounds<Ring> + 4 + (detail::dealer_trunc_v<E> ? 8 : 0);
  static constexpr int online_rounds = rounds_for<>;
  /// Bytes each party sends for n elements: three comparisons of n, 12 words per element (x^2: 1,
  /// x^3 and x^4: 4, x^6: 1, selection: 6), dealer truncation: 8 more.
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t n) {
    constexpr std::uint64_t w = sizeof(typename Ring::word_type);
    return segment<Ring, E::frac_bits>::type::template bytes_sent<Ring>(3 * n) + 12 * n * w + (detail::dealer_trunc_v<E> ? 8 * n * w : 0);
  }
  template <class Ring = Z2k<64>, unsigned F = 16>
  static constexpr double input_bound = segment<Ring, F>::bound;

  static double poly0(double x) noexcept { return ((poly0_c[3] * x + poly0_c[2]) * x + poly0_c[1]) * x + poly0_c[0]; }
  static double poly1(double x) noexcept {
    const double y = x * x;
    return ((poly1_c6 * y + poly1_c4) * y + poly1_c2) * y + poly1_c1 * x + poly1_c0;
  }
  static double approx(double x) noexcept {
    if (x < -4.0) return 0.0;
    if (x < -1.95) return poly0(x);
    if (x < 3.0) return poly1(x);
    return x;
  }

  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> eval(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
    static_assert(detail::is_fixed_encoding_v<T>, "secformer: GeLU of a fixed-point input");
    using S = Shared<T, Ring, P, C>;
    auto g = ctx.scope("gelu");
    detail::solo_check_range(x, -input_bound<Ring, T::frac_bits>, input_bound<Ring, T::frac_bits>, "PumaGelu");
    // b0 = [x < -4], b1 = [x < -1.95], b2 = [x < 3]: one batched comparison.
    using Seg = segment<Ring, T::frac_bits>;
    auto reduce = [&](const S& v) { return truncate_by<T, trunc::Local>(v, Seg::drop, ctx); };
    auto b = ltz_many<typename Seg::type>(std::vector<S>{reduce(x + 4.0), reduce(x + 1.95), reduce(x - 3.0)}, ctx);
    // Powers, scaled so that every truncated intermediate stays below 16 on [-4, 4] (what matters:
    // elsewhere the polynomials are multiplied by a zero bit, garbage included).
    const double s4 = std::sqrt(-poly1_c4), s6 = std::sqrt(poly1_c6);
    const S y = square(x, ctx);                                                  // x^2
    const S w6 = truncate(x * s6, ctx);                                          // s6 x
    const S z4 = truncate(y * s4, ctx);                                          // s4 x^2
    auto r2 = mul_many_raw(std::vector<std::pair<S, S>>{{w6, y}, {z4, z4}}, ctx);
    const S r3 = truncate(r2[0], ctx);                                           // s6 x^3
    const S q4 = truncate(r2[1], ctx);                                           // -c4 x^4
    const S q6 = square(r3, ctx);                                                // c6 x^6
    const S p1 = q6 - q4 + truncate(y * poly1_c2 + x * poly1_c1 + poly1_c0, ctx);
    const S p0 = truncate(r3 * (poly0_c[3] / s6) + y * poly0_c[2] + x * poly0_c[1] + poly0_c[0], ctx);
    // x + b2 (p1 - x) + b1 (p0 - p1) - b0 p0: one round of three bit products.
    auto pr = detail::bit_products(b, std::vector<S>{p0, p0 - p1, p1 - x}, ctx);
    return x + pr[2] + pr[1] - pr[0];
  }
};
using PumaGelu = BasicPumaGelu<>;

// =====================================================================================================
/// QuadGelu: MPCFormer's 0.125 x^2 + 0.25 x + 0.5, the replacement a model is distilled to (not GeLU)
/// | paper  | MPCFormer (Li et al. 2023); docs/protocols.md#baselines-crypten-puma-mpcformer
/// | rounds | 1
/// | online | 8 B/element/party
/// | dealer | 8 B/element (bench_protocols, 128 x 3072)
/// | error  | max 2.7e-5 vs its own quadratic (bench_protocols); 0.5 vs GeLU at x = 0, growing as x^2 / 8
/// | range  | |x| <= 64 (|x| <= 6 in Z2k<32> with F = 12)
struct QuadGelu {
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr int rounds_for = 1 + (detail::dealer_trunc_v<E> ? 1 : 0);
  static constexpr int online_rounds = rounds_for<>;
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t n) {
    return (detail::dealer_trunc_v<E> ? 2 : 1) * n * sizeof(typename Ring::word_type);
  }
  /// |x| <= 64 in Z2k<64> ((x + 1)^2 2^32 far below 2^63); |x| <= 6 in Z2k<32> with F = 12
  /// ((x + 1)^2 2^24 < 2^30, the dealer truncation's condition).
  template <class Ring = Z2k<64>, unsigned F = 16>
  static constexpr double input_bound = Ring::bits >= 64 ? 64.0 : 6.0;

  static double approx(double x) noexcept { return 0.125 * x * x + 0.25 * x + 0.5; }

  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> eval(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
    static_assert(detail::is_fixed_encoding_v<T>, "secformer: GeLU of a fixed-point input");
    auto g = ctx.scope("gelu");
    detail::solo_check_range(x, -input_bound<Ring, T::frac_bits>, input_bound<Ring, T::frac_bits>, "QuadGelu");
    auto sq = square_raw(x + 1.0, ctx) + 3.0;  // (x + 1)^2 + 3 at scale 2F
    return truncate_by<T, typename T::trunc_policy>(sq, T::frac_bits + 3, ctx);
  }
};

// =====================================================================================================
/// CrypTenGelu: CrypTen's tanh form x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)), CrypTen's sigmoid
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#baselines-crypten-puma-mpcformer
/// | rounds | 25
/// | online | 384 B/element/party
/// | dealer | 440 B/element (bench_protocols, 128 x 3072)
/// | error  | max 1.6e-3, p99 1.4e-3 vs exact GeLU on N(0, 4) (bench_protocols, 128 x 3072)
/// | range  | |x| <= 14 (exp's range [-256, 8] for -|z|); Z2k<64> only
/// Compare = CrypTenCompare, Exp = CrypTenExp; the sigmoid's reciprocal of 1 + exp(-|z|) is Newton from
/// the public start 0.75 in RecipIters = 3 steps (CrypTen's sigmoid), not NewtonReciprocal.
template <class Compare = CrypTenCompare, class Exp = CrypTenExp, int RecipIters = 3>
struct BasicCrypTenGelu {
  static_assert(RecipIters >= 1, "secformer: CrypTenGelu needs at least one Newton iteration");
  using compare_policy = Compare;
  static constexpr double k = 0.79788456080286535588;  // sqrt(2 / pi)
  static constexpr double cubic = 0.044715;

  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr int rounds_for = detail::ring_compare_t<Compare, Ring>::template online_rounds<Ring> + Exp::template rounds_for<E> +
                                    2 + 1 + 2 * (RecipIters - 1) + 1 + 1 + (detail::dealer_trunc_v<E> ? 5 + 2 * (RecipIters - 1) : 0);
  static constexpr int online_rounds = rounds_for<>;
  template <class E = Fixed<16>, class Ring = Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t n) {
    constexpr std::uint64_t w = sizeof(typename Ring::word_type);
    const std::uint64_t words = 1 + 2 + 2 + static_cast<std::uint64_t>(Exp::words_per_element) + 3 * (RecipIters - 1) + 2 + 2 +
                                (detail::dealer_trunc_v<E> ? 5 + 2 * (RecipIters - 1) + 1 + static_cast<std::uint64_t>(Exp::squarings) : 0);
    return detail::ring_compare_t<Compare, Ring>::template bytes_sent<Ring>(n) + words * n * w;
  }
  template <class Ring = Z2k<64>, unsigned F = 16>
  static constexpr double input_bound = 14.0;

  /// The same approximations in double precision.
  static double approx(double x) noexcept {
    const double z = 2 * k * (x + cubic * x * x * x);
    const double d = 1.0 + Exp::approx(-std::abs(z));
    double r = 0.75;
    for (int i = 0; i < RecipIters; ++i) r = r * (2 - r * d);
    const double sig = z < 0 ? 1 - r : r;
    return x * sig;
  }

  template <class T, class Ring, class P, class C, class Ctx>
  static Shared<T, Ring, P, C> eval(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
    static_assert(detail::is_fixed_encoding_v<T>, "secformer: GeLU of a fixed-point input");
    using S = Shared<T, Ring, P, C>;
    using SI = Shared<Int, Ring, P, C>;
    auto g = ctx.scope("gelu");
    detail::solo_check_range(x, -input_bound<Ring, T::frac_bits>, input_bound<Ring, T::frac_bits>, "CrypTenGelu");
    const S x2 = square(x, ctx);
    const S x3 = mul(x2, x, ctx);
    const S z = truncate(x * (2 * k) + x3 * (2 * k * cubic), ctx);  // 2y: tanh(y) = 2 sigmoid(2y) - 1
    // CrypTen's sigmoid ("reciprocal" method).
    const SI b = ltz<detail::ring_compare_t<Compare, Ring>>(z, ctx);
    const SI sign = 1.0 - b * 2;
    const S p = mul(sign, z, ctx);                   // |z|
    const S d = Exp::eval(-p, ctx) + 1.0;            // in [1, 2]
    S r = truncate(d * (-0.5625), ctx) + 1.5;       // first Newton step from 0.75: 0.75 (2 - 0.75 d)
    for (int i = 1; i < RecipIters; ++i) {
      const S rd = mul(square(r, ctx), d, ctx);     // r + (r - r^2 d), as CrypTen
      r = r + r - rd;
    }
    const S sig = (1.0 - r) + mul(1.0 - b, r * 2 - 1.0, ctx);
    return mul(x, sig, ctx);
  }
};
using CrypTenGelu = BasicCrypTenGelu<>;

}  // namespace secformer
