// Comparison protocols (protocols/compare.hpp): both policies exact on random and edge inputs in
// both rings, two-party and simulation; measured rounds and bytes against the cost traits; less_than
// and friends, ltz_many, relu, select and max against doubles; the documented failure of the
// bit-width reduction outside its range.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include <secformer/secformer.hpp>
#include <secformer/protocols/compare.hpp>

#include "support/test_data.hpp"

namespace sf = secformer;
using sf::test::TestData;

namespace {
using Ring64 = sf::Basic<sf::Fixed<16>, sf::Z2k<64>>;
using Ring32D = sf::Basic<sf::Fixed<12, sf::trunc::Dealer>, sf::Z2k<32>>;

template <class Ctx> constexpr int id_of = std::remove_cvref_t<Ctx>::id;

/// Inputs as ring words: the edges (0, +-1, +-2^j, +-(2^j - 1), the ends of the range) and random
/// values of random magnitude and sign, all inside -2^L <= x < 2^L.
template <class W>
xt::xarray<W> test_words(std::uint64_t seed, unsigned L, std::size_t random_count) {
  using S = std::make_signed_t<W>;
  std::vector<W> v;
  const auto lim = static_cast<std::int64_t>(std::uint64_t(1) << (L < 63 ? L : 62));
  auto push = [&](std::int64_t s) { v.push_back(static_cast<W>(static_cast<S>(s))); };
  push(0), push(1), push(-1);
  for (unsigned j = 1; j < L && j < 63; ++j) {
    const auto p = static_cast<std::int64_t>(std::uint64_t(1) << j);
    push(p), push(-p), push(p - 1), push(-p + 1), push(p + 1), push(-p - 1);
  }
  if (L + 1 == 8 * sizeof(W)) {  // the whole ring: its two ends
    v.push_back(static_cast<W>(W(1) << (8 * sizeof(W) - 1)));
    v.push_back(static_cast<W>((W(1) << (8 * sizeof(W) - 1)) - 1));
  } else {
    push(-lim), push(lim - 1), push(-lim + 1);
  }
  TestData d(seed);
  for (std::size_t i = 0; i < random_count; ++i) {
    const W u = static_cast<W>(d.next());
    const unsigned shift = static_cast<unsigned>(d.next() % (L + 1));
    // a random (L + 1)-bit two's complement value, then shifted toward 0 to vary the magnitude
    const unsigned top = 8 * sizeof(W) - (L + 1);
    const S s = static_cast<S>(static_cast<S>(u << top) >> top);
    v.push_back(static_cast<W>(s >> shift));
  }
  xt::xarray<W> out(std::vector<std::size_t>{v.size()});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

template <class W>
std::vector<W> expected_bits(const xt::xarray<W>& x) {
  std::vector<W> e;
  for (W w : x) e.push_back(static_cast<std::make_signed_t<W>>(w) < 0 ? W(1) : W(0));
  return e;
}

struct PolicyRun {
  std::array<std::vector<std::uint64_t>, 2> opened;  // both parties' reconstructions
  std::vector<std::uint64_t> solo;
  std::array<sf::Cost, 2> cost;
  sf::Cost solo_cost;
  std::size_t share_in_01 = 0;  // party 0's output shares that equal 0 or 1 (should be rare)
};

template <class Suite, class Policy, class W>
PolicyRun run_policy(std::uint64_t seed, const xt::xarray<W>& x) {
  PolicyRun out;
  auto program = [&](auto& ctx, std::vector<std::uint64_t>& bits, sf::Cost& cost, std::size_t* in01) {
    auto sx = ctx.template input_words<typename Suite::encoding>(sf::party<1>, x);
    const auto before = ctx.stats()["compare"];
    auto b = sf::ltz<Policy>(sx, ctx);
    cost = ctx.stats()["compare"] - before;
    if (in01)
      for (W s : b.share()) *in01 += (s <= 1);
    auto o = ctx.open(b);
    bits.assign(o.begin(), o.end());
  };
  sf::run_two_party<Suite>(seed, [&](auto& ctx) {
    constexpr int id = id_of<decltype(ctx)>;
    program(ctx, out.opened[id], out.cost[id], id == 0 ? &out.share_in_01 : nullptr);
  });
  sf::run_solo<Suite>(seed, [&](auto& ctx) { program(ctx, out.solo, out.solo_cost, nullptr); });
  return out;
}

template <class Suite, class Policy>
void check_exact(const char* name, std::uint64_t seed) {
  using Ring = typename Suite::ring;
  using W = typename Ring::word_type;
  unsigned L = Ring::bits - 1;
  if constexpr (requires { Policy::template compared_bits<Ring>; }) L = Policy::template compared_bits<Ring>;
  const auto x = test_words<W>(seed, L, 3000);
  const auto want = expected_bits(x);
  const std::size_t n = x.size();
  const auto r = run_policy<Suite, Policy>(seed, x);
  INFO(name << ", ring " << Ring::bits << ", compared bits " << L << ", n " << n);
  std::size_t wrong[3] = {};
  for (std::size_t i = 0; i < n; ++i) {
    wrong[0] += r.opened[0][i] != want[i];
    wrong[1] += r.opened[1][i] != want[i];
    wrong[2] += r.solo[i] != want[i];
  }
  CHECK(wrong[0] == 0);
  CHECK(wrong[1] == 0);
  CHECK(wrong[2] == 0);
  CHECK(r.share_in_01 < n / 100 + 2);  // a party's share of the bit looks uniform, not like a bit
  const auto rounds = static_cast<std::uint64_t>(Policy::template online_rounds<Ring>);
  const std::uint64_t bytes = Policy::template bytes_sent<Ring>(n);
  for (int p = 0; p < 2; ++p) {
    CHECK(r.cost[p].rounds == rounds);
    CHECK(r.cost[p].bytes_sent == bytes);
    CHECK(r.cost[p].bytes_received == bytes);
    CHECK(r.cost[p].dealer_requests == 1);
  }
  CHECK(r.cost[0].dealer_bytes == 0);
  CHECK(r.cost[1].dealer_bytes == Policy::template dealer_bytes<Ring>(n));
  CHECK(r.solo_cost.rounds == rounds);
  CHECK(r.solo_cost.bytes_sent == bytes);
  CHECK(r.solo_cost.bytes_received == bytes);
}
}  // namespace

TEST_CASE("comparison policies give exact sign bits on random and edge inputs", "[protocols][compare]") {
  SECTION("MaskedCompare, full width") {
    check_exact<Ring64, sf::MaskedCompare<>>("MaskedCompare<>", 21);
    check_exact<Ring32D, sf::MaskedCompare<>>("MaskedCompare<>", 22);
  }
  SECTION("CrypTenCompare") {
    check_exact<Ring64, sf::CrypTenCompare>("CrypTenCompare", 23);
    check_exact<Ring32D, sf::CrypTenCompare>("CrypTenCompare", 24);
  }
  SECTION("MaskedCompare with reduced widths (every shape of the plan)") {
    check_exact<Ring64, sf::MaskedCompare<31>>("MaskedCompare<31>", 25);  // 8 groups -> 2 -> arithmetic top
    check_exact<Ring64, sf::MaskedCompare<20>>("MaskedCompare<20>", 26);  // 5 groups -> 2 -> arithmetic top
    check_exact<Ring64, sf::MaskedCompare<12>>("MaskedCompare<12>", 27);  // 3 groups -> 1 -> B2A
    check_exact<Ring64, sf::MaskedCompare<7>>("MaskedCompare<7>", 28);    // 2 groups -> arithmetic top
    check_exact<Ring64, sf::MaskedCompare<3>>("MaskedCompare<3>", 29);    // 1 group -> B2A
    check_exact<Ring64, sf::MaskedCompare<47>>("MaskedCompare<47>", 30);  // 12 groups -> 3 -> 1 -> B2A
    check_exact<Ring32D, sf::MaskedCompare<16>>("MaskedCompare<16>", 31);
    check_exact<Ring32D, sf::MaskedCompare<30>>("MaskedCompare<30>", 32);
  }
}

TEST_CASE("documented costs of the comparison policies", "[protocols][compare][cost]") {
  using R64 = sf::Z2k<64>;
  using R32 = sf::Z2k<32>;
  STATIC_REQUIRE(sf::MaskedCompare<>::online_rounds<R64> == 4);
  STATIC_REQUIRE(sf::MaskedCompare<>::online_rounds<R32> == 3);
  STATIC_REQUIRE(sf::MaskedCompare<31>::online_rounds<R64> == 3);
  STATIC_REQUIRE(sf::MaskedCompare<7>::online_rounds<R64> == 2);
  STATIC_REQUIRE(sf::CrypTenCompare::online_rounds<R64> == 8);
  STATIC_REQUIRE(sf::CrypTenCompare::online_rounds<R32> == 7);
  // Bits per element for a multiple of 64 elements: c (64), level 1 (31), level 2 (7), B2A (1).
  CHECK(sf::MaskedCompare<>::bytes_sent<R64>(64 * 1000) * 8 == (64 + 31 + 7 + 1) * 64 * 1000);
  CHECK(sf::MaskedCompare<>::bytes_sent<R32>(32 * 1000) * 8 == (32 + 15 + 3) * 32 * 1000);
  CHECK(sf::MaskedCompare<31>::bytes_sent<R64>(64 * 1000) * 8 == (32 + 15 + 3) * 64 * 1000);
  CHECK(sf::CrypTenCompare::bytes_sent<R64>(1000) == 25 * 8 * 1000);
  CHECK(sf::CrypTenCompare::bytes_sent<R32>(1000) == 21 * 4 * 1000);
  CHECK(sf::CrypTenCompare::dealer_bytes<R64>(1000) == 38 * 8 * 1000);
  // Dealer: level 0 (232 planes), tree (134), B2A (1) planes per block of 64, plus one word each.
  CHECK(sf::MaskedCompare<>::dealer_bytes<R64>(64 * 1000) == (367 * 8 + 64 * 8) * 1000);
  // Partial blocks count whole.
  CHECK(sf::MaskedCompare<>::bytes_sent<R64>(65) == 2 * 103 * 8);
}

TEST_CASE("comparisons with constants and between shares, batched comparisons", "[protocols][compare]") {
  TestData d(41);
  auto x = d.uniform_array({6, 50}, -20, 20);
  auto y = d.uniform_array({6, 50}, -20, 20);
  const double lsb = 0x1.0p-16;
  // values right at and next to the constant 1.5
  x(0, 0) = 1.5, x(0, 1) = 1.5 - lsb, x(0, 2) = 1.5 + lsb, x(0, 3) = 0, y(0, 3) = 0, y(0, 4) = x(0, 4);
  std::array<xt::xarray<double>, 7> got[2];
  std::array<sf::Cost, 2> many_cost;
  sf::run_two_party<Ring64>(42, [&](auto& ctx) {
    constexpr int id = id_of<decltype(ctx)>;
    auto sx = ctx.input(sf::party<0>, x);
    auto sy = ctx.input(sf::party<1>, y);
    auto& g = got[id];
    g[0] = ctx.reveal(sf::less_than(sx, 1.5, ctx));
    g[1] = ctx.reveal(sf::greater_equal(sx, 1.5, ctx));
    g[2] = ctx.reveal(sf::greater_than(sx, 1.5, ctx));
    g[3] = ctx.reveal(sf::less_equal(sx, 1.5, ctx));
    g[4] = ctx.reveal(sf::less_than<sf::CrypTenCompare>(sx, sy, ctx));
    g[5] = ctx.reveal(sf::greater_equal(sx, sy, ctx));
    const auto before = ctx.stats().total();
    auto both = sf::ltz_many(std::vector{sx - 3.0, (sy + 3.0).slice(xt::range(0, 2), xt::all())}, ctx);
    many_cost[id] = ctx.stats().total() - before;
    const xt::xarray<double> b0 = ctx.reveal(both[0]), b1 = ctx.reveal(both[1]);
    g[6] = xt::xarray<double>(std::vector<std::size_t>{b0.size() + b1.size()});
    std::copy(b1.begin(), b1.end(), std::copy(b0.begin(), b0.end(), g[6].begin()));
  });
  xt::xarray<double> want[7];
  want[0] = xt::cast<double>(x < 1.5);
  want[1] = xt::cast<double>(x >= 1.5);
  want[2] = xt::cast<double>(x > 1.5);
  want[3] = xt::cast<double>(x <= 1.5);
  want[4] = xt::cast<double>(x < y);
  want[5] = xt::cast<double>(x >= y);
  xt::xarray<double> ys = xt::view(y, xt::range(0, 2), xt::all());
  want[6] = xt::xarray<double>(std::vector<std::size_t>{x.size() + ys.size()});
  for (std::size_t i = 0; i < x.size(); ++i) want[6](i) = x.flat(i) < 3.0 ? 1.0 : 0.0;
  for (std::size_t i = 0; i < ys.size(); ++i) want[6](x.size() + i) = ys.flat(i) < -3.0 ? 1.0 : 0.0;
  for (int p = 0; p < 2; ++p)
    for (int k = 0; k < 7; ++k) {
      INFO("party " << p << ", function " << k);
      const bool same = got[p][k] == want[k];
      CHECK(same);
    }
  for (int p = 0; p < 2; ++p) {
    CHECK(many_cost[p].rounds == sf::MaskedCompare<>::online_rounds<sf::Z2k<64>>);
    CHECK(many_cost[p].bytes_sent == sf::MaskedCompare<>::bytes_sent<sf::Z2k<64>>(300 + 100));
    CHECK(many_cost[p].dealer_requests == 1);
  }
}

namespace {
template <class Suite, class Policy>
void check_relu_select_max(std::uint64_t seed, double range) {
  using Ring = typename Suite::ring;
  using W = typename Ring::word_type;
  constexpr unsigned F = Suite::encoding::frac_bits;
  const double lsb = std::ldexp(1.0, -static_cast<int>(F));
  TestData d(seed);
  const auto x = d.uniform_array({5, 67}, -range, range);
  const auto y = d.uniform_array({5, 67}, -range, range);
  xt::xarray<double> out[2][6];
  sf::Cost relu_cost[2], max_cost[2], sel_cost[2];
  auto program = [&](auto& ctx, xt::xarray<double>* o, sf::Cost* rc, sf::Cost* mc, sf::Cost* sc) {
    auto sx = ctx.input(sf::party<0>, x);
    auto sy = ctx.input(sf::party<1>, y);
    auto t0 = ctx.stats().total();
    auto r = sf::relu<Policy>(sx, ctx);
    if (rc) *rc = ctx.stats().total() - t0;
    o[0] = ctx.reveal(r);
    auto b = sf::less_than<Policy>(sx, sy, ctx);
    t0 = ctx.stats().total();
    auto s = sf::select(b, sy, sx, ctx);  // x < y ? y : x = max(x, y)
    if (sc) *sc = ctx.stats().total() - t0;
    o[1] = ctx.reveal(s);
    t0 = ctx.stats().total();
    auto m1 = sf::max<Policy>(sx, 1, ctx);
    if (mc) *mc = ctx.stats().total() - t0;
    o[2] = ctx.reveal(m1);
    o[3] = ctx.reveal(sf::max<Policy>(sx, 0, ctx, true));
    o[4] = ctx.reveal(sf::max<Policy>(sx.reshape({335}), 0, ctx));
    // integers: select and max work on Int shares too
    auto ix = ctx.template input<sf::Int>(sf::party<0>, xt::round(x * 100.0));
    o[5] = ctx.reveal(sf::max<Policy>(ix, 1, ctx));
  };
  sf::run_two_party<Suite>(seed, [&](auto& ctx) {
    constexpr int id = id_of<decltype(ctx)>;
    program(ctx, out[id], &relu_cost[id], &max_cost[id], &sel_cost[id]);
  });
  xt::xarray<double> solo[6];
  sf::run_solo<Suite>(seed, [&](auto& ctx) { program(ctx, solo, nullptr, nullptr, nullptr); });
  // Inputs are rounded to the encoding (|e| <= lsb / 2); relu, select and max then are exact.
  const xt::xarray<double> xe = xt::round(x / lsb) * lsb, ye = xt::round(y / lsb) * lsb;
  xt::xarray<double> want[6];
  want[0] = xt::maximum(xe, 0.0);
  want[1] = xt::maximum(xe, ye);
  want[2] = xt::amax(xe, {1});
  want[3] = xt::amax(xe, {0}, xt::keep_dims);
  want[4] = xt::xarray<double>{xt::amax(xe)()};
  want[4].reshape(std::vector<std::size_t>{});
  want[5] = xt::amax(xt::round(x * 100.0), {1});
  for (int k = 0; k < 6; ++k) {
    INFO("ring " << Ring::bits << ", output " << k);
    for (int p = 0; p < 2; ++p) {
      REQUIRE(out[p][k].shape() == want[k].shape());
      CHECK(xt::amax(xt::abs(out[p][k] - want[k]))() == 0.0);
    }
    CHECK(xt::amax(xt::abs(solo[k] - want[k]))() == 0.0);
  }
  // Against the unrounded doubles: only the input encoding's rounding remains.
  const auto e_relu = sf::test::abs_error(out[0][0], xt::maximum(x, 0.0));
  const auto e_max = sf::test::abs_error(out[0][2], xt::amax(x, {1}));
  CHECK(e_relu.max <= lsb / 2);
  CHECK(e_max.max <= lsb / 2);
  CHECK(e_relu.mean <= lsb / 4);
  const auto sw = sizeof(W);
  for (int p = 0; p < 2; ++p) {
    CHECK(relu_cost[p].rounds == static_cast<std::uint64_t>(Policy::template relu_rounds<Ring>));
    CHECK(relu_cost[p].bytes_sent == Policy::template relu_bytes<Ring>(x.size()));
    CHECK(sel_cost[p].rounds == 1);
    CHECK(sel_cost[p].bytes_sent == 2 * x.size() * sw);
    CHECK(max_cost[p].rounds == static_cast<std::uint64_t>(Policy::template max_rounds<Ring>(67)));
    // 67 -> 34 -> 17 -> 9 -> 5 -> 3 -> 2 -> 1: comparisons and products of 33, 17, 8, 4, 2, 1, 1 pairs per row
    std::uint64_t bytes = 0;
    for (std::size_t pairs : {33, 17, 8, 4, 2, 1, 1}) bytes += Policy::template bytes_sent<Ring>(5 * pairs) + 2 * 5 * pairs * sw;
    CHECK(max_cost[p].bytes_sent == bytes);
  }
}
}  // namespace

TEST_CASE("relu, select and max against doubles", "[protocols][compare]") {
  SECTION("MaskedCompare") {
    check_relu_select_max<Ring64, sf::MaskedCompare<>>(51, 50.0);
    check_relu_select_max<Ring32D, sf::MaskedCompare<>>(52, 20.0);
    check_relu_select_max<Ring64, sf::MaskedCompare<31>>(53, 50.0);
  }
  SECTION("CrypTenCompare") {
    check_relu_select_max<Ring64, sf::CrypTenCompare>(54, 50.0);
    check_relu_select_max<Ring32D, sf::CrypTenCompare>(55, 20.0);
  }
}

TEST_CASE("the bit-width reduction fails as documented outside its range", "[protocols][compare][range]") {
  // MaskedCompare<20> in Z2k<64> with 16 fractional bits: exact for -2^20 <= x < 2^20 ring units
  // (-16 <= v < 16). Outside, the result is bit 20 of x mod 2^21: x = 2^20 + k (v >= 16) reads as
  // negative, x = -2^20 - 1 - k reads as non-negative, x = 2^21 + k is right again: deterministic,
  // periodic with period 2^21.
  using Pol = sf::MaskedCompare<20>;
  const std::int64_t m = std::int64_t(1) << 20;
  const std::vector<std::int64_t> vals = {m - 1, -m, m, m + 5, 2 * m - 1, -m - 1, -2 * m, 2 * m + 3, -2 * m - 3, 3 * m};
  const std::vector<std::uint64_t> computed = {0, 1, 1, 1, 1, 0, 0, 0, 1, 1};  // bit 20 of x mod 2^21
  xt::xarray<std::uint64_t> x(std::vector<std::size_t>{vals.size()});
  for (std::size_t i = 0; i < vals.size(); ++i) x(i) = static_cast<std::uint64_t>(vals[i]);
  std::vector<std::uint64_t> got[2];
  sf::run_two_party<Ring64>(61, [&](auto& ctx) {
    auto sx = ctx.template input_words<sf::Fixed<16>>(sf::party<0>, x);
    auto o = ctx.open(sf::ltz<Pol>(sx, ctx));
    got[id_of<decltype(ctx)>].assign(o.begin(), o.end());
  });
  for (int p = 0; p < 2; ++p) CHECK(got[p] == computed);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < vals.size(); ++i) wrong += computed[i] != (vals[i] < 0 ? 1u : 0u);
  CHECK(wrong == 6);  // x = m, m + 5, 2m - 1, -m - 1, -2m, 3m wrong; the in-range ends, 2m + 3 and -2m - 3 right
  // The simulation detects the inputs outside the range...
  CHECK_THROWS_AS(sf::run_solo<Ring64>(62,
                                       [&](auto& ctx) {
                                         auto sx = ctx.template input_words<sf::Fixed<16>>(sf::party<0>, x);
                                         (void)sf::ltz<Pol>(sx, ctx);
                                       }),
                  sf::range_error);
  // ...and accepts the ends of the range.
  xt::xarray<std::uint64_t> ends = {static_cast<std::uint64_t>(m - 1), static_cast<std::uint64_t>(-m)};
  std::vector<std::uint64_t> solo;
  sf::run_solo<Ring64>(63, [&](auto& ctx) {
    auto o = ctx.open(sf::ltz<Pol>(ctx.template input_words<sf::Fixed<16>>(sf::party<0>, ends), ctx));
    solo.assign(o.begin(), o.end());
  });
  CHECK(solo == std::vector<std::uint64_t>{0, 1});
  // The same check through doubles: less_than(x, c) needs |x - c| < 16 here.
  CHECK_THROWS_AS(sf::run_solo<Ring64>(64, [&](auto& ctx) {
                    (void)sf::less_than<Pol>(ctx.input(sf::party<0>, xt::xarray<double>{10.0, -7.0}), -7.0, ctx);
                  }),
                  sf::range_error);
  // The message names the policy and the range in ring units (the one format of protocols/trunc.hpp).
  CHECK_THROWS_WITH(sf::run_solo<Ring64>(64, [&](auto& ctx) {
                      (void)sf::less_than<Pol>(ctx.input(sf::party<0>, xt::xarray<double>{10.0, -7.0}), -7.0, ctx);
                    }),
                    Catch::Contains("(ring units): input 1114112 outside the documented range [-1048576, 1048575]"));
}
