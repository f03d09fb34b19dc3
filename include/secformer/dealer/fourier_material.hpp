// secformer/dealer/fourier_material.hpp: dealer material for Pi_Sin (protocols/sin.hpp) and for the
// fused SecFormer GeLU (protocols/gelu.hpp); docs/protocols.md#fourier-series-pi_sin.
//
// Angles are ring words: a word w stands for the angle 2 pi w / 2^l, so a mask uniform over the ring
// is a uniform angle (perfect hiding). Trigonometric values are fixed-point encoded with F
// fractional bits (rounded to nearest, error <= 2^-(F+1)).
//
//   FourierMask      params (shape, F, n, k_1..k_n). R = {t: N}; D = {trig: N x 2n} with
//                    trig[e] = [sin(k_1 t_e), cos(k_1 t_e), ..., sin(k_n t_e), cos(k_n t_e)].
//                    Dealer -> P1: 2n words per element.
//   FourierGeluMask  params (shape, F, c, n, k_1..k_n). R = {a, b, m1, md: N} (masks of x, of the
//                    series f and of two bits); the angle mask is t = c a (ring product, c the public
//                    angle scale). D = {N x (2n + 5)}: the trig values of t as above, then the ring
//                    products m1 a, md a, a b, md b, md a b. Dealer -> P1: 2n + 5 words per element
//                    (19 for the 7-term series).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "material.hpp"

namespace secformer::material {

namespace fourier_detail {
inline constexpr double two_pi = 6.283185307179586476925286766559;
inline constexpr std::uint64_t max_frequencies = 32;

/// The angle 2 pi w / 2^l of a ring word, in [0, 2 pi).
template <class W>
double angle_of(W w) noexcept {
  constexpr double scale = two_pi / (sizeof(W) == 8 ? 18446744073709551616.0 : 4294967296.0);
  return static_cast<double>(w) * scale;
}

/// Fixed-point encoding of a value in [-1, 1] (times 2^f: `scale`), rounded to nearest.
template <class W>
W encode_unit(double v, double scale) noexcept {
  return static_cast<W>(static_cast<std::make_signed_t<W>>(std::nearbyint(v * scale)));
}

struct FourierParams {
  Shape shape;
  unsigned frac = 0;
  std::uint64_t scale = 0;  // only FourierGeluMask
  std::vector<std::uint64_t> freqs;
};

inline FourierParams read(std::span<const std::uint64_t> p, bool with_scale) {
  Reader r(p);
  FourierParams out;
  out.shape = r.shape();
  const auto f = r.value();
  if (f == 0 || f > 30) throw usage_error("secformer: Fourier mask request with " + std::to_string(f) + " fractional bits");
  out.frac = static_cast<unsigned>(f);
  if (with_scale) out.scale = r.value();
  const auto n = r.value();
  if (n == 0 || n > max_frequencies) throw usage_error("secformer: Fourier mask request with " + std::to_string(n) + " frequencies");
  out.freqs.resize(n);
  for (auto& k : out.freqs) {
    k = r.value();
    if (k == 0 || k > 1024) throw usage_error("secformer: Fourier mask frequency out of range");
  }
  return out;
}

/// sin and cos of k t for every frequency, encoded: out[2j] = sin(k_j t), out[2j + 1] = cos(k_j t).
/// Consecutive frequencies 1, 2, ... come from one sincos and the angle-addition recurrence (error
/// below k 2^-52, far under the 2^-(f+1) rounding); other frequencies from their own sincos.
template <class W>
void trig_of(W t, const std::vector<std::uint64_t>& freqs, unsigned f, W* out) noexcept {
  const double scale = static_cast<double>(std::uint64_t(1) << f);
  const double ang = angle_of(t);
  const double s1 = std::sin(ang), c1 = std::cos(ang);
  double sk = s1, ck = c1;
  std::uint64_t k = 1;
  for (std::size_t j = 0; j < freqs.size(); ++j) {
    double s, c;
    if (freqs[j] == k) {
      s = sk;
      c = ck;
      const double sn = sk * c1 + ck * s1;
      ck = ck * c1 - sk * s1;
      sk = sn;
      ++k;
    } else {
      const double a = angle_of(static_cast<W>(static_cast<W>(freqs[j]) * t));  // k t reduced mod 2^l exactly
      s = std::sin(a);
      c = std::cos(a);
    }
    out[2 * j] = encode_unit<W>(s, scale);
    out[2 * j + 1] = encode_unit<W>(c, scale);
  }
}
}  // namespace fourier_detail

/// Mask for Pi_Sin: a uniform ring element t and the fixed-point sin and cos of k_j t.
struct FourierMask {
  static constexpr std::uint32_t id = 40;
  static constexpr std::string_view name = "fourier mask";
  static Layout layout(std::span<const std::uint64_t> p) {
    const auto fp = fourier_detail::read(p, false);
    const std::size_t n = elements(fp.shape);
    return {{{n}}, {{n, 2 * fp.freqs.size()}}, {}};
  }
  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    const auto fp = fourier_detail::read(p, false);
    if (fp.frac + 2 >= 8 * sizeof(W)) throw usage_error("secformer: Fourier mask with too many fractional bits for the ring");
    const std::size_t n = r[0].size(), m = 2 * fp.freqs.size();
    const W* t = r[0].data();
    W* out = d[0].data();
    for (std::size_t e = 0; e < n; ++e) fourier_detail::trig_of<W>(t[e], fp.freqs, fp.frac, out + e * m);
  }
};

/// Material for the SecFormer GeLU (protocols/gelu.hpp): masks a (of x; the angle mask is t = c a),
/// b (of the series f), m1 and md (of two 0/1 bits), the fixed-point sin and cos of k_j t, and the
/// products that one round of the three-factor product d x f and of c1 x needs.
struct FourierGeluMask {
  static constexpr std::uint32_t id = 41;
  static constexpr std::string_view name = "fourier gelu mask";
  static constexpr std::size_t products = 5;  ///< m1 a, md a, a b, md b, md a b

  /// The layout of the parts, defined here only: randoms a, b, m1, md (N words each), derived D:
  /// one row per element of the 2 terms trig words (cos, sin of k_j t) then the products.
  struct Index {
    static constexpr std::size_t a = 0, b = 1, m1 = 2, md = 3, randoms = 4, d = 0;
    /// Offsets inside one row of D for `terms` frequencies.
    static constexpr std::size_t row(std::size_t terms) noexcept { return 2 * terms + products; }
    static constexpr std::size_t m1a(std::size_t terms) noexcept { return 2 * terms; }
    static constexpr std::size_t mda(std::size_t terms) noexcept { return 2 * terms + 1; }
    static constexpr std::size_t ab(std::size_t terms) noexcept { return 2 * terms + 2; }
    static constexpr std::size_t mdb(std::size_t terms) noexcept { return 2 * terms + 3; }
    static constexpr std::size_t mdab(std::size_t terms) noexcept { return 2 * terms + 4; }
  };
  /// Named access to the parts a client received (randoms then derived).
  template <class W>
  struct View {
    Parts<W>& parts;
    const W* a() const noexcept { return parts[Index::a].data(); }
    const W* b() const noexcept { return parts[Index::b].data(); }
    const W* m1() const noexcept { return parts[Index::m1].data(); }
    const W* md() const noexcept { return parts[Index::md].data(); }
    const W* D() const noexcept { return parts[Index::randoms + Index::d].data(); }
  };
  static Layout layout(std::span<const std::uint64_t> p) {
    const auto fp = fourier_detail::read(p, true);
    const std::size_t n = elements(fp.shape);
    return {{{n}, {n}, {n}, {n}}, {{n, 2 * fp.freqs.size() + products}}, {}};
  }
  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    const auto fp = fourier_detail::read(p, true);
    if (fp.frac + 2 >= 8 * sizeof(W)) throw usage_error("secformer: Fourier mask with too many fractional bits for the ring");
    const std::size_t n = r[Index::a].size(), k = fp.freqs.size(), row = Index::row(k);
    const W c = static_cast<W>(fp.scale);
    const W *a = r[Index::a].data(), *b = r[Index::b].data(), *m1 = r[Index::m1].data(), *md = r[Index::md].data();
    W* out = d[Index::d].data();
    for (std::size_t e = 0; e < n; ++e) {
      W* o = out + e * row;
      fourier_detail::trig_of<W>(static_cast<W>(c * a[e]), fp.freqs, fp.frac, o);
      const W mda = static_cast<W>(md[e] * a[e]);
      o[Index::m1a(k)] = static_cast<W>(m1[e] * a[e]);
      o[Index::mda(k)] = mda;
      o[Index::ab(k)] = static_cast<W>(a[e] * b[e]);
      o[Index::mdb(k)] = static_cast<W>(md[e] * b[e]);
      o[Index::mdab(k)] = static_cast<W>(mda * b[e]);
    }
  }
};

}  // namespace secformer::material
