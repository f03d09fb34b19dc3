// secformer/context.hpp: Context<Party, Channel, Dealer, Suite>, everything one party needs to run
// protocols: its channel to the peer, its dealer client, a PRG shared with the peer (for input
// sharing without communication), and the cost statistics. No globals: every protocol takes a ctx.
//
//   input(party<I>, x)      0 rounds, 0 bytes: owner's share = enc(x) - r, other's = r (r from the
//                           pairwise PRG, uniform over the ring)
//   reveal(x)               1 round, n words each way
//   reveal_to(party<I>, x)  1 round, n words from the other party to I
//   open_many(x, y, ...)    1 round for all of them
//
// Solo (the plaintext simulation) runs the same code with a peer whose shares are zero and no
// communication, but counts the rounds and bytes a real party would spend, and forecasts how many
// local truncations a two-party run would get wrong (truncation_risk()).
//
// What protocols need of a context is the concept protocol_context (at the end); the dealer client
// is any type modelling dealer_client (the engine, dealer/dealer.hpp, is not included here), and the
// suite any type naming an encoding and a ring (protocols/policy.hpp: Basic, protocols/suite.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "channel/channel.hpp"
#include "core/fixed_point.hpp"
#include "core/party.hpp"
#include "core/ring.hpp"
#include "core/share.hpp"
#include "dealer/material.hpp"
#include "dealer/prg.hpp"

namespace secformer {

namespace detail {
/// The words of several shares, opened in one round through any context-like ctx (its
/// exchange_words): mine and the peer's, concatenated in order; take() sums the next tensor's.
template <class W>
class OpenedWords {
 public:
  template <class Ctx, class Spans>
  OpenedWords(Ctx& ctx, const Spans& shares, std::size_t total) {
    mine_.reserve(total);
    for (const std::span<const W>& s : shares) mine_.insert(mine_.end(), s.begin(), s.end());
    theirs_.resize(mine_.size());
    ctx.exchange_words(std::span<const W>(mine_), std::span<W>(theirs_));
  }
  /// The next opened tensor, shaped as x.
  template <class S>
  typename S::container_type take(const S& x) {
    typename S::container_type out(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) out.data()[i] = static_cast<W>(mine_[at_ + i] + theirs_[at_ + i]);
    at_ += x.size();
    return out;
  }

 private:
  std::vector<W> mine_, theirs_;
  std::size_t at_ = 0;
};

/// Opens several shares in one round through any context-like ctx (its exchange_words): the one
/// implementation behind Context::open_many, the wrappers that add words to a round, and the
/// runtime-sized lists below.
template <class Ctx, shared_tensor... S>
std::tuple<typename S::container_type...> open_through(Ctx& ctx, const S&... xs) {
  using W = typename Ctx::word_type;
  const std::array<std::span<const W>, sizeof...(S)> shares{std::span<const W>(xs.share().data(), xs.size())...};
  OpenedWords<W> opened(ctx, shares, (std::size_t(0) + ... + xs.size()));
  return std::tuple<typename S::container_type...>{opened.take(xs)...};  // braced: taken in order
}

/// Opens a runtime-sized list of shares in one round (the same words as open_through(ctx, xs...)).
template <class Ctx, shared_tensor S>
std::vector<typename S::container_type> open_through(Ctx& ctx, const std::vector<S>& xs) {
  using W = typename Ctx::word_type;
  std::vector<std::span<const W>> shares;
  shares.reserve(xs.size());
  std::size_t total = 0;
  for (const auto& x : xs) {
    shares.emplace_back(x.share().data(), x.size());
    total += x.size();
  }
  OpenedWords<W> opened(ctx, shares, total);
  std::vector<typename S::container_type> out;
  out.reserve(xs.size());
  for (const auto& x : xs) out.push_back(opened.take(x));
  return out;
}
}  // namespace detail

namespace detail {
/// A stand-in kind for the concepts below (only named in unevaluated checks, never made).
struct AnyKind {
  static constexpr std::uint32_t id = 0;
  static constexpr std::string_view name = "any";
  static material::Layout layout(std::span<const std::uint64_t>);
};
}  // namespace detail

/// What a Context needs of its dealer client (DealerClient, SoloDealer, RecordingDealer in
/// dealer/dealer.hpp, or a program's own): material of any kind as this party's parts, and the end
/// of the session. preprocess() also needs prefetch(plan, cost).
template <class D>
concept dealer_client = requires(D& d, const material::Params& params, Cost& cost) {
  { d.template get<detail::AnyKind, std::uint64_t>(params, cost) } -> std::same_as<material::Parts<std::uint64_t>>;
  d.finish();
};

/// The simulation's "channel": nothing is sent; what would be received is zero.
struct NullChannel {
  void send(std::span<const std::byte>) {}
  void recv(std::span<std::byte> in) { std::memset(in.data(), 0, in.size()); }
  void exchange(std::span<const std::byte>, std::span<std::byte> in) { recv(in); }
  std::vector<std::byte> recv_message(std::size_t) { return {}; }
  void close() {}
};

template <party_tag P, byte_channel Channel, dealer_client DealerT, class Suite>
class Context {
 public:
  using party_type = P;
  using suite = Suite;
  using ring = typename Suite::ring;
  using encoding = typename Suite::encoding;
  using word_type = typename ring::word_type;
  using channel_type = Channel;
  using dealer_type = DealerT;
  template <class T = encoding> using shared = Shared<T, ring, P>;
  static constexpr int id = P::id;
  static constexpr bool is_solo = P::is_solo;

  /// Connects to the peer: party 0 sends the pairwise PRG key (setup, not counted as online).
  Context(Channel& peer, DealerT dealer, Seed own = Seed::from_os()) : peer_(&peer), dealer_(std::move(dealer)), pair_(pair_key(peer, own), 0) {}

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // ---------------------------------------------------------------- input and output
  /// Secret-shares x, held by party I (the other party passes any tensor of the same shape, or the
  /// shape itself through input_shape). 0 rounds.
  template <class T = encoding, int I>
  shared<T> input(Party<I>, const xt::xarray<double>& x) {
    if constexpr (id == I || is_solo) return input_words<T>(Party<I>{}, encode<T, ring>(x));
    else return input_words<T>(Party<I>{}, xt::xarray<word_type>(x.shape()));
  }
  template <class T = encoding, int I>
  shared<T> input_shape(Party<I>, const std::vector<std::size_t>& shape) {
    static_assert(I != P::id || P::is_solo, "secformer: the owner of an input must pass its values");
    return input_words<T>(Party<I>{}, xt::xarray<word_type>(shape));
  }
  /// Input of already encoded ring words.
  template <class T = encoding, int I>
  shared<T> input_words(Party<I>, xt::xarray<word_type> words) {
    if constexpr (is_solo) return shared<T>(std::move(words));
    xt::xarray<word_type> r(words.shape());
    pair_.fill(std::span<word_type>(r.data(), r.size()));
    if constexpr (id == I) return shared<T>(xt::xarray<word_type>(words - r));
    else return shared<T>(std::move(r));
  }

  /// Opens a share to both parties as ring words. 1 round.
  template <class S>
  xt::xarray<word_type> open(const S& x) {
    auto [w] = open_many(x);
    return w;
  }

  /// Opens several shares in one round; returns their ring words in order.
  template <shared_tensor... S>
  std::tuple<typename S::container_type...> open_many(const S&... xs) {
    return detail::open_through(*this, xs...);
  }

  /// Reveals to both parties, decoded. 1 round.
  template <class T, class C>
  xt::xarray<double> reveal(const Shared<T, ring, P, C>& x) {
    return decode<T, ring>(open(x));
  }

  /// Reveals to party I only (the other party gets nullopt). 1 round, n words from the other party.
  template <int I, class T, class C>
  std::optional<xt::xarray<double>> reveal_to(Party<I>, const Shared<T, ring, P, C>& x) {
    const std::size_t n = x.size();
    if constexpr (is_solo) {
      count(1, n * sizeof(word_type) * (I == 0 ? 0 : 1), n * sizeof(word_type) * (I == 0 ? 1 : 0));
      return decode<T, ring>(x.share());
    } else if constexpr (id == I) {
      xt::xarray<word_type> theirs(x.shape());
      peer_->recv(std::as_writable_bytes(std::span<word_type>(theirs.data(), n)));
      count(1, 0, n * sizeof(word_type));
      return decode<T, ring>(xt::xarray<word_type>(x.share() + theirs));
    } else {
      peer_->send(std::as_bytes(std::span<const word_type>(x.share().data(), n)));
      count(1, n * sizeof(word_type), 0);
      return std::nullopt;
    }
  }

  // ---------------------------------------------------------------- communication primitives
  /// Sends `mine` and receives the peer's words of the same count: one round.
  template <class W>
  void exchange_words(std::span<const W> mine, std::span<W> theirs) {
    SECFORMER_ASSERT(mine.size() == theirs.size(), "exchange of buffers of different sizes");
    peer_->exchange(std::as_bytes(mine), std::as_writable_bytes(theirs));
    count(1, mine.size_bytes(), theirs.size_bytes());
  }

  /// Records the cost of a round that the simulation shortcuts (Solo only).
  void count_round(std::uint64_t bytes_sent, std::uint64_t bytes_received) { count(1, bytes_sent, bytes_received); }

  /// Dealer material of a kind: this party's shares (randoms, then derived parts).
  template <class Kind, class W = word_type>
  material::Parts<W> material(const material::Params& params) {
    Cost c;
    auto parts = dealer_.template get<Kind, W>(params, c);
    stats_.add(tags_, c);
    return parts;
  }

  /// The offline phase: fetches all dealer material of a planned run (see plan_material) before the
  /// online phase; its dealer bytes are counted under the tag "offline". A plan may also be given in
  /// consecutive pieces (e.g. one model layer at a time, each just before its layer runs), so that
  /// only one piece's material is held at a time.
  void preprocess(std::span<const MaterialRequest> plan) {
    auto g = scope("offline");
    Cost c;
    dealer_.prefetch(plan, c);
    stats_.add(tags_, c);
  }

  /// A new handle for dealer state (weight masks); both parties allocate them in the same order.
  std::uint64_t new_handle() noexcept { return next_handle_++; }

  /// The PRG both parties share (same stream on both sides; hidden from everyone else).
  Prg& pair_prg() noexcept { return pair_; }

  // ---------------------------------------------------------------- statistics
  class ScopeGuard {
   public:
    ScopeGuard(Context& c, std::string tag) : c_(&c), t0_(std::chrono::steady_clock::now()) { c_->tags_.push_back(std::move(tag)); }
    ScopeGuard(const ScopeGuard&) = delete;
    ~ScopeGuard() {  // wall time per tag; a tag open twice (nested) counts once, as in Stats
      auto& t = c_->tags_;
      if (std::find(t.begin(), t.end() - 1, t.back()) == t.end() - 1)
        c_->seconds_[t.back()] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
      t.pop_back();
    }
   private:
    Context* c_;
    std::chrono::steady_clock::time_point t0_;
  };
  /// Counts everything until the guard ends under `tag` too.
  [[nodiscard]] ScopeGuard scope(std::string tag) { return ScopeGuard(*this, std::move(tag)); }
  const Stats& stats() const noexcept { return stats_; }
  Stats& stats() noexcept { return stats_; }
  /// Wall-clock seconds spent inside each scope tag (this party's clock, waiting included).
  const std::map<std::string, double>& scope_seconds() const noexcept { return seconds_; }

  /// The simulation's forecast of local-truncation failures (trunc.hpp): a two-party run truncating
  /// a raw value v locally fails with probability |v| / 2^l, and the simulation sees every v, so it
  /// adds these probabilities up: the expected number of failed elements so far, under every open tag
  /// (once per tag, as in Stats) and in total. Always 0 in a two-party run, which cannot see values.
  void add_truncation_risk(double expected_failures) {
    risk_total_ += expected_failures;
    for_each_open_tag(tags_, [&](const std::string& tag) { risk_[tag] += expected_failures; });
  }
  double truncation_risk() const noexcept { return risk_total_; }
  const std::map<std::string, double>& truncation_risk_by_tag() const noexcept { return risk_; }

  /// Ends the session with the dealer (party 1 tells it to stop).
  void finish() { dealer_.finish(); }

  Channel& channel() noexcept { return *peer_; }
  DealerT& dealer() noexcept { return dealer_; }

 private:
  void count(std::uint64_t rounds, std::uint64_t sent, std::uint64_t received) {
    Cost c;
    c.rounds = rounds;
    c.bytes_sent = sent;
    c.bytes_received = received;
    stats_.add(tags_, c);
  }
  static Seed pair_key(Channel& peer, const Seed& own) {
    if constexpr (is_solo) return own;
    Seed k;
    if constexpr (id == 0) {
      k = own.derive("pairwise key", 0);
      peer.send(std::as_bytes(std::span(k.bytes)));
    } else {
      peer.recv(std::as_writable_bytes(std::span(k.bytes)));
    }
    return k;
  }

  Channel* peer_;
  DealerT dealer_;
  Prg pair_;
  Stats stats_;
  std::vector<std::string> tags_;
  std::map<std::string, double> seconds_;
  std::map<std::string, double> risk_;
  double risk_total_ = 0;
  std::uint64_t next_handle_ = 0;
};

/// What a protocol needs of its ctx: the types of the run (party, suite, ring, encoding, word),
/// one round of word exchange, the cost of a round the simulation shortcuts, dealer material,
/// cost tags, the truncation forecast, and openings. Context models it (every instantiation of the
/// library: see run.hpp and net.hpp), and so must any wrapper a protocol runs through.
template <class Ctx>
concept protocol_context =
    party_tag<typename Ctx::party_type> &&
    requires(Ctx& ctx, std::span<const typename Ctx::word_type> mine, std::span<typename Ctx::word_type> theirs,
             const material::Params& params, std::string tag, const typename Ctx::template shared<>& x) {
      typename Ctx::suite;
      typename Ctx::ring;
      typename Ctx::encoding;
      requires std::same_as<typename Ctx::word_type, typename Ctx::ring::word_type>;
      requires std::same_as<std::remove_cv_t<decltype(Ctx::is_solo)>, bool>;
      requires Ctx::id == Ctx::party_type::id;
      ctx.exchange_words(mine, theirs);
      ctx.count_round(std::uint64_t{}, std::uint64_t{});
      { ctx.template material<detail::AnyKind>(params) } -> std::same_as<material::Parts<typename Ctx::word_type>>;
      ctx.scope(tag);
      ctx.add_truncation_risk(0.0);
      { ctx.open(x) } -> std::same_as<typename Ctx::template shared<>::container_type>;
      { ctx.open_many(x, x) } -> std::same_as<std::tuple<typename Ctx::template shared<>::container_type, typename Ctx::template shared<>::container_type>>;
    };

}  // namespace secformer
