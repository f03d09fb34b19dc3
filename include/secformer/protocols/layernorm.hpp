// secformer/protocols/layernorm.hpp: LayerNorm over the last axis,
//   LN(x) = gamma (x - mu) / sqrt(var + eps) + beta,  mu and var over the last axis (n entries),
// gamma and beta of shape {n} broadcast over the rows: secret shares (model weights) or public
// xt::xarray<double>. eps defaults to 1e-12 (BERT); pass 1e-5 for PyTorch's default.
//   SecFormerLayerNorm   Pi_rSqrt with the bracket start, fused with the common front (the default)
//   LayerNormWith<R>     an elementwise rsqrt R of the row variance: PumaLayerNorm, ReferenceSecFormerLayerNorm
//   CrypTenLayerNorm     sqrt, then CrypTen's Newton reciprocal
//   layernorm<Policy>(x, gamma, beta, ctx, eps)
// Each policy: online_rounds, bytes_sent(rows, n, secret_gamma), approx(x, gamma, beta, eps).
// Z2k<64> only. The common front (centring, one opening for d^2 and gamma d), the fused bracket,
// costs and errors: docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/layernorm_material.hpp"
#include "div.hpp"
#include "mul.hpp"
#include "policy.hpp"
#include "rsqrt.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail::ln {

using W = std::uint64_t;
using rsq::tr;

template <class G> inline constexpr bool is_share_v = is_shared<std::remove_cvref_t<G>>::value;

struct Front {
  std::size_t rows = 0, n = 0;
  double kappa = 1;
  xt::xarray<W> gd;       ///< {rows, n}: gamma d at F bits
  std::vector<W> s_raw;   ///< per row: sum of the raw squares d^2 (2F bits, exact)
  std::vector<W> s_tr;    ///< per row: sum of the squares truncated to F bits element by element
};

/// Centring and the square round (gamma secret: one SquareColTriple; public: one square pair).
template <unsigned F, class P, class G, class Ctx>
Front front(const W* xw, std::size_t rows, std::size_t n, const G& gamma, Ctx& ctx) {
  Front fr;
  fr.rows = rows;
  fr.n = n;
  const W w = static_cast<W>(std::llround(std::ldexp(1.0, static_cast<int>(F)) / static_cast<double>(n)));
  SECFORMER_ASSERT(w >= 8, "layernorm: rows longer than 2^(F-3) entries");
  SECFORMER_ASSERT(gamma.size() == n, "layernorm: gamma must have n entries");
  fr.kappa = static_cast<double>(n) * static_cast<double>(w) / std::ldexp(1.0, static_cast<int>(F));
  fr.gd = xt::xarray<W>(std::vector<std::size_t>{rows, n});
  fr.s_raw.assign(rows, 0);
  fr.s_tr.assign(rows, 0);
  constexpr bool secret = is_share_v<G>;
  const std::size_t N = rows * n, extra = secret ? n : 0;
  // d = (n x - sum_row x) w / 2^F, masked for the opening (and kept in gd when gamma is public).
  auto m = [&] {
    if constexpr (secret) return ctx.template material<material::SquareColTriple, W>(material::Params{}.value(rows).value(n));
    else return ctx.template material<material::SquarePair, W>(material::Params{}.shape({rows, n}));
  }();
  const W* a = m[0].data();
  xt::xarray<W> mine(std::vector<std::size_t>{N + extra}), theirs(std::vector<std::size_t>{N + extra});
  W* mp = mine.data();
  W* gd = fr.gd.data();
  for (std::size_t i = 0; i < rows; ++i) {
    W s = 0;
    for (std::size_t j = 0; j < n; ++j) s += xw[i * n + j];
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t k = i * n + j;
      const W d = tr<P>((static_cast<W>(n) * xw[k] - s) * w, F);
      mp[k] = d - a[k];
      if constexpr (!secret) gd[k] = d;
    }
  }
  if constexpr (secret)
    for (std::size_t j = 0; j < n; ++j) mp[N + j] = gamma.share().data()[j] - m[1].data()[j];
  ctx.exchange_words(std::span<const W>(mp, N + extra), std::span<W>(theirs.data(), N + extra));
  const W* tp = theirs.data();
  if constexpr (secret) {
    const W* b = m[1].data();
    const W* aa = m[2].data();
    const W* ab = m[3].data();
    std::vector<W> f(n), fb(n);
    for (std::size_t j = 0; j < n; ++j) {
      f[j] = mp[N + j] + tp[N + j];
      fb[j] = b[j];
      if constexpr (P::id == 0) fb[j] += f[j];
    }
    for (std::size_t i = 0; i < rows; ++i) {
      W sr = 0, st = 0;
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t k = i * n + j;
        const W e = mp[k] + tp[k];
        W s2 = W(2) * e * a[k] + aa[k];
        if constexpr (P::id == 0) s2 += e * e;
        sr += s2;
        st += tr<P>(s2, F);
        gd[k] = tr<P>(e * fb[j] + a[k] * f[j] + ab[k], F);
      }
      fr.s_raw[i] = sr;
      fr.s_tr[i] = st;
    }
  } else {
    const W* aa = m[1].data();
    std::vector<W> gw(n);
    for (std::size_t j = 0; j < n; ++j) gw[j] = encode_one<Fixed<F>, Z2k<64>>(gamma.data()[j]);
    for (std::size_t i = 0; i < rows; ++i) {
      W sr = 0, st = 0;
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t k = i * n + j;
        const W e = mp[k] + tp[k];
        W s2 = W(2) * e * a[k] + aa[k];
        if constexpr (P::id == 0) s2 += e * e;
        sr += s2;
        st += tr<P>(s2, F);
        gd[k] = tr<P>(gd[k] * gw[j], F);
      }
      fr.s_raw[i] = sr;
      fr.s_tr[i] = st;
    }
  }
  return fr;
}

/// This party's words of beta (public beta: party 0 holds the encoding, party 1 zeros).
template <unsigned F, class P, class B>
std::vector<W> beta_words(std::size_t n, const B& beta) {
  SECFORMER_ASSERT(beta.size() == n, "layernorm: beta must have n entries");
  std::vector<W> bw(n);
  if constexpr (is_share_v<B>) {
    for (std::size_t j = 0; j < n; ++j) bw[j] = beta.share().data()[j];
  } else {
    for (std::size_t j = 0; j < n; ++j) bw[j] = P::id == 0 ? encode_one<Fixed<F>, Z2k<64>>(beta.data()[j]) : W(0);
  }
  return bw;
}

/// The double-precision LayerNorm over the last axis with a given inverse square root.
template <class R>
xt::xarray<double> reference(const xt::xarray<double>& x, const xt::xarray<double>& gamma, const xt::xarray<double>& beta,
                             double eps, R&& rsqrt_fn) {
  const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
  xt::xarray<double> out(x.shape());
  for (std::size_t i = 0; i < rows; ++i) {
    double mu = 0, var = 0;
    for (std::size_t j = 0; j < n; ++j) mu += x.data()[i * n + j];
    mu /= static_cast<double>(n);
    for (std::size_t j = 0; j < n; ++j) {
      const double t = x.data()[i * n + j] - mu;
      var += t * t;
    }
    var /= static_cast<double>(n);
    const double r = rsqrt_fn(var + eps);
    for (std::size_t j = 0; j < n; ++j) out.data()[i * n + j] = gamma.data()[j] * (x.data()[i * n + j] - mu) * r + beta.data()[j];
  }
  return out;
}

template <class S>
void check_input(const S& x) {
  static_assert(std::is_same_v<typename S::ring_type, Z2k<64>>, "secformer: layernorm needs Z2k<64>: its variance range "
                "1e-3..1e4 needs products of about 2^60 ring units at 2F bits, beyond a 32-bit ring");
  static_assert(S::encoding_type::frac_bits >= 8 && S::encoding_type::frac_bits <= rsq::fy,
                "secformer: layernorm needs 8..20 fractional bits");
  SECFORMER_ASSERT(x.dimension() >= 1 && x.shape()[x.dimension() - 1] >= 2, "layernorm over a last axis of fewer than 2 entries");
}

}  // namespace detail::ln

/// SecFormerLayerNorm: LayerNorm with Pi_rSqrt (bracket start, one minimax step) fused with the front
/// | paper  | SecFormer's LayerNorm with Pi_rSqrt; docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt
/// | rounds | 5
/// | online | 16.19 B/element/party (rows of 768, gamma secret: 16 B per element + 101 B per row)
/// | dealer | 56.53 B/element (rows of 768: 32 B per element + 18.8 KB per row)
/// | error  | max 7.5e-4, p99 3.1e-4 vs exact LN, row variances 1e-3..1e4 (bench_protocols, 128 x 768)
/// | range  | var + eps in [2^MinLog2, 2^MaxLog2] = [9.8e-4, 16384]; 2F + log2(n) + MaxLog2 + 0.25 <= 60
/// Steps thresholds per octave over [2^MinLog2, 2^MaxLog2]; outside, the two-party run saturates
/// (the edge buckets) and is wrong, the simulation throws range_error.
template <int Steps = 4, int MinLog2 = -10, int MaxLog2 = 14>
struct BasicSecFormerLayerNorm {
  using rsqrt_policy = GoldschmidtRsqrt<BracketStart<Steps, MinLog2, MaxLog2>>;
  using start = BracketStart<Steps, MinLog2, MaxLog2>;
  static constexpr int online_rounds = 5;
  static constexpr double range_min = start::range_min();
  static constexpr double range_max = start::range_max();

  /// Bytes one party sends for rows x n (gamma secret or public).
  static constexpr std::uint64_t bytes_sent(std::uint64_t rows, std::uint64_t n, bool secret_gamma = true) {
    return 8 * ((rows * n + (secret_gamma ? n : 0)) + rows + (material::bracket::vars * rows * start::points + 63) / 64 + rows + rows +
                (rows * n + 2 * rows));
  }
  /// Dealer bytes to party 1.
  static constexpr std::uint64_t dealer_bytes(std::uint64_t rows, std::uint64_t n, bool secret_gamma = true) {
    return 8 * ((secret_gamma ? 2 : 1) * rows * n + material::bracket::mask_words(rows, start::points) +
                rows * (material::bracket::chunks * material::bracket::table_words + 2 * material::bracket::products * start::points + 2) +
                rows + 2 * rows * n);
  }

  static xt::xarray<double> approx(const xt::xarray<double>& x, const xt::xarray<double>& gamma, const xt::xarray<double>& beta,
                                   double eps = 1e-12) {
    return detail::ln::reference(x, gamma, beta, eps, [](double v) { return rsqrt_policy::approx(v); });
  }

  template <class S, class G, class B, class Ctx>
  static S eval(const S& x, const G& gamma, const B& beta, Ctx& ctx, double eps = 1e-12) {
    using namespace detail::ln;
    using P = typename S::party_type;
    using C = typename S::container_type;
    constexpr unsigned F = S::encoding_type::frac_bits;
    check_input(x);
    auto g = ctx.scope("layernorm");
    const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
    const Front fr = front<F, P>(x.share().data(), rows, n, gamma, ctx);
    // The bracketed value z = S + n kappa^2 eps at 2F bits, y = sqrt(n) / sqrt(z).
    const double unit = static_cast<double>(n) * fr.kappa * fr.kappa;
    const double ztop = unit * std::exp2(MaxLog2 + 1.0 / Steps);
    const int s = detail::rsq::max_shift(ztop, 2 * F);
    SECFORMER_ASSERT(s >= 0, "layernorm: 2F + log2(n) + MaxLog2 exceeds 60: the untruncated sum of squares does not fit "
                             "(use fewer fractional bits, shorter rows or a smaller MaxLog2)");
    const int xf = std::min(24, static_cast<int>(std::floor(40.0 - std::log2(ztop))));
    SECFORMER_ASSERT(xf >= 8 && xf < static_cast<int>(2 * F) + s, "layernorm: n and MaxLog2 leave too few bits for the variance range");
    const detail::rsq::Plan pl = detail::rsq::make_plan(Steps, MinLog2, MaxLog2, unit, 2 * F + static_cast<unsigned>(s),
                                                        static_cast<unsigned>(xf), std::sqrt(static_cast<double>(n)));
    const W epsw = static_cast<W>(std::llround(std::ldexp(unit * eps, static_cast<int>(2 * F))));
    xt::xarray<W> v(std::vector<std::size_t>{rows});
    for (std::size_t i = 0; i < rows; ++i) {
      W acc = fr.s_raw[i];
      if constexpr (P::id == 0) acc += epsw;
      v.data()[i] = acc;
    }
    if constexpr (P::is_solo) {
      for (std::size_t i = 0; i < rows; ++i) {
        const double var = std::ldexp(static_cast<double>(static_cast<std::int64_t>(v.data()[i])), -static_cast<int>(2 * F)) / unit;
        detail::check_range(var, range_min, range_max, "SecFormerLayerNorm (row variance + eps)");
      }
    }
    v *= W(1) << s;
    const xt::xarray<W> y = detail::rsq::bracket_rsqrt_words<P>(v, nullptr, pl, ctx);
    // Two limbs of y: y_hi at F bits, y_lo the low (20 - F) bits at 20 bits.
    constexpr unsigned lo_bits = detail::rsq::fy - F;
    std::vector<W> limbs(2 * rows);
    for (std::size_t i = 0; i < rows; ++i) {
      const W hi = tr<P>(y.data()[i], lo_bits);
      limbs[2 * i] = hi;
      limbs[2 * i + 1] = y.data()[i] - (hi << lo_bits);
    }
    const std::vector<W> bw = beta_words<F, P>(n, beta);
    C res(x.shape());
    W* out = res.data();
    detail::rsq::mul_rows_each<P>(fr.gd.data(), rows, n, limbs.data(), 2, ctx, [&](std::size_t k, const W* z) {
      out[k] = tr<P>(z[0], F) + tr<P>(z[1], detail::rsq::fy) + bw[k % n];
    });
    return S(std::move(res));
  }
};
using SecFormerLayerNorm = BasicSecFormerLayerNorm<>;

namespace detail::ln {
/// The baselines' variance: var + kappa^2 eps as a share of x's encoding, one per row.
template <class S, class P>
S baseline_var(const Front& fr, double eps) {
  using C = typename S::container_type;
  constexpr unsigned kdiv = 20;
  const W wn = static_cast<W>(std::llround(std::ldexp(1.0, kdiv) / static_cast<double>(fr.n)));
  C v(std::vector<std::size_t>{fr.rows});
  for (std::size_t i = 0; i < fr.rows; ++i) v.data()[i] = tr<P>(fr.s_tr[i] * wn, kdiv);
  return S(std::move(v)) + fr.kappa * fr.kappa * eps;
}

/// (gamma d) r + beta, r one factor per row.
template <class S, class P, unsigned F, class R, class B, class Ctx>
S finish_rows(const S& x, const Front& fr, const R& r, const B& beta, Ctx& ctx) {
  using C = typename S::container_type;
  const std::vector<W> bw = beta_words<F, P>(fr.n, beta);
  C res(x.shape());
  W* out = res.data();
  const std::size_t n = fr.n;
  rsq::mul_rows_each<P>(fr.gd.data(), fr.rows, n, r.share().data(), 1, ctx,
                        [&](std::size_t k, const W* z) { out[k] = tr<P>(z[0], F) + bw[k % n]; });
  return S(std::move(res));
}
}  // namespace detail::ln

/// PumaLayerNorm: LayerNorm with CrypTen's inv_sqrt (NewtonRsqrt<3>) of the row variance, as PUMA
/// | paper  | PUMA (Dong et al. 2023); docs/protocols.md#baselines-crypten-puma-mpcformer
/// | rounds | 16
/// | online | 16.34 B/element/party (rows of 768, gamma secret)
/// | dealer | 24.2 B/element (bench_protocols, 1280 x 768)
/// | error  | max 5.6e-3, p99 2.6e-3 vs exact LN on N(0, 1) rows (bench_protocols, 1280 x 768)
/// | range  | var in [0.1, 150] (NewtonRsqrt's); outside it the result is wrong (no error raised)
/// LayerNormWith<Rsqrt>: any elementwise rsqrt of the row variance; 1 + Rsqrt::online_rounds + 1
/// rounds; d^2 is truncated per element.
template <class Rsqrt>
struct LayerNormWith {
  using rsqrt_policy = Rsqrt;
  static constexpr int online_rounds = 1 + Rsqrt::online_rounds + 1;
  /// Bytes one party sends for rows x n (gamma secret or public).
  static constexpr std::uint64_t bytes_sent(std::uint64_t rows, std::uint64_t n, bool secret_gamma = true) {
    return 8 * (rows * n + (secret_gamma ? n : 0)) + Rsqrt::bytes_sent(rows) + 8 * (rows * n + rows);
  }

  static xt::xarray<double> approx(const xt::xarray<double>& x, const xt::xarray<double>& gamma, const xt::xarray<double>& beta,
                                   double eps = 1e-12) {
    return detail::ln::reference(x, gamma, beta, eps, [](double v) { return Rsqrt::approx(v); });
  }

  template <class S, class G, class B, class Ctx>
  static S eval(const S& x, const G& gamma, const B& beta, Ctx& ctx, double eps = 1e-12) {
    using namespace detail::ln;
    using P = typename S::party_type;
    constexpr unsigned F = S::encoding_type::frac_bits;
    check_input(x);
    auto g = ctx.scope("layernorm");
    const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
    const Front fr = front<F, P>(x.share().data(), rows, n, gamma, ctx);
    using R = Shared<typename S::encoding_type, Z2k<64>, P>;
    const R var = baseline_var<R, P>(fr, eps);
    const R r = Rsqrt::eval(var, ctx);
    return finish_rows<S, P, F>(x, fr, r, beta, ctx);
  }
};
using PumaLayerNorm = LayerNormWith<NewtonRsqrt<3>>;
/// ReferenceSecFormerLayerNorm: LayerNorm with the paper's Pi_rSqrt as written (y_0 = 1, eta = 1, T = 7)
/// | paper  | SecFormer's reference code (Pi_rSqrt as written); docs/protocols.md#inverse-square-root-and-layernorm-pi_rsqrt
/// | rounds | 15
/// | online | 16.44 B/element/party (rows of 768, gamma secret)
/// | dealer | 24.19 B/element (24 B per element + GoldschmidtRsqrt<EtaStart<0>, 7>'s 144 B per row)
/// | error  | <= 1e-3 relative (the rsqrt's approximation) for var in its range
/// | range  | var in [0.025, 2.5] only: real pre-LayerNorm variances fall outside it
using ReferenceSecFormerLayerNorm = LayerNormWith<GoldschmidtRsqrt<EtaStart<0>, 7>>;

/// CrypTenLayerNorm: LayerNorm as CrypTen specifies it: sqrt (x inv_sqrt(x)), then NewtonReciprocal<10>
/// | paper  | CrypTen (Knott et al. 2021); docs/protocols.md#baselines-crypten-puma-mpcformer
/// | rounds | 45
/// | online | 16.86 B/element/party (rows of 768, gamma secret)
/// | dealer | 24.5 B/element (bench_protocols, 1280 x 768)
/// | error  | max 6.6e-3, p99 3.2e-3 vs exact LN on N(0, 1) rows (bench_protocols, 1280 x 768)
/// | range  | var in [0.1, 150] (the inv_sqrt start); outside it the result is wrong
template <class Sqrt = CrypTenSqrt, class Recip = NewtonReciprocal<10>>
struct BasicCrypTenLayerNorm {
  static constexpr int online_rounds = 1 + Sqrt::online_rounds + Recip::online_rounds + 1;
  /// Bytes one party sends for rows x n (gamma secret or public).
  static constexpr std::uint64_t bytes_sent(std::uint64_t rows, std::uint64_t n, bool secret_gamma = true) {
    return 8 * (rows * n + (secret_gamma ? n : 0)) + Sqrt::bytes_sent(rows) + 8 * rows * Recip::words_per_element +
           8 * (rows * n + rows);
  }

  static xt::xarray<double> approx(const xt::xarray<double>& x, const xt::xarray<double>& gamma, const xt::xarray<double>& beta,
                                   double eps = 1e-12) {
    return detail::ln::reference(x, gamma, beta, eps, [](double v) { return Recip::approx(Sqrt::approx(v)); });
  }

  template <class S, class G, class B, class Ctx>
  static S eval(const S& x, const G& gamma, const B& beta, Ctx& ctx, double eps = 1e-12) {
    using namespace detail::ln;
    using P = typename S::party_type;
    constexpr unsigned F = S::encoding_type::frac_bits;
    check_input(x);
    auto g = ctx.scope("layernorm");
    const std::size_t n = x.shape()[x.dimension() - 1], rows = x.size() / n;
    const Front fr = front<F, P>(x.share().data(), rows, n, gamma, ctx);
    using R = Shared<typename S::encoding_type, Z2k<64>, P>;
    const R var = baseline_var<R, P>(fr, eps);
    const R sd = Sqrt::eval(var, ctx);
    const R r = reciprocal<Recip>(sd, ctx);
    return finish_rows<S, P, F>(x, fr, r, beta, ctx);
  }
};
using CrypTenLayerNorm = BasicCrypTenLayerNorm<>;

namespace detail {
/// The single point where the default LayerNorm policy is chosen: Policy, else (void) the
/// context's suite's layernorm, else SecFormerLayerNorm.
template <class Policy, class Ctx>
using layernorm_policy_t = pick_policy_t<Policy, Ctx, suite_layernorm_t, SecFormerLayerNorm>;
}  // namespace detail

/// LayerNorm over the last axis with the policy (void: detail::layernorm_policy_t's choice).
template <class Policy = void, class S, class G, class B, class Ctx>
S layernorm(const S& x, const G& gamma, const B& beta, Ctx& ctx, double eps = 1e-12) {
  if constexpr (std::is_same_v<typename S::ring_type, Z2k<64>>) {
    return detail::layernorm_policy_t<Policy, Ctx>::eval(x, gamma, beta, ctx, eps);
  } else {
    detail::ln::check_input(x);  // refuses the ring at compile time, with the reason
    return x;
  }
}

}  // namespace secformer
