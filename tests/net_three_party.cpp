// Three processes over loopback TCP (party 0, party 1, dealer) compute exactly what the in-process
// run computes and count the same bytes and rounds; a peer that dies makes the others stop.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include <secformer/net.hpp>
#include <secformer/secformer.hpp>

#include "support/processes.hpp"
#include "support/test_data.hpp"

namespace sf = secformer;
using secformer::test::free_port;
using secformer::test::spawn;
using secformer::test::wait_exit;

namespace {
template <class Ctx> constexpr int id_of = std::remove_cvref_t<Ctx>::id;

/// The program both runs execute: a dot product, a matrix product and a square.
struct Program {
  xt::xarray<double> x, y, w;
  template <class Ctx>
  xt::xarray<double> operator()(Ctx& ctx) const {
    auto sx = ctx.input(sf::party<0>, x);
    auto sy = ctx.input(sf::party<1>, y);
    auto sw = ctx.input(sf::party<1>, w);
    auto dot = sf::mul(sx, sy, ctx).sum(0);
    auto mm = sf::matmul(sx.reshape({1, x.size()}), sw, ctx);
    auto sq = sf::square(sy, ctx);
    auto out = ctx.reveal(sf::concatenate(std::vector{dot.reshape({1}), mm.reshape({w.shape()[1]}), sq}, 0));
    return out;
  }
};

}  // namespace

TEST_CASE("three processes over loopback TCP match the in-process run exactly", "[net]") {
  sf::test::TestData d(21);
  const Program prog{d.uniform_array({64}, -3, 3), d.uniform_array({64}, -3, 3), d.uniform_array({64, 8}, -1, 1)};
  xt::xarray<double> local;
  auto local_stats = sf::run_two_party(99, [&](auto& ctx) {
    auto r = prog(ctx);
    if (id_of<decltype(ctx)> == 0) local = r;
  });

  sf::NetConfig cfg;
  cfg.peer_port = free_port();
  cfg.dealer_port = free_port();
  cfg.seed = 99;
  cfg.options.timeout = std::chrono::milliseconds(10000);
  cfg.options.connect_timeout = std::chrono::milliseconds(10000);
  const std::string out = "/tmp/secformer_net_test_" + std::to_string(getpid());
  auto party = [&]<int I>(sf::Party<I> p) {
    return spawn([&, p] {
      xt::xarray<double> r;
      auto st = sf::run_party(p, cfg, [&](auto& ctx) { r = prog(ctx); });
      std::ofstream f(out + "_" + std::to_string(I));
      f.precision(17);
      for (double v : r) f << v << ' ';
      f << '\n' << st.total().rounds << ' ' << st.total().bytes_sent << ' ' << st.total().bytes_received << ' '
        << st.total().dealer_bytes << '\n';
    });
  };
  const pid_t dealer = spawn([&] { sf::run_dealer(cfg); });
  const pid_t p0 = party(sf::party<0>);
  const pid_t p1 = party(sf::party<1>);
  REQUIRE(wait_exit(p0, std::chrono::seconds(60)) == 0);
  REQUIRE(wait_exit(p1, std::chrono::seconds(60)) == 0);
  REQUIRE(wait_exit(dealer, std::chrono::seconds(60)) == 0);
  for (int i = 0; i < 2; ++i) {
    std::ifstream f(out + "_" + std::to_string(i));
    std::vector<double> vals(local.size());
    for (auto& v : vals) f >> v;
    std::uint64_t rounds, sent, received, dealer_bytes;
    f >> rounds >> sent >> received >> dealer_bytes;
    for (std::size_t k = 0; k < vals.size(); ++k) CHECK(vals[k] == local(k));
    CHECK(rounds == local_stats[i].total().rounds);
    CHECK(sent == local_stats[i].total().bytes_sent);
    CHECK(received == local_stats[i].total().bytes_received);
    CHECK(dealer_bytes == local_stats[i].total().dealer_bytes);
    std::remove((out + "_" + std::to_string(i)).c_str());
  }
}

TEST_CASE("a party process that dies mid-protocol stops the others with an error within seconds", "[net][faults]") {
  sf::NetConfig cfg;
  cfg.peer_port = free_port();
  cfg.dealer_port = free_port();
  cfg.seed = 5;
  cfg.options.timeout = std::chrono::milliseconds(30000);  // the stop must come from the disconnect, not this
  cfg.options.connect_timeout = std::chrono::milliseconds(10000);
  const xt::xarray<double> x = xt::ones<double>({1000});
  auto work = [&](auto& ctx, bool die) {
    auto sx = ctx.input(sf::party<0>, x);
    for (int i = 0; i < 1000; ++i) {
      sx = sf::mul(sx, sx, ctx);
      if (die && i == 5) _exit(3);  // a crash: no goodbye, the socket just closes
    }
  };
  const pid_t dealer = spawn([&] { sf::run_dealer(cfg); });
  const pid_t p0 = spawn([&] { sf::run_party(sf::party<0>, cfg, [&](auto& ctx) { work(ctx, false); }); });
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t p1 = spawn([&] { sf::run_party(sf::party<1>, cfg, [&](auto& ctx) { work(ctx, true); }); });
  CHECK(wait_exit(p1, std::chrono::seconds(30)) == 3);
  CHECK(wait_exit(p0, std::chrono::seconds(10)) == 1);      // clean error exit, not a hang (-1)
  CHECK(wait_exit(dealer, std::chrono::seconds(10)) == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("run_loopback (three threads over loopback TCP) equals run_two_party", "[net]") {
  sf::test::TestData d(23);
  const Program prog{d.uniform_array({32}, -3, 3), d.uniform_array({32}, -3, 3), d.uniform_array({32, 4}, -1, 1)};
  xt::xarray<double> mem, tcp;
  auto s_mem = sf::run_two_party(7, [&](auto& ctx) {
    auto r = prog(ctx);
    if (id_of<decltype(ctx)> == 0) mem = r;
  });
  auto s_tcp = sf::run_loopback(sf::RunOptions{7}, [&](auto& ctx) {
    auto r = prog(ctx);
    if (id_of<decltype(ctx)> == 0) tcp = r;
  });
  CHECK(bool(mem == tcp));
  for (int i = 0; i < 2; ++i) CHECK(s_mem[i].total() == s_tcp[i].total());
}
