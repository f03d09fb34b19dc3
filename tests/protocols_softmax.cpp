// Reciprocal, division, exp and the softmax policies (protocols/div.hpp, exp.hpp, softmax.hpp):
// each against its double-precision twin and the exact function, two-party and Solo, measured
// rounds and bytes against the cost traits, and the documented range failures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include <xtensor/xarray.hpp>

#include <secformer/protocols/div.hpp>
#include <secformer/protocols/exp.hpp>
#include <secformer/protocols/softmax.hpp>
#include <secformer/run.hpp>

#include "support/test_data.hpp"

namespace sf = secformer;

namespace {

constexpr double lsb = 1.0 / 65536;

struct Err {
  double mean = 0, p99 = 0, max = 0;
};
Err summarize(std::vector<double> e) {
  Err r;
  if (e.empty()) return r;
  std::sort(e.begin(), e.end());
  for (double v : e) r.mean += v;
  r.mean /= static_cast<double>(e.size());
  r.p99 = e[std::min(e.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(e.size())))];
  r.max = e.back();
  return r;
}

/// Log-spaced points over [lo, hi] (both included).
xt::xarray<double> log_grid(double lo, double hi, std::size_t n) {
  xt::xarray<double> x = xt::xarray<double>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) x(i) = lo * std::pow(hi / lo, static_cast<double>(i) / static_cast<double>(n - 1));
  return x;
}

/// The value a Fixed<F> input actually carries.
template <unsigned F>
xt::xarray<double> quantized(const xt::xarray<double>& x) {
  xt::xarray<double> q = x;
  for (auto& v : q) v = std::nearbyint(std::ldexp(v, F)) / std::ldexp(1.0, F);
  return q;
}

/// Results both parties revealed (they must agree) and their costs.
struct Outputs {
  std::array<std::vector<xt::xarray<double>>, 2> values;
  std::array<sf::Stats, 2> stats;
};

template <class Suite = sf::Basic<>, class F>
Outputs two_party(std::uint64_t seed, F&& f) {
  Outputs o;
  o.stats = sf::run_two_party<Suite>(seed, [&](auto& ctx) { o.values[std::decay_t<decltype(ctx)>::id] = f(ctx); });
  REQUIRE(o.values[0].size() == o.values[1].size());
  for (std::size_t i = 0; i < o.values[0].size(); ++i) {
    const bool same = o.values[0][i] == o.values[1][i];
    REQUIRE(same);
  }
  return o;
}

template <class Suite = sf::Basic<>, class F>
std::pair<std::vector<xt::xarray<double>>, sf::Stats> solo(std::uint64_t seed, F&& f) {
  std::vector<xt::xarray<double>> v;
  auto st = sf::run_solo<Suite>(seed, [&](auto& ctx) { v = f(ctx); });
  return {v, st};
}

double max_abs_diff(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
  return m;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
TEST_CASE("reciprocal and division: Goldschmidt and Newton over their documented ranges", "[protocols][div]") {
  SECTION("GoldschmidtReciprocal<9, 12, 12> over [1, 4096]") {
    using G = sf::GoldschmidtReciprocal<>;
    STATIC_REQUIRE(G::online_rounds == 9);
    REQUIRE(G::range_min == 1.0);
    REQUIRE(G::range_max == 4096.0);
    const xt::xarray<double> y = log_grid(1, 4096, 1001);
    const xt::xarray<double> yq = quantized<16>(y);
    const std::size_t n = y.size();
    secformer::test::TestData rng(11);
    xt::xarray<double> t = xt::xarray<double>::from_shape({n});
    for (auto& v : t) v = rng.uniform(-4, 4);
    const xt::xarray<double> x = t * y;  // x / y = t

    // the approximation in double: within its interval-arithmetic bound
    double worst = 0;
    for (double v : yq) worst = std::max(worst, std::abs(G::approx(v) * v - 1));
    CHECK(worst <= G::error_bound());
    CHECK(G::error_bound() < 2e-4);

    auto prog = [&](auto& ctx) {
      auto ys = ctx.input(sf::party<0>, y);
      auto xs = ctx.input(sf::party<1>, x);
      auto inv = G::inverse_scaled(ys, ctx, 14);  // K / y with 14 fractional bits
      auto r = sf::reciprocal(ys, ctx);
      auto d = sf::div(xs, ys, ctx);
      return std::vector<xt::xarray<double>>{ctx.reveal(inv.words) / std::ldexp(1.0, inv.frac + inv.log2k), ctx.reveal(r),
                                             ctx.reveal(d)};
    };
    auto tp = two_party(21, prog);
    auto [sv, sst] = solo(21, prog);

    for (int mode = 0; mode < 2; ++mode) {
      const auto& v = mode == 0 ? tp.values[0] : sv;
      std::vector<double> rel, rabs, drel;
      for (std::size_t i = 0; i < n; ++i) {
        rel.push_back(std::abs(v[0](i) * yq(i) - 1));
        rabs.push_back(std::abs(v[1](i) - 1 / yq(i)) / (2 * lsb + 1e-4 / yq(i)));
        drel.push_back(std::abs(v[2](i) - t(i)) / (2 * lsb + 2e-4 * std::abs(t(i))));
      }
      const Err e = summarize(rel), a = summarize(rabs), d = summarize(drel);
      INFO("mode " << mode << ": K/y relative error mean " << e.mean << " p99 " << e.p99 << " max " << e.max
                   << "; 1/y error / (2 LSB + 1e-4 / y) max " << a.max << "; div error / (2 LSB + 2e-4 |x/y|) mean " << d.mean
                   << " max " << d.max);
      CHECK(e.mean < 2e-5);
      CHECK(e.max < 1e-4);
      CHECK(a.max <= 1);  // 1/y is a Fixed<16> value: its own LSB plus the relative error
      CHECK(d.max <= 1);  // x (K/y) truncated once: relative error <= 2e-4
      CHECK(d.mean <= 0.2);
    }
    // solo and two-party agree up to truncation noise
    CHECK(max_abs_diff(tp.values[0][0] * yq, sv[0] * yq) < 1e-4);
    CHECK(max_abs_diff(tp.values[0][2], sv[2]) <= 4 * 4e-4);

    // costs: both parties, two-party and Solo
    for (const auto& st : {tp.stats[0], tp.stats[1], sst}) {
      CHECK(st["reciprocal"].rounds == 3 * G::online_rounds);
      CHECK(st["reciprocal"].bytes_sent == 3 * n * 8 * G::words_per_element);
      CHECK(st["div"].rounds == G::online_rounds + 1);
      CHECK(st["div"].bytes_sent == n * 8 * (G::words_per_element + 2));
    }
    CHECK(tp.stats[1]["reciprocal"].dealer_bytes == 3 * n * 8 * G::dealer_words_per_element);
    CHECK(tp.stats[0]["reciprocal"].dealer_bytes == 0);

    // out of the documented range: the simulation refuses
    for (double bad : {0.5, 5000.0, 0.0, -3.0})
      CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::reciprocal(ctx.input(sf::party<0>, xt::xarray<double>{2.0, bad}), ctx); }),
                      sf::range_error);
  }

  SECTION("GoldschmidtReciprocal: wider ranges, more iterations") {
    using G16 = sf::GoldschmidtReciprocal<11, 16, 16>;  // [1, 65536]
    using G9 = sf::GoldschmidtReciprocal<8, 9, 9>;      // [1, 512]
    CHECK(G16::error_bound() < 2e-4);
    CHECK(G9::error_bound() < 2e-4);
    const xt::xarray<double> y16 = quantized<16>(log_grid(1, 65536, 301)), y9 = quantized<16>(log_grid(1, 512, 301));
    auto tp = two_party(5, [&](auto& ctx) {
      auto a = G16::inverse_scaled(ctx.input(sf::party<0>, y16), ctx, 16);
      auto b = G9::inverse_scaled(ctx.input(sf::party<0>, y9), ctx, 14);
      return std::vector<xt::xarray<double>>{ctx.reveal(a.words) / std::ldexp(1.0, a.frac + a.log2k),
                                             ctx.reveal(b.words) / std::ldexp(1.0, b.frac + b.log2k)};
    });
    double m16 = 0, m9 = 0;
    for (std::size_t i = 0; i < y16.size(); ++i) m16 = std::max(m16, std::abs(tp.values[0][0](i) * y16(i) - 1));
    for (std::size_t i = 0; i < y9.size(); ++i) m9 = std::max(m9, std::abs(tp.values[0][1](i) * y9(i) - 1));
    INFO("max relative error: 2^16 range " << m16 << ", 2^9 range " << m9);
    CHECK(m16 < 1.5e-4);
    CHECK(m9 < 1e-4);
    CHECK(tp.stats[0]["reciprocal"].rounds == 11 + 8);
  }

  SECTION("NewtonReciprocal<10> (CrypTen) over [2^-8, 250]") {
    using N = sf::NewtonReciprocal<>;
    STATIC_REQUIRE(N::online_rounds == 28);
    const xt::xarray<double> y = log_grid(1.0 / 256, 250, 801);
    const xt::xarray<double> yq = quantized<16>(y);
    double worst = 0;
    for (double v : yq) worst = std::max(worst, std::abs(N::approx(v) * v - 1));
    CHECK(worst < 1e-6);
    auto prog = [&](auto& ctx) {
      auto r = sf::reciprocal<N>(ctx.input(sf::party<1>, y), ctx);
      return std::vector<xt::xarray<double>>{ctx.reveal(r)};
    };
    auto tp = two_party(8, prog);
    auto [sv, sst] = solo(8, prog);
    for (const auto* v : {&tp.values[0][0], &sv[0]}) {
      std::vector<double> abs_err, rel;
      for (std::size_t i = 0; i < y.size(); ++i) {
        abs_err.push_back(std::abs((*v)(i) - 1 / yq(i)));
        rel.push_back(std::abs((*v)(i) * yq(i) - 1));
      }
      const Err a = summarize(abs_err), r = summarize(rel);
      INFO("Newton: abs error mean " << a.mean << " max " << a.max << "; relative mean " << r.mean << " max " << r.max);
      CHECK(a.max <= 3 * lsb * (1 + 1 / yq(0)));  // self-correcting: the last products' rounding remains,
      CHECK(r.max <= 3 * lsb * 251);              // 2^-16 relative in (2 - z y), 2^-16 absolute in y
    }
    CHECK(max_abs_diff(tp.values[0][0] * yq, sv[0] * yq) <= 6 * lsb * 251);
    for (const auto& st : {tp.stats[0], tp.stats[1], sst}) {
      CHECK(st["reciprocal"].rounds == N::online_rounds);
      CHECK(st["reciprocal"].bytes_sent == y.size() * 8 * N::words_per_element);
    }
    CHECK(tp.stats[1]["reciprocal"].dealer_bytes == y.size() * 8 * N::dealer_words_per_element);
    for (double bad : {1.0 / 512, 300.0})
      CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::reciprocal<N>(ctx.input(sf::party<0>, xt::xarray<double>{bad}), ctx); }),
                      sf::range_error);
  }

  SECTION("Z2k<32>, Fixed<12, trunc::Dealer>: Goldschmidt over [1, 16]") {
    using E = sf::Fixed<12, sf::trunc::Dealer>;
    using R = sf::Z2k<32>;
    using Suite = sf::Basic<E, R>;
    using G = sf::GoldschmidtReciprocal<6, 4, 4>;
    const xt::xarray<double> y = quantized<12>(log_grid(1, 16, 201));
    CHECK(G::error_bound<E, R>() < 3e-3);
    auto prog = [&](auto& ctx) {
      auto ys = ctx.input(sf::party<0>, y);
      auto inv = G::inverse_scaled(ys, ctx, 10);
      auto d = sf::div<G>(ctx.input(sf::party<1>, xt::xarray<double>(y * 0.75)), ys, ctx);
      return std::vector<xt::xarray<double>>{ctx.reveal(inv.words) / std::ldexp(1.0, inv.frac + inv.log2k), ctx.reveal(d)};
    };
    auto tp = two_party<Suite>(3, prog);
    auto [sv, sst] = solo<Suite>(3, prog);
    for (const auto* v : {&tp.values[0], &sv}) {
      double rel = 0, dv = 0;
      for (std::size_t i = 0; i < y.size(); ++i) {
        rel = std::max(rel, std::abs((*v)[0](i) * y(i) - 1));
        dv = std::max(dv, std::abs((*v)[1](i) - 0.75));
      }
      INFO("Z2k<32>: K/y relative error max " << rel << ", div abs error max " << dv);
      CHECK(rel < 2e-3);
      CHECK(dv <= 4.0 / 4096);
    }
    // trunc::Dealer: one round per truncation on top of the products
    CHECK(tp.stats[0]["reciprocal"].rounds == static_cast<std::uint64_t>(2 * G::rounds_for<E, R>()));
    CHECK(sst["reciprocal"].rounds == static_cast<std::uint64_t>(2 * G::rounds_for<E, R>()));
  }
}

// ------------------------------------------------------------------------------------------------
TEST_CASE("exp: CrypTen's (1 + x/256)^256", "[protocols][exp]") {
  using X = sf::CrypTenExp;
  STATIC_REQUIRE(X::online_rounds == 8);
  // the approximation against std::exp: relative error about x^2/512, never above exp(x)
  double worst_abs = 0;
  for (int i = 0; i <= 4000; ++i) {
    const double v = -256.0 + 264.0 * i / 4000;
    const double a = X::approx(v), e = std::exp(v);
    CHECK(a <= e * (1 + 1e-12));
    if (v <= 0) worst_abs = std::max(worst_abs, e - a);
    if (std::abs(v) <= 8) CHECK(1 - a / e <= v * v / 512 * 1.02 + 1e-12);
  }
  CHECK(worst_abs < 1.1e-3);

  const xt::xarray<double> x = xt::linspace<double>(-16, 4, 2001);
  const xt::xarray<double> xq = quantized<16>(x);
  auto prog = [&](auto& ctx) { return std::vector<xt::xarray<double>>{ctx.reveal(sf::exp(ctx.input(sf::party<0>, x), ctx))}; };
  auto tp = two_party(4, prog);
  auto [sv, sst] = solo(4, prog);
  for (const auto* v : {&tp.values[0][0], &sv[0]}) {
    std::vector<double> rel, absl;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double a = X::approx(xq(i)), e = std::exp(xq(i));
      if (xq(i) >= -4) {
        rel.push_back(std::abs((*v)(i) - a) / a);  // values >= 0.018 (1200 LSB)
        CHECK(std::abs((*v)(i) - e) / e <= xq(i) * xq(i) / 512 * 1.02 + 2.5 * 256 * lsb);  // against std::exp
      } else {
        absl.push_back(std::abs((*v)(i) - a) / lsb);
      }
    }
    const Err r = summarize(rel), b = summarize(absl);
    INFO("exp vs its double twin on [-4, 4]: relative mean " << r.mean << " p99 " << r.p99 << " max " << r.max
                                                          << "; on [-16, -4): LSB mean " << b.mean << " max " << b.max);
    CHECK(r.max < 2.5 * 256 * lsb);  // the base's +-1 LSB, amplified 256 times, and the squarings' LSBs
    CHECK(r.mean < 1.2 * 256 * lsb);  // Solo (floor truncation) is biased low by about 256 x 0.5 LSB
    CHECK(b.max <= 8);
  }
  {  // solo and two-party agree up to the base's rounding (relative 2^-7) and a few LSB
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, std::abs(tp.values[0][0](i) - sv[0](i)) / (X::approx(xq(i)) * 768 * lsb + 8 * lsb));
    CHECK(worst <= 1);
  }
  for (const auto& st : {tp.stats[0], tp.stats[1], sst}) {
    CHECK(st["exp"].rounds == X::online_rounds);
    CHECK(st["exp"].bytes_sent == x.size() * 8 * X::words_per_element);
  }
  CHECK(tp.stats[1]["exp"].dealer_bytes == x.size() * 8 * X::dealer_words_per_element);
  for (double bad : {-300.0, 9.0})
    CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::exp(ctx.input(sf::party<0>, xt::xarray<double>{0.0, bad}), ctx); }),
                    sf::range_error);
}

// ------------------------------------------------------------------------------------------------
namespace {
/// Attention scores: N(0, 2^2) logits of shape (heads, n, n) and a padding mask (heads, 1, n): head h
/// attends to its first n - 9 h keys; the last head, when `empty_head`, to none.
struct Scores {
  xt::xarray<double> x, mask;
};
Scores scores(std::size_t heads, std::size_t n, std::uint64_t seed, bool empty_head) {
  secformer::test::TestData g(seed);
  Scores s;
  s.x = xt::xarray<double>::from_shape({heads, n, n});
  for (auto& v : s.x) v = g.normal(2.0);
  s.mask = xt::ones<double>(std::vector<std::size_t>{heads, 1, n});
  for (std::size_t h = 0; h < heads; ++h)
    for (std::size_t j = 0; j < n; ++j)
      if (j + 9 * h >= n || (empty_head && h + 1 == heads && heads > 1)) s.mask(h, 0, j) = 0;
  return s;
}

struct SoftmaxErr {
  double max_abs = 0;   ///< max |p - ref|
  double row_rel = 0;   ///< max over rows of max |p - ref| / max ref
  double norm_rel = 0;  ///< ||p - ref||_2 / ||ref||_2
  double masked = 0;    ///< max |p| at masked entries
  double row_sum = 0;   ///< max |sum p - 1| over rows with an unmasked entry
};
SoftmaxErr compare(const xt::xarray<double>& p, const xt::xarray<double>& ref, const xt::xarray<double>& mask_full) {
  SoftmaxErr e;
  const std::size_t n = p.shape().back(), rows = p.size() / n;
  double num = 0, den = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    double rm = 0, re = 0, sum = 0, cnt = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t i = r * n + j;
      const double d = std::abs(p.data()[i] - ref.data()[i]);
      e.max_abs = std::max(e.max_abs, d);
      re = std::max(re, d);
      rm = std::max(rm, ref.data()[i]);
      num += d * d;
      den += ref.data()[i] * ref.data()[i];
      sum += p.data()[i];
      cnt += mask_full.data()[i];
      if (mask_full.data()[i] == 0) e.masked = std::max(e.masked, std::abs(p.data()[i]));
    }
    if (rm > 0) e.row_rel = std::max(e.row_rel, re / rm);
    if (cnt > 0) e.row_sum = std::max(e.row_sum, std::abs(sum - 1));
  }
  e.norm_rel = std::sqrt(num / den);
  return e;
}

/// Measured costs against the traits; party 1 also receives the dealer's corrections.
template <class Pol>
void check_costs(const sf::Stats& st, std::size_t rows, std::size_t n, bool party1 = false) {
  CHECK(st["softmax"].rounds == static_cast<std::uint64_t>(Pol::template online_rounds_for<>(n)));
  CHECK(st["softmax"].bytes_sent == Pol::template bytes_sent<>(rows, n));
  CHECK(st["softmax"].bytes_received == Pol::template bytes_sent<>(rows, n));
  if (party1) CHECK(st["softmax"].dealer_bytes == Pol::template dealer_bytes<>(rows, n));
}
}  // namespace

TEST_CASE("softmax policies on attention scores", "[protocols][softmax]") {
  const Scores s = scores(12, 128, 2024, /*empty_head=*/true);
  const xt::xarray<double> mfull = xt::broadcast(s.mask, s.x.shape());
  const xt::xarray<double> ones = xt::ones<double>(s.x.shape());
  const std::size_t rows = 12 * 128, n = 128;

  SECTION("Quad2Softmax (SecFormer 2Quad + Goldschmidt): 12 x 128 x 128, with and without padding") {
    using Q = sf::Quad2Softmax;
    STATIC_REQUIRE(Q::online_rounds == 11);
    auto prog = [&](auto& ctx) {
      auto xs = ctx.input(sf::party<1>, s.x);
      auto pm = sf::softmax(xs, s.mask, ctx);
      auto pu = sf::softmax(xs, ctx);
      return std::vector<xt::xarray<double>>{ctx.reveal(pm), ctx.reveal(pu)};
    };
    auto tp = two_party(1, prog);
    auto [sv, sst] = solo(1, prog);
    const auto ref_m = Q::exact(s.x, s.mask), ref_u = Q::exact(s.x);
    CHECK(max_abs_diff(Q::approx(s.x, s.mask), ref_m) < 1e-6);  // the reciprocal's approximation error
    for (const auto* v : {&tp.values[0], &sv}) {
      const auto em = compare((*v)[0], ref_m, mfull), eu = compare((*v)[1], ref_u, ones);
      INFO("2Quad masked: max abs " << em.max_abs << " row-relative " << em.row_rel << " norm-relative " << em.norm_rel
                                    << " masked " << em.masked << " row sums " << em.row_sum);
      INFO("2Quad unmasked: max abs " << eu.max_abs << " row-relative " << eu.row_rel << " norm-relative " << eu.norm_rel);
      CHECK(em.row_rel <= 1e-3);
      CHECK(eu.row_rel <= 1e-3);
      CHECK(em.norm_rel <= 1e-3);
      CHECK(eu.norm_rel <= 1e-3);
      CHECK(em.max_abs <= 1.5 * lsb);
      CHECK(eu.max_abs <= 1.5 * lsb);
      CHECK(em.masked <= 1.0 * lsb);
      CHECK(em.row_sum <= 128 * lsb);
    }
    CHECK(max_abs_diff(tp.values[0][0], sv[0]) <= 2.5 * lsb);
    for (const auto& st : {tp.stats[0], tp.stats[1], sst}) {
      CHECK(st["softmax"].rounds == 2 * 11);
      CHECK(st["softmax"].bytes_sent == 2 * Q::bytes_sent<>(rows, n));
    }
    CHECK(Q::bytes_sent<>(rows, n) == 8 * (2 * rows * n + rows + 32 * rows));
    CHECK(tp.stats[1]["softmax"].dealer_bytes == 2 * Q::dealer_bytes<>(rows, n));

    // out of range in the simulation: a row whose mean (x + 5)^2 exceeds 1024
    xt::xarray<double> big = s.x;
    for (std::size_t j = 0; j < n; ++j) big(3, 7, j) = 30;
    CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::softmax(ctx.input(sf::party<0>, big), ctx); }), sf::range_error);
    // a mask that is not 0/1, or does not broadcast: usage errors
    CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::softmax(ctx.input(sf::party<0>, s.x), xt::xarray<double>(s.mask * 0.5), ctx); }),
                    sf::usage_error);
    CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::softmax(ctx.input(sf::party<0>, s.x), xt::ones<double>({std::size_t(127)}), ctx); }),
                    sf::usage_error);
  }

  SECTION("MPCFormerSoftmax (2Quad + CrypTen's Newton): 12 x 128 x 128 with padding") {
    using M = sf::MPCFormerSoftmax;
    auto tp = two_party(2, [&](auto& ctx) {
      return std::vector<xt::xarray<double>>{ctx.reveal(sf::softmax<M>(ctx.input(sf::party<0>, s.x), s.mask, ctx))};
    });
    const auto e = compare(tp.values[0][0], M::exact(s.x, s.mask), mfull);
    const auto ea = compare(tp.values[0][0], M::approx(s.x, s.mask), mfull);
    INFO("MPCFormer: max abs " << e.max_abs << " row-relative " << e.row_rel << " norm-relative " << e.norm_rel << "; vs its twin "
                               << ea.max_abs);
    CHECK(e.row_rel <= 1.5e-3);
    CHECK(e.norm_rel <= 1.5e-3);
    CHECK(e.max_abs <= 2 * lsb);
    CHECK(e.masked <= 1.0 * lsb);
    check_costs<M>(tp.stats[0], rows, n);
    check_costs<M>(tp.stats[1], rows, n, true);
    CHECK(M::online_rounds == 30);
  }

  SECTION("CrypTenSoftmax (max tree, exp, Newton): 12 x 128 x 128 with padding") {
    using CS = sf::CrypTenSoftmax;
    auto tp = two_party(3, [&](auto& ctx) {
      return std::vector<xt::xarray<double>>{ctx.reveal(sf::softmax<CS>(ctx.input(sf::party<0>, s.x), s.mask, ctx))};
    });
    const auto e = compare(tp.values[0][0], CS::exact(s.x, s.mask), mfull);
    const auto ea = compare(tp.values[0][0], CS::approx(s.x, s.mask), mfull);
    INFO("CrypTen vs exact softmax: max abs " << e.max_abs << " row-relative " << e.row_rel << " norm-relative " << e.norm_rel
                                              << "; vs its double twin: max abs " << ea.max_abs << " norm-relative " << ea.norm_rel);
    // the exp's (1 + x/256)^256 dominates: about 1% of the largest probabilities
    CHECK(e.max_abs <= 0.015);
    CHECK(e.norm_rel <= 0.015);
    CHECK(e.row_rel <= 0.025);
    // against the same approximation in double: the exp base's rounding (2^-8 relative)
    CHECK(ea.max_abs <= 2e-3);
    CHECK(ea.norm_rel <= 6e-3);
    CHECK(e.masked <= 1.0 * lsb);
    CHECK(e.row_sum <= 0.01);
    check_costs<CS>(tp.stats[0], rows, n);
    check_costs<CS>(tp.stats[1], rows, n, true);
    CHECK(CS::online_rounds == 100);
  }

  SECTION("128 x 128: every policy, Solo and two-party") {
    Scores t = scores(1, 128, 77, false);
    t.x.reshape({128, 128});
    xt::xarray<double> mask = xt::ones<double>({std::size_t(128)});
    for (std::size_t j = 90; j < 128; ++j) mask(j) = 0;
    const xt::xarray<double> mf = xt::broadcast(mask, t.x.shape());
    auto run = [&]<class Pol>(Pol, double max_abs_bound, double norm_bound) {
      auto prog = [&](auto& ctx) {
        auto xs = ctx.input(sf::party<0>, t.x);
        return std::vector<xt::xarray<double>>{ctx.reveal(sf::softmax<Pol>(xs, mask, ctx))};
      };
      auto tp = two_party(9, prog);
      auto [sv, sst] = solo(9, prog);
      const auto ref = Pol::exact(t.x, mask);
      for (const auto* v : {&tp.values[0][0], &sv[0]}) {
        const auto e = compare(*v, ref, mf);
        INFO("128 x 128: max abs " << e.max_abs << " norm-relative " << e.norm_rel);
        CHECK(e.max_abs <= max_abs_bound);
        CHECK(e.norm_rel <= norm_bound);
        CHECK(e.masked <= 1.0 * lsb);
      }
      check_costs<Pol>(tp.stats[0], 128, 128);
      check_costs<Pol>(tp.stats[1], 128, 128, true);
      check_costs<Pol>(sst, 128, 128);
      CHECK(max_abs_diff(tp.values[0][0], sv[0]) <= 2 * max_abs_bound);
    };
    run(sf::Quad2Softmax{}, 1.5 * lsb, 1e-3);
    run(sf::MPCFormerSoftmax{}, 2 * lsb, 1.5e-3);
    run(sf::CrypTenSoftmax{}, 0.015, 0.015);
    run(sf::PumaSoftmax{}, 0.015, 0.015);
    run(sf::BasicCrypTenSoftmax<sf::MaskedCompare<>>{}, 0.015, 0.015);
    // CrypTen's range: logits beyond +-64 are refused by the simulation
    xt::xarray<double> big = t.x;
    big(0, 5, 5) = 70;
    CHECK_THROWS_AS(sf::run_solo(1, [&](auto& ctx) { sf::softmax<sf::CrypTenSoftmax>(ctx.input(sf::party<0>, big), ctx); }),
                    sf::range_error);
  }
}
