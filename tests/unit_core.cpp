// Unit tests of the core layer, the channels, the PRG, the dealer wire format and the context.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <thread>

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
