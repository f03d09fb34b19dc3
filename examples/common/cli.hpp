// examples/common/cli.hpp: the command line shared by the role commands (examples/demo.cpp,
// examples/encoder_layer.cpp, examples/sentiment/sentiment.cpp): the network and TLS flags, numbers
// validated with a clear message, the --help text, escaping of untrusted text, and the safety policy:
//
//   * a fixed seed makes every key a function of one 64-bit number (two sessions with the same
//     number reuse every mask): plain --seed N is accepted for in-process runs only; a run over TCP
//     needs --insecure-fixed-seed N (tests only; a warning is printed) or no seed (keys from the OS);
//   * plain TCP carries the dealer's keys and the parties' shares unencrypted and unauthenticated:
//     without TLS, every address a role binds to or connects to must be loopback, unless
//     --insecure-plain-tcp says otherwise (a warning is printed). The check runs before any socket
//     is opened.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <secformer/net.hpp>

namespace examples::cli {

namespace sf = secformer;

/// Untrusted text for the terminal: valid UTF-8 and printable characters as they are; control bytes
/// (C0, DEL, C1), invalid UTF-8 and backslashes as \xNN, so that no escape sequence reaches the terminal.
inline std::string escape(std::string_view s) {
  std::string out;
  const char* hex = "0123456789abcdef";
  auto esc = [&](unsigned char c) { out += std::string("\\x") + hex[c >> 4] + hex[c & 15]; };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f || c == '\\') esc(c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    // The length of a well-formed UTF-8 sequence starting here (0: not one).
    std::size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n && i + n <= s.size()) {
      for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) n = 0;
    } else {
      n = 0;
    }
    const auto c1 = n ? static_cast<unsigned char>(s[i + 1]) : 0;
    if (n == 3 && ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0))) n = 0;  // overlong, surrogate
    if (n == 4 && ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90))) n = 0;  // overlong, > U+10FFFF
    if (n == 2 && c == 0xc2 && c1 < 0xa0) n = 0;                                 // C1 controls U+0080..U+009F
    if (!n) {
      esc(c);
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

/// The first `max_bytes` bytes of s, cut at a UTF-8 character boundary.
inline std::string_view prefix_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

/// A whole number in [lo, hi] (decimal digits only); throws usage_error naming the flag.
inline std::uint64_t parse_number(const std::string& flag, const std::string& v, std::uint64_t lo = 0,
                                  std::uint64_t hi = UINT64_MAX) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (v.empty() || v.size() > 20 || v.find_first_not_of("0123456789") != std::string::npos)
    throw sf::usage_error(flag + " needs a whole number in " + range + ", got '" + escape(v) + "'");
  std::uint64_t x = 0;
  for (char c : v) {
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (x > (UINT64_MAX - d) / 10) throw sf::usage_error(flag + " " + escape(v) + " is too large (at most " + std::to_string(hi) + ")");
    x = x * 10 + d;
  }
  if (x < lo || x > hi) throw sf::usage_error(flag + " must be in " + range + ", got " + v);
  return x;
}

/// A time in milliseconds, 1 ms to one day.
inline std::chrono::milliseconds parse_ms(const std::string& flag, const std::string& v) {
  return std::chrono::milliseconds(parse_number(flag, v, 1, 86'400'000));
}

/// Reads argv from `first` on.
class Args {
 public:
  Args(int argc, char** argv, int first) : argv_(argv + first, argv + (first < argc ? argc : first)) {}
  bool done() const noexcept { return at_ >= argv_.size(); }
  std::string next() { return argv_[at_++]; }
  /// The value after `flag`.
  std::string value(const std::string& flag) {
    if (done()) throw sf::usage_error("missing value after " + flag);
    return next();
  }

 private:
  std::vector<std::string> argv_;
  std::size_t at_ = 0;
};

/// Whether --help or -h is anywhere on the command line.
inline bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") return true;
  return false;
}

/// How a command runs: every role in this process (in-memory channels) or over TCP.
enum class Transport { in_process, tcp };

/// The flags every role command shares.
struct NetFlags {
  sf::NetConfig net;
  std::string tls_dir;
  std::optional<std::uint64_t> seed, insecure_seed;
  bool insecure_plain_tcp = false;
};

inline const char* net_help =
    "network (roles over TCP):\n"
    "  --peer HOST:PORT        where party 0 listens for party 1 ([::1]:PORT for IPv6)\n"
    "  --dealer HOST:PORT      where the dealer listens\n"
    "  --bind ADDR             address the listening roles bind to (default 127.0.0.1)\n"
    "  --tls-cert FILE         this role's certificate (PEM); with --tls-key and --tls-ca every\n"
    "  --tls-key FILE          connection runs inside TLS with mutual authentication; each role's\n"
    "  --tls-ca FILE           certificate must be signed by the CA and name its role (p0, p1, dealer)\n"
    "  --tls-dir DIR           DIR/ca.pem and DIR/<role>.pem, DIR/<role>.key for each role\n"
    "  --session ID            session identifier, the same on all three roles (printable ASCII)\n"
    "  --timeout MS            deadline of each operation (1..86400000, default 60000)\n"
    "  --connect-timeout MS    deadline of the set-up: connect, TLS and the session handshake\n"
    "  --insecure-plain-tcp    allow plain TCP to or on a non-loopback address (keys and shares\n"
    "                          cross the network unencrypted and unauthenticated)\n"
    "keys:\n"
    "  by default every key comes from the operating system.\n"
    "  --seed N                reproducible keys, in-process runs only (refused over TCP)\n"
    "  --insecure-fixed-seed N reproducible keys over TCP, for tests only: every key is a function\n"
    "                          of N, and two sessions with the same N reuse every mask\n";

/// Parses one network flag (a = the flag, its value read from args); false when `a` is not one.
inline bool net_flag(NetFlags& f, const std::string& a, Args& args) {
  auto endpoint = [&](std::string& host, std::uint16_t& port) {
    const auto e = sf::parse_endpoint(args.value(a));
    host = e.host;
    port = e.port;
  };
  if (a == "--peer") endpoint(f.net.peer_host, f.net.peer_port);
  else if (a == "--dealer") endpoint(f.net.dealer_host, f.net.dealer_port);
  else if (a == "--bind") {
    std::string v = args.value(a);
    if (v.size() > 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
    asio::error_code ec;
    (void)asio::ip::make_address(v, ec);
    if (ec) throw sf::usage_error("--bind needs an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1), got '" + escape(v) + "'");
    f.net.options.bind_address = v;
  } else if (a == "--seed") f.seed = parse_number(a, args.value(a));
  else if (a == "--insecure-fixed-seed") f.insecure_seed = parse_number(a, args.value(a));
  else if (a == "--tls-cert") f.net.options.tls.cert_file = args.value(a);
  else if (a == "--tls-key") f.net.options.tls.key_file = args.value(a);
  else if (a == "--tls-ca") f.net.options.tls.ca_file = args.value(a);
  else if (a == "--tls-dir") f.tls_dir = args.value(a);
  else if (a == "--session") {
    const std::string v = args.value(a);
    if (v.size() > 256) throw sf::usage_error("--session: at most 256 characters");
    for (char c : v)
      if (c < 0x20 || c > 0x7e) throw sf::usage_error("--session must be printable ASCII, got '" + escape(v) + "'");
    f.net.session_id = v;
  } else if (a == "--timeout") f.net.options.timeout = parse_ms(a, args.value(a));
  else if (a == "--connect-timeout") f.net.options.connect_timeout = parse_ms(a, args.value(a));
  else if (a == "--insecure-plain-tcp") f.insecure_plain_tcp = true;
  else return false;
  return true;
}

/// Sets this role's TLS files from --tls-dir (no-op without it).
inline void tls_for(NetFlags& f, const std::string& role) {
  if (!f.tls_dir.empty()) f.net.options.tls = {f.tls_dir + "/" + role + ".pem", f.tls_dir + "/" + role + ".key", f.tls_dir + "/ca.pem", ""};
}

/// Applies the seed and plain-TCP policy for `roles` ("p0", "p1", "dealer") run with `t`; throws
/// usage_error saying why a combination is refused, warns on stderr for the insecure flags.
inline void apply_policy(NetFlags& f, Transport t, const std::vector<std::string>& roles) {
  if (f.seed && f.insecure_seed) throw sf::usage_error("give --seed or --insecure-fixed-seed, not both");
  if (f.seed && t == Transport::tcp)
    throw sf::usage_error(
        "--seed is refused for roles over TCP: it makes every key a function of one 64-bit number, and two "
        "sessions with the same number reuse every mask (each party learns the difference of the other's "
        "inputs). Give no seed (keys from the operating system), or --insecure-fixed-seed N for a test run");
  if (f.insecure_seed) {
    std::cerr << "warning: --insecure-fixed-seed: every key is a function of " << *f.insecure_seed
              << "; for tests only, never in a deployment\n";
    f.seed = f.insecure_seed;
  }
  f.net.seed = f.seed;
  if (t == Transport::in_process) return;
  const auto& tls = f.net.options.tls;
  if (!f.tls_dir.empty() && tls.enabled()) throw sf::usage_error("give --tls-dir or --tls-cert/--tls-key/--tls-ca, not both");
  if (tls.enabled() && (tls.cert_file.empty() || tls.key_file.empty() || tls.ca_file.empty()))
    throw sf::usage_error("TLS needs all three of --tls-cert, --tls-key and --tls-ca");
  if (tls.enabled() || !f.tls_dir.empty()) return;
  std::vector<std::string> remote;
  auto check = [&](const std::string& host, const std::string& what) {
    if (!sf::is_loopback_host(host)) remote.push_back(what + " " + escape(host));
  };
  for (const auto& r : roles) {
    if (r == "p0" || r == "dealer") check(f.net.options.bind_address, "--bind");
    if (r == "p1") check(f.net.peer_host, "--peer");
    if (r == "p0" || r == "p1") check(f.net.dealer_host, "--dealer");
  }
  if (remote.empty()) return;
  std::string list;
  for (const auto& x : remote)
    if (list.find(x) == std::string::npos) list += (list.empty() ? "" : ", ") + x;
  if (!f.insecure_plain_tcp)
    throw sf::usage_error("plain TCP beyond loopback refused (" + list +
                          "): the dealer's keys and the parties' shares would cross the network unencrypted and "
                          "unauthenticated. Use --tls-cert/--tls-key/--tls-ca (or --tls-dir), or --insecure-plain-tcp "
                          "on a network you trust");
  std::cerr << "warning: --insecure-plain-tcp: keys and shares cross the network unencrypted (" << list << ")\n";
}

}  // namespace examples::cli
