// secformer/net.hpp: running the three roles as separate processes (or machines) over TCP.
//
//   party 0  listens for party 1 on peer_port and connects to the dealer
//   party 1  connects to party 0 and to the dealer
//   dealer   listens on dealer_port for both parties (each says which party it is first)
//
// With the same test seed, a networked run computes exactly what run_two_party computes and counts
// the same rounds and bytes. Without a seed, every key comes from the operating system.
//
// Deployment: NetConfig::options.tls (certificate, key, CA) puts every connection inside TLS with
// mutual authentication; each role's certificate must also carry its name (tls_names: p0, p1,
// dealer). Before any share or key is sent, every connection runs the session handshake
// (channel/handshake.hpp): library version, ring, encoding, suite, model digest, session id and role
// must agree, or every role stops with a handshake_error naming the field. The handshake waits at
// most options.connect_timeout; later operations options.timeout; a failure of any role makes the
// others stop with a channel_error (disconnect, timeout, malformed or oversized frame).
//
// Listeners (party 0's peer port, the dealer's port) drop a connection that fails TLS or does not
// send a well-formed hello (a port scanner, a stray connect-and-close, a wrong certificate) and keep
// waiting until their set-up deadline (options.connect_timeout from the start of the wait); a
// well-formed hello of a mismatching session still ends the session. A silent connection holds the
// listener until that deadline (connections are served one at a time).
// Every error of run_party and run_dealer names the role and, for a channel, the link:
// "secformer: party 0: link to the dealer (127.0.0.1:7401): timed out after ...".
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>

#include "channel/handshake.hpp"
#include "channel/tcp.hpp"
#include "run.hpp"

namespace secformer {

struct NetConfig {
  std::string peer_host = "127.0.0.1";    ///< where party 0 listens for party 1
  std::uint16_t peer_port = 7400;
  std::string dealer_host = "127.0.0.1";  ///< where the dealer listens
  std::uint16_t dealer_port = 7401;
  TcpOptions options{};                   ///< timeouts, frame limit, bind address of listeners, TLS files
  std::optional<std::uint64_t> seed;      ///< test seed (reproducible runs); nullopt: OS entropy
  std::string session_id;                 ///< session identifier, equal on all three roles (printable ASCII)
  std::uint64_t model_digest = 0;         ///< handshake::shape_digest of the model's shapes; 0: not used
  std::array<std::string, 3> tls_names{"p0", "p1", "dealer"};  ///< names the roles' certificates carry (TLS only)
};

template <party_tag P, class Suite = Basic<>>
using TcpContext = Context<P, TcpChannel, DealerClient<P, TcpChannel>, Suite>;

namespace detail {
/// Runs f; a secformer error it throws is rethrown with the same type and `label` after "secformer: ".
template <class F>
decltype(auto) labelled(const std::string& label, F&& f) {
  auto re = [&](const std::exception& e) {
    std::string m = e.what();
    if (m.rfind("secformer: ", 0) == 0) m.erase(0, 11);
    return "secformer: " + label + ": " + m;
  };
  try {
    return f();
  } catch (const handshake_error& e) {
    throw handshake_error(re(e));
  } catch (const disconnected_error& e) {
    throw disconnected_error(re(e));
  } catch (const channel_error& e) {
    throw channel_error(re(e));
  } catch (const usage_error& e) {
    throw usage_error(re(e));
  } catch (const range_error& e) {
    throw range_error(re(e));
  } catch (const error& e) {
    throw error(re(e));
  }
}

/// Milliseconds left until deadline (at least 1, so that an operation still fails by timing out).
inline std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

/// Identifies a suite type (hash of its Itanium-mangled name, the same for g++ and clang++).
template <class Suite>
std::string suite_id() {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char* p = typeid(Suite).name(); *p; ++p) h = (h ^ static_cast<unsigned char>(*p)) * 0x100000001b3ull;
  const char* d = "0123456789abcdef";
  std::string s = "suite-";
  for (int i = 60; i >= 0; i -= 4) s += d[(h >> i) & 15];
  return s;
}

template <class Suite>
SessionHello party_hello(const NetConfig& cfg, unsigned role) {
  SessionHello h;
  h.role = static_cast<std::uint8_t>(role);
  h.ring_bits = Suite::ring::bits;
  h.frac_bits = Suite::encoding::frac_bits;
  h.suite = suite_id<Suite>();
  h.model_digest = cfg.model_digest;
  h.session_id = cfg.session_id;
  return h;
}

inline SessionHello dealer_hello(const NetConfig& cfg) {
  SessionHello h;
  h.role = 2;
  h.model_digest = cfg.model_digest;
  h.session_id = cfg.session_id;
  return h;
}

/// Runs f with the channel's timeout set to the handshake deadline; channel errors get `context`.
template <class F>
auto with_handshake_deadline(TcpChannel& ch, const TcpOptions& o, const std::string& context, F&& f,
                             std::optional<std::chrono::milliseconds> limit = std::nullopt) {
  ch.set_timeout(limit ? *limit : o.connect_timeout);
  try {
    f();
  } catch (const handshake_error&) {
    throw;
  } catch (const disconnected_error& e) {
    throw disconnected_error(std::string(e.what()) + " [during the session handshake with " + context + "]");
  } catch (const channel_error& e) {
    throw channel_error(std::string(e.what()) + " [during the session handshake with " + context + "]");
  }
  ch.set_timeout(o.timeout);
}

inline std::vector<std::byte> text_bytes(const std::string& s) {
  std::vector<std::byte> b(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
  return b;
}

/// Exchanges hellos with the other party; both sides compare and refuse a mismatch.
inline void peer_handshake(TcpChannel& ch, const SessionHello& mine, unsigned peer_role, const TcpOptions& o) {
  with_handshake_deadline(ch, o, handshake::role_name(peer_role), [&] {
    ch.send(handshake::encode(mine));
    const SessionHello theirs = handshake::parse(ch.recv_message(handshake::max_bytes));
    if (auto m = handshake::mismatch(mine, theirs, peer_role))
      throw handshake_error(*m + " [" + handshake::role_name(peer_role) + "]");
  });
}

/// A party's connection to the dealer: connect, send this party's hello, check the dealer's hello
/// and its verdict on the session (empty: accepted).
template <int I>
TcpChannel connect_to_dealer(Party<I>, const std::string& host, std::uint16_t port, const NetConfig& cfg,
                             const SessionHello& mine) {
  TcpOptions o = cfg.options;
  o.tls.peer_name = cfg.tls_names[2];
  const std::string link = "link to the dealer (" + Endpoint{host, port}.str() + ")";
  return labelled(link, [&] {
  TcpChannel ch = TcpChannel::connect(host, port, o);
  with_handshake_deadline(ch, o, "the dealer", [&] {
    ch.send(handshake::encode(mine));
    const SessionHello theirs = handshake::parse(ch.recv_message(handshake::max_bytes));
    if (auto m = handshake::mismatch(mine, theirs, 2)) throw handshake_error(*m + " [dealer]");
    const auto verdict = ch.recv_message(handshake::max_bytes);
    if (!verdict.empty()) {
      std::string why(reinterpret_cast<const char*>(verdict.data()), verdict.size());
      if (why.rfind("secformer: ", 0) == 0) why.erase(0, 11);
      throw handshake_error("secformer: the dealer refused the session: " + why);
    }
  });
  ch.set_label(link);
  return ch;
  });
}

/// The party side of the peer connection: party 0 accepts (from a listener, or one of its own on
/// `port`), party 1 connects. Party 0 drops a connection that fails TLS or the hello and keeps
/// waiting until connect_timeout has passed; it reads party 1's hello before sending its own.
template <int I>
TcpChannel open_peer(Party<I>, TcpListener* listener, const std::string& host, std::uint16_t port, const NetConfig& cfg,
                     const SessionHello& mine) {
  TcpOptions o = cfg.options;
  o.tls.peer_name = cfg.tls_names[1 - I];
  if constexpr (I == 0) {
    std::optional<TcpListener> own;
    if (!listener) listener = &own.emplace(port, o);  // the listener's options carry the peer name
    const std::string waiting = "link to party 1 (listening on " + Endpoint{o.bind_address, listener->port()}.str() + ")";
    const auto deadline = std::chrono::steady_clock::now() + o.connect_timeout;
    for (;;) {
      TcpChannel ch = labelled(waiting, [&] { return listener->accept_until(deadline); });
      const std::string link = "link to party 1 (" + ch.remote_endpoint() + ")";
      SessionHello theirs;
      try {
        with_handshake_deadline(ch, o, "party 1", [&] { theirs = handshake::parse(ch.recv_message(handshake::max_bytes)); },
                                remaining(deadline));
      } catch (const channel_error& e) {  // no hello (or a malformed one): not party 1, keep waiting
        listener->note_dropped(ch.remote_endpoint().empty() ? e.what() : ch.remote_endpoint() + ": " + e.what());
        continue;
      }
      labelled(link, [&] {
        with_handshake_deadline(ch, o, "party 1", [&] { ch.send(handshake::encode(mine)); }, remaining(deadline));
        if (auto m = handshake::mismatch(mine, theirs, 1)) throw handshake_error(*m + " [party 1]");
      });
      ch.set_timeout(o.timeout);
      ch.set_label(link);
      return ch;
    }
  } else {
    const std::string link = "link to party 0 (" + Endpoint{host, port}.str() + ")";
    return labelled(link, [&] {
      TcpChannel ch = TcpChannel::connect(host, port, o);
      peer_handshake(ch, mine, 1 - I, o);
      ch.set_label(link);
      return ch;
    });
  }
}

/// The dealer's side: accepts both parties (either order), checks their hellos against its own and
/// against each other, answers each with its hello and a verdict, and returns {party 0, party 1}.
/// A party whose TLS certificate does not carry its role's name is refused.
inline std::array<TcpChannel, 2> accept_parties(TcpListener& listener, const NetConfig& cfg) {
  const SessionHello mine = dealer_hello(cfg);
  std::optional<TcpChannel> ch[2];
  SessionHello hello[2];
  // Refuses the session: tells every connected party why (best effort), then throws.
  auto refuse = [&](TcpChannel* offender, const std::string& why) {
    for (TcpChannel* c : {offender, ch[0] ? &*ch[0] : nullptr, ch[1] ? &*ch[1] : nullptr}) {
      if (!c) continue;
      try {
        c->send(handshake::encode(mine));
        c->send(text_bytes(why));
      } catch (const error&) {
      }
    }
    throw handshake_error(why);
  };
  const auto deadline = std::chrono::steady_clock::now() + cfg.options.connect_timeout;
  const std::string waiting = "links to the parties (listening on " + Endpoint{cfg.options.bind_address, listener.port()}.str() + ")";
  while (!ch[0] || !ch[1]) {
    std::optional<TcpChannel> accepted;
    try {
      accepted.emplace(labelled(waiting, [&] { return listener.accept_until(deadline); }));
    } catch (const channel_error& e) {  // the deadline passed: tell the party that did connect
      for (auto& c : ch) {
        if (!c) continue;
        try {
          c->send(handshake::encode(mine));
          c->send(text_bytes(std::string("secformer: ") + (ch[0] ? "party 1" : "party 0") + " did not connect: " + e.what()));
        } catch (const error&) {
        }
      }
      throw;
    }
    TcpChannel c = std::move(*accepted);
    SessionHello h;
    try {
      with_handshake_deadline(c, cfg.options, "a party", [&] { h = handshake::parse(c.recv_message(handshake::max_bytes)); },
                              remaining(deadline));
    } catch (const channel_error& e) {  // no (well-formed) hello: not a party, keep waiting
      listener.note_dropped(c.remote_endpoint().empty() ? e.what() : c.remote_endpoint() + ": " + e.what());
      continue;
    }
    if (h.role > 1 || ch[h.role])
      refuse(&c, std::string("secformer: session handshake refused: field 'role': ") + handshake::role_name(h.role) +
                     (h.role > 1 ? " cannot connect to the dealer" : " connected twice"));
    if (c.is_tls() && !c.peer_certificate_names(cfg.tls_names[h.role]))
      refuse(&c, std::string("secformer: TLS refused: the peer claiming to be ") + handshake::role_name(h.role) +
                     " has no certificate for '" + cfg.tls_names[h.role] + "'");
    hello[h.role] = h;
    ch[h.role].emplace(std::move(c));
  }
  std::string verdict[2];
  for (unsigned k = 0; k < 2; ++k) {
    if (auto m = handshake::mismatch(mine, hello[k], k)) verdict[k] = *m + " [" + handshake::role_name(k) + " vs dealer]";
  }
  if (auto m = handshake::mismatch(hello[0], hello[1], 1))
    for (auto& v : verdict)
      if (v.empty()) v = *m + " [party 0 vs party 1]";
  std::string link[2];
  for (int k = 0; k < 2; ++k) {
    link[k] = std::string("link to ") + handshake::role_name(k) + " (" + ch[k]->remote_endpoint() + ")";
    labelled(link[k], [&] {
      with_handshake_deadline(*ch[k], cfg.options, handshake::role_name(k), [&] {
        ch[k]->send(handshake::encode(mine));
        ch[k]->send(text_bytes(verdict[k]));
      });
    });
    ch[k]->set_label(link[k]);
  }
  for (const auto& v : verdict)
    if (!v.empty()) throw handshake_error(v);
  return {std::move(*ch[0]), std::move(*ch[1])};
}

/// A NetConfig's listener options for party 0's peer listener (the peer must be party 1).
inline TcpOptions peer_listener_options(const NetConfig& cfg) {
  TcpOptions o = cfg.options;
  o.tls.peer_name = cfg.tls_names[1];
  return o;
}
}  // namespace detail

/// Runs f(ctx) as party I over TCP and returns its statistics.
template <class Suite = Basic<>, int I, class F>
Stats run_party(Party<I>, const NetConfig& cfg, F&& f) {
  return detail::labelled(handshake::role_name(I), [&] {
  const RunOptions ro{cfg.seed, cfg.options.timeout};
  const SessionHello mine = detail::party_hello<Suite>(cfg, I);
  TcpChannel dealer_ch = detail::connect_to_dealer(Party<I>{}, cfg.dealer_host, cfg.dealer_port, cfg, mine);
  std::optional<TcpListener> listener;
  if constexpr (I == 0) listener.emplace(cfg.peer_port, detail::peer_listener_options(cfg));
  TcpChannel peer = detail::open_peer(Party<I>{}, listener ? &*listener : nullptr, cfg.peer_host, cfg.peer_port, cfg, mine);
  listener.reset();
  TcpContext<Party<I>, Suite> ctx(peer, DealerClient<Party<I>, TcpChannel>(dealer_ch), detail::seed_for(ro, I));
  f(ctx);
  ctx.finish();
  return ctx.stats();
  });
}

/// Runs the dealer for one session (returns when party 1 ends it).
inline void run_dealer(const NetConfig& cfg) {
  detail::labelled("dealer", [&] {
    const RunOptions ro{cfg.seed, cfg.options.timeout};
    TcpListener listener(cfg.dealer_port, cfg.options);
    auto ch = detail::accept_parties(listener, cfg);
    listener.close();
    BasicDealer<> d(detail::seed_for(ro, 2));
    d.serve(ch[0], ch[1]);
  });
}

/// Runs f(ctx) for both parties with a dealer as three threads of this process connected by real
/// loopback TCP sockets (ports chosen by the system): what benchmarks use to include the network
/// stack. Returns both parties' statistics; the first error of any role is rethrown.
template <class Suite = Basic<>, class F>
std::array<Stats, 2> run_loopback(const RunOptions& opt, F&& f) {
  NetConfig cfg;
  cfg.options.timeout = opt.timeout;
  cfg.options.connect_timeout = std::chrono::milliseconds(10000);
  return run_loopback<Suite>(opt, cfg, std::forward<F>(f));
}

/// run_loopback with a NetConfig's options (TLS files, timeouts, session id); ports and hosts are
/// chosen here (loopback, system-chosen ports).
template <class Suite = Basic<>, class F>
std::array<Stats, 2> run_loopback(const RunOptions& opt, const NetConfig& cfg, F&& f) {
  const TcpOptions& to = cfg.options;
  TcpListener peer_l(0, detail::peer_listener_options(cfg)), dealer_l(0, to);
  const std::uint16_t peer_port = peer_l.port(), dealer_port = dealer_l.port();
  detail::FirstError err;
  std::array<Stats, 2> stats;
  auto party_main = [&]<int I>(Party<I>) {
    try {
      detail::labelled(handshake::role_name(I), [&] {
        const SessionHello mine = detail::party_hello<Suite>(cfg, I);
        TcpChannel dch = detail::connect_to_dealer(Party<I>{}, "127.0.0.1", dealer_port, cfg, mine);
        TcpChannel peer = detail::open_peer(Party<I>{}, &peer_l, "127.0.0.1", peer_port, cfg, mine);
        TcpContext<Party<I>, Suite> ctx(peer, DealerClient<Party<I>, TcpChannel>(dch), detail::seed_for(opt, I));
        f(ctx);
        ctx.finish();
        stats[I] = ctx.stats();
      });
    } catch (...) {
      err.set(std::current_exception());
    }
  };
  std::thread dealer([&] {
    try {
      detail::labelled("dealer", [&] {
        auto ch = detail::accept_parties(dealer_l, cfg);
        BasicDealer<> d(detail::seed_for(opt, 2));
        d.serve(ch[0], ch[1]);
      });
    } catch (...) {
      err.set(std::current_exception());
    }
  });
  std::thread t1([&] { party_main(Party<1>{}); });
  party_main(Party<0>{});
  t1.join();
  dealer.join();
  if (err.first) std::rethrow_exception(err.first);
  return stats;
}

}  // namespace secformer
