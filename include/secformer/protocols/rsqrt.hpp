// secformer/protocols/rsqrt.hpp: inverse square root and square root of shares.
//   GoldschmidtRsqrt<BracketStart<Steps, MinLog2, MaxLog2>>  Pi_rSqrt from a dealer-assisted start
//                          (one minimax step; the default, meant for one value per row: LayerNorm)
//   GoldschmidtRsqrt<EtaStart<LogEta>, T>  the paper's Pi_rSqrt as written (y_0 = 1, q_0 = x / eta)
//   NewtonRsqrt<Iters, Exp>                CrypTen's inv_sqrt (exp start, Newton; PUMA's LayerNorm)
//   CrypTenSqrt = BasicCrypTenSqrt<>       sqrt(x) = x rsqrt(x)
//   rsqrt<Policy = GoldschmidtRsqrt<>>(x, ctx), sqrt<Policy = CrypTenSqrt>(x, ctx)
// Each policy: online_rounds, approx(double) (the same approximation in double precision).
// The bracket (its rounds, tables and tolerance), convergence ranges, errors:
// docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/layernorm_material.hpp"
#include "../dealer/matmul_material.hpp"
#include "exp.hpp"
#include "mul.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail::rsq {

using W = std::uint64_t;
using SW = std::int64_t;

/// Fractional bits of y inside the bracket path (before the final rounding to the encoding).
inline constexpr unsigned fy = 20;

/// Local (SecureML) truncation of one share word by s bits: trunc.hpp's local_shift in Z2k<64>.
template <class P>
inline constexpr auto tr = local_shift<Z2k<64>, P>;

/// Minimax factor m(q) = a0 + a1 q + a2 q^2 for 1/sqrt(q) on [2^(-1/(2s)) (1 - 2^-8), 2^(1/(2s)) (1 + 2^-8)]
/// (relative error bound `err`, computed by Remez exchange).
struct Quad {
  double a0, a1, a2, err;
};
constexpr Quad quad_for(int steps) {
  switch (steps) {
    case 1: return {1.8786046763080193, -1.2280953915270245, 0.35075097762548718, 3.295e-3};
    case 2: return {1.8759275433131564, -1.2444726377453905, 0.36863055978024273, 4.324e-4};
    case 3: return {1.8754251716075956, -1.2475022808924003, 0.37209486010318371, 1.328e-4};
    case 4: return {1.875247413744364, -1.2485714573781557, 0.37332991764537365, 5.792e-5};
    case 6: return {1.8751185805947681, -1.2493454649264357, 0.37422814669411453, 1.831e-5};
    case 8: return {1.8750725028582209, -1.2496221085189458, 0.37455003853404889, 8.227e-6};
    default: return {0, 0, 0, 1};
  }
}
constexpr bool steps_supported(int s) { return s == 1 || s == 2 || s == 3 || s == 4 || s == 6 || s == 8; }

/// An integer multiplier m = round(v 2^(base + t)) with the smallest t >= 0 that gives |m| >= 2^19.
struct Fit {
  SW m;
  unsigned t;
};
inline Fit fit(double v, int base) {
  unsigned t = 0;
  while (std::fabs(std::ldexp(v, base + static_cast<int>(t))) < 524288.0 && t < 60) ++t;
  return {static_cast<SW>(std::llround(std::ldexp(v, base + static_cast<int>(t)))), t};
}

/// The public plan of a bracket and its quadratic step. The bracketed real value is z; the
/// documented range is z in unit [2^lo, 2^hi]; thresholds at unit 2^(k/steps). V = z 2^v_frac is
/// what is opened (masked), X = z 2^x_frac what the products use; y ~ out_scale / sqrt(z).
struct Plan {
  struct Bucket {
    double g = 0, chat = 0, w = 0;  ///< centre, out_scale / sqrt(g), 1 / g
    unsigned sq = 0, tq = 0, tb = 0, tu = 0;
    W mq = 0, ya = 0, mb = 0, mu = 0;
  };
  int steps = 4, klo = 0, khi = 0;
  double unit = 1, out_scale = 1, zlo = 0, zhi = 0;
  unsigned v_frac = 0, x_frac = 0;
  Quad quad{};
  std::vector<W> t;        ///< thresholds on V + 2^62 (ascending)
  std::vector<double> tz;  ///< the same thresholds as real values z
  std::vector<Bucket> b;   ///< J + 1 buckets

  std::size_t thresholds() const noexcept { return t.size(); }
  std::size_t buckets() const noexcept { return b.size(); }

  /// The approximation in double precision (exact thresholds, unrounded constants).
  double approx(double z) const {
    const std::size_t j = static_cast<std::size_t>(std::upper_bound(tz.begin(), tz.end(), z) - tz.begin());
    const Bucket& k = b[j];
    const double q = z * k.w;
    return k.chat * (quad.a0 + q * (quad.a1 + q * quad.a2));
  }
};

/// Largest left shift s such that unit 2^((khi + 1)/steps) 2^(frac + s) stays below 2^60.
inline int max_shift(double ztop, unsigned frac) {
  return static_cast<int>(std::floor(60.0 - std::log2(ztop) - frac));
}

inline Plan make_plan(int steps, int lo_log2, int hi_log2, double unit, unsigned v_frac, unsigned x_frac, double out_scale) {
  SECFORMER_ASSERT(steps_supported(steps), "rsqrt bracket: Steps must be 1, 2, 3, 4, 6 or 8");
  SECFORMER_ASSERT(lo_log2 < hi_log2 && unit > 0 && out_scale > 0, "rsqrt bracket: empty range");
  Plan pl;
  pl.steps = steps;
  pl.klo = lo_log2 * steps;
  pl.khi = hi_log2 * steps;
  pl.unit = unit;
  pl.out_scale = out_scale;
  pl.zlo = std::ldexp(unit, lo_log2);
  pl.zhi = std::ldexp(unit, hi_log2);
  pl.v_frac = v_frac;
  pl.x_frac = x_frac;
  pl.quad = quad_for(steps);
  const double s = steps;
  const double ztop = unit * std::exp2((pl.khi + 1) / s);
  SECFORMER_ASSERT(std::log2(ztop) + v_frac < 60.5, "rsqrt bracket: the range does not fit the ring");
  // The comparisons ignore the low 24 bits of the mask: at most 2^24 ring units of V must be a
  // small part (2^-9) of the lowest threshold.
  SECFORMER_ASSERT(std::log2(pl.zlo) + v_frac >= material::bracket::dropped_bits + 9.0,
                   "rsqrt bracket: too few fractional bits for the lower end of the range (rows too short?)");
  SECFORMER_ASSERT(std::log2(ztop) + x_frac < 43.0, "rsqrt bracket: products would exceed 2^43");
  for (int k = pl.klo; k <= pl.khi; ++k) {
    const double z = unit * std::exp2(k / s);
    pl.tz.push_back(z);
    pl.t.push_back(static_cast<W>(std::llround(std::ldexp(z, static_cast<int>(v_frac)))) + (W(1) << 62));
  }
  const auto& qd = pl.quad;
  const std::size_t nb = pl.t.size() + 1;
  for (std::size_t i = 0; i < nb; ++i) {
    Plan::Bucket k;
    const int kk = pl.klo + static_cast<int>(i);  // bucket i is [2^((kk - 1)/s), 2^(kk/s)) unit
    k.g = unit * std::exp2((kk - 0.5) / s);
    k.chat = out_scale / std::sqrt(k.g);
    k.w = 1.0 / k.g;
    const double xtop = std::ldexp(unit * std::exp2(kk / s) * 1.01, static_cast<int>(x_frac));
    k.sq = static_cast<unsigned>(std::max(0, static_cast<int>(std::ceil(std::log2(xtop))) - 21));
    const Fit fq = fit(k.w, 16 - static_cast<int>(x_frac) + static_cast<int>(k.sq));
    k.mq = static_cast<W>(fq.m);
    k.tq = fq.t;
    k.ya = static_cast<W>(std::llround(std::ldexp(qd.a0 * k.chat, static_cast<int>(fy))));
    const Fit fb = fit(qd.a1 * k.chat, static_cast<int>(fy) - 16);
    k.mb = static_cast<W>(fb.m);
    k.tb = fb.t;
    const Fit fu = fit(std::sqrt(qd.a2 * k.chat), 0);
    k.mu = static_cast<W>(fu.m);
    k.tu = fu.t;
    const double lim = std::ldexp(1.0, 44);
    SECFORMER_ASSERT(std::ldexp(xtop, -static_cast<int>(k.sq)) * std::fabs(static_cast<double>(fq.m)) < lim &&
                         std::ldexp(1.2, 16) * std::fabs(static_cast<double>(fb.m)) < lim &&
                         std::ldexp(1.2, 16) * std::fabs(static_cast<double>(fu.m)) < lim &&
                         qd.a2 * k.chat * 1.5 * std::ldexp(1.0, 32) < lim,
                     "rsqrt bracket: constants out of range (out_scale too large?)");
    pl.b.push_back(k);
  }
  return pl;
}

/// x (rows x cols, ring words) times r (rows x limbs), broadcast along the columns: calls
/// fn(i, z) for every element i = row * cols + col with z[l] the raw product x_i r_{row, l} (l <
/// limbs <= 4). A batched matrix triple (rows, cols, 1, limbs): 1 round, rows (cols + limbs) words
/// each way; dealer rows cols limbs words.
template <class P, class Ctx, class Fn>
void mul_rows_each(const W* x, std::size_t rows, std::size_t cols, const W* r, std::size_t limbs, Ctx& ctx, Fn&& fn) {
  SECFORMER_ASSERT(limbs >= 1 && limbs <= 4, "row product with 1..4 factors per row");
  auto m = ctx.template material<material::MatTriple, W>(material::Params{}.value(rows).value(cols).value(1).value(limbs));
  const W* a = m[0].data();
  const W* b = m[1].data();
  const W* c = m[2].data();
  const std::size_t nx = rows * cols, nr = rows * limbs;
  xt::xarray<W> mine(std::vector<std::size_t>{nx + nr}), theirs(std::vector<std::size_t>{nx + nr});
  W* mp = mine.data();
  for (std::size_t i = 0; i < nx; ++i) mp[i] = x[i] - a[i];
  for (std::size_t i = 0; i < nr; ++i) mp[nx + i] = r[i] - b[i];
  ctx.exchange_words(std::span<const W>(mp, nx + nr), std::span<W>(theirs.data(), nx + nr));
  const W* tp = theirs.data();
  for (std::size_t i = 0; i < nx + nr; ++i) mp[i] += tp[i];
  const W* f = mp + nx;
  W fb[4], z[4];
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t l = 0; l < limbs; ++l) {
      fb[l] = b[i * limbs + l];
      if constexpr (P::id == 0) fb[l] += f[i * limbs + l];
    }
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t k = i * cols + j;
      const W ev = mp[k], av = a[k];
      for (std::size_t l = 0; l < limbs; ++l) z[l] = ev * fb[l] + av * f[i * limbs + l] + c[k * limbs + l];
      fn(k, static_cast<const W*>(z));
    }
  }
}

struct BracketResult {
  xt::xarray<W> onehot;  ///< {m, J + 1}: Int shares of the bucket indicators o_j
  xt::xarray<W> prod;    ///< {m, J + 1}: o_j X (raw, exact)
};

/// Round 1 of the bracket: opens c = V + 2^62 + r (r the dealer's mask).
template <class P, class Ctx>
std::vector<W> bracket_open(const W* v, const W* r, std::size_t m, Ctx& ctx) {
  std::vector<W> c(m), theirs(m);
  for (std::size_t e = 0; e < m; ++e) {
    c[e] = v[e] + r[e];
    if constexpr (P::id == 0) c[e] += W(1) << 62;
  }
  ctx.exchange_words(std::span<const W>(c), std::span<W>(theirs));
  for (std::size_t e = 0; e < m; ++e) c[e] += theirs[e];
  return c;
}

/// X of the bracket: given (x), or V >> f exactly (up to -1) from the opening c as in trunc::Dealer.
template <class P>
std::vector<W> bracket_x(const std::vector<W>& c, const W* x, const material::RsqrtBracketMaterial::View<W>& mv, std::size_t m,
                         unsigned f) {
  std::vector<W> xv(m);
  if (x) {
    std::copy(x, x + m, xv.begin());
    return xv;
  }
  const W* hi = mv.r_high();
  const W* msb = mv.r_msb();
  const W low = (W(1) << 63) - 1;
  const W h = W(1) << (63 - f), off = W(1) << (62 - f);
  for (std::size_t e = 0; e < m; ++e) {
    const W cm = c[e] >> 63;
    W val = h * (msb[e] * (W(1) - W(2) * cm)) - hi[e];
    if constexpr (P::id == 0) val += h * cm + ((c[e] & low) >> f) - off;
    xv[e] = val;
  }
  return xv;
}

/// Packs element e's masked comparison variables (7 bits per point, L points point(l)) into msg,
/// from the dealer's chunk tables tab of that element (prefix: scratch of chunks (table_words + 1)).
template <class Point>
void bracket_pack_vars(W* msg, const W* tab, W* prefix, std::size_t e, std::size_t L, Point&& point) {
  namespace bk = material::bracket;
  for (unsigned ch = 0; ch < bk::chunks; ++ch) {
    const W* tb = tab + (e * bk::chunks + ch) * bk::table_words;
    W* pf = prefix + ch * (bk::table_words + 1);
    pf[0] = 0;
    for (unsigned w = 0; w < bk::table_words; ++w) pf[w + 1] = pf[w] ^ tb[w];
  }
  for (std::size_t l = 0; l < L; ++l) {
    const W p = point(e, l);
    unsigned bits = 0;
    for (unsigned ch = 0; ch < bk::chunks; ++ch) {
      const unsigned u = bk::chunk(p, ch);
      const W* tb = tab + (e * bk::chunks + ch) * bk::table_words;
      const W* pf = prefix + ch * (bk::table_words + 1);
      const W word = tb[u / 64];
      const unsigned eq = static_cast<unsigned>((word >> (u % 64)) & 1u);
      const W below = pf[u / 64] ^ (word & ((W(1) << (u % 64)) - 1));
      const unsigned lt = static_cast<unsigned>(std::popcount(below) & 1);
      // variable 2 (chunks - 1 - ch) is L_ch, the next one E_ch (E_0 is not needed)
      const unsigned li = 2 * (bk::chunks - 1 - ch);
      bits |= lt << li;
      if (ch > 0) bits |= eq << (li + 1);
    }
    const std::size_t base = (e * L + l) * bk::vars;
    for (unsigned k = 0; k < bk::vars; ++k) msg[(base + k) / 64] |= static_cast<W>((bits >> k) & 1u) << ((base + k) % 64);
  }
}

/// Arithmetic shares of LT~ and of LT~ s at one point (the same coefficients on two sets of dealer
/// products pr, prs; the public term multiplies [s]) from its opened variables ev.
struct LtPair {
  W lt, lts;
};
template <class P>
LtPair lt_share(unsigned ev, const W* pr, const W* prs, W s_share) {
  namespace bk = material::bracket;
  W acc = 0, accs = 0, pub = 0;
  for (unsigned mono : bk::monomials) {
    for (unsigned t = mono;; t = (t - 1) & mono) {
      const unsigned rest = mono & ~t;
      if ((ev & rest) == rest) {
        if (t == 0) {
          pub += 1;
        } else {
          const int j = bk::subsets.index[t];
          const bool neg = std::popcount(t & ev) & 1;
          acc += neg ? W(0) - pr[j] : pr[j];
          accs += neg ? W(0) - prs[j] : prs[j];
        }
      }
      if (t == 0) break;
    }
  }
  if constexpr (P::id == 0) acc += pub;
  accs += pub * s_share;
  return {acc, accs};
}

/// Element e's one-hot bucket o (J + 1 words) and o X (os) from the opened variables msg (nw words
/// of bits, then X - s per element), c and the dealer's products (B, Bs: scratch of J words).
template <class P, class Point>
void bracket_onehot(std::size_t e, const W* msg, std::size_t nw, const std::vector<W>& c, const W* sx, const W* prods,
                    const W* prods_s, std::size_t J, Point&& point, W* B, W* Bs, W* o, W* os) {
  namespace bk = material::bracket;
  const std::size_t L = J + 1;
  auto ebits = [&](std::size_t l) {
    unsigned ev = 0;
    const std::size_t base = (e * L + l) * bk::vars;
    for (unsigned k = 0; k < bk::vars; ++k) ev |= static_cast<unsigned>((msg[(base + k) / 64] >> ((base + k) % 64)) & 1u) << k;
    return ev;
  };
  auto at = [&](std::size_t l) { return lt_share<P>(ebits(l), prods + (e * L + l) * bk::products, prods_s + (e * L + l) * bk::products, sx[e]); };
  LtPair ltb = at(J);
  if (c[e] == ~W(0)) ltb = {(P::id == 0) ? W(1) : W(0), sx[e]};  // b = 2^64: LT = 1
  for (std::size_t k = 0; k < J; ++k) {
    const LtPair la = at(k);
    const bool wrap = point(e, k) > c[e];  // [V + 2^62 < t_k] = LT(c + 1) - LT(a_k) + wrap
    B[k] = ltb.lt - la.lt;
    Bs[k] = ltb.lts - la.lts + (wrap ? sx[e] : W(0));
    if constexpr (P::id == 0) B[k] += wrap ? 1 : 0;
  }
  // o_j and o_j s; then o_j X = o_j (X - s) + o_j s.
  o[0] = B[0];
  os[0] = Bs[0];
  for (std::size_t k = 1; k < J; ++k) {
    o[k] = B[k] - B[k - 1];
    os[k] = Bs[k] - Bs[k - 1];
  }
  o[J] = W(0) - B[J - 1];
  os[J] = sx[e] - Bs[J - 1];
  if constexpr (P::id == 0) o[J] += 1;
  const W ex = msg[nw + e];
  for (std::size_t j = 0; j < L; ++j) os[j] += o[j] * ex;
}

/// The bracket of m values V (shares of nonnegative ring words below 2^61) and the products of its
/// one-hot result with X (given, or when x is null V >> f from the opening itself). 2 rounds.
template <class P, class Ctx>
BracketResult bracket(const W* v, const W* x, std::size_t m, const Plan& pl, unsigned f, Ctx& ctx) {
  namespace bk = material::bracket;
  const std::size_t J = pl.thresholds(), L = J + 1, nb = J + 1;
  SECFORMER_ASSERT((x == nullptr) == (f > 0), "rsqrt bracket: X is either given or truncated from V");
  auto mat = ctx.template material<material::RsqrtBracketMaterial, W>(material::Params{}.shape({m}).value(L).value(f));
  const material::RsqrtBracketMaterial::View<W> mv{mat};
  const W* sx = mv.s();
  // Round 1: open c = V + 2^62 + r; X given or truncated from V.
  const std::vector<W> c = bracket_open<P>(v, mv.r(), m, ctx);
  const std::vector<W> xv = bracket_x<P>(c, x, mv, m, f);
  // Round 2: the masked variables of every comparison (7 bits each), and X - s.
  const std::size_t nbits = m * L * bk::vars, nw = (nbits + 63) / 64;
  std::vector<W> msg(nw + m, 0), peer(nw + m);
  auto point = [&](std::size_t e, std::size_t l) -> W { return l < J ? c[e] - pl.t[l] + 1 : c[e] + 1; };
  std::vector<W> prefix(bk::chunks * (bk::table_words + 1));
  for (std::size_t e = 0; e < m; ++e) {
    bracket_pack_vars(msg.data(), mv.tables(), prefix.data(), e, L, point);
    msg[nw + e] = xv[e] - sx[e];
  }
  const W* rho = mv.rho();  // this party's xor share of the packed mask bits
  for (std::size_t i = 0; i < nw; ++i) msg[i] ^= rho[i];
  ctx.exchange_words(std::span<const W>(msg), std::span<W>(peer));
  for (std::size_t i = 0; i < nw; ++i) msg[i] ^= peer[i];
  for (std::size_t e = 0; e < m; ++e) msg[nw + e] += peer[nw + e];
  // The one-hot buckets and their products with X, element by element.
  BracketResult out;
  out.onehot = xt::xarray<W>(std::vector<std::size_t>{m, nb});
  out.prod = xt::xarray<W>(std::vector<std::size_t>{m, nb});
  std::vector<W> B(J), Bs(J);
  for (std::size_t e = 0; e < m; ++e)
    bracket_onehot<P>(e, msg.data(), nw, c, sx, mv.products(), mv.products_s(), J, point, B.data(), Bs.data(),
                      out.onehot.data() + e * nb, out.prod.data() + e * nb);
  return out;
}

/// The bracket and the quadratic step: y = out_scale / sqrt(z) at fy fractional bits, for m values
/// given as V (ring words at v_frac) and X (at x_frac; null: taken from the bracket's opening).
/// 3 rounds.
template <class P, class Ctx>
xt::xarray<W> bracket_rsqrt_words(const xt::xarray<W>& v, const xt::xarray<W>* x, const Plan& pl, Ctx& ctx) {
  const std::size_t m = v.size(), nb = pl.buckets();
  const unsigned f = x ? 0u : pl.v_frac - pl.x_frac;
  SECFORMER_ASSERT(x || f > 0, "rsqrt bracket: X must be given when it is not truncated from V");
  const BracketResult br = bracket<P>(v.data(), x ? x->data() : nullptr, m, pl, f, ctx);
  xt::xarray<W> y(std::vector<std::size_t>{m}), u(std::vector<std::size_t>{m});
  for (std::size_t e = 0; e < m; ++e) {
    W acc = 0, uacc = 0;
    for (std::size_t j = 0; j < nb; ++j) {
      const auto& k = pl.b[j];
      const W oj = br.onehot.data()[e * nb + j];
      const W q = tr<P>(tr<P>(br.prod.data()[e * nb + j], k.sq) * k.mq, k.tq);  // o_j X / g_j at 16 bits
      acc += oj * k.ya + tr<P>(q * k.mb, k.tb);
      uacc += tr<P>(q * k.mu, k.tu);
    }
    y.data()[e] = acc;
    u.data()[e] = uacc;
  }
  // Round 3: u^2.
  using I = Shared<Int, Z2k<64>, P>;
  const I u2 = square_raw(I(std::move(u)), ctx);
  for (std::size_t e = 0; e < m; ++e) y.data()[e] += tr<P>(u2.share().data()[e], 32 - fy);
  return y;
}

}  // namespace detail::rsq

// ------------------------------------------------------------------------------------------------
// Policies

/// Initial guess of Pi_rSqrt as in the paper: y_0 = 1 and q_0 = x / 2^LogEta.
template <int LogEta = 0>
struct EtaStart {
  static constexpr int log2_eta = LogEta;
};
/// Dealer-assisted bracket (docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt): Steps thresholds per octave over
/// [2^MinLog2, 2^MaxLog2].
template <int Steps = 4, int MinLog2 = -10, int MaxLog2 = 14>
struct BracketStart {
  static_assert(detail::rsq::steps_supported(Steps), "secformer: BracketStart Steps must be 1, 2, 3, 4, 6 or 8");
  static_assert(MinLog2 < MaxLog2, "secformer: BracketStart needs MinLog2 < MaxLog2");
  static constexpr int steps = Steps;
  static constexpr int min_log2 = MinLog2;
  static constexpr int max_log2 = MaxLog2;
  static constexpr std::size_t thresholds = static_cast<std::size_t>((MaxLog2 - MinLog2) * Steps + 1);
  static constexpr std::size_t buckets = thresholds + 1;
  static constexpr std::size_t points = thresholds + 1;
  static constexpr double range_min() { return MinLog2 >= 0 ? double(1ull << MinLog2) : 1.0 / double(1ull << -MinLog2); }
  static constexpr double range_max() { return MaxLog2 >= 0 ? double(1ull << MaxLog2) : 1.0 / double(1ull << -MaxLog2); }
};

template <class Start = BracketStart<>, int T = 1>
struct GoldschmidtRsqrt;

/// GoldschmidtRsqrt: 1/sqrt(x) by Pi_rSqrt from the bracket start, then one minimax Goldschmidt step
/// | paper  | SecFormer Pi_rSqrt, with a dealer-assisted start; docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt
/// | rounds | 3
/// | online | 85.25 B/element/party
/// | dealer | 18821 B/element
/// | error  | relative mean 8e-5, p99 7e-4, max 1.0e-3 over 1e-3..1e4 (tests/protocols_layernorm.cpp)
/// | range  | x in [2^MinLog2, 2^MaxLog2] = [9.8e-4, 16384] (Solo throws outside; else saturates)
/// It pays per element what SecFormerLayerNorm pays per row: meant for few values. Z2k<64> only.
template <int Steps, int MinLog2, int MaxLog2, int T>
struct GoldschmidtRsqrt<BracketStart<Steps, MinLog2, MaxLog2>, T> {
  static_assert(T == 1, "secformer: with BracketStart, Pi_rSqrt needs exactly one (minimax) step");
  using start = BracketStart<Steps, MinLog2, MaxLog2>;
  static constexpr int online_rounds = 3;
  static constexpr double range_min = start::range_min();
  static constexpr double range_max = start::range_max();
  /// Bound on the relative approximation error (before fixed-point effects).
  static constexpr double error_bound = detail::rsq::quad_for(Steps).err;

  /// Bytes one party sends for m elements (Z2k<64>).
  static constexpr std::uint64_t bytes_sent(std::uint64_t m) {
    return 8 * (m + (material::bracket::vars * m * start::points + 63) / 64 + m + m);
  }
  /// Dealer bytes to party 1 for m elements.
  static constexpr std::uint64_t dealer_bytes(std::uint64_t m) {
    return 8 * (material::bracket::mask_words(m, start::points) +
                m * (material::bracket::chunks * material::bracket::table_words + 2 * material::bracket::products * start::points) + m);
  }

  /// The plan for an input with F fractional bits (out_scale 1).
  template <unsigned F>
  static const detail::rsq::Plan& plan() {
    static const detail::rsq::Plan pl = [] {
      const double ztop = std::exp2(MaxLog2 + 1.0 / Steps);
      const int s = detail::rsq::max_shift(ztop, F);
      SECFORMER_ASSERT(s >= 0, "rsqrt: the range does not fit the ring");
      return detail::rsq::make_plan(Steps, MinLog2, MaxLog2, 1.0, F + static_cast<unsigned>(s), F, 1.0);
    }();
    return pl;
  }

  static double approx(double x) { return plan<16>().approx(x); }

  template <class E, class Ring, class P, class C, class Ctx>
  static Shared<E, Ring, P, C> eval(const Shared<E, Ring, P, C>& x, Ctx& ctx) {
    static_assert(Ring::bits == 64, "secformer: the bracket rsqrt needs Z2k<64>: it works on 62-bit values, and a 32-bit ring "
                  "holds neither its input range nor the products of that dynamic range");
    constexpr unsigned F = E::frac_bits;
    static_assert(F >= 8 && F <= detail::rsq::fy, "secformer: the bracket rsqrt needs 8..20 fractional bits");
    using W = detail::rsq::W;
    auto g = ctx.scope("rsqrt");
    detail::solo_check_range(x, range_min, range_max, "GoldschmidtRsqrt");
    const auto& pl = plan<F>();
    const std::size_t m = x.size();
    xt::xarray<W> xw(std::vector<std::size_t>{m});
    std::copy(x.share().begin(), x.share().end(), xw.begin());
    xt::xarray<W> v = xw * (W(1) << (pl.v_frac - F));
    xt::xarray<W> y = detail::rsq::bracket_rsqrt_words<P>(v, &xw, pl, ctx);
    C out(x.shape());
    for (std::size_t e = 0; e < m; ++e) out.data()[e] = detail::rsq::tr<P>(y.data()[e], detail::rsq::fy - F);
    return Shared<E, Ring, P, C>(std::move(out));
  }
};

/// GoldschmidtRsqrt<EtaStart<0>, 7>: Pi_rSqrt as written: q_0 = x / eta, y_0 = 1, T = 7 iterations
/// | paper  | SecFormer Pi_rSqrt (the reference code's eta = 1, T = 7); docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt
/// | rounds | 13
/// | online | 280 B/element/party
/// | dealer | 144 B/element (bench_protocols, 100 x 100)
/// | error  | max 2.4e-4, p99 8.3e-5 vs exact 1/sqrt(x) on [0.1, 2.5] (bench_protocols, 100 x 100)
/// | range  | x / eta in [qmin(T), 2.5] = [0.025, 2.5] for T = 7 (the error reaches 1e-3 at qmin)
/// EtaStart<LogEta>: public deflation eta = 2^LogEta; 2T - 1 rounds, 6T - 7 words per element; any
/// ring and encoding (trunc::Dealer: rounds_for<E>).
template <int LogEta, int T>
struct GoldschmidtRsqrt<EtaStart<LogEta>, T> {
  static_assert(T >= 1 && T <= 40, "secformer: GoldschmidtRsqrt needs 1..40 iterations");
  static_assert(LogEta > -30 && LogEta < 30, "secformer: GoldschmidtRsqrt eta out of range");
  static constexpr int iterations = T;
  static constexpr int online_rounds = T >= 2 ? 2 * T - 1 : 0;
  /// Online rounds for encoding E: trunc::Dealer makes every truncation a round of its own (the
  /// deflation, (3 - q)/2 in every iteration, each product, and the final 1/sqrt(eta)).
  template <class E>
  static constexpr int rounds_for =
      online_rounds + (std::is_same_v<typename E::trunc_policy, trunc::Dealer>
                           ? (LogEta > 0 ? 1 : 0) + T + (T >= 2 ? 3 * T - 3 : 0) + (LogEta > 0 || LogEta % 2 != 0 ? 1 : 0)
                           : 0);
  /// Ring words each party sends per element (trunc::Local): x^2-like products 1, others 2.
  static constexpr int words_per_element = T >= 2 ? 6 * T - 7 : 0;
  static constexpr std::uint64_t bytes_sent(std::uint64_t m) { return 8 * m * words_per_element; }
  static constexpr double eta = LogEta >= 0 ? double(1ull << LogEta) : 1.0 / double(1ull << -LogEta);

  /// The iteration in double precision.
  static double approx(double x) {
    double q = x / eta, y = 1;
    for (int i = 0; i < T; ++i) {
      const double m = (3 - q) / 2;
      q *= m * m;
      y *= m;
    }
    return y / std::sqrt(eta);
  }
  /// Smallest q_0 = x / eta with approximation error <= 1e-3 (the lower end of the range / eta).
  static double qmin() {
    static const double v = [] {
      double q = 1.0;
      while (q > 1e-9) {
        const double nq = q / 1.01;
        if (std::fabs(approx(nq * eta) * std::sqrt(nq * eta) - 1) > 1e-3) break;
        q = nq;
      }
      return q;
    }();
    return v;
  }
  static double range_min() { return qmin() * eta; }
  static double range_max() { return 2.5 * eta; }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    auto g = ctx.scope("rsqrt");
    detail::solo_check_range(x, range_min(), range_max(), "GoldschmidtRsqrt<EtaStart>");
    S q = x;
    if constexpr (LogEta > 0) q = div_pow2(x, LogEta, ctx);
    if constexpr (LogEta < 0) q = x * (typename S::word_type(1) << -LogEta);
    S y;
    for (int i = 0; i < T; ++i) {
      const S m = div_pow2(3.0 - q, 1, ctx);
      const bool last = i + 1 == T;
      if (i == 0) {
        y = m;
        if (!last) q = mul(q, square(m, ctx), ctx);
      } else if (last) {
        y = mul(y, m, ctx);
      } else {
        auto p = mul_many_raw(std::vector<std::pair<S, S>>{{y, m}, {m, m}}, ctx);
        y = truncate(p[0], ctx);
        q = mul(q, truncate(p[1], ctx), ctx);
      }
    }
    if constexpr (LogEta == 0) {
      return y;
    } else if constexpr (LogEta > 0 && LogEta % 2 == 0) {
      return div_pow2(y, LogEta / 2, ctx);
    } else if constexpr (LogEta < 0 && LogEta % 2 == 0) {
      return y * (typename S::word_type(1) << (-LogEta / 2));
    } else {
      return truncate(y * (1.0 / std::sqrt(eta)), ctx);
    }
  }
};

/// NewtonRsqrt: 1/sqrt(x) as CrypTen's inv_sqrt: y_0 = 2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024, 3 Newton steps
/// | paper  | CrypTen (Knott et al. 2021), PUMA's LayerNorm; docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt
/// | rounds | 14
/// | online | 208 B/element/party
/// | dealer | 136 B/element (bench_protocols, 100 x 100)
/// | error  | relative <= 5e-3 (approximation); max 1.6e-2 absolute on [0.1, 2.5] (bench_protocols, 100 x 100)
/// | range  | x in [0.1, 150] (Solo throws outside); Z2k<64> (Exp needs it)
/// Each step y (3 - x y^2) / 2 as (3 y - (x y) y^2) / 2: two rounds (CrypTen uses three, same bytes).
template <int Iters = 3, class Exp = CrypTenExp>
struct NewtonRsqrt {
  static_assert(Iters >= 1 && Iters <= 20, "secformer: NewtonRsqrt needs 1..20 iterations");
  using exp_policy = Exp;
  static constexpr int iterations = Iters;
  static constexpr int online_rounds = Exp::online_rounds + 2 * Iters;
  /// Ring words each party sends per element (Z2k<64>): Exp's, then 6 per iteration.
  static constexpr int words_per_element = Exp::words_per_element + 6 * Iters;
  static constexpr std::uint64_t bytes_sent(std::uint64_t m) { return 8 * m * words_per_element; }
  static constexpr double range_min = 0.1;
  static constexpr double range_max = 150.0;

  static double approx(double x) {
    double y = 2.2 * Exp::approx(-(x / 2 + 0.2)) + 0.2 - x / 1024;
    for (int i = 0; i < Iters; ++i) y = y * (3 - x * y * y) / 2;
    return y;
  }

  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    auto g = ctx.scope("rsqrt");
    detail::solo_check_range(x, range_min, range_max, "NewtonRsqrt");
    const S e = exp<Exp>((-div_pow2(x, 1, ctx)) - 0.2, ctx);
    S y = truncate(e * 2.2, ctx) + 0.2 - div_pow2(x, 10, ctx);
    for (int i = 0; i < Iters; ++i) {
      auto p = mul_many_raw(std::vector<std::pair<S, S>>{{y, y}, {x, y}}, ctx);
      const S xy3 = mul(truncate(p[1], ctx), truncate(p[0], ctx), ctx);
      y = div_pow2(y * 3 - xy3, 1, ctx);
    }
    return y;
  }
};

/// CrypTenSqrt: sqrt(x) = x inv_sqrt(x) with NewtonRsqrt<3>, as CrypTen
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt
/// | rounds | 15
/// | online | 224 B/element/party
/// | dealer | 144 B/element (NewtonRsqrt's 136 B and 8 B for the product)
/// | error  | NewtonRsqrt's relative error (<= 5e-3 on its range)
/// | range  | x in [0.1, 150] (NewtonRsqrt's)
template <class Rsqrt = NewtonRsqrt<3>>
struct BasicCrypTenSqrt {
  using rsqrt_policy = Rsqrt;
  static constexpr int online_rounds = Rsqrt::online_rounds + 1;
  static constexpr int words_per_element = Rsqrt::words_per_element + 2;
  static constexpr std::uint64_t bytes_sent(std::uint64_t m) { return 8 * m * words_per_element; }
  static constexpr double range_min = Rsqrt::range_min;
  static constexpr double range_max = Rsqrt::range_max;
  static double approx(double x) { return x * Rsqrt::approx(x); }
  template <class S, class Ctx>
  static S eval(const S& x, Ctx& ctx) {
    auto g = ctx.scope("sqrt");
    return mul(x, Rsqrt::eval(x, ctx), ctx);
  }
};
using CrypTenSqrt = BasicCrypTenSqrt<>;

/// 1/sqrt(x) with the policy (default: Pi_rSqrt with the bracket start).
template <class Policy = GoldschmidtRsqrt<>, class S, class Ctx>
S rsqrt(const S& x, Ctx& ctx) {
  return Policy::eval(x, ctx);
}

/// sqrt(x) with the policy (default: CrypTen's x inv_sqrt(x)).
template <class Policy = CrypTenSqrt, class S, class Ctx>
S sqrt(const S& x, Ctx& ctx) {
  return Policy::eval(x, ctx);
}

}  // namespace secformer
