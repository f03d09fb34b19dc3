// Networking tests of secformer::TcpChannel: framing, full-duplex exchange of large messages,
// malformed input, disconnects, timeouts and connection setup; threads of one process and, for the
// real thing, two processes (fork).
#include <catch2/catch.hpp>

#include <secformer/channel/tcp.hpp>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using secformer::channel_error;
using secformer::TcpChannel;
using secformer::TcpListener;
using secformer::TcpOptions;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

TcpOptions quick(std::chrono::milliseconds timeout = 10s) {
  TcpOptions o;
  o.timeout = timeout;
  o.connect_timeout = 10s;
  return o;
}

/// Two connected ends in this process: {accepted side, connecting side}.
std::pair<TcpChannel, TcpChannel> tcp_pair(TcpOptions server = quick(), TcpOptions client = quick()) {
  TcpListener listener(0, server);
  const auto port = listener.port();
  auto fut = std::async(std::launch::async, [port, client] { return TcpChannel::connect("127.0.0.1", port, client); });
  auto a = listener.accept();
  return {std::move(a), fut.get()};
}

/// Deterministic pattern depending on a seed (no randomness needed).
std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> v(n);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    v[i] = static_cast<std::byte>(x & 0xff);
  }
  return v;
}

std::vector<std::byte> le64(std::uint64_t v) {
  std::vector<std::byte> b(8);
  for (int i = 0; i < 8; ++i) b[std::size_t(i)] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
  return b;
}

/// A plain Asio client that writes raw bytes (no framing) to a listener and then closes or stalls.
struct RawClient {
  asio::io_context ioc;
  asio::ip::tcp::socket sock{ioc};
  explicit RawClient(std::uint16_t port) { sock.connect({asio::ip::make_address("127.0.0.1"), port}); }
  void write(const std::vector<std::byte>& b) { asio::write(sock, asio::buffer(b)); }
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const channel_error& e) {
    return e.what();
  }
  return "<no channel_error>";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("tcp: small messages both ways, send/recv, recv_message, counters", "[net][tcp]") {
  auto [a, b] = tcp_pair();
  const auto m1 = pattern(13, 1), m2 = pattern(7, 2);
  a.send(m1);
  std::vector<std::byte> got1(13);
  b.recv(got1);
  CHECK(got1 == m1);
  b.send(m2);
  CHECK(a.recv_message(100) == m2);

  // empty messages are frames too
  a.send({});
  CHECK(b.recv_message(0).empty());

  // simultaneous small exchange
  std::vector<std::byte> in_a(7), in_b(13);
  auto t = std::thread([&, &b = b] { b.exchange(m2, in_b); });
  a.exchange(m1, in_a);
  t.join();
  CHECK(in_a == m2);
  CHECK(in_b == m1);

  CHECK(a.bytes_sent() == 13 + 0 + 13);
  CHECK(a.bytes_received() == 7 + 7);
  CHECK(b.bytes_sent() == 7 + 7);
  CHECK(b.bytes_received() == 13 + 0 + 13);
}

TEST_CASE("tcp: simultaneous exchange of 16 MiB each way does not deadlock", "[net][tcp]") {
  auto [a, b] = tcp_pair();
  const std::size_t n = 16u << 20;
  const auto ma = pattern(n, 3), mb = pattern(n + 5, 4);  // different sizes each way
  std::vector<std::byte> in_a(n + 5), in_b(n);
  for (int round = 0; round < 3; ++round) {
    auto t = std::thread([&, &b = b] { b.exchange(mb, in_b); });
    a.exchange(ma, in_a);
    t.join();
    REQUIRE(in_a == mb);
    REQUIRE(in_b == ma);
  }
  // one direction: large send, then recv_message on the other side
  auto t = std::thread([&, &a = a] { a.send(ma); });
  auto got = b.recv_message(n);
  t.join();
  CHECK(got == ma);
  CHECK(a.bytes_sent() == 4 * n);
  CHECK(b.bytes_received() == 4 * n);
}

TEST_CASE("tcp: many rounds of varying sizes", "[net][tcp]") {
  auto [a, b] = tcp_pair();
  const int rounds = 2000;
  auto size_of = [](int r) { return std::size_t(r % 7 == 0 ? 70000 + r : r % 97); };
  bool b_equal = true;
  auto t = std::thread([&, &b = b] {
    for (int r = 0; r < rounds; ++r) {
      std::vector<std::byte> in(size_of(r));
      b.exchange(pattern(size_of(r), 1000 + std::uint64_t(r)), in);
      b_equal = b_equal && in == pattern(size_of(r), std::uint64_t(r));
    }
  });
  bool all_equal = true;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::byte> in(size_of(r));
    a.exchange(pattern(size_of(r), std::uint64_t(r)), in);
    all_equal = all_equal && in == pattern(size_of(r), 1000 + std::uint64_t(r));
  }
  t.join();
  CHECK(all_equal);
  CHECK(b_equal);
}

TEST_CASE("tcp: recv into a buffer of the wrong size throws and closes the channel", "[net][tcp]") {
  auto [a, b] = tcp_pair();
  a.send(pattern(10, 5));
  std::vector<std::byte> in(12);
  const auto msg = error_of([&, &b = b] { b.recv(in); });
  CHECK(contains(msg, "expected a message of 12 bytes"));
  CHECK(contains(msg, "frame of 10 bytes"));
  CHECK_FALSE(b.is_open());
  CHECK_THROWS_AS(b.recv(in), channel_error);
  CHECK_THROWS_AS(b.send(in), channel_error);

  // the same inside an exchange
  auto [c, d] = tcp_pair();
  auto t = std::thread([&, &d = d] {
    std::vector<std::byte> in_d(4);
    try { d.exchange(pattern(4, 1), in_d); } catch (const channel_error&) {}
  });
  std::vector<std::byte> in_c(5);
  CHECK_THROWS_WITH(c.exchange(pattern(4, 2), in_c), Catch::Contains("expected a message of 5 bytes"));
  t.join();
}

TEST_CASE("tcp: oversized length prefix is rejected before allocating", "[net][tcp]") {
  TcpOptions o = quick();
  o.max_frame_bytes = 1 << 20;
  TcpListener listener(0, o);

  SECTION("absurd length, recv_message with a large caller limit") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    raw.write(le64(std::uint64_t{1} << 62));  // allocating this would throw bad_alloc/length_error, not channel_error
    const auto msg = error_of([&] { (void)ch.recv_message(std::size_t(-1)); });
    CHECK(contains(msg, "oversized frame"));
    CHECK(contains(msg, std::to_string(std::uint64_t{1} << 62)));
    CHECK(contains(msg, std::to_string(1 << 20)));
  }
  SECTION("just above the channel limit") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    raw.write(le64((1 << 20) + 1));
    CHECK_THROWS_WITH(ch.recv_message(std::size_t(-1)), Catch::Contains("oversized frame"));
  }
  SECTION("above the caller's limit") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    raw.write(le64(1000));
    CHECK_THROWS_WITH(ch.recv_message(999), Catch::Contains("oversized frame"));
  }
  SECTION("recv into a fixed buffer") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    raw.write(le64(~std::uint64_t{0}));
    std::vector<std::byte> in(16);
    CHECK_THROWS_WITH(ch.recv(in), Catch::Contains("oversized frame"));
  }
}

TEST_CASE("tcp: truncated or garbage frames followed by close", "[net][tcp]") {
  TcpListener listener(0, quick());
  SECTION("half a header") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    raw.write(pattern(5, 9));
    raw.sock.close();
    const auto t0 = Clock::now();
    CHECK_THROWS_WITH(ch.recv_message(1000), Catch::Contains("peer disconnected"));
    CHECK(seconds_since(t0) < 5.0);
  }
  SECTION("header announcing more than is sent") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    auto bytes = le64(100);
    const auto body = pattern(30, 10);
    bytes.insert(bytes.end(), body.begin(), body.end());
    raw.write(bytes);
    raw.sock.close();
    std::vector<std::byte> in(100);
    const auto msg = error_of([&] { ch.recv(in); });
    CHECK(contains(msg, "peer disconnected"));
    CHECK(contains(msg, "got 38 of 108 frame bytes"));
  }
  SECTION("garbage length that fits, then close") {
    RawClient raw(listener.port());
    auto ch = listener.accept();
    raw.write(le64(64));
    raw.write(pattern(3, 11));
    raw.sock.close();
    CHECK_THROWS_WITH(ch.recv_message(1 << 20), Catch::Contains("peer disconnected"));
  }
}

TEST_CASE("tcp: a peer that closes mid-protocol makes the other side fail promptly", "[net][tcp]") {
  // Long operation timeout: the failure must come from the disconnect, not from a timeout.
  auto [a, b] = tcp_pair(quick(60s), quick(60s));
  const std::size_t n = 8u << 20;
  auto t = std::thread([&, &b = b] {
    std::vector<std::byte> in(16);
    b.exchange(pattern(16, 1), in);
    std::this_thread::sleep_for(100ms);
    b.close();  // a is now waiting in a large exchange
  });
  std::vector<std::byte> in(16);
  a.exchange(pattern(16, 2), in);
  std::vector<std::byte> big_in(n);
  const auto big = pattern(n, 3);
  const auto t0 = Clock::now();
  const auto msg = error_of([&, &a = a] { a.exchange(big, big_in); });
  const double elapsed = seconds_since(t0);
  t.join();
  CHECK(contains(msg, "peer disconnected"));
  REQUIRE(elapsed < 5.0);
  CHECK_FALSE(a.is_open());
}

TEST_CASE("tcp: a stalled peer gives a timeout error", "[net][tcp]") {
  auto [a, b] = tcp_pair(quick(300ms), quick(300ms));
  std::vector<std::byte> in(8);
  const auto t0 = Clock::now();
  const auto msg = error_of([&, &a = a] { a.recv(in); });
  const double elapsed = seconds_since(t0);
  CHECK(contains(msg, "timed out after 300 ms"));
  CHECK(elapsed >= 0.25);
  REQUIRE(elapsed < 5.0);
  CHECK_FALSE(a.is_open());

  // a peer that sends part of a frame and then stalls
  auto [c, d] = tcp_pair(quick(300ms), quick(300ms));  // c never answers d
  TcpListener listener(0, quick(300ms));
  RawClient raw(listener.port());
  auto e = listener.accept();
  raw.write(le64(50));
  raw.write(pattern(20, 1));
  std::vector<std::byte> in50(50);
  const auto t1 = Clock::now();
  CHECK_THROWS_WITH(e.recv(in50), Catch::Contains("timed out after 300 ms") && Catch::Contains("got 28 of 58"));
  REQUIRE(seconds_since(t1) < 5.0);

  // an exchange whose peer never answers
  std::vector<std::byte> in4(4);
  CHECK_THROWS_WITH(d.exchange(pattern(4, 1), in4), Catch::Contains("timed out after 300 ms"));
}

TEST_CASE("tcp: connection setup", "[net][tcp]") {
  SECTION("connect where nobody listens fails by its deadline") {
    std::uint16_t port = 0;
    {
      TcpListener probe(0);
      port = probe.port();
    }  // closed again: nothing listens on `port` now
    TcpOptions o;
    o.connect_timeout = 300ms;
    const auto t0 = Clock::now();
    CHECK_THROWS_WITH(TcpChannel::connect("127.0.0.1", port, o), Catch::Contains("could not connect to 127.0.0.1:"));
    const double elapsed = seconds_since(t0);
    CHECK(elapsed >= 0.2);
    REQUIRE(elapsed < 5.0);
  }
  SECTION("connect retries until the peer starts listening") {
    std::uint16_t port = 0;
    {
      TcpListener probe(0);
      port = probe.port();
    }
    auto fut = std::async(std::launch::async, [port] { return TcpChannel::connect("127.0.0.1", port, quick()); });
    std::this_thread::sleep_for(200ms);
    auto server = TcpChannel::accept(port, quick());
    auto client = fut.get();
    client.send(pattern(3, 1));
    CHECK(server.recv_message(3) == pattern(3, 1));
  }
  SECTION("accept times out") {
    TcpOptions o;
    o.connect_timeout = 200ms;
    TcpListener listener(0, o);
    const auto t0 = Clock::now();
    CHECK_THROWS_WITH(listener.accept(), Catch::Contains("timed out after 200 ms waiting for a connection"));
    REQUIRE(seconds_since(t0) < 5.0);
  }
  SECTION("a listener accepts several connections; an invalid bind address is an error") {
    TcpListener listener(0, quick());
    for (int i = 0; i < 3; ++i) {
      auto fut = std::async(std::launch::async, [p = listener.port()] { return TcpChannel::connect("localhost", p, quick()); });
      auto s = listener.accept();
      auto c = fut.get();
      s.send(pattern(5, std::uint64_t(i)));
      CHECK(c.recv_message(5) == pattern(5, std::uint64_t(i)));
    }
    TcpOptions bad;
    bad.bind_address = "not an address";
    CHECK_THROWS_AS(TcpListener(0, bad), channel_error);
  }
}

TEST_CASE("tcp: close is idempotent and channels are move-only", "[net][tcp]") {
  static_assert(!std::is_copy_constructible_v<TcpChannel> && std::is_nothrow_move_constructible_v<TcpChannel>);
  auto [a, b] = tcp_pair();
  TcpChannel moved = std::move(a);
  moved.send(pattern(2, 1));
  CHECK(b.recv_message(2) == pattern(2, 1));
  moved.close();
  moved.close();
  CHECK_FALSE(moved.is_open());
  CHECK_THROWS_WITH(moved.send(pattern(2, 1)), Catch::Contains("closed"));
  CHECK_THROWS_WITH(b.recv_message(2), Catch::Contains("peer disconnected"));
  b.close();
  b.close();
}

namespace {

/// Child side of the two-process tests; returns the process exit status (0 = all checks passed).
int child_main(std::uint16_t port, bool die_midway) {
  try {
    auto ch = TcpChannel::connect("127.0.0.1", port, quick(20s));
    for (int r = 0; r < 200; ++r) {
      const std::size_t n = r % 50 == 0 ? (8u << 20) : std::size_t(r);
      std::vector<std::byte> in(n);
      ch.exchange(pattern(n, 500 + std::uint64_t(r)), in);
      if (in != pattern(n, std::uint64_t(r))) return 2;
      if (die_midway && r == 120) _exit(0);  // the socket closes with the process
    }
    auto last = ch.recv_message(100);
    ch.send(last);
    return 0;
  } catch (const std::exception&) {
    return 1;
  }
}

}  // namespace

TEST_CASE("tcp: two processes", "[net][tcp][process]") {
  TcpListener listener(0, quick(20s));
  const auto port = listener.port();
  const bool die_midway = GENERATE(false, true);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(child_main(port, die_midway));

  auto ch = listener.accept();
  std::string error;
  double elapsed = 0;
  int rounds_done = 0;
  try {
    for (int r = 0; r < 200; ++r) {
      const std::size_t n = r % 50 == 0 ? (8u << 20) : std::size_t(r);
      std::vector<std::byte> in(n);
      const auto t0 = Clock::now();
      try {
        ch.exchange(pattern(n, std::uint64_t(r)), in);
      } catch (...) {
        elapsed = seconds_since(t0);
        throw;
      }
      REQUIRE(in == pattern(n, 500 + std::uint64_t(r)));
      ++rounds_done;
    }
    ch.send(pattern(77, 7));
    CHECK(ch.recv_message(100) == pattern(77, 7));
  } catch (const channel_error& e) {
    error = e.what();
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  if (die_midway) {
    CHECK(rounds_done == 121);
    CHECK(contains(error, "peer disconnected"));
    REQUIRE(elapsed < 5.0);  // the operation timeout is 20 s: this came from the disconnect
  } else {
    CHECK(error.empty());
    CHECK(rounds_done == 200);
  }
}
