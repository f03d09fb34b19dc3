// One secure BERT encoder layer on random weights, with party 0 (the model owner), party 1 (the
// client, who holds the hidden states and learns the result) and the dealer as three processes over
// TCP. Party 1 prints the error against the plaintext model (same approximations in double
// precision, and the exact model); party 0 prints the online time and cost table. SecFormerSuite.
//
//   encoder_layer                      all three roles on this machine (forked), loopback TCP
//   encoder_layer p0|p1|dealer [opts]  one role, for separate machines; the network, TLS and key
//                                      flags are examples/common/cli.hpp's (encoder_layer --help);
//                                      defaults 127.0.0.1:7410 (peer) and :7411 (dealer)
//   size (every role must pass the same): --hidden H --heads A --ffn F --tokens S (default 64, 4,
//     256, 16: a few seconds), --base for BERT-base's layer (768, 12, 3072, 128)
//   --data N    seed of the random test weights and input (public test data; default 1). Party 1
//               regenerates the weights from it only to check the result: in a deployment the
//               client never has them.
//   keys come from the OS; --insecure-fixed-seed N for reproducible test keys (plain --seed is
//   refused: the roles run over TCP)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <secformer/net.hpp>
#include <secformer/protocols/suite.hpp>
#include <secformer/nn/bert.hpp>

#include "common/cli.hpp"

namespace sf = secformer;
namespace nn = secformer::nn;

namespace {
using Suite = sf::SecFormerSuite;

struct Args {
  std::size_t hidden = 64, heads = 4, ffn = 256, tokens = 16;
  std::uint64_t data = 1;
};

/// Test input only: hidden states like those after an embedding LayerNorm (about N(0, 1)).
xt::xarray<double> random_input(std::size_t s, std::size_t d, std::uint64_t seed) {
  xt::xarray<double> x(std::vector<std::size_t>{s, d});
  std::uint64_t st = seed * 0x9E3779B97F4A7C15ull + 777;
  for (auto& v : x) {  // splitmix64, Irwin-Hall approximation of N(0, 1)
    double acc = 0;
    for (int j = 0; j < 12; ++j) {
      std::uint64_t z = (st += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      acc += static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
    }
    v = acc - 6.0;
  }
  return x;
}

struct Err {
  double mean = 0, max = 0;
};
Err error(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  Err e;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a.flat(i) - b.flat(i));
    e.mean += d;
    e.max = std::max(e.max, d);
  }
  e.mean /= static_cast<double>(a.size());
  return e;
}

/// One party's program; returns false when party 1's check fails.
template <class Ctx>
bool program(Ctx& ctx, const Args& a) {
  constexpr int id = Ctx::id;
  const auto shapes = nn::shapes::encoder(a.hidden, a.ffn);
  // Setup: party 0 secret-shares and masks its weights (party 1 knows their shapes); party 1
  // secret-shares its hidden states (party 0 knows their shape).
  const auto sw = [&] {
    if constexpr (id == 0) return nn::share_bundle(nn::random_bundle(shapes, a.data), ctx);
    else return nn::share_bundle(shapes, ctx);
  }();
  const auto sx = [&] {
    if constexpr (id == 1) return ctx.input(sf::party<1>, random_input(a.tokens, a.hidden, a.data));
    else return ctx.input_shape(sf::party<1>, {a.tokens, a.hidden});
  }();
  const std::uint64_t setup_bytes = ctx.stats().total().bytes_sent;
  ctx.stats().reset();
  const auto t0 = std::chrono::steady_clock::now();
  const auto y = nn::encoder_layer(sw, a.heads)(sx, ctx);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const sf::Stats online = ctx.stats();
  const auto revealed = ctx.reveal_to(sf::party<1>, y);  // 1 more round: only the client learns y
  std::cout << std::setprecision(3);
  if constexpr (id == 1) {
    const auto w = nn::random_bundle(shapes, a.data);  // for the check only (see the header)
    const auto x = random_input(a.tokens, a.hidden, a.data);
    nn::PlainContext<Suite, nn::Approx> approx_ctx;
    nn::PlainContext<Suite, nn::Exact> exact_ctx;
    const xt::xarray<double> y_approx = nn::encoder_layer(w, a.heads)(x, approx_ctx);
    const xt::xarray<double> y_exact = nn::encoder_layer(w, a.heads)(x, exact_ctx);
    const Err e = error(*revealed, y_approx), ex = error(*revealed, y_exact);
    const bool ok = e.mean <= 1e-2 && std::isfinite(e.max);
    std::cout << "party 1 (client) learns the layer's output, " << a.tokens << " x " << a.hidden << "\n";
    std::cout << "error vs the plaintext model with the same approximations: mean " << e.mean << ", max " << e.max << (ok ? " OK" : " TOO LARGE")
              << "\n";
    std::cout << "error vs the exact model: mean " << ex.mean << ", max " << ex.max << "\n";
    std::cout << "party 1: dealer material for the layer " << static_cast<double>(online.total().dealer_bytes) / 1e6 << " MB\n";
    return ok;
  } else {
    constexpr int documented = nn::encoder_layer_rounds<Suite::softmax, Suite::gelu, Suite::layernorm>();
    const bool rounds_ok = online.total().rounds == static_cast<std::uint64_t>(documented);
    std::cout << "party 0 (model owner): weights shared and masked (" << static_cast<double>(setup_bytes) / 1e6 << " MB sent)\n";
    std::cout << "online time of the layer (party 0): " << seconds << " s\n";
    std::cout << "online rounds: " << online.total().rounds << " (documented " << documented << ")" << (rounds_ok ? " OK" : " MISMATCH") << "\n";
    std::cout << "cost table of party 0 (online; a tag counts everything inside it):\n" << online;
    return rounds_ok;
  }
}

int run_role(const std::string& role, const sf::NetConfig& cfg, const Args& a) {
  bool ok = true;
  if (role == "dealer") sf::run_dealer(cfg);
  else if (role == "p0") sf::run_party<Suite>(sf::party<0>, cfg, [&](auto& ctx) { ok = program(ctx, a); });
  else if (role == "p1") sf::run_party<Suite>(sf::party<1>, cfg, [&](auto& ctx) { ok = program(ctx, a); });
  else throw sf::usage_error("unknown role '" + role + "' (p0, p1 or dealer)");
  std::cout.flush();
  return ok ? 0 : 1;
}
}  // namespace

const char* help =
    "encoder_layer: one secure BERT encoder layer on random test weights, party 0 = model owner,\n"
    "party 1 = client (learns the output and checks it), the dealer.\n"
    "usage: encoder_layer [options]                all three roles on this machine (forked), loopback TCP\n"
    "       encoder_layer p0|p1|dealer [options]   one role\n"
    "size (the same on every role): --hidden H --heads A --ffn F --tokens S (default 64 4 256 16;\n"
    "  each 1..65536, H divisible by A), --base (768 12 3072 128)\n"
    "  --data N                seed of the public random test weights and input (default 1)\n"
    "defaults: --peer 127.0.0.1:7410 --dealer 127.0.0.1:7411\n";

int main(int argc, char** argv) try {
  namespace cli = examples::cli;
  if (cli::wants_help(argc, argv)) {
    std::cout << help << cli::net_help;
    return 0;
  }
  cli::NetFlags f;
  f.net.peer_port = 7410;
  f.net.dealer_port = 7411;
  Args a;
  const std::string role = argc > 1 && argv[1][0] != '-' ? argv[1] : "all";
  if (role != "all" && role != "p0" && role != "p1" && role != "dealer")
    throw sf::usage_error("unknown role '" + cli::escape(role) + "' (p0, p1 or dealer; encoder_layer --help)");
  if (role == "all") f.net.options.connect_timeout = std::chrono::milliseconds(10000);
  cli::Args args(argc, argv, role == "all" ? 1 : 2);
  while (!args.done()) {
    const std::string k = args.next();
    auto size = [&] { return static_cast<std::size_t>(cli::parse_number(k, args.value(k), 1, 65536)); };
    if (k == "--base") a.hidden = 768, a.heads = 12, a.ffn = 3072, a.tokens = 128;
    else if (k == "--data") a.data = cli::parse_number(k, args.value(k));
    else if (k == "--hidden") a.hidden = size();
    else if (k == "--heads") a.heads = size();
    else if (k == "--ffn") a.ffn = size();
    else if (k == "--tokens") a.tokens = size();
    else if (!cli::net_flag(f, k, args)) throw sf::usage_error("unknown option '" + cli::escape(k) + "' (encoder_layer --help)");
  }
  if (a.hidden % a.heads != 0) throw sf::usage_error("--hidden must be divisible by --heads");
  const std::vector<std::string> roles = role == "all" ? std::vector<std::string>{"p0", "p1", "dealer"} : std::vector<std::string>{role};
  cli::apply_policy(f, cli::Transport::tcp, roles);
  if (role != "all") {
    cli::tls_for(f, role);
    return run_role(role, f.net, a);
  }

  std::cout << "secure BERT encoder layer as three processes: hidden " << a.hidden << ", " << a.heads << " heads, FFN " << a.ffn << ", "
            << a.tokens << " tokens; SecFormerSuite" << std::endl;
  // Each role writes to its own pipe; the outputs are printed in a fixed order: party 1, party 0, dealer.
  const char* names[3] = {"p1", "p0", "dealer"};
  pid_t pids[3];
  int out[3];
  for (int k = 0; k < 3; ++k) {
    int fd[2];
    if (pipe(fd) != 0) throw sf::error("pipe failed");
    pids[k] = fork();
    if (pids[k] < 0) throw sf::error("fork failed");
    if (pids[k] == 0) {
      close(fd[0]);
      dup2(fd[1], STDOUT_FILENO);
      close(fd[1]);
      try {
        cli::tls_for(f, names[k]);
        _exit(run_role(names[k], f.net, a));
      } catch (const std::exception& e) {
        std::cerr << names[k] << ": " << e.what() << std::endl;
        _exit(1);
      }
    }
    close(fd[1]);
    out[k] = fd[0];
  }
  for (int k = 0; k < 3; ++k) {
    char buf[4096];
    for (ssize_t n; (n = read(out[k], buf, sizeof buf)) > 0;) std::cout.write(buf, n);
    close(out[k]);
  }
  int failed = 0;
  for (pid_t p : pids) {
    int status = 0;
    waitpid(p, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::cout << (failed ? "encoder layer FAILED\n" : "three processes finished\n");
  return failed ? 1 : 0;
} catch (const std::exception& e) {
  std::cerr << "encoder_layer: " << e.what() << "\n";
  return 2;
}
