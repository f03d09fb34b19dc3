// secformer/dealer/gelu_material.hpp: SecFormerGelu's material in one request, so that the masks of
// the two comparisons' results are correlated with the masks of x and of the Fourier series
// (protocols/gelu.hpp, the fused path: c x and c x f become local once the bits are public).
//
// GeluMaterial (id 42), params (L, w, shape {N}, F, c, n, k_1..k_n):
//   R = { r: {2N}, K       the MaskedCompareMaterial of the 2N comparisons (L compared bits, block w)
//         a: {N}, b: {N} } masks of x and of the series f; the angle mask is t = c a
//   D = { L0, [TF], FX, AR the comparisons' material; the plan must end in one final child, so that
//                          AR is s, the dealer bit that masks each comparison's result
//         G: {2n x N}       the trig values of t (as FourierGeluMask), one plane per value
//         Q: {7 x N}        a b, s0 a, s0 b, s0 a b, s1 a, s1 b, s1 a b  (s0 = AR[e], s1 = AR[N + e]) }
//   (G and Q apart and planar: the series reads only G, the last step only Q, and both loops over
//   the elements read contiguous planes, so that they vectorise.)
//   Dealer -> party 1: the comparisons' material for 2N elements plus 2n + 7 words per element
//   (21 for the 7-term series). Party 0: nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "compare_material.hpp"
#include "fourier_material.hpp"
#include "material.hpp"

namespace secformer::material {

struct GeluMaterial {
  static constexpr std::uint32_t id = 42;
  static constexpr std::string_view name = "gelu (comparisons + fourier)";
  static constexpr std::size_t products = 7;  ///< a b, s0 a, s0 b, s0 a b, s1 a, s1 b, s1 a b

  struct Read {
    unsigned L, w;
    fourier_detail::FourierParams fp;
    std::size_t N;
    cmp::Plan plan;
  };
  static Read read(std::span<const std::uint64_t> p) {
    Reader rd(p);
    Read out{};
    out.L = static_cast<unsigned>(rd.value());
    out.w = static_cast<unsigned>(rd.value());
    if (out.w != 32 && out.w != 64) throw usage_error("secformer: malformed gelu request (block width)");
    if (out.L < 1 || out.L >= out.w) throw usage_error("secformer: malformed gelu request (width)");
    out.fp = fourier_detail::read(p.subspan(2), true);
    out.N = elements(out.fp.shape);
    out.plan = cmp::make_plan(out.w, out.L);
    if (out.plan.final_children != 1) throw usage_error("secformer: gelu request for a comparison plan with two final children");
    return out;
  }
  static std::vector<std::uint64_t> compare_params(const Read& q) { return {1, 2 * q.N, q.L, q.w}; }

  /// The layout of the parts, defined here only: the embedded comparison's (MaskedCompareMaterial::
  /// Index, its 2N elements first), then randoms a (the mask of x), b (of the series f) and derived
  /// G (the sin and cos of k t, 2 terms planes of N words) and Q (the products planes of N words).
  struct Index {
    MaskedCompareMaterial::Index cmp;
    static constexpr std::size_t a = MaskedCompareMaterial::Index::randoms, b = a + 1, randoms = b + 1;
    constexpr std::size_t g() const noexcept { return cmp.derived(); }
    constexpr std::size_t q() const noexcept { return cmp.derived() + 1; }
  };
  /// Q's planes, in order: a b, s0 a, s0 b, s0 a b, s1 a, s1 b, s1 a b (s0, s1 the comparisons'
  /// final dealer bits, AR).
  enum QPlane : std::size_t { q_ab, q_s0a, q_s0b, q_s0ab, q_s1a, q_s1b, q_s1ab };
  /// Named access to the parts a client received (randoms then derived).
  template <class W>
  struct View {
    Parts<W>& parts;
    Index ix;
    View(Parts<W>& p, const cmp::Plan& pl) : parts(p), ix{MaskedCompareMaterial::Index::of(pl)} {}
    /// The embedded comparison's parts (the randoms r, K lead both lists).
    MaskedCompareMaterial::View<W> compare() const noexcept { return {parts, ix.cmp, Index::randoms}; }
    const W* a() const noexcept { return parts[Index::a].data(); }
    const W* b() const noexcept { return parts[Index::b].data(); }
    const W* G() const noexcept { return parts[Index::randoms + ix.g()].data(); }
    const W* Q() const noexcept { return parts[Index::randoms + ix.q()].data(); }
    /// One plane of Q (N words).
    const W* Q(QPlane k, std::size_t N) const noexcept { return Q() + k * N; }
  };

  static Layout layout(std::span<const std::uint64_t> p) {
    const Read q = read(p);
    Layout l = MaskedCompareMaterial::layout(compare_params(q));
    l.randoms.push_back({q.N});
    l.randoms.push_back({q.N});
    l.derived.push_back({2 * q.fp.freqs.size(), q.N});
    l.derived.push_back({products, q.N});
    l.derived_xor.push_back(false);
    l.derived_xor.push_back(false);
    return l;
  }

  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    const Read q = read(p);
    if (q.w != 8 * sizeof(W)) throw usage_error("secformer: gelu request for another word size");
    if (q.fp.frac + 2 >= 8 * sizeof(W)) throw usage_error("secformer: Fourier mask with too many fractional bits for the ring");
    const Index ix{MaskedCompareMaterial::Index::of(q.plan)};
    const std::size_t N = q.N;
    using CI = MaskedCompareMaterial::Index;
    W* AR = d[ix.cmp.ar()].data();
    MaskedCompareMaterial::derive_raw<W>(2 * N, q.L, r[CI::r].data(), r[CI::key], d[ix.cmp.l0()].data(),
                                         ix.cmp.has_tf ? d[ix.cmp.tf()].data() : nullptr, d[ix.cmp.fx()].data(), AR);
    const std::size_t m2 = 2 * q.fp.freqs.size();
    const W c = static_cast<W>(q.fp.scale);
    const W *a = r[Index::a].data(), *b = r[Index::b].data();
    W* G = d[ix.g()].data();
    W* Q = d[ix.q()].data();
    std::vector<W> trig(m2);
    for (std::size_t e = 0; e < N; ++e) {
      fourier_detail::trig_of<W>(static_cast<W>(c * a[e]), q.fp.freqs, q.fp.frac, trig.data());
      for (std::size_t j = 0; j < m2; ++j) G[j * N + e] = trig[j];
      const W ab = static_cast<W>(a[e] * b[e]), s0 = AR[e], s1 = AR[N + e];
      Q[q_ab * N + e] = ab;
      Q[q_s0a * N + e] = static_cast<W>(s0 * a[e]);
      Q[q_s0b * N + e] = static_cast<W>(s0 * b[e]);
      Q[q_s0ab * N + e] = static_cast<W>(s0 * ab);
      Q[q_s1a * N + e] = static_cast<W>(s1 * a[e]);
      Q[q_s1b * N + e] = static_cast<W>(s1 * b[e]);
      Q[q_s1ab * N + e] = static_cast<W>(s1 * ab);
    }
  }
};

}  // namespace secformer::material
