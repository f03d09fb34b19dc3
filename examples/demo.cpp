// The main demo: party 0, party 1 and the dealer as three processes over TCP.
//
//   demo                         all three roles on this machine (forked), loopback TCP
//   demo p0|p1|dealer [options]  one role, for separate machines (demo --help lists the options:
//                                examples/common/cli.hpp; defaults 127.0.0.1:7400 and :7401)
// Plain TCP is for loopback only (--insecure-plain-tcp overrides); a fixed seed over TCP needs
// --insecure-fixed-seed N (tests only).
//
// Before any share is sent the roles compare library version, ring, encoding, suite, model shape
// digest and session id, and refuse the session naming the first field that differs.
//
// Party 0 holds a weight matrix, party 1 a feature vector; they compute a secure linear layer with a
// square activation, and only party 1 learns the result.
#include <cstdlib>
#include <iostream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <secformer/net.hpp>
#include <secformer/secformer.hpp>

#include "common/cli.hpp"

namespace sf = secformer;

namespace {
template <class Ctx>
void program(Ctx& ctx) {
  const xt::xarray<double> weights{{0.5, -1.0, 2.0}, {1.5, 0.25, -0.5}, {-2.0, 1.0, 0.75}, {0.1, 0.2, 0.3}};
  const xt::xarray<double> features{{1.0, -2.0, 0.5, 3.0}};
  // Each party passes its own data; for the other party's input it knows only the shape.
  auto w = [&] {
    if constexpr (Ctx::id == 0) return ctx.input(sf::party<0>, weights);
    else return ctx.input_shape(sf::party<0>, {4, 3});
  }();
  auto x = [&] {
    if constexpr (Ctx::id == 1) return ctx.input(sf::party<1>, features);
    else return ctx.input_shape(sf::party<1>, {1, 4});
  }();
  auto y = sf::square(sf::matmul(x, sf::prepare_weight(w, ctx), ctx), ctx);
  if (auto v = ctx.reveal_to(sf::party<1>, y)) std::cout << "party 1 learns (x W)^2 = " << *v << "\n";
  const auto c = ctx.stats().total();
  std::cout << "party " << Ctx::id << ": " << c.rounds << " rounds, " << c.bytes_sent << " bytes sent, "
            << c.dealer_bytes << " bytes from the dealer\n";
}

/// The shapes of this program's inputs, for the session handshake's model digest.
const std::uint64_t model_digest = sf::handshake::shape_digest({{4, 3}, {1, 4}});

int run_role(const std::string& role, const sf::NetConfig& cfg) {
  if (role == "dealer") sf::run_dealer(cfg);
  else if (role == "p0") sf::run_party(sf::party<0>, cfg, [](auto& ctx) { program(ctx); });
  else if (role == "p1") sf::run_party(sf::party<1>, cfg, [](auto& ctx) { program(ctx); });
  else throw sf::usage_error("unknown role '" + role + "' (p0, p1 or dealer)");
  return 0;
}
}  // namespace

const char* help =
    "demo: a secure linear layer with a square activation; party 0 holds the weights, party 1 the\n"
    "features and learns the result.\n"
    "usage: demo [options]                  all three roles on this machine (forked), loopback TCP\n"
    "       demo p0|p1|dealer [options]     one role (separate processes or machines)\n"
    "defaults: --peer 127.0.0.1:7400 --dealer 127.0.0.1:7401\n";

int main(int argc, char** argv) try {
  namespace cli = examples::cli;
  if (cli::wants_help(argc, argv)) {
    std::cout << help << cli::net_help;
    return 0;
  }
  cli::NetFlags f;
  f.net.model_digest = model_digest;
  const std::string role = argc > 1 && argv[1][0] != '-' ? argv[1] : "all";
  if (role != "all" && role != "p0" && role != "p1" && role != "dealer")
    throw sf::usage_error("unknown role '" + cli::escape(role) + "' (p0, p1 or dealer; demo --help)");
  if (role == "all") f.net.options.connect_timeout = std::chrono::milliseconds(10000);
  cli::Args args(argc, argv, role == "all" ? 1 : 2);
  while (!args.done()) {
    const std::string a = args.next();
    if (!cli::net_flag(f, a, args)) throw sf::usage_error("unknown option '" + cli::escape(a) + "' (demo --help)");
  }
  const std::vector<std::string> roles = role == "all" ? std::vector<std::string>{"p0", "p1", "dealer"} : std::vector<std::string>{role};
  cli::apply_policy(f, cli::Transport::tcp, roles);
  if (role != "all") {
    cli::tls_for(f, role);
    return run_role(role, f.net);
  }
  pid_t pids[3];
  const char* names[3] = {"dealer", "p0", "p1"};
  for (int k = 0; k < 3; ++k) {
    pids[k] = fork();
    if (pids[k] < 0) throw sf::error("fork failed");
    if (pids[k] == 0) {
      try {
        cli::tls_for(f, names[k]);
        const int code = run_role(names[k], f.net);
        std::cout.flush();
        _exit(code);
      } catch (const std::exception& e) {
        std::cerr << names[k] << ": " << e.what() << std::endl;
        _exit(1);
      }
    }
  }
  int failed = 0;
  for (pid_t p : pids) {
    int status = 0;
    waitpid(p, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::cout << (failed ? "demo FAILED\n" : "three processes finished\n");
  return failed ? 1 : 0;
} catch (const std::exception& e) {
  std::cerr << "demo: " << e.what() << "\n";
  return 2;
}
