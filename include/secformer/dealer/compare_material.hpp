// secformer/dealer/compare_material.hpp: dealer material for the comparison protocols
// (protocols/compare.hpp), and the public plan both the dealer and the parties follow.
//
// Bit-sliced layout: elements are taken in blocks of w = bits(W) (64 in Z2k<64>, 32 in Z2k<32>); a
// "plane" is one word holding one bit of each of the block's w elements. Planes of a block are stored
// next to each other ([block][plane]), xor-shared.
//
// MaskedCompareMaterial (id 301), params (shape {n}, L, w): compares L low bits (L = l - 1 for the full
// ring, L = m for MaskedCompare<m>). With r uniform and t = r mod 2^(L+1):
//   R = { r: {n}, K: 16 bytes }               (K keys the dealer's AES-CTR stream of fresh mask bits)
//   D = { L0: {B, level-0 planes}   xor        (every product of 1..4 bits of t inside a 4-bit group)
//         TF: {B, tree planes}      xor        (per tree combine: its masks and their needed products;
//                                               left out when there is no tree level)
//         FX: {B, 1 or 4}           xor        (B2A: bit L of t xor s; or bit L of t and 3 masks)
//         AR: {n, 1 or 7}           additive } (B2A: s; or the 7 products of the 3 masks, as ring words)
//   Dealer -> party 1: B w/8 (L0 + TF + FX planes) + n w/8 (1 or 7) bytes. Party 0: nothing.
// CrypTenCompareMaterial (id 302), params (shape {n}, w): A = 2 log2(l) word-wide AND triples per element
//   and one random bit: R = { K: 16 bytes }, D = { T: {n, 3A + 1} xor (u, v, u&v per AND; s),
//   S: {n} additive (s) }. Dealer -> party 1: (3A + 2) words per element.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "material.hpp"

namespace secformer::material {

namespace cmp {

/// In-place transpose of a w x w bit matrix held as w words (w = bits of W): afterwards bit j of
/// word i is the former bit i of word j (bits numbered from the least significant).
template <class W>
inline void transpose_bits(W* a) noexcept {
  constexpr unsigned w = 8 * sizeof(W);
  W m = static_cast<W>(~W(0)) >> (w / 2);
  for (unsigned j = w / 2; j != 0; j >>= 1, m = static_cast<W>(m ^ (m << j))) {
    for (unsigned k = 0; k < w; k = ((k | j) + 1) & ~j) {
      const W t = static_cast<W>(((a[k] >> j) ^ a[k | j]) & m);
      a[k] = static_cast<W>(a[k] ^ (t << j));
      a[k | j] = static_cast<W>(a[k | j] ^ t);
    }
  }
}

/// The dealer's own randomness for masks that only it needs in full: AES-CTR keyed by a uniform
/// random component K (16 bytes, whose full value no party knows), so that the parties need not
/// expand that many random words themselves.
template <class W>
Prg dealer_prg(const xt::xarray<W>& key_words) {
  Seed k;
  std::memcpy(k.bytes.data(), key_words.data(), 16);
  return Prg(k, 0);
}
template <class W>
constexpr std::size_t key_words = 16 / sizeof(W);

inline constexpr unsigned group_bits = 4;  ///< level 0: bits per group, combined locally
inline constexpr unsigned fan_in = 4;      ///< tree levels: children per combine (one AND round)

/// Values of (G, P) pairs: G = "r > c" on a bit range (greater), P = "r == c" (equal). A combine of
/// children 0 (lowest) .. f-1 computes G = xor_j (prod_{i>j} P_i) G_j and P = prod_i P_i.
/// Local variable numbering of a combine: G_i -> 2i, P_i -> 2i+1. Its masked variables are opened
/// once; every product of masks that the monomial expansion needs comes from the dealer (its
/// "family": the down-closure of the monomials' variable sets, without the empty set).
struct Pattern {
  unsigned count = 0;
  bool need_p = false;
  unsigned nvars = 0;
  std::array<std::uint8_t, 8> vars{};      ///< opened local variables, ascending
  std::array<std::int8_t, 8> pos{};        ///< local variable -> position in vars, or -1
  unsigned nfam = 0;
  std::array<std::uint8_t, 256> fam{};     ///< family masks, ascending
  std::array<std::int16_t, 256> index{};   ///< mask -> position in fam, or -1
  unsigned nmono = 0;
  std::array<std::uint8_t, 4> g_mono{};    ///< monomials of G
  std::uint8_t p_mono = 0;                 ///< monomial of P (if need_p)
};

constexpr Pattern make_pattern(unsigned count, bool need_p) {
  Pattern p;
  p.count = count;
  p.need_p = need_p;
  for (auto& v : p.pos) v = -1;
  for (auto& v : p.index) v = -1;
  if (count <= 1) return p;  // a lone child passes through unchanged
  std::uint8_t used = 0;
  for (unsigned j = 0; j < count; ++j) {
    std::uint8_t m = static_cast<std::uint8_t>(1u << (2 * j));
    for (unsigned i = j + 1; i < count; ++i) m = static_cast<std::uint8_t>(m | (1u << (2 * i + 1)));
    p.g_mono[p.nmono++] = m;
    used = static_cast<std::uint8_t>(used | m);
  }
  if (need_p) {
    for (unsigned i = 0; i < count; ++i) p.p_mono = static_cast<std::uint8_t>(p.p_mono | (1u << (2 * i + 1)));
    used = static_cast<std::uint8_t>(used | p.p_mono);
  }
  for (unsigned v = 0; v < 8; ++v)
    if (used & (1u << v)) {
      p.pos[v] = static_cast<std::int8_t>(p.nvars);
      p.vars[p.nvars++] = static_cast<std::uint8_t>(v);
    }
  bool in[256] = {};
  auto close = [&](std::uint8_t mono) {
    for (unsigned t = mono;; t = (t - 1) & mono) {
      in[t] = true;
      if (t == 0) break;
    }
  };
  for (unsigned j = 0; j < p.nmono; ++j) close(p.g_mono[j]);
  if (need_p) close(p.p_mono);
  for (unsigned t = 1; t < 256; ++t)
    if (in[t]) {
      p.index[t] = static_cast<std::int16_t>(p.nfam);
      p.fam[p.nfam++] = static_cast<std::uint8_t>(t);
    }
  return p;
}

/// Patterns by (count, need_p): index 2 (count - 1) + need_p.
inline constexpr std::array<Pattern, 8> patterns = {
    make_pattern(1, false), make_pattern(1, true), make_pattern(2, false), make_pattern(2, true),
    make_pattern(3, false), make_pattern(3, true), make_pattern(4, false), make_pattern(4, true)};
constexpr const Pattern& pattern(unsigned count, bool need_p) { return patterns[2 * (count - 1) + (need_p ? 1 : 0)]; }

struct Combine {
  unsigned first = 0, count = 0;
  bool need_p = false;
  unsigned var_off = 0, fam_off = 0;  ///< offsets inside the level's opened planes / family planes
};
struct Level {
  unsigned nin = 0, nout = 0;
  unsigned nvars = 0, nfam = 0;        ///< planes opened / family planes of the level (per block)
  unsigned var_off = 0, fam_off = 0;   ///< offsets among all tree levels (mask planes / TF planes)
  std::array<Combine, 4> comb{};
};

/// The public plan of MaskedCompare for a block width w and L compared bits (1 <= L < w).
struct Plan {
  unsigned w = 0, L = 0;
  unsigned groups = 0;
  std::array<unsigned, 16> gfirst{}, gbits{}, gmono{};  ///< per group: first bit, bits, L0 plane offset
  unsigned l0_planes = 0;
  unsigned nlevels = 0;
  std::array<Level, 4> levels{};
  unsigned tree_vars = 0, tree_fam = 0;
  unsigned final_children = 0;  ///< 1: B2A of the root's G; 2: arithmetic top combine of two nodes
  unsigned final_vars = 0, final_xor = 0, final_masks = 0, arith = 0;
  unsigned mask_planes = 0;     ///< M planes: tree masks, then final masks

  constexpr int rounds() const { return 1 + static_cast<int>(nlevels) + 1; }
  /// Planes each party sends per block: c (L + 1 bits), every tree level, the final opening.
  constexpr unsigned online_planes() const { return L + 1 + tree_vars + final_vars; }
  constexpr unsigned dealer_planes() const { return l0_planes + tree_fam + final_xor; }
};

constexpr Plan make_plan(unsigned w, unsigned L) {
  Plan p;
  p.w = w;
  p.L = L;
  if (L < 1 || L >= w) throw usage_error("secformer: comparison width out of range");
  p.groups = (L + group_bits - 1) / group_bits;
  for (unsigned g = 0; g < p.groups; ++g) {
    p.gfirst[g] = g * group_bits;
    p.gbits[g] = (L - g * group_bits < group_bits) ? L - g * group_bits : group_bits;
    p.gmono[g] = p.l0_planes;
    p.l0_planes += (1u << p.gbits[g]) - 1;
  }
  unsigned n = p.groups;
  while (n > 2) {
    Level& lv = p.levels[p.nlevels++];
    lv.nin = n;
    lv.nout = (n + fan_in - 1) / fan_in;
    lv.var_off = p.tree_vars;
    lv.fam_off = p.tree_fam;
    for (unsigned c = 0; c < lv.nout; ++c) {
      Combine& cb = lv.comb[c];
      cb.first = c * fan_in;
      cb.count = (n - cb.first < fan_in) ? n - cb.first : fan_in;
      cb.need_p = c > 0;
      cb.var_off = lv.nvars;
      cb.fam_off = lv.nfam;
      const Pattern& pt = pattern(cb.count, cb.need_p);
      lv.nvars += pt.nvars;
      lv.nfam += pt.nfam;
    }
    p.tree_vars += lv.nvars;
    p.tree_fam += lv.nfam;
    n = lv.nout;
  }
  p.final_children = n;
  if (n == 1) { p.final_vars = 1; p.final_xor = 1; p.final_masks = 1; p.arith = 1; }
  else { p.final_vars = 3; p.final_xor = 4; p.final_masks = 3; p.arith = 7; }
  p.mask_planes = p.tree_vars + p.final_masks;
  return p;
}

constexpr std::size_t blocks(std::size_t n, unsigned w) { return (n + w - 1) / w; }

/// Final arithmetic combine of two nodes: msb = ch ^ dZ ^ z ^ ((dP ^ p) & (dG ^ g)) as an integer
/// multilinear polynomial in the mask bits (z, p, g): coefficient of the monomial T (bit 0 = z,
/// bit 1 = p, bit 2 = g), for each of the 16 values of the public bits (ch, dZ, dP, dG).
constexpr std::array<std::array<int, 8>, 16> make_final_table() {
  std::array<std::array<int, 8>, 16> tab{};
  for (unsigned pub = 0; pub < 16; ++pub) {
    const unsigned ch = pub & 1, dz = (pub >> 1) & 1, dp = (pub >> 2) & 1, dg = (pub >> 3) & 1;
    int f[8] = {};
    for (unsigned u = 0; u < 8; ++u) {
      const unsigned z = u & 1, pp = (u >> 1) & 1, g = (u >> 2) & 1;
      f[u] = static_cast<int>(ch ^ dz ^ z ^ ((dp ^ pp) & (dg ^ g)));
    }
    for (unsigned t = 0; t < 8; ++t) {
      int c = 0;
      for (unsigned u = t;; u = (u - 1) & t) {
        const int sign = ((std::popcount(t) - std::popcount(u)) & 1) ? -1 : 1;
        c += sign * f[u];
        if (u == 0) break;
      }
      tab[pub][t] = c;
    }
  }
  return tab;
}
inline constexpr auto final_table = make_final_table();

}  // namespace cmp

struct MaskedCompareMaterial {
  static constexpr std::uint32_t id = 301;
  static constexpr std::string_view name = "masked comparison";

  /// The layout of the parts, defined here only: randoms r (the mask, consumed), K (the key);
  /// derived L0 (level-0 products), TF (tree families; only when the plan has tree levels), FX (the
  /// final round's masks), AR (arithmetic shares of the final bits). Positions in the derived list;
  /// a client receives the randoms then the derived parts (View).
  struct Index {
    bool has_tf;
    static constexpr std::size_t randoms = 2, r = 0, key = 1;
    static constexpr Index of(const cmp::Plan& pl) noexcept { return {pl.tree_fam > 0}; }
    constexpr std::size_t l0() const noexcept { return 0; }
    constexpr std::size_t tf() const noexcept { return 1; }
    constexpr std::size_t fx() const noexcept { return 1 + std::size_t(has_tf); }
    constexpr std::size_t ar() const noexcept { return 2 + std::size_t(has_tf); }
    constexpr std::size_t derived() const noexcept { return 3 + std::size_t(has_tf); }
  };
  /// Named access to the comparison's parts inside the list a client received (randoms then
  /// derived parts). Kinds that embed a comparison (GeluMaterial) lead both lists with its parts
  /// and add randoms of their own: their derived parts start at `derived_at` (this kind's: randoms).
  template <class W>
  struct View {
    Parts<W>& parts;
    Index ix;
    std::size_t derived_at = Index::randoms;
    W* r() const noexcept { return parts[Index::r].data(); }
    std::size_t r_words() const noexcept { return parts[Index::r].size(); }
    const W* L0() const noexcept { return parts[derived_at + ix.l0()].data(); }
    const W* TF() const noexcept { return ix.has_tf ? parts[derived_at + ix.tf()].data() : nullptr; }
    const W* FX() const noexcept { return parts[derived_at + ix.fx()].data(); }
    const W* AR() const noexcept { return parts[derived_at + ix.ar()].data(); }
  };

  static Layout layout(std::span<const std::uint64_t> params) {
    Reader rd(params);
    const Shape s = rd.shape();
    const auto L = static_cast<unsigned>(rd.value());
    const auto w = static_cast<unsigned>(rd.value());
    if (w != 32 && w != 64) throw usage_error("secformer: malformed comparison request (block width)");
    if (L < 1 || L >= w) throw usage_error("secformer: malformed comparison request (width)");
    const cmp::Plan pl = cmp::make_plan(w, L);
    const std::size_t n = elements(s), b = cmp::blocks(n, w);
    const std::size_t kw = w == 64 ? cmp::key_words<std::uint64_t> : cmp::key_words<std::uint32_t>;
    if (pl.tree_fam == 0)  // no tree level: no TF component (never an empty one)
      return {{{n}, {kw}}, {{b, pl.l0_planes}, {b, pl.final_xor}, {n, pl.arith}}, {true, true, false}};
    return {{{n}, {kw}},
            {{b, pl.l0_planes}, {b, pl.tree_fam}, {b, pl.final_xor}, {n, pl.arith}},
            {true, true, true, false}};
  }

  template <class W>
  static void derive(std::span<const std::uint64_t> params, const Parts<W>& r, Parts<W>& d, State&) {
    constexpr unsigned w = 8 * sizeof(W);
    Reader rd(params);
    const std::size_t n = elements(rd.shape());
    const auto L = static_cast<unsigned>(rd.value());
    if (rd.value() != w) throw usage_error("secformer: comparison request for another word size");
    const Index ix = Index::of(cmp::make_plan(w, L));
    derive_raw<W>(n, L, r[Index::r].data(), r[Index::key], d[ix.l0()].data(), ix.has_tf ? d[ix.tf()].data() : nullptr,
                  d[ix.fx()].data(), d[ix.ar()].data());
  }

  /// derive() on raw components (also used by kinds that embed a comparison: GeluMaterial).
  template <class W>
  static void derive_raw(std::size_t n, unsigned L, const W* rv, const xt::xarray<W>& key, W* L0, W* TF, W* FX, W* AR) {
    constexpr unsigned w = 8 * sizeof(W);
    const cmp::Plan pl = cmp::make_plan(w, L);
    const std::size_t nb = cmp::blocks(n, w);
    const W keep = (L + 1 == w) ? static_cast<W>(~W(0)) : static_cast<W>((W(1) << (L + 1)) - 1);
    std::vector<W> mask_words(nb * pl.mask_planes);
    cmp::dealer_prg(key).fill(std::span<W>(mask_words));
    const W* M = mask_words.data();
    std::array<W, w> t{};
    for (std::size_t b = 0; b < nb; ++b) {
      const std::size_t e0 = b * w, ne = (n - e0 < w) ? n - e0 : w;
      for (unsigned e = 0; e < w; ++e) t[e] = e < ne ? static_cast<W>(rv[e0 + e] & keep) : W(0);
      cmp::transpose_bits(t.data());
      // level 0: all products of bits of t inside each group
      W* l0 = L0 + b * pl.l0_planes;
      for (unsigned g = 0; g < pl.groups; ++g) {
        const unsigned gb = pl.gbits[g], f = pl.gfirst[g];
        for (unsigned mask = 1; mask < (1u << gb); ++mask) {
          W prod = static_cast<W>(~W(0));
          for (unsigned i = 0; i < gb; ++i)
            if (mask & (1u << i)) prod &= t[f + i];
          l0[pl.gmono[g] + mask - 1] = prod;
        }
      }
      // tree levels: fresh masks and their products
      const W* mb = M + b * pl.mask_planes;
      W* tf = TF + b * pl.tree_fam;
      for (unsigned li = 0; li < pl.nlevels; ++li) {
        const cmp::Level& lv = pl.levels[li];
        for (unsigned c = 0; c < lv.nout; ++c) {
          const cmp::Combine& cb = lv.comb[c];
          const cmp::Pattern& pt = cmp::pattern(cb.count, cb.need_p);
          const W* masks = mb + lv.var_off + cb.var_off;
          for (unsigned fi = 0; fi < pt.nfam; ++fi) {
            W prod = static_cast<W>(~W(0));
            for (unsigned v = 0; v < 8; ++v)
              if (pt.fam[fi] & (1u << v)) prod &= masks[pt.pos[v]];
            tf[lv.fam_off + cb.fam_off + fi] = prod;
          }
        }
      }
      // final step
      const W* fm = mb + pl.tree_vars;
      W* fx = FX + b * pl.final_xor;
      if (pl.final_children == 1) {
        const W s = fm[0];
        fx[0] = static_cast<W>(t[L] ^ s);
        for (std::size_t e = 0; e < ne; ++e) AR[e0 + e] = static_cast<W>((s >> e) & 1);
      } else {
        fx[0] = t[L];
        fx[1] = fm[0];
        fx[2] = fm[1];
        fx[3] = fm[2];
        for (std::size_t e = 0; e < ne; ++e) {
          const unsigned z = (fm[0] >> e) & 1, p = (fm[1] >> e) & 1, g = (fm[2] >> e) & 1;
          const unsigned bits = z | (p << 1) | (g << 2);
          for (unsigned tm = 1; tm < 8; ++tm) AR[(e0 + e) * 7 + tm - 1] = static_cast<W>((bits & tm) == tm);
        }
      }
    }
  }
};

struct CrypTenCompareMaterial {
  static constexpr std::uint32_t id = 302;
  static constexpr std::string_view name = "crypten comparison";

  /// AND gates per element: the first generate (1), then log2(w) Kogge-Stone levels of 2 (the last
  /// level's P product is not needed).
  static constexpr unsigned ands(unsigned w) {
    unsigned lg = 0;
    while ((1u << lg) < w) ++lg;
    return 2 * lg;
  }

  static Layout layout(std::span<const std::uint64_t> params) {
    Reader rd(params);
    const std::size_t n = elements(rd.shape());
    const auto w = static_cast<unsigned>(rd.value());
    if (w != 32 && w != 64) throw usage_error("secformer: malformed comparison request (word size)");
    const std::size_t a = ands(w);
    const std::size_t kw = w == 64 ? cmp::key_words<std::uint64_t> : cmp::key_words<std::uint32_t>;
    return {{{kw}}, {{n, 3 * a + 1}, {n}}, {true, false}};
  }

  template <class W>
  static void derive(std::span<const std::uint64_t> params, const Parts<W>& r, Parts<W>& d, State&) {
    constexpr unsigned w = 8 * sizeof(W);
    Reader rd(params);
    const std::size_t n = elements(rd.shape());
    if (rd.value() != w) throw usage_error("secformer: comparison request for another word size");
    const std::size_t a = ands(w);
    W* T = d[0].data();
    W* S = d[1].data();
    Prg prg = cmp::dealer_prg(r[0]);
    constexpr std::size_t chunk = 1024;
    std::vector<W> mw(chunk * (2 * a + 1));
    for (std::size_t e = 0; e < n; ++e) {
      if (e % chunk == 0) prg.fill(std::span<W>(mw));
      const W* m = mw.data() + (e % chunk) * (2 * a + 1);
      W* t = T + e * (3 * a + 1);
      for (std::size_t k = 0; k < a; ++k) {
        t[3 * k] = m[2 * k];
        t[3 * k + 1] = m[2 * k + 1];
        t[3 * k + 2] = static_cast<W>(m[2 * k] & m[2 * k + 1]);
      }
      const W s = static_cast<W>(m[2 * a] & 1);
      t[3 * a] = s;
      S[e] = s;
    }
  }
};

}  // namespace secformer::material
