// Deployment hardening: TLS with mutual certificate authentication, the session handshake, and the
// fault-injection matrix (a role that dies, stalls, sends a malformed or oversized frame, presents
// a wrong certificate or a mismatching handshake makes the other roles stop with a clear error
// within a bounded time). Certificates are generated at test time with the openssl CLI
// (tests/support/make_test_pki.sh: a throwaway CA, p0/p1/dealer certificates, and a rogue CA with
// certificates of the same names); no key is committed.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <secformer/net.hpp>
#include <secformer/secformer.hpp>

#include "support/processes.hpp"
#include "support/test_data.hpp"

namespace sf = secformer;
using secformer::test::free_port;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

/// A throwaway PKI in a temporary directory, removed at the end of the test run.
struct TestPki {
  std::string dir;
  TestPki() {
    char tmpl[] = "/tmp/secformer_pki_XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    // tests/support/make_test_pki.sh, found next to this source file.
    const std::string src = __FILE__;
    const std::string script = src.substr(0, src.find_last_of('/') + 1) + "support/make_test_pki.sh";
    const std::string cmd = "sh '" + script + "' '" + dir + "' > '" + dir + "/log' 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed to create the test PKI; see " + dir + "/log");
  }
  ~TestPki() { std::system(("rm -rf '" + dir + "'").c_str()); }
  /// TLS options of a role ("p0", "p1", "dealer"); rogue: a certificate of the same name from another CA.
  sf::TlsOptions tls(const std::string& role, bool rogue = false) const {
    const std::string n = dir + "/" + (rogue ? "rogue_" : "") + role;
    return {n + ".pem", n + ".key", dir + "/ca.pem", ""};
  }
};

const TestPki& pki() {
  static const TestPki p;
  return p;
}

/// Runs f on another thread and returns its error message ("" when it succeeded).
template <class F>
std::thread run_catching(std::string& msg, F f) {
  return std::thread([&msg, f]() mutable {
    try {
      f();
      msg.clear();
    } catch (const std::exception& e) {
      msg = e.what();
    }
  });
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::byte> bytes_of(std::size_t n, std::uint64_t seed) {
  sf::test::TestData d(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(d.next() & 0xff);
  return v;
}

sf::TcpOptions tls_options(const std::string& role, bool rogue = false, std::string peer = "") {
  sf::TcpOptions o;
  o.timeout = 5000ms;
  o.connect_timeout = 5000ms;
  o.tls = pki().tls(role, rogue);
  o.tls.peer_name = std::move(peer);
  return o;
}

}  // namespace

TEST_CASE("tls: mutual authentication, messages both ways, large exchange", "[net][tls]") {
  sf::TcpListener l(0, tls_options("p0", false, "p1"));
  std::optional<sf::TcpChannel> server;
  std::string err;
  auto t = run_catching(err, [&] { server.emplace(l.accept()); });
  sf::TcpChannel client = sf::TcpChannel::connect("127.0.0.1", l.port(), tls_options("p1", false, "p0"));
  t.join();
  REQUIRE(err.empty());
  CHECK(client.is_tls());
  CHECK(server->is_tls());
  CHECK(server->peer_certificate_names("p1"));
  CHECK_FALSE(server->peer_certificate_names("dealer"));
  CHECK(client.peer_certificate_names("p0"));

  const auto small = bytes_of(100, 1);
  client.send(small);
  std::vector<std::byte> got(100);
  server->recv(got);
  CHECK(got == small);
  server->send(std::span(small).first(7));
  CHECK(client.recv_message(1000) == std::vector<std::byte>(small.begin(), small.begin() + 7));
  client.send({});
  CHECK(server->recv_message(10).empty());

  // 4 MiB each way at the same time, inside TLS (one read and one write outstanding on the stream).
  const auto a = bytes_of(std::size_t{4} << 20, 2), b = bytes_of(std::size_t{4} << 20, 3);
  std::vector<std::byte> ra(a.size()), rb(b.size());
  auto t2 = run_catching(err, [&] { server->exchange(b, ra); });
  client.exchange(a, rb);
  t2.join();
  REQUIRE(err.empty());
  CHECK(ra == a);
  CHECK(rb == b);
  CHECK(client.bytes_sent() == 100 + 0 + a.size());
  CHECK(server->bytes_received() == 100 + 0 + a.size());

  // Frame checks work inside TLS too: a wrong size closes the channel with the sizes in the message.
  client.send(std::span(small).first(3));
  std::vector<std::byte> four(4);
  CHECK_THROWS_WITH(server->recv(four), Catch::Contains("expected a message of 4 bytes, got a frame of 3 bytes"));
  CHECK_FALSE(server->is_open());
}

TEST_CASE("tls: wrong, missing or misnamed certificates are refused with a clear message", "[net][tls]") {
  auto attempt = [](sf::TcpOptions server_opt, sf::TcpOptions client_opt, std::string& server_err, std::string& client_err) {
    sf::TcpListener l(0, server_opt);
    auto t = run_catching(server_err, [&] {
      auto c = l.accept();
      std::byte b[4];
      c.recv(b);  // with TLS 1.3 the client learns of its refusal on its first read, so read here
    });
    client_err.clear();
    try {
      auto c = sf::TcpChannel::connect("127.0.0.1", l.port(), client_opt);
      std::byte b[4] = {};
      c.exchange(b, b);
    } catch (const std::exception& e) {
      client_err = e.what();
    }
    t.join();
  };
  std::string s, c;
  const auto start = steady::now();

  SECTION("the client's certificate is from another CA") {
    attempt(tls_options("p0"), tls_options("p1", true), s, c);
    CHECK(contains(s, "TLS handshake"));
    CHECK(contains(s, "not signed by our CA"));
    CHECK(contains(c, "TLS refused by the peer"));
  }
  SECTION("the server's certificate is from another CA") {
    attempt(tls_options("p0", true), tls_options("p1"), s, c);
    CHECK(contains(c, "not signed by our CA"));
    CHECK(contains(s, "TLS"));
  }
  SECTION("the client speaks plain TCP to a TLS listener (no certificate)") {
    sf::TcpOptions plain;
    plain.timeout = plain.connect_timeout = 5000ms;
    attempt(tls_options("p0"), plain, s, c);
    CHECK(contains(s, "TLS handshake"));
    CHECK(contains(s, "does not speak TLS"));
    CHECK_FALSE(c.empty());
  }
  SECTION("a valid certificate of the wrong role") {
    attempt(tls_options("p0", false, "p1"), tls_options("dealer", false, "p0"), s, c);
    CHECK(contains(s, "has a valid certificate, but not for 'p1'"));
    CHECK_FALSE(c.empty());
  }
  CHECK_FALSE(s.empty());
  CHECK_FALSE(c.empty());
  CHECK(steady::now() - start < 5s);  // refusals are immediate, not timeouts
}

TEST_CASE("tls: unusable certificate files fail at once with the file named", "[net][tls]") {
  auto o = tls_options("p0");
  o.tls.key_file = pki().dir + "/absent.key";
  CHECK_THROWS_WITH(sf::TcpListener(0, o), Catch::Contains("cannot use TLS private key") && Catch::Contains("absent.key"));
  o.tls.key_file = pki().dir + "/p1.key";
  CHECK_THROWS_WITH(sf::TcpChannel::connect("127.0.0.1", 1, o), Catch::Contains("p1.key") && Catch::Contains("mismatch"));
  o.tls.key_file.clear();
  CHECK_THROWS_WITH(sf::TcpChannel::connect("127.0.0.1", 1, o), Catch::Contains("TLS needs a certificate, a private key and a CA file"));
}

TEST_CASE("handshake: encode/parse round trip, malformed input and mismatches name the field", "[net][handshake]") {
  sf::SessionHello h;
  h.role = 1;
  h.ring_bits = 64;
  h.frac_bits = 16;
  h.suite = "suite-0123";
  h.model_digest = sf::handshake::shape_digest({{2, 3}, {3}});
  h.session_id = "run-42";
  const auto wire = sf::handshake::encode(h);
  CHECK(sf::handshake::parse(wire) == h);
  CHECK(wire.size() == 29 + h.library_version.size() + h.suite.size() + h.session_id.size());

  // Every strict prefix is refused, as are a trailing byte, a bad magic, an unprintable string, a bad role.
  for (std::size_t n = 0; n < wire.size(); ++n)
    CHECK_THROWS_AS(sf::handshake::parse(std::span(wire).first(n)), sf::handshake_error);
  auto longer = wire;
  longer.push_back(std::byte{0});
  CHECK_THROWS_WITH(sf::handshake::parse(longer), Catch::Contains("trailing bytes"));
  auto bad = wire;
  bad[0] = std::byte{'X'};
  CHECK_THROWS_WITH(sf::handshake::parse(bad), Catch::Contains("bad magic"));
  bad = wire;
  bad.back() = std::byte{7};
  CHECK_THROWS_WITH(sf::handshake::parse(bad), Catch::Contains("'session id' is not printable"));
  bad = wire;
  bad[6] = std::byte{3};
  CHECK_THROWS_WITH(sf::handshake::parse(bad), Catch::Contains("role 3"));
  CHECK_THROWS_WITH(sf::handshake::parse(std::vector<std::byte>(2000)), Catch::Contains("at most"));
  sf::SessionHello unprintable;
  unprintable.session_id = "line\nbreak";
  CHECK_THROWS_AS(sf::handshake::encode(unprintable), sf::usage_error);
  CHECK(sf::handshake::shape_digest({{2, 3}, {3}}) != sf::handshake::shape_digest({{3, 2}, {3}}));
  CHECK(sf::handshake::shape_digest({{2, 3}, {3}}) != sf::handshake::shape_digest({{2, 3, 3}}));

  sf::SessionHello mine = h;
  mine.role = 0;
  CHECK_FALSE(sf::handshake::mismatch(mine, h, 1).has_value());
  CHECK(contains(*sf::handshake::mismatch(mine, h, 2), "field 'role'"));
  auto field = [&](auto change) {
    sf::SessionHello t = h;
    change(t);
    const auto m = sf::handshake::mismatch(mine, t, 1);
    return m ? *m : std::string();
  };
  CHECK(contains(field([](auto& t) { t.library_version = "0.0.9"; }), "field 'library version' differs (ours '" SECFORMER_VERSION_STRING "', peer's '0.0.9')"));
  CHECK(contains(field([](auto& t) { t.ring_bits = 32; }), "field 'ring' differs (ours 'Z_2^64', peer's 'Z_2^32')"));
  CHECK(contains(field([](auto& t) { t.frac_bits = 12; }), "field 'encoding' differs"));
  CHECK(contains(field([](auto& t) { t.suite = "suite-x"; }), "field 'suite' differs"));
  CHECK(contains(field([](auto& t) { t.model_digest ^= 1; }), "field 'model digest' differs"));
  CHECK(contains(field([](auto& t) { t.session_id = "run-43"; }), "field 'session id' differs (ours 'run-42', peer's 'run-43')"));
  // The dealer serves any ring and suite: those fields are compared between the parties only.
  sf::SessionHello dealer;
  dealer.role = 2;
  dealer.model_digest = h.model_digest;
  dealer.session_id = h.session_id;
  CHECK_FALSE(sf::handshake::mismatch(dealer, h, 1).has_value());
  CHECK_FALSE(sf::handshake::mismatch(h, dealer, 2).has_value());
}

TEST_CASE("tls: three roles over loopback TLS compute what run_two_party computes, and mismatches are refused", "[net][tls][handshake]") {
  sf::test::TestData d(31);
  const xt::xarray<double> x = d.uniform_array({40}, -2, 2), y = d.uniform_array({40}, -2, 2);
  auto prog = [&](auto& ctx) {
    auto sx = ctx.input(sf::party<0>, x);
    auto sy = ctx.input(sf::party<1>, y);
    return ctx.reveal(sf::mul(sx, sy, ctx));
  };
  xt::xarray<double> mem, tls;
  auto s_mem = sf::run_two_party(11, [&](auto& ctx) {
    auto r = prog(ctx);
    if constexpr (std::remove_cvref_t<decltype(ctx)>::id == 0) mem = r;
  });
  // run_loopback gives every role the same TLS files; here all roles use p0's certificate, so names
  // are checked against "p0" for every role.
  sf::NetConfig cfg;
  cfg.options.timeout = cfg.options.connect_timeout = 10000ms;
  cfg.options.tls = pki().tls("p0");
  cfg.tls_names = {"p0", "p0", "p0"};
  cfg.session_id = "loopback-tls";
  auto s_tls = sf::run_loopback(sf::RunOptions{11}, cfg, [&](auto& ctx) {
    auto r = prog(ctx);
    if constexpr (std::remove_cvref_t<decltype(ctx)>::id == 0) tls = r;
  });
  CHECK(bool(mem == tls));
  for (int i = 0; i < 2; ++i) CHECK(s_mem[i].total() == s_tls[i].total());

  // The same run with the role names left at p0/p1/dealer: party 1's and the dealer's certificates
  // do not carry their names, so the session is refused before any share is sent.
  sf::NetConfig named = cfg;
  named.tls_names = {"p0", "p1", "dealer"};
  named.options.connect_timeout = 3000ms;
  CHECK_THROWS_WITH(sf::run_loopback(sf::RunOptions{11}, named, prog), Catch::Contains("not for 'dealer'") ||
                    Catch::Contains("not for 'p1'") || Catch::Contains("has no certificate for"));

  // Different suites (ring and encoding) on the two parties in one process cannot happen through
  // run_loopback, so the mismatch path is covered by the process matrix below (session id) and the
  // pure checks above.
}

// ---------------------------------------------------------------------------------------------------
// The fault-injection matrix: real processes (fork), TLS on every connection.

namespace {

enum class Fault { dies, stalls, malformed, oversized, wrong_cert, mismatch };
constexpr Fault all_faults[] = {Fault::dies, Fault::stalls, Fault::malformed, Fault::oversized, Fault::wrong_cert, Fault::mismatch};
const char* fault_name(Fault f) {
  switch (f) {
    case Fault::dies: return "dies (SIGKILL)";
    case Fault::stalls: return "stalls (SIGSTOP)";
    case Fault::malformed: return "malformed frame";
    case Fault::oversized: return "oversized frame";
    case Fault::wrong_cert: return "wrong certificate";
    default: return "handshake mismatch";
  }
}
const char* role_label(int r) { return r == 0 ? "p0" : r == 1 ? "p1" : "dealer"; }

constexpr auto op_timeout = 1500ms;       // per-operation deadline of every role
constexpr auto setup_timeout = 3000ms;    // connect, TLS and session handshake deadline
constexpr auto stop_bound = 6000ms;       // asserted: every other role stops within this time

struct Scenario {
  Fault fault;
  int faulty;  // 0, 1 or 2 (dealer)
};

struct RoleResult {
  int code = -1;              // exit code; -1: did not stop
  double ms = 0;              // time from the fault to the exit
  std::string message;
};

void notify(int fd) {
  const char b = 'x';
  (void)!write(fd, &b, 1);
}

/// One role of one scenario (runs in a forked child). Normal roles compute until an error stops them.
void role_main(int role, const Scenario& sc, const sf::NetConfig& base, int notify_fd) {
  const bool faulty = role == sc.faulty;
  sf::NetConfig cfg = base;
  cfg.options.tls = pki().tls(role_label(role), faulty && sc.fault == Fault::wrong_cert);
  if (faulty && sc.fault == Fault::mismatch) cfg.session_id = "another-session";
  const bool inject = faulty && (sc.fault == Fault::malformed || sc.fault == Fault::oversized);
  auto send_bad = [&](sf::TcpChannel& ch) {
    if (sc.fault == Fault::malformed) {
      const auto junk = bytes_of(5, 77);
      ch.send(junk);  // a well-formed frame of the wrong size and content
    } else {
      std::byte header[8];
      sf::frame::put_le64(header, std::uint64_t{1} << 62);  // a length prefix of 4 EiB, then nothing
      sf::detail::tcp::TestAccess::write_raw(ch, header);
    }
  };
  auto park = [] { for (;;) pause(); };  // keep the connections open; the harness kills this process

  if (role == 2) {
    sf::TcpListener listener(cfg.dealer_port, cfg.options);
    auto ch = sf::detail::accept_parties(listener, cfg);
    notify(notify_fd);
    if (inject) {
      send_bad(ch[0]);
      send_bad(ch[1]);
      park();
    }
    sf::BasicDealer<> d(sf::Seed::from_os());
    d.serve(ch[0], ch[1]);
    return;
  }
  auto compute = [&](auto& ctx) {
    auto x = ctx.input(sf::party<0>, xt::xarray<double>(xt::ones<double>({64})));
    bool first = true;
    for (;;) {  // until a fault stops this role
      x = sf::mul(x, x, ctx);
      if (first) notify(notify_fd);
      first = false;
    }
  };
  if (inject) {
    const sf::SessionHello mine = sf::detail::party_hello<sf::Basic<>>(cfg, role);
    auto go = [&]<int I>(sf::Party<I> p) {
      sf::TcpChannel dch = sf::detail::connect_to_dealer(p, cfg.dealer_host, cfg.dealer_port, cfg, mine);
      std::optional<sf::TcpListener> l;
      if constexpr (I == 0) l.emplace(cfg.peer_port, sf::detail::peer_listener_options(cfg));
      sf::TcpChannel peer = sf::detail::open_peer(p, l ? &*l : nullptr, cfg.peer_host, cfg.peer_port, cfg, mine);
      notify(notify_fd);
      send_bad(peer);
      send_bad(dch);
      park();
    };
    if (role == 0) go(sf::party<0>);
    else go(sf::party<1>);
  }
  if (role == 0) sf::run_party(sf::party<0>, cfg, compute);
  else sf::run_party(sf::party<1>, cfg, compute);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::string m = s.str();
  while (!m.empty() && m.back() == '\n') m.pop_back();
  return m;
}

/// Runs one scenario: three processes, the fault injected into one; returns each role's result.
std::array<RoleResult, 3> run_scenario(const Scenario& sc) {
  sf::NetConfig cfg;
  cfg.peer_port = free_port();
  cfg.dealer_port = free_port();
  cfg.options.timeout = op_timeout;
  cfg.options.connect_timeout = setup_timeout;
  cfg.session_id = "matrix";
  cfg.model_digest = sf::handshake::shape_digest({{64}});
  const std::string out = "/tmp/secformer_faults_" + std::to_string(getpid()) + "_";
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const auto t_spawn = steady::now();
  pid_t pid[3];
  for (int r = 0; r < 3; ++r) {
    pid[r] = fork();
    if (pid[r] == 0) {
      close(fds[0]);
      int code = 0;
      try {
        role_main(r, sc, cfg, r == sc.faulty ? fds[1] : -1);
      } catch (const std::exception& e) {
        std::ofstream(out + std::to_string(r)) << e.what() << "\n";
        code = 1;
      }
      _exit(code);
    }
  }
  close(fds[1]);
  // The moment of the fault: the faulty role reports when it is mid-protocol (after its first
  // multiplication, or after the dealer's handshake) or about to inject; certificate and handshake
  // faults act at start-up.
  auto t_fault = t_spawn;
  if (sc.fault != Fault::wrong_cert && sc.fault != Fault::mismatch) {
    char b;
    REQUIRE(read(fds[0], &b, 1) == 1);
    if (sc.fault == Fault::dies || sc.fault == Fault::stalls) {
      std::this_thread::sleep_for(100ms);  // let the protocol run a little
      t_fault = steady::now();
      kill(pid[sc.faulty], sc.fault == Fault::dies ? SIGKILL : SIGSTOP);
    } else {
      t_fault = steady::now();
    }
  }
  close(fds[0]);
  std::array<RoleResult, 3> res;
  bool done[3] = {false, false, false};
  int remaining = 3;
  const auto give_up = steady::now() + 30s;
  while (remaining > 0 && steady::now() < give_up) {
    for (int r = 0; r < 3; ++r) {
      if (done[r]) continue;
      int status = 0;
      if (waitpid(pid[r], &status, WNOHANG) == pid[r]) {
        done[r] = true;
        --remaining;
        res[r].code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        res[r].ms = std::chrono::duration<double, std::milli>(steady::now() - t_fault).count();
        res[r].message = read_file(out + std::to_string(r));
        std::remove((out + std::to_string(r)).c_str());
      }
    }
    // The faulty role of an injection or stall stays alive by design: end it once the others stopped.
    // (A faulty role with a wrong certificate or a mismatched handshake stops by itself, and its exit
    // is checked: on a loaded machine it may still be on its way out when the others are done.)
    const bool parks = sc.fault != Fault::wrong_cert && sc.fault != Fault::mismatch;
    if (parks && !done[sc.faulty] && remaining == 1) {
      kill(pid[sc.faulty], SIGKILL);
    }
    std::this_thread::sleep_for(2ms);
  }
  for (int r = 0; r < 3; ++r)
    if (!done[r]) {
      kill(pid[r], SIGKILL);
      waitpid(pid[r], nullptr, 0);
      std::remove((out + std::to_string(r)).c_str());
    }
  return res;
}

std::string shorten(std::string m) {
  if (m.rfind("secformer: ", 0) == 0) m = m.substr(11);
  if (m.size() > 150) m = m.substr(0, 147) + "...";
  return m;
}

}  // namespace

TEST_CASE("fault matrix: every fault of every role stops the others cleanly within the bound", "[net][faults][process]") {
  (void)pki();  // create the certificates before forking
  std::ostringstream table;
  table << "Fault-injection matrix (secformer tests/net_faults.cpp): three processes over loopback TLS,\n"
        << "operation timeout " << op_timeout.count() << " ms, set-up timeout " << setup_timeout.count()
        << " ms, asserted bound " << stop_bound.count() << " ms.\n"
        << "Time: from the fault (kill/SIGSTOP/injection; process start for certificate and handshake faults)\n"
        << "to the role's exit; exit 1 = clean stop with the error shown.\n\n";
  table << std::left << std::setw(20) << "fault" << std::setw(8) << "faulty" << std::setw(8) << "role" << std::setw(6)
        << "exit" << std::setw(10) << "ms" << "message\n";
  for (Fault f : all_faults) {
    for (int faulty = 0; faulty < 3; ++faulty) {
      const Scenario sc{f, faulty};
      const auto res = run_scenario(sc);
      for (int r = 0; r < 3; ++r) {
        if (r == faulty && f != Fault::wrong_cert && f != Fault::mismatch) continue;  // killed or parked by the harness
        table << std::left << std::setw(20) << fault_name(f) << std::setw(8) << role_label(faulty) << std::setw(8)
              << (r == faulty ? std::string(role_label(r)) + "*" : role_label(r)) << std::setw(6) << res[r].code
              << std::setw(10) << std::fixed << std::setprecision(0) << res[r].ms << shorten(res[r].message) << "\n";
        INFO(fault_name(f) << ", faulty " << role_label(faulty) << ", role " << role_label(r) << ": " << res[r].message);
        CHECK(res[r].code == 1);  // a clean error exit: not a hang (-1), not a crash (>= 128)
        CHECK(res[r].ms < std::chrono::duration<double, std::milli>(stop_bound).count());
        CHECK(contains(res[r].message, "secformer: "));
        if (r == faulty) continue;
        // The message says what happened, for the role that noticed the fault first-hand.
        const std::string& m = res[r].message;
        const bool direct = r != 2 || faulty == 1 || f == Fault::wrong_cert || f == Fault::mismatch;  // the dealer reads from p1 only
        if (f == Fault::dies && direct && r != 0) CHECK((contains(m, "disconnected") || contains(m, "closed the connection")));
        if (f == Fault::stalls && faulty == 2 && r == 1) CHECK(contains(m, "timed out after 1500 ms"));
        if (f == Fault::stalls && faulty == 0 && r == 1) CHECK(contains(m, "timed out after 1500 ms"));
        if (f == Fault::malformed && direct)
          CHECK((contains(m, "expected a message of") || contains(m, "malformed") || contains(m, "truncated dealer message") ||
                 contains(m, "dealer answer")));
        if (f == Fault::oversized && direct) CHECK(contains(m, "oversized frame: the peer announced 4611686018427387904 bytes"));
        if (f == Fault::mismatch)
          CHECK((contains(m, "field 'session id' differs") || contains(m, "during the session handshake")));
        if (f == Fault::wrong_cert) CHECK((contains(m, "TLS") || contains(m, "could not connect") || contains(m, "session handshake")));
      }
    }
  }
  std::cout << "\n" << table.str() << std::flush;
  if (const char* path = std::getenv("SECFORMER_FAULT_TABLE")) std::ofstream(path) << table.str();
}

namespace {
struct OtherSuite : sf::Basic<> {};  // same ring and encoding as Basic<>, another protocol suite

/// Three processes where party 1 runs Suite1 and party 0 runs Basic<>: returns each role's exit code and message.
template <class Suite1>
std::array<RoleResult, 3> run_suites() {
  sf::NetConfig cfg;
  cfg.peer_port = free_port();
  cfg.dealer_port = free_port();
  cfg.options.timeout = op_timeout;
  cfg.options.connect_timeout = setup_timeout;
  const std::string out = "/tmp/secformer_suites_" + std::to_string(getpid()) + "_";
  auto child = [&](int r, auto f) {
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        f();
      } catch (const std::exception& e) {
        std::ofstream(out + std::to_string(r)) << e.what() << "\n";
        code = 1;
      }
      _exit(code);
    }
    return pid;
  };
  const auto t0 = steady::now();
  pid_t pid[3];
  pid[2] = child(2, [&] { sf::run_dealer(cfg); });
  pid[0] = child(0, [&] { sf::run_party<sf::Basic<>>(sf::party<0>, cfg, [](auto&) {}); });
  pid[1] = child(1, [&] { sf::run_party<Suite1>(sf::party<1>, cfg, [](auto&) {}); });
  std::array<RoleResult, 3> res;
  for (int r = 0; r < 3; ++r) {
    int status = 0;
    waitpid(pid[r], &status, 0);
    res[r].code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    res[r].ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
    res[r].message = read_file(out + std::to_string(r));
    std::remove((out + std::to_string(r)).c_str());
  }
  return res;
}
}  // namespace

TEST_CASE("handshake: parties with another ring, encoding or suite are refused, naming the field", "[net][handshake][process]") {
  auto check = [](const std::array<RoleResult, 3>& res, const std::string& field) {
    for (int r = 0; r < 3; ++r) {
      INFO("role " << role_label(r) << ": " << res[r].message);
      CHECK(res[r].code == 1);
      CHECK(contains(res[r].message, "field '" + field + "' differs"));
      CHECK(res[r].ms < std::chrono::duration<double, std::milli>(stop_bound).count());
    }
  };
  check(run_suites<sf::Basic<sf::Fixed<12>, sf::Z2k<32>>>(), "ring");
  check(run_suites<sf::Basic<sf::Fixed<12>>>(), "encoding");
  check(run_suites<OtherSuite>(), "suite");
}

// ---------------------------------------------------------------------------------------------------
// Listeners that survive strays, endpoints, role/link names in errors, protected keys.

namespace {
/// Connects to 127.0.0.1:port (retrying until it listens) and closes again, sending `bytes` first.
void stray_connection(std::uint16_t port, const std::vector<std::byte>& bytes = {}) {
  asio::io_context ioc;
  const auto until = steady::now() + 10s;
  for (;;) {
    asio::ip::tcp::socket s(ioc);
    asio::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) {
      if (!bytes.empty()) asio::write(s, asio::buffer(bytes), ec);
      s.close(ec);
      return;
    }
    if (steady::now() > until) throw std::runtime_error("stray_connection: nobody listens on port " + std::to_string(port));
    std::this_thread::sleep_for(10ms);
  }
}

/// Whether something accepts TCP connections on 127.0.0.1:port right now (connects and closes: a stray).
bool listening(std::uint16_t port) {
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  asio::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

/// A session of three threads (run_dealer, run_party for party 0, party 1's steps of run_party) with
/// strays sent to the dealer's port before any party connects and to party 0's port before party 1
/// connects; returns party 0's revealed product, both statistics and what the strays report.
struct StraySession {
  xt::xarray<double> result;
  std::array<sf::Stats, 2> stats;
  std::string error[3];
  std::vector<std::string> stray_reports;
};
template <class Strays>
StraySession session_with_strays(sf::NetConfig cfg, const std::array<sf::TlsOptions, 3>& tls, Strays strays) {
  sf::test::TestData d(41);
  const xt::xarray<double> x = d.uniform_array({16}, -2, 2), y = d.uniform_array({16}, -2, 2);
  StraySession s;
  auto prog = [&](auto& ctx) {
    auto r = ctx.reveal(sf::mul(ctx.input(sf::party<0>, x), ctx.input(sf::party<1>, y), ctx));
    if constexpr (std::remove_cvref_t<decltype(ctx)>::id == 0) s.result = r;
  };
  auto with_tls = [&](int r) {
    sf::NetConfig c = cfg;
    c.options.tls = tls[std::size_t(r)];
    return c;
  };
  auto dealer = run_catching(s.error[2], [&, c = with_tls(2)] { sf::run_dealer(c); });
  s.stray_reports.push_back(strays(cfg.dealer_port));  // at the dealer, before any party connects
  auto p0 = run_catching(s.error[0], [&, c = with_tls(0)] { s.stats[0] = sf::run_party(sf::party<0>, c, prog); });
  // Party 1 as run_party runs it, with the strays at party 0's port between its two links (party 0
  // listens once both parties passed the dealer's handshake).
  std::string report;
  auto p1 = run_catching(s.error[1], [&, c = with_tls(1)] {
    const sf::SessionHello mine = sf::detail::party_hello<sf::Basic<>>(c, 1);
    sf::TcpChannel dch = sf::detail::connect_to_dealer(sf::party<1>, c.dealer_host, c.dealer_port, c, mine);
    const auto until = steady::now() + 10s;
    while (!listening(c.peer_port) && steady::now() < until) std::this_thread::sleep_for(10ms);  // itself a stray
    report = strays(c.peer_port);
    sf::TcpChannel peer = sf::detail::open_peer(sf::party<1>, nullptr, c.peer_host, c.peer_port, c, mine);
    sf::TcpContext<sf::Party<1>> ctx(peer, sf::DealerClient<sf::Party<1>, sf::TcpChannel>(dch),
                                     sf::detail::seed_for(sf::RunOptions{c.seed}, 1));
    prog(ctx);
    ctx.finish();
    s.stats[1] = ctx.stats();
  });
  dealer.join();
  p0.join();
  p1.join();
  s.stray_reports.push_back(report);
  return s;
}
}  // namespace

TEST_CASE("listeners drop a stray connect-and-close, a malformed hello and a failed TLS handshake, then serve the session",
          "[net][tcp][tls][handshake]") {
  sf::test::TestData d(41);
  const xt::xarray<double> x = d.uniform_array({16}, -2, 2), y = d.uniform_array({16}, -2, 2);
  xt::xarray<double> mem;
  const auto s_mem = sf::run_two_party(5, [&](auto& ctx) {
    auto r = ctx.reveal(sf::mul(ctx.input(sf::party<0>, x), ctx.input(sf::party<1>, y), ctx));
    if constexpr (std::remove_cvref_t<decltype(ctx)>::id == 0) mem = r;
  });
  sf::NetConfig cfg;
  cfg.peer_port = free_port();
  cfg.dealer_port = free_port();
  cfg.seed = 5;
  cfg.options.timeout = cfg.options.connect_timeout = 10000ms;
  cfg.session_id = "strays";

  SECTION("plain TCP: connect-and-close and a garbage hello at the dealer and at party 0") {
    const auto s = session_with_strays(cfg, {}, [](std::uint16_t port) {
      stray_connection(port);
      stray_connection(port, bytes_of(40, 3));  // garbage (an absurd length prefix), then close
      std::byte frame[8 + 5] = {};
      sf::frame::put_le64(frame, 5);  // a well-framed 5-byte message that is not a hello
      stray_connection(port, std::vector<std::byte>(std::begin(frame), std::end(frame)));
      return std::string();
    });
    for (int r = 0; r < 3; ++r) {
      INFO("role " << r << ": " << s.error[r]);
      CHECK(s.error[r].empty());
    }
    CHECK(bool(s.result == mem));
    for (int i = 0; i < 2; ++i) CHECK(s.stats[i].total() == s_mem[i].total());
  }
  SECTION("TLS: plain TCP connect-and-close, plain bytes and a rogue certificate at the dealer and at party 0") {
    const std::array<sf::TlsOptions, 3> tls{pki().tls("p0"), pki().tls("p1"), pki().tls("dealer")};
    const auto s = session_with_strays(cfg, tls, [](std::uint16_t port) {
      stray_connection(port);
      stray_connection(port, bytes_of(64, 4));
      std::string err;
      try {  // a valid TLS client with a certificate from another CA: refused by the listener's TLS handshake
        auto o = tls_options("p1", true);
        o.connect_timeout = o.timeout = 3000ms;
        auto c = sf::TcpChannel::connect("127.0.0.1", port, o);
        std::byte b[4] = {};
        c.exchange(b, b);
      } catch (const std::exception& e) {
        err = e.what();
      }
      return err;
    });
    for (const auto& r : s.stray_reports) CHECK(contains(r, "TLS"));
    for (int r = 0; r < 3; ++r) {
      INFO("role " << r << ": " << s.error[r]);
      CHECK(s.error[r].empty());
    }
    CHECK(bool(s.result == mem));
    for (int i = 0; i < 2; ++i) CHECK(s.stats[i].total() == s_mem[i].total());
  }
}

TEST_CASE("accept_until: dropped connections are counted and the timeout names the last one", "[net][tls]") {
  auto o = tls_options("p0", false, "p1");
  o.connect_timeout = 1500ms;
  sf::TcpListener l(0, o);
  std::string err;
  auto t = run_catching(err, [&] { (void)l.accept_until(steady::now() + o.connect_timeout); });
  stray_connection(l.port());
  t.join();
  CHECK(l.dropped() == 1);
  CHECK(contains(err, "timed out after 1500 ms waiting for a connection on 127.0.0.1:"));
  CHECK(contains(err, "dropped 1 connection that failed the set-up, the last: TLS handshake with a peer connecting to 127.0.0.1:"));
  // A plain accept() still ends at the first failed handshake (the low-level, one-connection call).
  auto t2 = run_catching(err, [&] { (void)l.accept(); });
  stray_connection(l.port());
  t2.join();
  CHECK(contains(err, "TLS handshake with a peer connecting to 127.0.0.1:"));
}

TEST_CASE("errors of run_party and run_dealer name the role and the link", "[net][handshake]") {
  sf::NetConfig cfg;
  cfg.peer_port = free_port();
  cfg.dealer_port = free_port();
  cfg.options.timeout = 3000ms;
  cfg.options.connect_timeout = 300ms;
  const std::string dealer_at = "127.0.0.1:" + std::to_string(cfg.dealer_port);
  CHECK_THROWS_WITH(sf::run_party(sf::party<0>, cfg, [](auto&) {}),
                    Catch::StartsWith("secformer: party 0: link to the dealer (" + dealer_at + "): could not connect to " + dealer_at));
  CHECK_THROWS_WITH(sf::run_dealer(cfg), Catch::StartsWith("secformer: dealer: links to the parties (listening on " + dealer_at +
                                                            "): timed out after 300 ms waiting for a connection"));
  // After the handshake: the dealer ends the session at once; each party's error names its link.
  cfg.options.connect_timeout = 10000ms;
  std::string err[2], dealer_err;
  auto dealer = run_catching(dealer_err, [&] {
    sf::TcpListener l(cfg.dealer_port, cfg.options);
    auto ch = sf::detail::accept_parties(l, cfg);  // then closes both links
  });
  auto work = [](auto& ctx) {
    auto v = ctx.input(sf::party<0>, xt::xarray<double>(xt::ones<double>({8})));
    for (int i = 0; i < 100; ++i) v = sf::mul(v, v, ctx);
  };
  auto p0 = run_catching(err[0], [&] { sf::run_party(sf::party<0>, cfg, work); });
  auto p1 = run_catching(err[1], [&] { sf::run_party(sf::party<1>, cfg, work); });
  dealer.join();
  p0.join();
  p1.join();
  CHECK(dealer_err.empty());
  for (int r = 0; r < 2; ++r) {
    INFO(err[r]);
    CHECK(contains(err[r], "secformer: party " + std::to_string(r) + ": link to "));
  }
  CHECK((contains(err[0], "link to the dealer (" + dealer_at + ")") || contains(err[1], "link to the dealer (" + dealer_at + ")")));
}

TEST_CASE("endpoints: HOST:PORT, [IPv6]:PORT, ports validated, loopback recognised", "[net][tcp]") {
  const auto e = sf::parse_endpoint("10.1.2.3:7401");
  CHECK(e.host == "10.1.2.3");
  CHECK(e.port == 7401);
  const auto v6 = sf::parse_endpoint("[::1]:7400");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 7400);
  CHECK(v6.str() == "[::1]:7400");
  CHECK(sf::parse_endpoint("dealer.example-1.org:1").host == "dealer.example-1.org");
  CHECK(sf::parse_endpoint("h:65535").port == 65535);
  CHECK_THROWS_WITH(sf::parse_endpoint("h:65536"), Catch::Contains("the port must be 1..65535"));
  CHECK_THROWS_WITH(sf::parse_endpoint("h:0"), Catch::Contains("the port must be 1..65535"));
  CHECK_THROWS_WITH(sf::parse_endpoint("h:"), Catch::Contains("the port is not a number"));
  CHECK_THROWS_WITH(sf::parse_endpoint("h:12a"), Catch::Contains("the port is not a number"));
  CHECK_THROWS_WITH(sf::parse_endpoint("h"), Catch::Contains("no port"));
  CHECK_THROWS_WITH(sf::parse_endpoint(":7400"), Catch::Contains("no host"));
  CHECK_THROWS_WITH(sf::parse_endpoint("::1:7400"), Catch::Contains("needs brackets"));
  CHECK_THROWS_WITH(sf::parse_endpoint("[::1]7400"), Catch::Contains("no ':PORT'"));
  CHECK_THROWS_WITH(sf::parse_endpoint("[nonsense]:7400"), Catch::Contains("not an IPv6 address"));
  CHECK_THROWS_WITH(sf::parse_endpoint("a\x1b[2J:1"), Catch::Contains("'a\\x1b[2J:1'") && Catch::Contains("letters, digits"));
  (void)sf::parse_endpoint("x:1");  // a name is accepted (resolved when connecting)
  for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"}) CHECK(sf::is_loopback_host(h));
  for (const char* h : {"10.1.2.3", "0.0.0.0", "::", "192.168.1.1", "example.org", "::ffff:10.0.0.1", ""}) CHECK_FALSE(sf::is_loopback_host(h));
}

TEST_CASE("tls: a passphrase-protected key is refused without prompting", "[net][tls]") {
  const std::string enc = pki().dir + "/p0_protected.key";
  const std::string cmd = "openssl pkey -in '" + pki().dir + "/p0.key' -aes256 -passout pass:secret -out '" + enc + "' > /dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto o = tls_options("p0");
  o.tls.key_file = enc;
  const auto t0 = steady::now();
  CHECK_THROWS_WITH(sf::TcpListener(0, o), Catch::Contains("p0_protected.key' is protected by a passphrase") &&
                                               Catch::Contains("never prompts"));
  CHECK_THROWS_WITH(sf::TcpChannel::connect("127.0.0.1", 1, o), Catch::Contains("is protected by a passphrase"));
  CHECK(steady::now() - t0 < 5s);
}
