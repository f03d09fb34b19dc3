// secformer/protocols/compare.hpp: comparison with zero (the sign bit), comparisons with public
// constants and between shares, ReLU, select and max.
//   MaskedCompare<Bits>  one masked opening, then a log-depth tree on the dealer's mask bits (default)
//   CrypTenCompare       CrypTen's A2B and a Kogge-Stone adder (parity with the paper's timings)
//   ltz, ltz_many, less_than, greater_equal, greater_than, less_equal, relu, select, max
// ltz(x) = [x < 0] as an arithmetic 0/1 share (Shared<Int, Ring, P>) of any encoding's share x, read
// as a signed ring element. The default policy is chosen in one place: detail::compare_policy_t.
// Plans, rounds, bytes and ranges of both policies and of the derived functions:
// docs/protocols.md#comparison-maskedcompare-and-cryptens-a2b.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xstrided_view.hpp>

#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/compare_material.hpp"
#include "mul.hpp"
#include "policy.hpp"
#include "ride_along.hpp"

namespace secformer {

namespace detail::cmpx {
template <class W>
constexpr W low_bits(unsigned k) {
  return k >= 8 * sizeof(W) ? static_cast<W>(~W(0)) : static_cast<W>((W(1) << k) - 1);
}
inline constexpr unsigned ceil_log2(std::size_t k) {
  unsigned r = 0;
  while ((std::size_t(1) << r) < k) ++r;
  return r;
}
/// An uninitialised buffer (no zero fill of words about to be overwritten).
template <class W>
std::unique_ptr<W[]> uninit(std::size_t n) { return std::unique_ptr<W[]>(new W[n == 0 ? 1 : n]); }
}  // namespace detail::cmpx

// ------------------------------------------------------------------------------------------------
/// MaskedCompare: [x < 0] from one masked opening and a log-depth tree on the dealer's mask bits
/// | paper  | none (replaces CrypTen's A2B); docs/protocols.md#comparison-maskedcompare-and-cryptens-a2b
/// | rounds | 4
/// | online | 12.875 B/element/party
/// | dealer | 53.875 B/element
/// | error  | none: exact for every x with -2^L <= x < 2^L ring units (L = 63, or Bits)
/// | range  | the whole ring (Bits = 0); |x| < 2^Bits ring units for Bits > 0 (Solo throws outside)
/// Bits > 0 compares only the low Bits + 1 bits: MaskedCompare<16> costs 3 rounds, 3.125 B online and
/// 18.375 B dealer per element (the GeLU policies' comparison). sign_bits_with lets a caller's words
/// ride along with the first (and, for one final child, the last) round.
template <unsigned Bits = 0>
struct MaskedCompare {
  /// Compared bits L (the sign is bit L of x mod 2^(L+1)).
  template <class Ring>
  static constexpr unsigned compared_bits = Bits == 0 ? Ring::bits - 1 : Bits;
  template <class Ring>
  static constexpr material::cmp::Plan plan = material::cmp::make_plan(Ring::bits, compared_bits<Ring>);

  template <class Ring>
  static constexpr int online_rounds = plan<Ring>.rounds();
  /// Bytes each party sends (and receives) for n elements.
  template <class Ring>
  static constexpr std::uint64_t bytes_sent(std::size_t n) {
    return material::cmp::blocks(n, Ring::bits) * plan<Ring>.online_planes() * sizeof(typename Ring::word_type);
  }
  /// Dealer bytes to party 1 for n elements (party 0 receives none).
  template <class Ring>
  static constexpr std::uint64_t dealer_bytes(std::size_t n) {
    using W = typename Ring::word_type;
    return (material::cmp::blocks(n, Ring::bits) * plan<Ring>.dealer_planes() + n * plan<Ring>.arith) * sizeof(W);
  }
  template <class Ring>
  static constexpr int relu_rounds = online_rounds<Ring> + 1;
  template <class Ring>
  static constexpr std::uint64_t relu_bytes(std::size_t n) { return bytes_sent<Ring>(n) + 2 * n * sizeof(typename Ring::word_type); }
  /// Rounds of max over an axis of k entries.
  template <class Ring>
  static constexpr int max_rounds(std::size_t k) { return static_cast<int>(detail::cmpx::ceil_log2(k)) * (online_rounds<Ring> + 1); }

  /// Writes arithmetic shares of [x_e < 0] for n flat elements to out.
  template <class Ring, class P, class Ctx>
  static void sign_bits(const typename Ring::word_type* x, std::size_t n, typename Ring::word_type* out, Ctx& ctx) {
    detail::NoRideAlong<typename Ring::word_type> none;
    sign_bits_with<Ring, P>([x](std::size_t e) { return x[e]; }, n, out, ctx, none);
  }
  /// The same for the elements getx(e), e < n; the words of the ride-along extra (ride_along.hpp:
  /// extra.fill(dst) writes this party's) ride along with the first exchange, and extra.take(theirs)
  /// receives the peer's (two-party runs only; in Solo their bytes are counted with the first round).
  template <class Ring, class P, class Ctx, class GetX, class Extra>
  static void sign_bits_with(GetX&& getx, std::size_t n, typename Ring::word_type* out, Ctx& ctx, Extra& extra);

  /// The comparison's material, as pointers into the parts of a MaskedCompareMaterial request or of
  /// a request that embeds one (material::GeluMaterial). r is overwritten (it is consumed).
  template <class W>
  struct Parts {
    W* r;
    std::size_t r_words;
    const W *L0, *TF, *FX, *AR;
    /// From a kind's named view of the comparison's parts (MaskedCompareMaterial::View).
    static Parts of(const material::MaskedCompareMaterial::View<W>& v) noexcept {
      return {v.r(), v.r_words(), v.L0(), v.TF(), v.FX(), v.AR()};
    }
  };
  /// The protocol on given material (both modes: in Solo only AR is read, for public bits).
  template <class Ring, class P, class Ctx, class GetX, class Extra>
  static void sign_bits_on(const Parts<typename Ring::word_type>& m, GetX&& getx, std::size_t n, typename Ring::word_type* out,
                           Ctx& ctx, Extra& extra);

  // The steps of sign_bits_on (two-party unless named solo). A block's tree nodes: node_slots
  // generate planes G then as many propagate planes P per block.
  static constexpr unsigned node_slots = 16;
  /// The simulation: the range check, the bits in the clear, and the rounds' counted bytes.
  template <class Ring, class P, class Ctx, class GetX, class Extra>
  static void solo_sign_bits(const Parts<typename Ring::word_type>& m, GetX& getx, std::size_t n, typename Ring::word_type* out,
                             Ctx& ctx, Extra& extra);
  /// Round 1: opens c = x + r mod 2^(L+1) bit-sliced (extra's words ride along); returns c's planes
  /// (np per block, then room for the extra words), in m.r or in cbuf; rbuf receives the peer's.
  template <class Ring, class P, class Ctx, class GetX, class Extra>
  static typename Ring::word_type* open_masked(const Parts<typename Ring::word_type>& m, GetX& getx, std::size_t n, Ctx& ctx,
                                               Extra& extra, std::unique_ptr<typename Ring::word_type[]>& cbuf,
                                               std::unique_ptr<typename Ring::word_type[]>& rbuf);
  /// Level 0 (local): (G, P) of each 4-bit group of c's planes from the dealer's products of r bits.
  template <class Ring, class P>
  static void level0(const typename Ring::word_type* cpl, const typename Ring::word_type* L0, std::size_t nb,
                     typename Ring::word_type* nodeG, typename Ring::word_type* nodeP);
  /// Tree level li: one round opening the masked node variables, then the combined nodes.
  template <class Ring, class P, class Ctx>
  static void tree_level(unsigned li, const typename Ring::word_type* TF, std::size_t nb, typename Ring::word_type* nodeG,
                         typename Ring::word_type* nodeP, Ctx& ctx);
  /// One combine of tree level li in block b from the opened variables (snd xor rcv): (G, P).
  template <class Ring, class P>
  static void combine(const material::cmp::Level& lv, const material::cmp::Combine& cb, const typename Ring::word_type* tf,
                      const typename Ring::word_type* snd, const typename Ring::word_type* rcv, std::size_t b,
                      typename Ring::word_type& G, typename Ring::word_type& Pv);
  /// The final round of a plan with one final child: a B2A with the dealer bit (or public bits).
  template <class Ring, class P, class Ctx, class Extra>
  static void final_one(const Parts<typename Ring::word_type>& m, const typename Ring::word_type* cpl, const typename Ring::word_type* nodeG,
                        std::size_t n, typename Ring::word_type* out, Ctx& ctx, Extra& extra);
  /// The final round of a plan with two final children: 3 masked bits and the arithmetic table.
  template <class Ring, class P, class Ctx>
  static void final_three(const Parts<typename Ring::word_type>& m, const typename Ring::word_type* cpl,
                          const typename Ring::word_type* nodeG, const typename Ring::word_type* nodeP, std::size_t n,
                          typename Ring::word_type* out, Ctx& ctx);
};

/// CrypTenCompare: [x < 0] as CrypTen: A2B, a Kogge-Stone adder on xor shares, 1-bit B2A
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#comparison-maskedcompare-and-cryptens-a2b
/// | rounds | 8
/// | online | 200 B/element/party
/// | dealer | 304 B/element
/// | error  | none: exact
/// | range  | the whole ring
/// Z2k<32>: 7 rounds, 84 B online, 128 B dealer per element.
struct CrypTenCompare {
  template <class Ring>
  static constexpr unsigned ands = material::CrypTenCompareMaterial::ands(Ring::bits);
  template <class Ring>
  static constexpr int online_rounds = 2 + static_cast<int>(detail::cmpx::ceil_log2(Ring::bits));
  template <class Ring>
  static constexpr std::uint64_t bytes_sent(std::size_t n) { return n * (2 * ands<Ring> + 1) * sizeof(typename Ring::word_type); }
  template <class Ring>
  static constexpr std::uint64_t dealer_bytes(std::size_t n) { return n * (3 * ands<Ring> + 2) * sizeof(typename Ring::word_type); }
  template <class Ring>
  static constexpr int relu_rounds = online_rounds<Ring> + 1;
  template <class Ring>
  static constexpr std::uint64_t relu_bytes(std::size_t n) { return bytes_sent<Ring>(n) + 2 * n * sizeof(typename Ring::word_type); }
  template <class Ring>
  static constexpr int max_rounds(std::size_t k) { return static_cast<int>(detail::cmpx::ceil_log2(k)) * (online_rounds<Ring> + 1); }

  template <class Ring, class P, class Ctx>
  static void sign_bits(const typename Ring::word_type* x, std::size_t n, typename Ring::word_type* out, Ctx& ctx);
};

using DefaultCompare = MaskedCompare<>;

namespace detail {
/// The single point where the default comparison policy is chosen (void = the default).
template <class Policy, class Ctx>
using compare_policy_t = pick_policy_t<Policy, Ctx, suite_compare_t, DefaultCompare>;
}  // namespace detail

// ------------------------------------------------------------------------------------------------
// MaskedCompare

template <unsigned Bits>
template <class Ring, class P, class Ctx, class GetX, class Extra>
void MaskedCompare<Bits>::sign_bits_with(GetX&& getx, std::size_t n, typename Ring::word_type* out, Ctx& ctx, Extra& extra) {
  using W = typename Ring::word_type;
  static_assert(detail::ride_along<Extra, W>, "secformer: the comparison's extra words must be a ride-along (ride_along.hpp)");
  namespace mc = material::cmp;
  constexpr unsigned w = Ring::bits;
  static_assert(Bits < w, "secformer: MaskedCompare<Bits> needs Bits < ring bits");
  constexpr mc::Plan pl = plan<Ring>;
  const std::size_t nx = extra.size();
  if (n == 0) {
    if (nx == 0) return;
    if constexpr (P::is_solo) {
      ctx.count_round(nx * sizeof(W), nx * sizeof(W));
    } else {
      auto mine = detail::cmpx::uninit<W>(nx), theirs = detail::cmpx::uninit<W>(nx);
      extra.fill(mine.get());
      ctx.exchange_words(std::span<const W>(mine.get(), nx), std::span<W>(theirs.get(), nx));
      extra.take(theirs.get());
    }
    return;
  }

  if constexpr (P::is_solo) {
    sign_bits_on<Ring, P>(Parts<W>{nullptr, 0, nullptr, nullptr, nullptr, nullptr}, getx, n, out, ctx, extra);
  } else {
    auto m = ctx.template material<material::MaskedCompareMaterial, W>(
        material::Params{}.shape({n}).value(pl.L).value(w));
    const material::MaskedCompareMaterial::View<W> v{m, material::MaskedCompareMaterial::Index::of(pl)};
    sign_bits_on<Ring, P>(Parts<W>::of(v), getx, n, out, ctx, extra);
  }
}

template <unsigned Bits>
template <class Ring, class P, class Ctx, class GetX, class Extra>
void MaskedCompare<Bits>::sign_bits_on(const Parts<typename Ring::word_type>& m, GetX&& getx, std::size_t n,
                                       typename Ring::word_type* out, Ctx& ctx, Extra& extra) {
  using W = typename Ring::word_type;
  constexpr unsigned w = Ring::bits;
  constexpr material::cmp::Plan pl = plan<Ring>;
  static_assert(Bits < w, "secformer: MaskedCompare<Bits> needs Bits < ring bits");
  static_assert(detail::ride_along<Extra, W>, "secformer: the comparison's extra words must be a ride-along (ride_along.hpp)");
  static_assert(!detail::ride_along_public_bits<Extra>() || pl.final_children == 1,
                "secformer: public comparison bits need a plan with one final child");
  if constexpr (P::is_solo) {
    solo_sign_bits<Ring, P>(m, getx, n, out, ctx, extra);
  } else {
    const std::size_t nb = material::cmp::blocks(n, w);
    std::unique_ptr<W[]> cbuf, rbuf;
    W* cpl = open_masked<Ring, P>(m, getx, n, ctx, extra, cbuf, rbuf);
    // The tree nodes overwrite the peer's planes, which are no longer needed, when they fit.
    const std::size_t nsend = nb * (pl.L + 1) + extra.size();
    std::unique_ptr<W[]> own_nodes;
    W* nodes = rbuf.get();
    if (2 * nb * node_slots > nsend) {
      own_nodes = detail::cmpx::uninit<W>(2 * nb * node_slots);
      nodes = own_nodes.get();
    }
    W* nodeG = nodes;
    W* nodeP = nodes + nb * node_slots;
    level0<Ring, P>(cpl, m.L0, nb, nodeG, nodeP);
    for (unsigned li = 0; li < pl.nlevels; ++li) tree_level<Ring, P>(li, m.TF, nb, nodeG, nodeP, ctx);
    if constexpr (pl.final_children == 1) {
      final_one<Ring, P>(m, cpl, nodeG, n, out, ctx, extra);
    } else {
      static_assert(!detail::final_ride_along<Extra, W>, "secformer: final extra words need a plan with one final child");
      final_three<Ring, P>(m, cpl, nodeG, nodeP, n, out, ctx);
    }
  }
}

template <unsigned Bits>
template <class Ring, class P, class Ctx, class GetX, class Extra>
void MaskedCompare<Bits>::solo_sign_bits(const Parts<typename Ring::word_type>& m, GetX& getx, std::size_t n,
                                         typename Ring::word_type* out, Ctx& ctx, Extra& extra) {
  using W = typename Ring::word_type;
  constexpr unsigned w = Ring::bits;
  constexpr material::cmp::Plan pl = plan<Ring>;
  constexpr unsigned L = pl.L, np = L + 1;
  constexpr W keep = detail::cmpx::low_bits<W>(np);
  const std::size_t nb = material::cmp::blocks(n, w);
  const std::size_t nx = extra.size(), nf = detail::final_ride_along_size<W>(extra);
  if constexpr (Bits != 0 && L + 1 < w) {  // L = w - 1 covers the whole ring: nothing to check
    using S = typename Ring::signed_type;
    const S lim = static_cast<S>(S(1) << L);
    for (std::size_t e = 0; e < n; ++e) {
      const S v = static_cast<S>(static_cast<W>(getx(e)));
      if (v < -lim || v >= lim)
        detail::throw_outside_range("MaskedCompare<" + std::to_string(Bits) + "> (ring units)", static_cast<double>(v),
                                    -static_cast<double>(lim), static_cast<double>(lim) - 1);
    }
  }
  for (std::size_t e = 0; e < n; ++e) out[e] = static_cast<W>(((static_cast<W>(getx(e)) & keep) >> L) & 1);
  if constexpr (detail::ride_along_public_bits<Extra>())  // the whole bit s is the material's AR in the simulation
    for (std::size_t e = 0; e < n; ++e) out[e] = static_cast<W>(out[e] ^ (m.AR[e] & 1));
  ctx.count_round((nb * np + nx) * sizeof(W), (nb * np + nx) * sizeof(W));
  for (unsigned li = 0; li < pl.nlevels; ++li) ctx.count_round(nb * pl.levels[li].nvars * sizeof(W), nb * pl.levels[li].nvars * sizeof(W));
  ctx.count_round((nb * pl.final_vars + nf) * sizeof(W), (nb * pl.final_vars + nf) * sizeof(W));
  if constexpr (detail::final_ride_along<Extra, W>) {  // the peer's share is zero
    auto mine = detail::cmpx::uninit<W>(nf);
    std::vector<W> zeros(nf, W(0));
    extra.final_fill(mine.get());
    extra.final_take(zeros.data());
  }
}

template <unsigned Bits>
template <class Ring, class P, class Ctx, class GetX, class Extra>
typename Ring::word_type* MaskedCompare<Bits>::open_masked(const Parts<typename Ring::word_type>& m, GetX& getx, std::size_t n,
                                                           Ctx& ctx, Extra& extra, std::unique_ptr<typename Ring::word_type[]>& cbuf,
                                                           std::unique_ptr<typename Ring::word_type[]>& rbuf) {
  using W = typename Ring::word_type;
  constexpr unsigned w = Ring::bits;
  constexpr unsigned np = plan<Ring>.L + 1;
  constexpr W keep = detail::cmpx::low_bits<W>(np);
  const std::size_t nb = material::cmp::blocks(n, w), nx = extra.size();
  const W* r = m.r;
  // This party's planes of x + r are sent, and c's planes are the bit-sliced sum of both parties'.
  const std::size_t ncp = nb * np, nsend = ncp + nx;
  // The planes of block b overwrite the consumed words of r (b np <= b w): no fresh buffer (whose
  // pages the system would have to fault in) when r has room for the extra words too.
  W* cpl = m.r;
  if (m.r_words < nsend) {
    cbuf = detail::cmpx::uninit<W>(nsend);  // first this party's planes, then those of c
    cpl = cbuf.get();
  }
  rbuf = detail::cmpx::uninit<W>(nsend);
  {
    alignas(64) std::array<W, w> t{};
    for (std::size_t b = 0; b < nb; ++b) {
      const std::size_t e0 = b * w, ne = std::min<std::size_t>(w, n - e0);
      for (std::size_t e = 0; e < ne; ++e) t[e] = static_cast<W>((static_cast<W>(getx(e0 + e)) + r[e0 + e]) & keep);
      for (std::size_t e = ne; e < w; ++e) t[e] = W(0);
      material::cmp::transpose_bits(t.data());
      std::copy(t.begin(), t.begin() + np, cpl + b * np);
    }
  }
  extra.fill(cpl + ncp);
  ctx.exchange_words(std::span<const W>(cpl, nsend), std::span<W>(rbuf.get(), nsend));
  extra.take(rbuf.get() + ncp);
  for (std::size_t b = 0; b < nb; ++b) {
    W* a = cpl + b * np;
    const W* o = rbuf.get() + b * np;
    W carry = 0;
    for (unsigned i = 0; i < np; ++i) {
      const W x1 = a[i], y1 = o[i], h = static_cast<W>(x1 ^ y1);
      a[i] = static_cast<W>(h ^ carry);
      carry = static_cast<W>((x1 & y1) | (carry & h));
    }
  }
  return cpl;
}

template <unsigned Bits>
template <class Ring, class P>
void MaskedCompare<Bits>::level0(const typename Ring::word_type* cpl, const typename Ring::word_type* L0, std::size_t nb,
                                 typename Ring::word_type* nodeG, typename Ring::word_type* nodeP) {
  using W = typename Ring::word_type;
  constexpr material::cmp::Plan pl = plan<Ring>;
  constexpr unsigned np = pl.L + 1;
  constexpr W one = P::id == 0 ? static_cast<W>(~W(0)) : W(0);  // the public constant 1 (xor-shared)
  for (std::size_t b = 0; b < nb; ++b) {
    const W* cp = cpl + b * np;
    const W* l0 = L0 + b * pl.l0_planes;
    for (unsigned g = 0; g < pl.groups; ++g) {
      const unsigned gb = pl.gbits[g], f = pl.gfirst[g], full = (1u << gb) - 1;
      const W* R = l0 + pl.gmono[g];
      auto Rm = [&](unsigned T) -> W { return T ? R[T - 1] : one; };
      W cb[4] = {};
      for (unsigned i = 0; i < gb; ++i) cb[i] = static_cast<W>(~cp[f + i]);
      W prodc[16];
      prodc[0] = static_cast<W>(~W(0));
      for (unsigned s = 1; s <= full; ++s) prodc[s] = prodc[s & (s - 1)] & cb[std::countr_zero(s)];
      W Gv = 0;
      for (unsigned j = 0; j < gb; ++j) {
        const unsigned S = full & ~((2u << j) - 1);
        W acc = 0;
        for (unsigned T = S;; T = (T - 1) & S) {
          acc ^= prodc[S & ~T] & Rm(T | (1u << j));
          if (T == 0) break;
        }
        Gv ^= cb[j] & acc;
      }
      W Pv = 0;
      for (unsigned T = full;; T = (T - 1) & full) {
        Pv ^= prodc[full & ~T] & Rm(T);
        if (T == 0) break;
      }
      nodeG[b * node_slots + g] = Gv;
      nodeP[b * node_slots + g] = Pv;
    }
  }
}

template <unsigned Bits>
template <class Ring, class P, class Ctx>
void MaskedCompare<Bits>::tree_level(unsigned li, const typename Ring::word_type* TF, std::size_t nb, typename Ring::word_type* nodeG,
                                     typename Ring::word_type* nodeP, Ctx& ctx) {
  using W = typename Ring::word_type;
  namespace mc = material::cmp;
  constexpr mc::Plan pl = plan<Ring>;
  constexpr unsigned maxn = node_slots;
  const mc::Level& lv = pl.levels[li];
  auto sndb = detail::cmpx::uninit<W>(nb * lv.nvars), rcvb = detail::cmpx::uninit<W>(nb * lv.nvars);
  W* snd = sndb.get();
  W* rcv = rcvb.get();
  for (std::size_t b = 0; b < nb; ++b) {
    const W* tf = TF + b * pl.tree_fam + lv.fam_off;
    for (unsigned c = 0; c < lv.nout; ++c) {
      const mc::Combine& cb = lv.comb[c];
      const mc::Pattern& pt = mc::pattern(cb.count, cb.need_p);
      for (unsigned vi = 0; vi < pt.nvars; ++vi) {
        const unsigned v = pt.vars[vi], child = cb.first + v / 2;
        const W val = (v & 1) ? nodeP[b * maxn + child] : nodeG[b * maxn + child];
        snd[b * lv.nvars + cb.var_off + vi] = static_cast<W>(val ^ tf[cb.fam_off + pt.index[1u << v]]);
      }
    }
  }
  ctx.exchange_words(std::span<const W>(snd, nb * lv.nvars), std::span<W>(rcv, nb * lv.nvars));
  for (std::size_t b = 0; b < nb; ++b) {
    const W* tf = TF + b * pl.tree_fam + lv.fam_off;
    W newG[maxn], newP[maxn];
    for (unsigned c = 0; c < lv.nout; ++c) {
      const mc::Combine& cb = lv.comb[c];
      if (cb.count == 1) {
        newG[c] = nodeG[b * maxn + cb.first];
        newP[c] = nodeP[b * maxn + cb.first];
      } else {
        combine<Ring, P>(lv, cb, tf, snd, rcv, b, newG[c], newP[c]);
      }
    }
    for (unsigned c = 0; c < lv.nout; ++c) {
      nodeG[b * maxn + c] = newG[c];
      nodeP[b * maxn + c] = newP[c];
    }
  }
}

template <unsigned Bits>
template <class Ring, class P>
void MaskedCompare<Bits>::combine(const material::cmp::Level& lv, const material::cmp::Combine& cb, const typename Ring::word_type* tf,
                                  const typename Ring::word_type* snd, const typename Ring::word_type* rcv, std::size_t b,
                                  typename Ring::word_type& G, typename Ring::word_type& Pv) {
  using W = typename Ring::word_type;
  namespace mc = material::cmp;
  constexpr W one = P::id == 0 ? static_cast<W>(~W(0)) : W(0);  // the public constant 1 (xor-shared)
  const mc::Pattern& pt = mc::pattern(cb.count, cb.need_p);
  W d[8] = {};
  for (unsigned vi = 0; vi < pt.nvars; ++vi) {
    const std::size_t at = b * lv.nvars + cb.var_off + vi;
    d[pt.vars[vi]] = static_cast<W>(snd[at] ^ rcv[at]);
  }
  const W* A = tf + cb.fam_off;
  auto term = [&](unsigned M) -> W {
    W acc = 0;
    for (unsigned T = M;; T = (T - 1) & M) {
      W coef = static_cast<W>(~W(0));
      for (unsigned rest = M & ~T; rest; rest &= rest - 1) coef &= d[std::countr_zero(rest)];
      acc ^= coef & (T ? A[pt.index[T]] : one);
      if (T == 0) break;
    }
    return acc;
  };
  W Gv = 0;
  for (unsigned j = 0; j < pt.nmono; ++j) Gv ^= term(pt.g_mono[j]);
  G = Gv;
  Pv = cb.need_p ? term(pt.p_mono) : W(0);
}

template <unsigned Bits>
template <class Ring, class P, class Ctx, class Extra>
void MaskedCompare<Bits>::final_one(const Parts<typename Ring::word_type>& m, const typename Ring::word_type* cpl,
                                    const typename Ring::word_type* nodeG, std::size_t n, typename Ring::word_type* out, Ctx& ctx,
                                    Extra& extra) {
  using W = typename Ring::word_type;
  constexpr unsigned w = Ring::bits;
  constexpr unsigned L = plan<Ring>.L, np = L + 1;
  const W ione = P::id == 0 ? W(1) : W(0);
  const std::size_t nb = material::cmp::blocks(n, w), nf = detail::final_ride_along_size<W>(extra);
  std::vector<W> snd(nb + nf), rcv(nb + nf);
  for (std::size_t b = 0; b < nb; ++b) snd[b] = static_cast<W>(nodeG[b * node_slots] ^ m.FX[b]);
  if constexpr (detail::final_ride_along<Extra, W>) extra.final_fill(snd.data() + nb);
  ctx.exchange_words(std::span<const W>(snd), std::span<W>(rcv));
  if constexpr (detail::final_ride_along<Extra, W>) extra.final_take(rcv.data() + nb);
  for (std::size_t b = 0; b < nb; ++b) {
    const W pub = static_cast<W>(cpl[b * np + L] ^ snd[b] ^ rcv[b]);
    const std::size_t e0 = b * w, ne = std::min<std::size_t>(w, n - e0);
    if constexpr (detail::ride_along_public_bits<Extra>()) {
      for (std::size_t i = 0; i < ne; ++i) out[e0 + i] = static_cast<W>((pub >> i) & 1);
    } else {
      for (std::size_t i = 0; i < ne; ++i) {
        const W s = m.AR[e0 + i];
        out[e0 + i] = ((pub >> i) & 1) ? static_cast<W>(ione - s) : s;
      }
    }
  }
}

template <unsigned Bits>
template <class Ring, class P, class Ctx>
void MaskedCompare<Bits>::final_three(const Parts<typename Ring::word_type>& m, const typename Ring::word_type* cpl,
                                      const typename Ring::word_type* nodeG, const typename Ring::word_type* nodeP, std::size_t n,
                                      typename Ring::word_type* out, Ctx& ctx) {
  using W = typename Ring::word_type;
  namespace mc = material::cmp;
  constexpr unsigned w = Ring::bits;
  constexpr unsigned L = plan<Ring>.L, np = L + 1;
  const W ione = P::id == 0 ? W(1) : W(0);
  const W* AR = m.AR;
  const std::size_t nb = mc::blocks(n, w);
  static constexpr auto final_w = [] {
    std::array<std::array<W, 8>, 16> t{};
    for (unsigned p = 0; p < 16; ++p)
      for (unsigned k = 0; k < 8; ++k) t[p][k] = static_cast<W>(mc::final_table[p][k]);
    return t;
  }();
  std::vector<W> snd(nb * 3), rcv(nb * 3);
  for (std::size_t b = 0; b < nb; ++b) {
    const W* fx = m.FX + b * 4;
    const W* G = nodeG + b * node_slots;
    const W* Pn = nodeP + b * node_slots;
    snd[b * 3 + 0] = static_cast<W>(G[1] ^ fx[0] ^ fx[1]);  // Z = G1 ^ bit_L(r), masked
    snd[b * 3 + 1] = static_cast<W>(Pn[1] ^ fx[2]);
    snd[b * 3 + 2] = static_cast<W>(G[0] ^ fx[3]);
  }
  ctx.exchange_words(std::span<const W>(snd), std::span<W>(rcv));
  for (std::size_t b = 0; b < nb; ++b) {
    const W ch = cpl[b * np + L];
    const W dz = static_cast<W>(snd[b * 3] ^ rcv[b * 3]);
    const W dp = static_cast<W>(snd[b * 3 + 1] ^ rcv[b * 3 + 1]);
    const W dg = static_cast<W>(snd[b * 3 + 2] ^ rcv[b * 3 + 2]);
    const std::size_t e0 = b * w, ne = std::min<std::size_t>(w, n - e0);
    if (ne == w) {  // a full block: fixed trip counts, so that the loops vectorise
      alignas(64) W v[w];
      alignas(64) std::uint32_t pubs[w];
      for (unsigned i = 0; i < w; ++i)
        pubs[i] = static_cast<std::uint32_t>(((ch >> i) & 1) | (((dz >> i) & 1) << 1) | (((dp >> i) & 1) << 2) | (((dg >> i) & 1) << 3));
      const W* a = AR + e0 * 7;
      for (unsigned i = 0; i < w; ++i) {
        const auto& cf = final_w[pubs[i]];
        W acc = static_cast<W>(ione * cf[0]);
        for (unsigned tm = 1; tm < 8; ++tm) acc = static_cast<W>(acc + cf[tm] * a[i * 7 + tm - 1]);
        v[i] = acc;
      }
      std::copy(v, v + w, out + e0);
      continue;
    }
    for (std::size_t i = 0; i < ne; ++i) {
      const unsigned pub = static_cast<unsigned>(((ch >> i) & 1) | (((dz >> i) & 1) << 1) | (((dp >> i) & 1) << 2) |
                                                 (((dg >> i) & 1) << 3));
      const auto& cf = mc::final_table[pub];
      const W* a = AR + (e0 + i) * 7;
      W v = static_cast<W>(ione * static_cast<W>(cf[0]));
      for (unsigned tm = 1; tm < 8; ++tm) v = static_cast<W>(v + static_cast<W>(cf[tm]) * a[tm - 1]);
      out[e0 + i] = v;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// CrypTenCompare

template <class Ring, class P, class Ctx>
void CrypTenCompare::sign_bits(const typename Ring::word_type* x, std::size_t n, typename Ring::word_type* out, Ctx& ctx) {
  using W = typename Ring::word_type;
  constexpr unsigned w = Ring::bits;
  constexpr unsigned A = ands<Ring>;
  constexpr unsigned lg = detail::cmpx::ceil_log2(w);
  if (n == 0) return;
  if constexpr (P::is_solo) {
    for (std::size_t e = 0; e < n; ++e) out[e] = static_cast<W>(x[e] >> (w - 1));
    ctx.count_round(2 * n * sizeof(W), 2 * n * sizeof(W));
    for (unsigned i = 0; i < lg; ++i) {
      const std::uint64_t k = (i + 1 < lg ? 4 : 2) * n * sizeof(W);
      ctx.count_round(k, k);
    }
    ctx.count_round(n * sizeof(W), n * sizeof(W));
    return;
  } else {
    constexpr bool p0 = P::id == 0;
    auto m = ctx.template material<material::CrypTenCompareMaterial, W>(material::Params{}.shape({n}).value(w));
    const W* T = m[1].data();
    const W* S = m[2].data();
    constexpr std::size_t stride = 3 * A + 1;
    // z = x & y on xor shares with the dealer triple (u, v, u & v) at tr; e, f the opened masks.
    auto and_out = [](W e, W f, const W* tr) -> W {
      W z = static_cast<W>((e & tr[1]) ^ (f & tr[0]) ^ tr[2]);
      if constexpr (p0) z ^= static_cast<W>(e & f);
      return z;
    };
    std::vector<W> g(n), p(n), snd(4 * n), rcv(4 * n);
    // A2B: party i's share as a boolean-shared word (the other party holds 0); generate g = a & b.
    for (std::size_t e = 0; e < n; ++e) {
      const W* tr = T + e * stride;
      const W a = p0 ? x[e] : W(0), b = p0 ? W(0) : x[e];
      p[e] = static_cast<W>(a ^ b);
      out[e] = static_cast<W>(p[e] >> (w - 1));  // scratch: the sign bit of a xor b
      snd[2 * e] = static_cast<W>(a ^ tr[0]);
      snd[2 * e + 1] = static_cast<W>(b ^ tr[1]);
    }
    ctx.exchange_words(std::span<const W>(snd.data(), 2 * n), std::span<W>(rcv.data(), 2 * n));
    for (std::size_t e = 0; e < n; ++e)
      g[e] = and_out(static_cast<W>(snd[2 * e] ^ rcv[2 * e]), static_cast<W>(snd[2 * e + 1] ^ rcv[2 * e + 1]), T + e * stride);
    // Kogge-Stone: after the level with distance d, G_i is the carry out of bits [i - 2d + 1, i].
    for (unsigned lvl = 0; lvl < lg; ++lvl) {
      const unsigned d = 1u << lvl;
      const bool last = lvl + 1 == lg;
      const std::size_t k = last ? 2 : 4;  // words opened per element
      const unsigned t0 = 1 + 2 * lvl;     // index of this level's first AND
      for (std::size_t e = 0; e < n; ++e) {
        const W* tr = T + e * stride + 3 * t0;
        W* o = snd.data() + e * k;
        o[0] = static_cast<W>(p[e] ^ tr[0]);
        o[1] = static_cast<W>(static_cast<W>(g[e] << d) ^ tr[1]);
        if (!last) {
          o[2] = static_cast<W>(p[e] ^ tr[3]);
          o[3] = static_cast<W>(static_cast<W>(p[e] << d) ^ tr[4]);
        }
      }
      ctx.exchange_words(std::span<const W>(snd.data(), k * n), std::span<W>(rcv.data(), k * n));
      for (std::size_t e = 0; e < n; ++e) {
        const W* tr = T + e * stride + 3 * t0;
        const W* o = snd.data() + e * k;
        const W* q = rcv.data() + e * k;
        g[e] ^= and_out(static_cast<W>(o[0] ^ q[0]), static_cast<W>(o[1] ^ q[1]), tr);
        if (!last) p[e] = and_out(static_cast<W>(o[2] ^ q[2]), static_cast<W>(o[3] ^ q[3]), tr + 3);
      }
    }
    // Sign bit (xor-shared, in bit 0), then B2A with the dealer bit s.
    for (std::size_t e = 0; e < n; ++e)
      snd[e] = static_cast<W>(((out[e] ^ (g[e] >> (w - 2))) & 1) ^ T[e * stride + 3 * A]);
    ctx.exchange_words(std::span<const W>(snd.data(), n), std::span<W>(rcv.data(), n));
    const W ione = p0 ? W(1) : W(0);
    for (std::size_t e = 0; e < n; ++e) out[e] = ((snd[e] ^ rcv[e]) & 1) ? static_cast<W>(ione - S[e]) : S[e];
  }
}

// ------------------------------------------------------------------------------------------------
// Functions

/// [x < 0] as an arithmetic 0/1 share.
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> ltz(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
  using Pol = detail::compare_policy_t<Policy, Ctx>;
  auto g = ctx.scope("compare");
  C out(x.shape());
  Pol::template sign_bits<Ring, P>(x.share().data(), x.size(), out.data(), ctx);
  return Shared<Int, Ring, P, C>(std::move(out));
}

/// [x_i < 0] for several tensors in one run of the policy (its rounds once, its bytes for all).
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
std::vector<Shared<Int, Ring, P, C>> ltz_many(const std::vector<Shared<T, Ring, P, C>>& xs, Ctx& ctx) {
  using Pol = detail::compare_policy_t<Policy, Ctx>;
  using W = typename Ring::word_type;
  auto g = ctx.scope("compare");
  std::size_t total = 0;
  for (auto& x : xs) total += x.size();
  std::vector<W> flat;
  flat.reserve(total);
  for (auto& x : xs) flat.insert(flat.end(), x.share().begin(), x.share().end());
  std::vector<W> bits(total);
  Pol::template sign_bits<Ring, P>(flat.data(), total, bits.data(), ctx);
  std::vector<Shared<Int, Ring, P, C>> out;
  std::size_t at = 0;
  for (auto& x : xs) {
    C o(x.shape());
    std::copy(bits.begin() + static_cast<std::ptrdiff_t>(at), bits.begin() + static_cast<std::ptrdiff_t>(at + x.size()), o.begin());
    at += x.size();
    out.emplace_back(std::move(o));
  }
  return out;
}

/// [x < c] for a public constant c (encoded with x's encoding).
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> less_than(const Shared<T, Ring, P, C>& x, double c, Ctx& ctx) {
  return ltz<Policy>(x - c, ctx);
}
/// [x >= c].
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> greater_equal(const Shared<T, Ring, P, C>& x, double c, Ctx& ctx) {
  return 1.0 - less_than<Policy>(x, c, ctx);
}
/// [x > c].
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> greater_than(const Shared<T, Ring, P, C>& x, double c, Ctx& ctx) {
  return ltz<Policy>(c - x, ctx);
}
/// [x <= c].
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> less_equal(const Shared<T, Ring, P, C>& x, double c, Ctx& ctx) {
  return 1.0 - greater_than<Policy>(x, c, ctx);
}
/// [x < y] for two shares (the policy's range condition applies to x - y).
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> less_than(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  return ltz<Policy>(x - y, ctx);
}
/// [x >= y].
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<Int, Ring, P, C> greater_equal(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  return 1.0 - ltz<Policy>(x - y, ctx);
}

namespace detail {
/// b x for an Int 0/1 share b and a share of any encoding: exact, no truncation. 1 round.
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> mul_bit(const Shared<Int, Ring, P, C>& b, const Shared<T, Ring, P, C>& x, Ctx& ctx) {
  return mul_raw(b, x.template reinterpret<Int>(), ctx).template reinterpret<T>();
}
template <class S>
S slice_axis(const S& x, std::size_t axis, std::size_t from, std::size_t to) {
  xt::xstrided_slice_vector sv(x.dimension(), xt::all());
  sv[axis] = xt::range(from, to);
  return S(typename S::container_type(xt::strided_view(x.share(), sv)));
}
}  // namespace detail

/// ReLU(x) = x [x >= 0].
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> relu(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
  auto g = ctx.scope("relu");
  return detail::mul_bit(1.0 - ltz<Policy>(x, ctx), x, ctx);
}

/// select(b, x, y) = b ? x : y = y + b (x - y), b an Int 0/1 share.
template <class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> select(const Shared<Int, Ring, P, C>& b, const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y,
                             Ctx& ctx) {
  auto g = ctx.scope("select");
  detail::require_same_shape(x, y, "select");
  SECFORMER_ASSERT(b.shape() == x.shape(), "select with a condition of another shape");
  return y + detail::mul_bit(b, x - y, ctx);
}

/// Maximum over an axis (removed from the shape unless keep_dims) by a tournament: each level
/// compares the first half of the entries with the second half.
template <class Policy = void, class T, class Ring, class P, class C, class Ctx>
Shared<T, Ring, P, C> max(const Shared<T, Ring, P, C>& x, std::size_t axis, Ctx& ctx, bool keep_dims = false) {
  using S = Shared<T, Ring, P, C>;
  SECFORMER_ASSERT(axis < x.dimension(), "max over an axis the tensor does not have");
  SECFORMER_ASSERT(x.shape()[axis] > 0, "max over an empty axis");
  auto g = ctx.scope("max");
  S cur = x;
  while (cur.shape()[axis] > 1) {
    const std::size_t k = cur.shape()[axis], h = k / 2;
    S a = detail::slice_axis(cur, axis, 0, h), b = detail::slice_axis(cur, axis, h, 2 * h);
    S diff = b - a;
    auto bit = ltz<Policy>(a - b, ctx);  // [a < b]
    S m = a + detail::mul_bit(bit, diff, ctx);
    if (k % 2) m = concatenate(std::vector<S>{m, detail::slice_axis(cur, axis, 2 * h, k)}, axis);
    cur = std::move(m);
  }
  if (keep_dims) return cur;
  std::vector<std::size_t> shape;
  for (std::size_t d = 0; d < x.dimension(); ++d)
    if (d != axis) shape.push_back(x.shape()[d]);
  return cur.reshape(shape);
}

}  // namespace secformer
