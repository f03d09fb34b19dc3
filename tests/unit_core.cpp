// Unit tests of the core layer, the channels, the PRG, the dealer wire format and the context.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <secformer/channel/shaped.hpp>
#include <secformer/secformer.hpp>

#include "support/test_data.hpp"

namespace sf = secformer;
using sf::test::TestData;
using W64 = std::uint64_t;
using S0 = sf::Shared<sf::Fixed<16>, sf::Z2k<64>, sf::Party<0>>;
using S1 = sf::Shared<sf::Fixed<16>, sf::Z2k<64>, sf::Party<1>>;

TEST_CASE("fixed-point encoding round trip and range checks", "[core]") {
  using E = sf::Fixed<16>;
  TestData d(1);
  for (int i = 0; i < 1000; ++i) {
    const double v = d.uniform(-1e6, 1e6);
    const double back = sf::decode_one<E, sf::Z2k64>(sf::encode_one<E, sf::Z2k64>(v));
    REQUIRE(std::abs(back - v) <= 0x1.0p-17);
  }
  CHECK(sf::encode_one<E, sf::Z2k64>(-1.0) == W64(0) - W64(65536));
  CHECK(sf::decode_one<sf::Fixed<12>, sf::Z2k32>(sf::encode_one<sf::Fixed<12>, sf::Z2k32>(-3.25)) == -3.25);
  CHECK_THROWS_AS((sf::encode_one<E, sf::Z2k64>(std::nan(""))), sf::usage_error);
  CHECK_THROWS_AS((sf::encode_one<E, sf::Z2k64>(1e300)), sf::usage_error);
  CHECK_THROWS_AS((sf::encode_one<sf::Fixed<12>, sf::Z2k32>(6e5)), sf::usage_error);  // > 2^31 / 2^12
  static_assert(std::is_same_v<sf::product_t<E>, sf::Scaled<E, 32>>);
  static_assert(std::is_same_v<sf::product_t<sf::Int>, sf::Int>);
  static_assert(!sf::encoding_fits_v<sf::Fixed<16>, sf::Z2k32>);
  static_assert(sf::encoding_fits_v<sf::Fixed<15>, sf::Z2k32>);
}

TEST_CASE("local operations on shares reconstruct to the plaintext operation", "[core]") {
  TestData d(2);
  const xt::xarray<double> a = d.uniform_array({3, 4}, -100, 100), b = d.uniform_array({3, 4}, -100, 100);
  // Split by hand: x0 = enc(x) - r, x1 = r.
  auto split = [&](const xt::xarray<double>& v) {
    xt::xarray<W64> r(v.shape());
    for (auto& w : r) w = d.next();
    return std::pair{S0(xt::xarray<W64>(sf::encode<sf::Fixed<16>, sf::Z2k64>(v) - r)), S1(r)};
  };
  auto value = [](const auto& x0, const auto& x1) {
    using E = typename std::remove_cvref_t<decltype(x0)>::encoding_type;
    return sf::decode<E, sf::Z2k64>(xt::xarray<W64>(x0.share() + x1.share()));
  };
  auto [a0, a1] = split(a);
  auto [b0, b1] = split(b);
  CHECK(xt::allclose(value(a0 + b0, a1 + b1), a + b, 0, 1e-4));
  CHECK(xt::allclose(value(a0 - b0, a1 - b1), a - b, 0, 1e-4));
  CHECK(xt::allclose(value(-a0, -a1), -a, 0, 1e-4));
  CHECK(xt::allclose(value(a0 * 3, a1 * 3), a * 3.0, 0, 1e-4));
  CHECK(xt::allclose(value(a0 + 2.5, a1 + 2.5), a + 2.5, 0, 1e-4));
  CHECK(xt::allclose(value(a0.add_public(xt::xarray<double>{1, 2, 3, 4}), a1.add_public(xt::xarray<double>{1, 2, 3, 4})),
                     a + xt::xarray<double>{1, 2, 3, 4}, 0, 1e-4));
  CHECK(xt::allclose(value(a0.sum(1), a1.sum(1)), xt::sum(a, {1}), 0, 1e-3));
  CHECK(value(a0.sum(0, true), a1.sum(0, true)).shape() == std::vector<std::size_t>{1, 4});
  CHECK(xt::allclose(value(a0.transpose(), a1.transpose()), xt::transpose(a), 0, 1e-4));
  CHECK(xt::allclose(value(a0.reshape({4, 3}), a1.reshape({4, 3})), xt::reshape_view(a, {4, 3}), 0, 1e-4));
  CHECK(xt::allclose(value(a0.slice(xt::range(1, 3), xt::all()), a1.slice(xt::range(1, 3), xt::all())),
                     xt::view(a, xt::range(1, 3), xt::all()), 0, 1e-4));
  CHECK(xt::allclose(value(sf::concatenate(std::vector{a0, b0}, 1), sf::concatenate(std::vector{a1, b1}, 1)),
                     xt::concatenate(xt::xtuple(a, b), 1), 0, 1e-4));
  // A public real scales to the doubled encoding; decoding it at 2F bits gives the product.
  CHECK(xt::allclose(value(a0 * 0.5, a1 * 0.5), a * 0.5, 0, 1e-4));
  // Bad shapes are clear errors, not crashes.
  CHECK_THROWS_AS(a0 + a0.reshape({4, 3}), sf::usage_error);
  CHECK_THROWS_AS(a0.reshape({5, 3}), sf::usage_error);
  CHECK_THROWS_AS(a0.sum(2), sf::usage_error);
  CHECK_THROWS_AS(a0.add_public(xt::xarray<double>{1, 2, 3}), sf::usage_error);
  CHECK_THROWS_AS(sf::concatenate(std::vector{a0, a0.reshape({4, 3})}, 0), sf::usage_error);
}

TEST_CASE("AES-CTR PRG: keyed, reproducible, independent streams", "[core][prg]") {
  const auto k = sf::Seed::from_test_seed(5);
  sf::Prg p1(k, 0), p2(k, 0), p3(k, 1), p4(sf::Seed::from_test_seed(6), 0);
  std::vector<W64> a(64), b(64), c(64), e(64);
  p1.fill(std::span<W64>(a));
  p2.fill(std::span<W64>(b));
  p3.fill(std::span<W64>(c));
  p4.fill(std::span<W64>(e));
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != e);
  CHECK_FALSE(sf::Seed::from_os() == sf::Seed::from_os());
  // Consecutive fills continue the stream.
  sf::Prg q(k, 0);
  std::vector<W64> h1(32), h2(32);
  q.fill(std::span<W64>(h1));
  q.fill(std::span<W64>(h2));
  CHECK(std::equal(h1.begin(), h1.end(), a.begin()));
  CHECK(std::equal(h2.begin(), h2.end(), a.begin() + 32));
}

namespace {
/// Chi-square statistics of a set of 64-bit words: per bit position (1 dof each, summed: 64 dof)
/// and of the byte histogram (255 dof per byte position, summed over the 8 positions: 2040 dof).
/// Returns the larger of the two normalised deviations (statistic - dof) / sqrt(2 dof).
double uniformity_z(const std::vector<W64>& words) {
  const double n = static_cast<double>(words.size());
  double bits_stat = 0;
  for (int b = 0; b < 64; ++b) {
    double ones = 0;
    for (W64 w : words) ones += static_cast<double>((w >> b) & 1);
    const double e = n / 2;
    bits_stat += (ones - e) * (ones - e) / e + ((n - ones) - e) * ((n - ones) - e) / e;
  }
  double bytes_stat = 0;
  for (int pos = 0; pos < 8; ++pos) {
    std::vector<double> h(256, 0);
    for (W64 w : words) h[(w >> (8 * pos)) & 0xff] += 1;
    const double e = n / 256;
    for (double c : h) bytes_stat += (c - e) * (c - e) / e;
  }
  const double z1 = (bits_stat - 64) / std::sqrt(2 * 64.0);
  const double z2 = (bytes_stat - 2040) / std::sqrt(2 * 2040.0);
  return std::max(z1, z2);
}
}  // namespace

TEST_CASE("a party's share of a fixed secret is indistinguishable from uniform", "[security]") {
  // 2^16 sharings of the same secret 3.5 (each element of the tensor is an independent sharing).
  const std::size_t n = 1 << 16;
  const xt::xarray<double> secret = xt::ones<double>({n}) * 3.5;
  std::vector<W64> share0, share1, product1;
  sf::run_two_party(11, [&](auto& ctx) {
    auto x = ctx.input(sf::party<1>, secret);
    auto y = ctx.input(sf::party<0>, secret);
    auto z = sf::mul_raw(x, y, ctx);  // the raw product's shares must be uniform too
    if constexpr (std::decay_t<decltype(ctx)>::id == 0) share0.assign(x.share().begin(), x.share().end());
    else {
      share1.assign(x.share().begin(), x.share().end());
      product1.assign(z.share().begin(), z.share().end());
    }
  });
  // Under uniformity, z is about N(0, 1); 6 is far in the tail for a fixed seed.
  CHECK(uniformity_z(share0) < 6);
  CHECK(uniformity_z(share1) < 6);
  CHECK(uniformity_z(product1) < 6);
  // With the mask removed, the owner's share is the encoding itself: the test must reject it.
  std::vector<W64> unmasked(n, sf::encode_one<sf::Fixed<16>, sf::Z2k64>(3.5));
  CHECK(uniformity_z(unmasked) > 100);
  // A weak mask (only the low 32 bits random) is rejected too.
  std::vector<W64> weak = share1;
  for (auto& w : weak) w &= 0xffffffffull;
  CHECK(uniformity_z(weak) > 100);
}

TEST_CASE("in-memory channel: messages, sizes, closing and timeouts", "[channel]") {
  auto [a, b] = sf::MemoryChannel::make_pair(std::chrono::milliseconds(200));
  std::vector<std::byte> msg{std::byte{1}, std::byte{2}, std::byte{3}};
  a.send(msg);
  std::vector<std::byte> in(3);
  b.recv(in);
  CHECK(in == msg);
  a.send(msg);
  std::vector<std::byte> wrong(2);
  CHECK_THROWS_AS(b.recv(wrong), sf::channel_error);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(b.recv(in), Catch::Contains("timed out"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    a.close();
  });
  CHECK_THROWS_WITH(b.recv(in), Catch::Contains("closed"));
  closer.join();
  CHECK_THROWS_AS(b.send(msg), sf::channel_error);
}

TEST_CASE("dealer rejects malformed requests", "[dealer]") {
  auto check_bad = [](std::vector<std::byte> request, const char* what) {
    auto [d0, p0] = sf::MemoryChannel::make_pair(std::chrono::milliseconds(2000));
    auto [d1, p1] = sf::MemoryChannel::make_pair(std::chrono::milliseconds(2000));
    sf::Dealer dealer(sf::Seed::from_test_seed(1));
    p1.send(request);
    CHECK_THROWS_WITH(dealer.serve(d0, d1), Catch::Contains(what));
  };
  namespace w = sf::dealer_wire;
  std::vector<std::byte> bad_magic;
  w::put32(bad_magic, 0x1234);
  w::put32(bad_magic, 1);
  check_bad(bad_magic, "bad magic");
  std::vector<std::byte> truncated;
  w::put32(truncated, w::magic);
  w::put32(truncated, 1);
  w::put64(truncated, 0);
  check_bad(truncated, "truncated");
  std::vector<std::byte> unknown;
  w::put32(unknown, w::magic);
  w::put32(unknown, 1);
  w::put64(unknown, 0);
  w::put32(unknown, 9999);
  w::put32(unknown, 64);
  w::put32(unknown, 0);
  check_bad(unknown, "unknown kind");
  std::vector<std::byte> huge;  // a 2^40-element triple must not be allocated
  w::put32(huge, w::magic);
  w::put32(huge, 1);
  w::put64(huge, 0);
  w::put32(huge, sf::material::Triple::id);
  w::put32(huge, 64);
  w::put32(huge, 3);
  w::put64(huge, 2);
  w::put64(huge, 1u << 20);
  w::put64(huge, 1u << 20);
  check_bad(huge, "too large");
}

TEST_CASE("statistics are counted per tag, nested tags once", "[context]") {
  sf::Stats s;
  sf::Cost c;
  c.rounds = 1;
  c.bytes_sent = 8;
  s.add({"gelu", "mul"}, c);
  s.add({"gelu", "mul", "mul"}, c);
  s.add({}, c);
  CHECK(s.total().rounds == 3);
  CHECK(s["gelu"].rounds == 2);
  CHECK(s["mul"].rounds == 2);
  CHECK(s["nothing"].rounds == 0);
}

// What protocols need of a context, checked on the library's contexts (run.hpp checks them too).
static_assert(sf::protocol_context<sf::SoloContext<>> && sf::protocol_context<sf::MemoryContext<sf::Party<1>>>);
static_assert(sf::protocol_context<sf::RecordingContext<sf::SecFormerSuite>>);
static_assert(sf::dealer_client<sf::SoloDealer> && sf::dealer_client<sf::DealerClient<sf::Party<0>, sf::MemoryChannel>>);
static_assert(!sf::protocol_context<sf::NullChannel> && !sf::dealer_client<sf::NullChannel>);

TEST_CASE("open_through: a runtime list of shares opens in one round, as the variadic form", "[context]") {
  const xt::xarray<double> a{1.5, -2.0, 3.25}, b{{0.5, 4.0}, {-1.0, 2.5}};
  auto stats = sf::run_two_party(11, [&](auto& ctx) {
    auto sa = ctx.input(sf::party<0>, a);
    auto sb = ctx.input(sf::party<1>, b);
    const auto before = ctx.stats().total();
    auto list = sf::detail::open_through(ctx, std::vector<decltype(sa)>{sa, sb, sa});
    const auto one = ctx.stats().total() - before;
    CHECK(one.rounds == 1);
    CHECK(one.bytes_sent == (2 * a.size() + b.size()) * sizeof(W64));
    REQUIRE(list.size() == 3);
    auto [wa, wb] = ctx.open_many(sa, sb);
    CHECK((list[0] == wa));
    CHECK((list[1] == wb));
    CHECK((list[2] == wa));
    CHECK(list[1].shape() == b.shape());
    CHECK((sf::decode<sf::Fixed<16>, sf::Z2k64>(list[1]) == b));
    CHECK(sf::detail::open_through(ctx, std::vector<decltype(sa)>{}).empty());
  });
  CHECK(stats[0].total().rounds == stats[1].total().rounds);
}

TEST_CASE("shaped channel: delays each message by rtt/2 + bytes/bandwidth, content intact", "[channel][shaped]") {
  // 8 Mbit/s (1 byte per microsecond), 20 ms RTT: a 10000-byte message takes 10 ms + 10 ms.
  const sf::LinkShape link = sf::LinkShape::parse("8mbit,20ms");
  CHECK(link.bits_per_second == Approx(8e6));
  CHECK(link.rtt == std::chrono::milliseconds(20));
  CHECK(link.message_seconds(10000) == Approx(0.020));
  auto [a, b] = sf::MemoryChannel::make_pair(std::chrono::milliseconds(5000));
  sf::ShapedChannel<sf::MemoryChannel> sa(std::move(a), link), sb(std::move(b), link);
  std::vector<std::byte> m0(10000, std::byte{7}), m1(10000, std::byte{9}), in0(10000), in1(10000);
  const auto t0 = std::chrono::steady_clock::now();
  std::thread peer([&] { sb.exchange(m1, in1); });
  sa.exchange(m0, in0);
  peer.join();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(in0 == m1);
  CHECK(in1 == m0);
  CHECK(dt >= 0.020);  // both directions at once: one message time, not two
  CHECK(sa.delayed() == std::chrono::milliseconds(20));
  CHECK(sa.messages() == 1);
  // One-way messages: the receiver sees them after the delay.
  const auto t1 = std::chrono::steady_clock::now();
  std::thread sender([&] { sa.send(std::span<const std::byte>(m0.data(), 2000)); });
  std::vector<std::byte> part(2000);
  sb.recv(part);
  sender.join();
  CHECK(std::chrono::steady_clock::now() - t1 >= std::chrono::milliseconds(12));
  CHECK(part[0] == std::byte{7});
  // The estimate charges the same per round: 3 rounds, 30000 bytes on this link = 30 ms + 30 ms.
  CHECK(sf::estimate_online_seconds(0.5, 3, 30000, link) == Approx(0.56));
  CHECK(sf::estimate_online_seconds(0.5, 3, 30000, sf::LinkShape{}) == Approx(0.5));
  // Presets and bad input.
  CHECK(sf::LinkShape::parse("lan").bits_per_second == Approx(3e9));
  CHECK(sf::LinkShape::parse("wan").rtt == std::chrono::milliseconds(40));
  CHECK(sf::LinkShape::parse("1gbit,0.5ms").rtt == std::chrono::microseconds(500));
  CHECK_THROWS_AS(sf::LinkShape::parse("fast"), sf::usage_error);
  CHECK_THROWS_AS(sf::LinkShape::parse("1gbit,5parsecs"), sf::usage_error);
  CHECK_THROWS_AS(sf::LinkShape::parse("-1gbit,1ms"), sf::usage_error);
  CHECK_THROWS_AS(sf::LinkShape::parse("0gbit,1ms"), sf::usage_error);
  CHECK_THROWS_AS(sf::LinkShape::parse("xgbit,1ms"), sf::usage_error);
}

// =====================================================================================================
// Cost cards ([cards]): every policy in include/secformer/protocols/ opens with a card in the fixed
// format of docs/protocols.md#cost-cards, and the card's rounds, online and dealer bytes agree with the
// policy's cost traits (or, where it has none, with a two-party run). Cards are looked up by name in
// every header under include/secformer/protocols/, so a policy may move between headers. To rename a
// policy type, change only its row in card_table().
namespace cards {
namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE(f.good());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream s(text);
  for (std::string l; std::getline(s, l);) out.push_back(l);
  return out;
}
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}
fs::path source_dir() { return fs::path(SECFORMER_SOURCE_DIR); }
std::vector<fs::path> headers_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".hpp") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

struct Card {
  std::string name, where;  // where: file:line of the card's first line
  std::vector<std::pair<std::string, std::string>> rows;
  std::string row(const std::string& key) const {
    for (const auto& [k, v] : rows)
      if (k == key) return v;
    return {};
  }
};
const std::vector<std::string> card_keys = {"paper", "rounds", "online", "dealer", "error", "range"};

/// The first identifier of a card name ("GoldschmidtRsqrt<EtaStart<0>, 7>" -> "GoldschmidtRsqrt").
std::string base_name(const std::string& name) {
  const auto e = name.find_first_of("<( :");
  return name.substr(0, e);
}

/// A card starts at a "/// Name: what" line followed by "/// | paper ..."; its rows are the "/// | key | value" lines.
std::vector<Card> parse_cards(const fs::path& file, const std::vector<std::string>& ls) {
  std::vector<Card> out;
  for (std::size_t i = 0; i + 1 < ls.size(); ++i) {
    const std::string a = trim(ls[i]), b = trim(ls[i + 1]);
    if (a.rfind("/// ", 0) != 0 || a.rfind("/// |", 0) == 0 || b.rfind("/// | paper", 0) != 0) continue;
    Card c;
    c.where = file.filename().string() + ":" + std::to_string(i + 1);
    const auto colon = a.find(": ");
    c.name = colon == std::string::npos ? a.substr(4) : a.substr(4, colon - 4);
    for (std::size_t j = i + 1; j < ls.size() && trim(ls[j]).rfind("/// |", 0) == 0; ++j) {
      const std::string r = trim(ls[j]).substr(5);
      const auto bar = r.find('|');
      c.rows.emplace_back(trim(r.substr(0, bar)), bar == std::string::npos ? std::string() : trim(r.substr(bar + 1)));
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// The leading number of a card row and the tolerance its printed digits imply.
struct Figure {
  bool ok = false;
  double value = 0, tolerance = 0;
  std::string unit;
};
Figure figure(const std::string& row) {
  Figure f;
  std::size_t end = 0;
  while (end < row.size() && (std::isdigit(static_cast<unsigned char>(row[end])) || row[end] == '.')) ++end;
  if (end == 0) return f;
  const std::string num = row.substr(0, end);
  const auto dot = num.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(num.size() - dot - 1);
  f.ok = true;
  f.value = std::stod(num);
  f.tolerance = 0.5 * std::pow(10.0, -decimals) + 1e-9;
  f.unit = trim(row.substr(end));
  return f;
}

/// A policy's costs: from its traits, or measured (rounds, online bytes per element per party,
/// dealer bytes per element to party 1). Unset: the card's figure is not checked (stated there as a
/// measurement with its command).
struct Costs {
  std::optional<double> rounds, online, dealer;
};

using Suite64 = sf::Basic<sf::Fixed<16, sf::trunc::Local>, sf::Z2k<64>>;
using R64 = sf::Z2k<64>;

/// Runs f(ctx) two-party; f returns the element counts that the online and dealer figures are per.
template <class F>
Costs measure(F&& f) {
  sf::Cost cost[2];
  std::pair<double, double> per{1, 1};
  sf::run_two_party<Suite64>(90, [&](auto& ctx) {
    constexpr int id = std::remove_cvref_t<decltype(ctx)>::id;
    auto run = f(ctx);  // returns {online elements, dealer elements, cost}
    cost[id] = std::get<2>(run);
    if (id == 0) per = {std::get<0>(run), std::get<1>(run)};
  });
  CHECK(cost[0].rounds == cost[1].rounds);
  CHECK(cost[0].bytes_sent == cost[1].bytes_sent);
  return {static_cast<double>(cost[0].rounds), static_cast<double>(cost[0].bytes_sent) / per.first,
          static_cast<double>(cost[1].dealer_bytes) / per.second};
}
/// The cost of op(x, ctx) alone on an input x (n elements; both figures per element of x).
template <class Op>
Costs measure_unary(const xt::xarray<double>& x, Op op) {
  return measure([&](auto& ctx) {
    auto sx = ctx.input(sf::party<0>, x);
    const auto before = ctx.stats().total();
    auto y = op(sx, ctx);
    (void)y;
    return std::tuple<double, double, sf::Cost>{static_cast<double>(x.size()), static_cast<double>(x.size()), ctx.stats().total() - before};
  });
}
xt::xarray<double> uniform_input(std::vector<std::size_t> shape, double lo, double hi) {
  TestData d(91);
  return d.uniform_array(shape, lo, hi);
}

template <class Cmp>
Costs compare_traits() {
  constexpr std::size_t n = 64 * 1024;
  return {Cmp::template online_rounds<R64>, static_cast<double>(Cmp::template bytes_sent<R64>(n)) / n,
          static_cast<double>(Cmp::template dealer_bytes<R64>(n)) / n};
}
template <class G, bool DealerTrait>
Costs gelu_traits() {
  constexpr std::size_t n = 64 * 1024;
  Costs c{G::online_rounds, static_cast<double>(G::template bytes_sent<>(n)) / n, {}};
  if constexpr (DealerTrait) {
    using Seg = typename G::template segment<R64, 16>::type;
    c.dealer = 8.0 * static_cast<double>(G::template dealer_words_per_element<>) +
               static_cast<double>(Seg::template dealer_bytes<R64>(2 * n)) / n;
  } else {
    c.dealer = measure_unary(uniform_input({1024}, -6, 6), [](auto& s, auto& ctx) { return sf::gelu<G>(s, ctx); }).dealer;
  }
  return c;
}
template <class P>
Costs words_traits() {  // policies with words_per_element and dealer_words_per_element
  return {P::online_rounds, 8.0 * P::words_per_element, 8.0 * P::dealer_words_per_element};
}
template <class P>
Costs softmax_traits() {  // rows of 128 entries
  constexpr std::size_t rows = 12 * 128, n = 128;
  return {P::online_rounds, static_cast<double>(P::template bytes_sent<R64>(rows, n)) / (rows * n),
          static_cast<double>(P::template dealer_bytes<R64>(rows, n)) / (rows * n)};
}
template <class P>
Costs layernorm_traits() {  // 128 rows of 768, gamma secret
  constexpr std::size_t rows = 128, n = 768;
  Costs c{P::online_rounds, static_cast<double>(P::bytes_sent(rows, n)) / (rows * n), {}};
  if constexpr (requires { P::dealer_bytes(rows, n); }) {
    c.dealer = static_cast<double>(P::dealer_bytes(rows, n)) / (rows * n);
  } else {
    // No dealer trait: measured on 4 rows of 768 (the per-row material is per row, so the figure per
    // element is the same for any number of rows).
    TestData d(92);
    const auto x = d.normal_array({4, n}, 1.0);
    c.dealer = measure([&](auto& ctx) {
                 auto sx = ctx.input(sf::party<0>, x);
                 auto g = ctx.input(sf::party<0>, xt::xarray<double>(xt::ones<double>({n})));
                 auto b = ctx.input(sf::party<0>, xt::xarray<double>(xt::zeros<double>({n})));
                 const auto before = ctx.stats().total();
                 auto y = sf::layernorm<P>(sx, g, b, ctx);
                 (void)y;
                 return std::tuple<double, double, sf::Cost>{1.0 * x.size(), 1.0 * x.size(), ctx.stats().total() - before};
               }).dealer;
  }
  return c;
}
template <class P>
Costs elementwise_traits(double lo, double hi) {  // rsqrt / sqrt policies: bytes_sent(m); dealer from a trait or a run
  constexpr std::size_t m = 1024;
  Costs c{P::online_rounds, static_cast<double>(P::bytes_sent(m)) / m, {}};
  if constexpr (requires { P::dealer_bytes(m); }) c.dealer = static_cast<double>(P::dealer_bytes(m)) / m;
  else c.dealer = measure_unary(uniform_input({m}, lo, hi), [](auto& s, auto& ctx) { return P::eval(s, ctx); }).dealer;
  return c;
}

/// Every card name and the costs of the type it names (Fixed<16>, Z2k<64>, trunc::Local).
std::map<std::string, std::function<Costs()>> card_table() {
  using GE = sf::GoldschmidtRsqrt<sf::EtaStart<0>, 7>;
  return {
      {"MaskedCompare", [] { return compare_traits<sf::MaskedCompare<>>(); }},
      {"CrypTenCompare", [] { return compare_traits<sf::CrypTenCompare>(); }},
      {"SecFormerGelu", [] { return gelu_traits<sf::SecFormerGelu, true>(); }},
      {"PumaGelu", [] { return gelu_traits<sf::PumaGelu, false>(); }},
      {"QuadGelu", [] { return gelu_traits<sf::QuadGelu, false>(); }},
      {"CrypTenGelu", [] { return gelu_traits<sf::CrypTenGelu, false>(); }},
      {"GoldschmidtReciprocal", [] { return words_traits<sf::GoldschmidtReciprocal<>>(); }},
      {"NewtonReciprocal", [] { return words_traits<sf::NewtonReciprocal<>>(); }},
      {"CrypTenExp", [] { return words_traits<sf::CrypTenExp>(); }},
      {"Quad2Softmax", [] { return softmax_traits<sf::Quad2Softmax>(); }},
      {"MPCFormerSoftmax", [] { return softmax_traits<sf::MPCFormerSoftmax>(); }},
      {"CrypTenSoftmax", [] { return softmax_traits<sf::CrypTenSoftmax>(); }},
      {"PumaSoftmax", [] { return softmax_traits<sf::PumaSoftmax>(); }},
      {"SecFormerLayerNorm", [] { return layernorm_traits<sf::SecFormerLayerNorm>(); }},
      {"PumaLayerNorm", [] { return layernorm_traits<sf::PumaLayerNorm>(); }},
      {"ReferenceSecFormerLayerNorm", [] { return layernorm_traits<sf::ReferenceSecFormerLayerNorm>(); }},
      {"CrypTenLayerNorm", [] { return layernorm_traits<sf::CrypTenLayerNorm>(); }},
      {"GoldschmidtRsqrt", [] { return elementwise_traits<sf::GoldschmidtRsqrt<>>(1e-3, 1e4); }},
      {"GoldschmidtRsqrt<EtaStart<0>, 7>", [] { return elementwise_traits<GE>(0.1, 2.5); }},
      {"NewtonRsqrt", [] { return elementwise_traits<sf::NewtonRsqrt<>>(0.1, 100); }},
      {"CrypTenSqrt", [] { return elementwise_traits<sf::CrypTenSqrt>(0.1, 100); }},
      // Protocols without cost traits: measured.
      {"mul", [] {
         const auto x = uniform_input({1024}, -4, 4), y = uniform_input({1024}, -2, 2);
         return measure([&](auto& ctx) {
           auto sx = ctx.input(sf::party<0>, x), sy = ctx.input(sf::party<1>, y);
           const auto before = ctx.stats().total();
           auto z = sf::mul(sx, sy, ctx);
           (void)z;
           return std::tuple<double, double, sf::Cost>{1024.0, 1024.0, ctx.stats().total() - before};
         });
       }},
      {"square", [] { return measure_unary(uniform_input({1024}, -4, 4), [](auto& s, auto& ctx) { return sf::square(s, ctx); }); }},
      {"matmul", [] {
         const auto x = uniform_input({16, 32}, -1, 1), y = uniform_input({32, 8}, -1, 1);
         return measure([&](auto& ctx) {
           auto sx = ctx.input(sf::party<0>, x), sy = ctx.input(sf::party<1>, y);
           const auto before = ctx.stats().total();
           auto z = sf::matmul(sx, sy, ctx);
           (void)z;
           return std::tuple<double, double, sf::Cost>{16.0 * 32 + 32.0 * 8, 16.0 * 8, ctx.stats().total() - before};
         });
       }},
      {"matmul(X, MaskedWeight)", [] {
         const auto x = uniform_input({16, 32}, -1, 1), w = uniform_input({32, 8}, -1, 1);
         return measure([&](auto& ctx) {
           auto sx = ctx.input(sf::party<0>, x);
           auto pw = sf::prepare_weight(ctx.input(sf::party<1>, w), ctx);
           const auto before = ctx.stats().total();
           auto z = sf::matmul(sx, pw, ctx);
           (void)z;
           return std::tuple<double, double, sf::Cost>{16.0 * 32, 16.0 * 8, ctx.stats().total() - before};
         });
       }},
      {"trunc::Local", [] {
         return measure_unary(uniform_input({1024}, -4, 4),
                              [](auto& s, auto& ctx) { return sf::truncate_by<sf::Fixed<16>, sf::trunc::Local>(s, 8, ctx); });
       }},
      {"trunc::Dealer", [] {
         return measure_unary(uniform_input({1024}, -4, 4),
                              [](auto& s, auto& ctx) { return sf::truncate_by<sf::Fixed<16>, sf::trunc::Dealer>(s, 8, ctx); });
       }},
      {"erf_fourier", [] { return measure_unary(uniform_input({1024}, -2, 2), [](auto& s, auto& ctx) { return sf::erf_fourier(s, ctx); }); }},
  };
}

/// GitHub's anchor of a Markdown heading: lower case, spaces to '-', other punctuation dropped.
std::string anchor_of(const std::string& heading) {
  std::string a;
  for (char ch : heading) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u)) a += static_cast<char>(std::tolower(u));
    else if (ch == ' ' || ch == '-') a += '-';
    else if (ch == '_') a += '_';
  }
  return a;
}
std::set<std::string> anchors_of(const fs::path& md) {
  std::set<std::string> out;
  for (const auto& l : lines_of(read_text(md)))
    if (l.rfind("#", 0) == 0) {
      const auto b = l.find_first_not_of('#');
      out.insert(anchor_of(trim(l.substr(b))));
    }
  return out;
}

/// Top-level structs of a header whose body declares online_rounds (or that derive from such a
/// struct): {name, line index}.
std::vector<std::pair<std::string, std::size_t>> policy_structs(const std::vector<std::string>& ls, std::set<std::string>& policies) {
  static const std::regex head(R"(^struct (\w+)(<.*>)?( : (\w+).*)? \{)");
  static const std::regex rounds(R"(\bonline_rounds(_for)?\b.*=|\bonline_rounds_for\()");
  std::vector<std::pair<std::string, std::size_t>> out;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(ls[i], m, head)) continue;
    bool policy = m[4].matched && policies.count(m[4].str()) > 0;
    const bool one_line = ls[i].find("};") != std::string::npos;  // struct X : Y {};
    for (std::size_t j = i + 1; !one_line && j < ls.size() && ls[j].rfind("};", 0) != 0; ++j)
      if (std::regex_search(ls[j], rounds)) policy = true;
    if (!policy) continue;
    policies.insert(m[1].str());
    out.emplace_back(m[1].str(), i);
  }
  return out;
}
}  // namespace cards

TEST_CASE("every protocol policy has a cost card that matches its cost traits", "[cards]") {
  using namespace cards;
  const fs::path protocols = source_dir() / "include" / "secformer" / "protocols";
  const fs::path docs = source_dir() / "docs" / "protocols.md";
  REQUIRE(fs::exists(docs));
  const std::set<std::string> anchors = anchors_of(docs);
  const auto table = card_table();

  std::map<std::string, Card> found;
  std::set<std::string> policies;
  for (const auto& h : headers_under(protocols)) {
    const std::string text = read_text(h);
    const auto ls = lines_of(text);
    const auto cs = parse_cards(h, ls);
    for (const auto& c : cs) {
      INFO("card " << c.name << " at " << c.where);
      CHECK(found.count(c.name) == 0);  // one card per name
      found[c.name] = c;
    }
    // Every policy struct: a card directly above it (only template and requires lines between), named
    // after the struct or after an alias of it declared in the same header.
    for (const auto& [name, at] : policy_structs(ls, policies)) {
      INFO("policy " << name << " at " << h.filename().string() << ":" << at + 1);
      std::size_t k = at;
      while (k > 0 && (trim(ls[k - 1]).rfind("template <", 0) == 0 || trim(ls[k - 1]).rfind("requires", 0) == 0)) --k;
      std::size_t top = k;
      while (top > 0 && trim(ls[top - 1]).rfind("///", 0) == 0) --top;
      std::vector<std::string> block(ls.begin() + static_cast<std::ptrdiff_t>(top), ls.begin() + static_cast<std::ptrdiff_t>(k));
      bool has_card = false;
      for (const auto& c : parse_cards(h, block)) {
        const std::string b = base_name(c.name);
        if (b == name || std::regex_search(text, std::regex("using " + b + " = " + name + "[<;]"))) has_card = true;
      }
      CHECK(has_card);
    }
  }

  for (const auto& [name, c] : found) {
    INFO("card " << name << " at " << c.where);
    // The fixed format: six rows in this order, and a link to a section of docs/protocols.md.
    std::vector<std::string> keys;
    for (const auto& [k, v] : c.rows) keys.push_back(k);
    CHECK(keys == card_keys);
    const std::string paper = c.row("paper");
    const auto link = paper.find("docs/protocols.md#");
    REQUIRE(link != std::string::npos);
    const std::string anchor = paper.substr(link + 18, paper.find_first_of(" ;,)", link) - link - 18);
    INFO("anchor " << anchor);
    CHECK(anchors.count(anchor) == 1);

    const auto it = table.find(name);
    REQUIRE(it != table.end());  // a card for a type the table does not know: add it to card_table()
    const Costs costs = it->second();
    const Figure r = figure(c.row("rounds")), on = figure(c.row("online")), de = figure(c.row("dealer"));
    REQUIRE(r.ok);
    REQUIRE(on.ok);
    REQUIRE(de.ok);
    CHECK(on.unit.rfind("B/element/party", 0) == 0);
    CHECK(de.unit.rfind("B/element", 0) == 0);
    REQUIRE(costs.rounds);
    CHECK(std::abs(r.value - *costs.rounds) <= r.tolerance);
    if (costs.online) {
      INFO("online: card " << on.value << ", traits " << *costs.online);
      CHECK(std::abs(on.value - *costs.online) <= on.tolerance);
    }
    if (costs.dealer) {
      INFO("dealer: card " << de.value << ", traits " << *costs.dealer);
      CHECK(std::abs(de.value - *costs.dealer) <= de.tolerance);
    }
  }
  // Every row of the table has its card somewhere under include/secformer/protocols/.
  for (const auto& [name, f] : table) {
    INFO("no card for " << name);
    CHECK(found.count(name) == 1);
  }
  // The parser found the policies (18 types today: a guard against a format it no longer reads).
  CHECK(policies.size() >= 18);
}

TEST_CASE("header comments point only at files and sections the repository has", "[cards]") {
  using namespace cards;
  const fs::path include = source_dir() / "include";
  static const std::regex link(R"((docs/[\w./-]+\.md)(#[\w-]+)?)");
  std::map<fs::path, std::set<std::string>> anchors;
  for (const auto& h : headers_under(include)) {
    const auto ls = lines_of(read_text(h));
    for (std::size_t i = 0; i < ls.size(); ++i) {
      const std::string& l = ls[i];
      if (l.find("//") == std::string::npos) continue;
      INFO(h.filename().string() << ":" << i + 1 << ": " << l);
      // No notes outside the repository, no bare protocols.md (it lives in docs/), no former dealer kinds header.
      CHECK(l.find("shared/") == std::string::npos);
      CHECK(l.find("kinds.hpp") == std::string::npos);
      for (std::size_t at = l.find("protocols.md"); at != std::string::npos; at = l.find("protocols.md", at + 1))
        CHECK((at >= 5 && l.compare(at - 5, 5, "docs/") == 0));
      for (auto m = std::sregex_iterator(l.begin(), l.end(), link); m != std::sregex_iterator(); ++m) {
        const fs::path md = source_dir() / (*m)[1].str();
        INFO("link " << m->str());
        REQUIRE(fs::exists(md));
        if ((*m)[2].matched) {
          if (!anchors.count(md)) anchors[md] = anchors_of(md);
          CHECK(anchors[md].count((*m)[2].str().substr(1)) == 1);
        }
      }
    }
  }
}
