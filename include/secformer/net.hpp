// secformer/net.hpp: running the three roles as separate processes (or machines) over TCP.
//
//   party 0  listens for party 1 on peer_port and connects to the dealer
//   party 1  connects to party 0 and to the dealer
//   dealer   listens on dealer_port for both parties (each says which party it is first)
//
// With the same test seed, a networked run computes exactly what run_two_party computes and counts
// the same rounds and bytes. Without a seed, every key comes from the operating system.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "channel/tcp.hpp"
#include "run.hpp"

namespace secformer {

struct NetConfig {
  std::string peer_host = "127.0.0.1";    ///< where party 0 listens for party 1
  std::uint16_t peer_port = 7400;
  std::string dealer_host = "127.0.0.1";  ///< where the dealer listens
  std::uint16_t dealer_port = 7401;
  TcpOptions options{};                   ///< timeouts, frame limit, bind address of listeners
  std::optional<std::uint64_t> seed;      ///< test seed (reproducible runs); nullopt: OS entropy
};

template <party_tag P, class Suite = Basic<>>
using TcpContext = Context<P, TcpChannel, DealerClient<P, TcpChannel>, Suite>;

namespace detail {
/// A party's connection to the dealer: connect, then say which party this is (one byte).
template <int I>
TcpChannel connect_to_dealer(Party<I>, const std::string& host, std::uint16_t port, const TcpOptions& options) {
  TcpChannel ch = TcpChannel::connect(host, port, options);
  const std::byte hello[1] = {static_cast<std::byte>(I)};
  ch.send(hello);
  return ch;
}

/// The dealer's side: accepts both parties, in either order, and returns {party 0, party 1}.
inline std::array<TcpChannel, 2> accept_parties(TcpListener& listener) {
  std::optional<TcpChannel> ch[2];
  for (int k = 0; k < 2; ++k) {
    TcpChannel c = listener.accept();
    std::byte hello[1];
    c.recv(hello);
    const int who = std::to_integer<int>(hello[0]);
    if (who < 0 || who > 1 || ch[who]) throw channel_error("secformer: the dealer got an invalid party hello");
    ch[who].emplace(std::move(c));
  }
  return {std::move(*ch[0]), std::move(*ch[1])};
}
}  // namespace detail

/// Runs f(ctx) as party I over TCP and returns its statistics.
template <class Suite = Basic<>, int I, class F>
Stats run_party(Party<I>, const NetConfig& cfg, F&& f) {
  const RunOptions ro{cfg.seed, cfg.options.timeout};
  TcpChannel dealer_ch = detail::connect_to_dealer(Party<I>{}, cfg.dealer_host, cfg.dealer_port, cfg.options);
  TcpChannel peer = I == 0 ? TcpChannel::accept(cfg.peer_port, cfg.options)
                           : TcpChannel::connect(cfg.peer_host, cfg.peer_port, cfg.options);
  TcpContext<Party<I>, Suite> ctx(peer, DealerClient<Party<I>, TcpChannel>(dealer_ch), detail::seed_for(ro, I));
  f(ctx);
  ctx.finish();
  return ctx.stats();
}

/// Runs the dealer for one session (returns when party 1 ends it).
inline void run_dealer(const NetConfig& cfg) {
  const RunOptions ro{cfg.seed, cfg.options.timeout};
  TcpListener listener(cfg.dealer_port, cfg.options);
  auto ch = detail::accept_parties(listener);
  BasicDealer<> d(detail::seed_for(ro, 2));
  d.serve(ch[0], ch[1]);
}

/// Runs f(ctx) for both parties with a dealer as three threads of this process connected by real
/// loopback TCP sockets (ports chosen by the system): what benchmarks use to include the network
/// stack. Returns both parties' statistics; the first error of any role is rethrown.
template <class Suite = Basic<>, class F>
std::array<Stats, 2> run_loopback(const RunOptions& opt, F&& f) {
  TcpOptions to;
  to.timeout = opt.timeout;
  to.connect_timeout = std::chrono::milliseconds(10000);
  TcpListener peer_l(0, to), dealer_l(0, to);
  const std::uint16_t peer_port = peer_l.port(), dealer_port = dealer_l.port();
  detail::FirstError err;
  std::array<Stats, 2> stats;
  auto party_main = [&]<int I>(Party<I>) {
    try {
      TcpChannel dch = detail::connect_to_dealer(Party<I>{}, "127.0.0.1", dealer_port, to);
      TcpChannel peer = I == 0 ? peer_l.accept() : TcpChannel::connect("127.0.0.1", peer_port, to);
      TcpContext<Party<I>, Suite> ctx(peer, DealerClient<Party<I>, TcpChannel>(dch), detail::seed_for(opt, I));
      f(ctx);
      ctx.finish();
      stats[I] = ctx.stats();
    } catch (...) {
      err.set(std::current_exception());
    }
  };
  std::thread dealer([&] {
    try {
      auto ch = detail::accept_parties(dealer_l);
      BasicDealer<> d(detail::seed_for(opt, 2));
      d.serve(ch[0], ch[1]);
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
