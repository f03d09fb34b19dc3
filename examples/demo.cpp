// The main demo: party 0, party 1 and the dealer as three processes over TCP.
//
//   demo                         all three roles on this machine (forked), loopback TCP
//   demo p0|p1|dealer [options]  one role, for separate machines:
//     --peer HOST:PORT     where party 0 listens for party 1 (default 127.0.0.1:7400)
//     --dealer HOST:PORT   where the dealer listens (default 127.0.0.1:7401)
//     --bind ADDR          address the listening roles bind to (default 127.0.0.1; 0.0.0.0 for all)
//     --seed N             reproducible test keys (never in a deployment)
//     --tls-cert FILE      this role's certificate (PEM); with --tls-key and --tls-ca every connection
//     --tls-key FILE       runs inside TLS with mutual authentication: each role must present a
//     --tls-ca FILE        certificate from this CA that names its role (p0, p1, dealer)
//     --tls-dir DIR        all-in-one mode: DIR/ca.pem and DIR/<role>.pem, DIR/<role>.key per role
//     --session ID         session identifier; all three roles must use the same one
//     --timeout MS         per-operation deadline (default 60000); --connect-timeout MS for set-up
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

namespace sf = secformer;

namespace {
void split_host_port(const std::string& s, std::string& host, std::uint16_t& port) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) throw sf::usage_error("expected HOST:PORT, got '" + s + "'");
  host = s.substr(0, colon);
  const std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoul(p) > 65535)
    throw sf::usage_error("invalid port in '" + s + "'");
  port = static_cast<std::uint16_t>(std::stoul(p));
}

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

int main(int argc, char** argv) try {
  sf::NetConfig cfg;
  cfg.model_digest = model_digest;
  std::string tls_dir;
  std::string role = argc > 1 && argv[1][0] != '-' ? argv[1] : "all";
  if (role == "all") cfg.options.connect_timeout = std::chrono::milliseconds(10000);
  auto ms = [](const std::string& v) {
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
      throw sf::usage_error("expected a time in milliseconds, got '" + v + "'");
    return std::chrono::milliseconds(std::stoul(v));
  };
  for (int i = role == "all" ? 1 : 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw sf::usage_error("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--peer") split_host_port(v, cfg.peer_host, cfg.peer_port);
    else if (a == "--dealer") split_host_port(v, cfg.dealer_host, cfg.dealer_port);
    else if (a == "--bind") cfg.options.bind_address = v;
    else if (a == "--seed") cfg.seed = std::stoull(v);
    else if (a == "--tls-cert") cfg.options.tls.cert_file = v;
    else if (a == "--tls-key") cfg.options.tls.key_file = v;
    else if (a == "--tls-ca") cfg.options.tls.ca_file = v;
    else if (a == "--tls-dir") tls_dir = v;
    else if (a == "--session") cfg.session_id = v;
    else if (a == "--timeout") cfg.options.timeout = ms(v);
    else if (a == "--connect-timeout") cfg.options.connect_timeout = ms(v);
    else throw sf::usage_error("unknown option " + a);
  }
  auto tls_for = [&](const std::string& r) {
    if (!tls_dir.empty()) cfg.options.tls = {tls_dir + "/" + r + ".pem", tls_dir + "/" + r + ".key", tls_dir + "/ca.pem", ""};
  };
  if (!cfg.options.tls.enabled() && tls_dir.empty() &&
      (cfg.options.bind_address != "127.0.0.1" || cfg.peer_host != "127.0.0.1" || cfg.dealer_host != "127.0.0.1"))
    std::cerr << "warning: plain TCP beyond loopback; use --tls-cert/--tls-key/--tls-ca for a deployment\n";
  if (role != "all") {
    tls_for(role);
    return run_role(role, cfg);
  }
  pid_t pids[3];
  const char* roles[3] = {"dealer", "p0", "p1"};
  for (int k = 0; k < 3; ++k) {
    pids[k] = fork();
    if (pids[k] == 0) {
      try {
        tls_for(roles[k]);
        const int code = run_role(roles[k], cfg);
        std::cout.flush();
        _exit(code);
      } catch (const std::exception& e) {
        std::cerr << roles[k] << ": " << e.what() << std::endl;
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
