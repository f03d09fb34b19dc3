// secformer/dealer/dealer.hpp: the dealer role and the parties' clients of it.
//
// Setup: the dealer draws a master key from the OS, derives one key per party and sends each party
// its key (16 bytes, the only dealer traffic party 0 ever sees). Online, party 1 asks for material
// (kind, word size, parameters, request index) and receives the corrections of the derived parts;
// party 0 expands all of its material locally from its key with the same request index. Both parties
// must request the same material in the same order (they run the same program).
//
// Wire format (little-endian): request = u32 magic, u32 count, then per item u64 index, u32 kind,
// u32 word bits, u32 parameter count, u64 parameters...; count 0 ends the session. The answer is the
// concatenation of the items' corrections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "../channel/channel.hpp"
#include "../core/party.hpp"
#include "material.hpp"
#include "prg.hpp"

namespace secformer {

namespace dealer_wire {
inline constexpr std::uint32_t magic = 0x53464452;  // "SFDR"
inline constexpr std::size_t max_request_bytes = std::size_t(1) << 20;

inline void put32(std::vector<std::byte>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline void put64(std::vector<std::byte>& b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
class In {
 public:
  explicit In(std::span<const std::byte> b) : b_(b) {}
  std::uint64_t get(int bytes) {
    if (at_ + static_cast<std::size_t>(bytes) > b_.size()) throw channel_error("secformer: truncated dealer message");
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t(std::to_integer<unsigned>(b_[at_ + i])) << (8 * i);
    at_ += static_cast<std::size_t>(bytes);
    return v;
  }
  bool done() const { return at_ == b_.size(); }
 private:
  std::span<const std::byte> b_;
  std::size_t at_ = 0;
};
}  // namespace dealer_wire

using DefaultKinds = material::KindList<material::Triple, material::SquarePair, material::MatTriple,
                                        material::TruncPair, material::WeightMask, material::FixedMatTriple>;

/// The dealer role. serve() runs one session with the two parties and returns when party 1 ends it.
template <class Kinds = DefaultKinds>
class BasicDealer {
 public:
  explicit BasicDealer(Seed master = Seed::from_os()) : key0_(master.derive("dealer key", 0)), key1_(master.derive("dealer key", 1)) {}

  template <byte_channel C0, byte_channel C1>
  void serve(C0& to_p0, C1& to_p1) {
    to_p0.send(std::as_bytes(std::span(key0_.bytes)));
    to_p1.send(std::as_bytes(std::span(key1_.bytes)));
    std::uint64_t next = 0;
    for (;;) {
      const auto msg = to_p1.recv_message(dealer_wire::max_request_bytes);
      dealer_wire::In in(msg);
      if (in.get(4) != dealer_wire::magic) throw channel_error("secformer: malformed dealer request (bad magic)");
      const auto count = in.get(4);
      if (count == 0) return;
      std::vector<std::byte> answer;
      for (std::uint64_t i = 0; i < count; ++i) {
        const auto index = in.get(8);
        const auto kind = static_cast<std::uint32_t>(in.get(4));
        const auto bits = static_cast<std::uint32_t>(in.get(4));
        const auto np = in.get(4);
        if (np > 64) throw channel_error("secformer: malformed dealer request (parameters)");
        std::vector<std::uint64_t> params(np);
        for (auto& p : params) p = in.get(8);
        if (index != next) throw channel_error("secformer: dealer requests out of order");
        ++next;
        bool known = false;
        auto one = [&]<class K>() {
          known = true;
          if (bits == 64) append(answer, material::deal<K, std::uint64_t>(params, key0_, key1_, index, state_));
          else if (bits == 32) append(answer, material::deal<K, std::uint32_t>(params, key0_, key1_, index, state_));
          else throw channel_error("secformer: dealer request for an unsupported ring");
        };
        material::dispatch(Kinds{}, kind, one);
        if (!known) throw channel_error("secformer: dealer request of unknown kind " + std::to_string(kind));
      }
      if (!in.done()) throw channel_error("secformer: malformed dealer request (trailing bytes)");
      to_p1.send(answer);
    }
  }

 private:
  template <class W>
  static void append(std::vector<std::byte>& out, const material::Parts<W>& parts) {
    for (const auto& t : parts) {
      const auto* p = reinterpret_cast<const std::byte*>(t.data());
      out.insert(out.end(), p, p + t.size() * sizeof(W));
    }
  }
  Seed key0_, key1_;
  material::State state_;
};
using Dealer = BasicDealer<>;

/// A party's view of the dealer. Party 0 only reads its key from the channel; party 1 also asks
/// for corrections. get() returns this party's shares of the randoms, then of the derived parts.
template <party_tag P, byte_channel DC>
class DealerClient {
  static_assert(!P::is_solo, "secformer: the simulation uses SoloDealer");
 public:
  explicit DealerClient(DC& ch) : ch_(&ch) {
    ch_->recv(std::as_writable_bytes(std::span(key_.bytes)));
  }
  DealerClient(DealerClient&&) noexcept = default;
  DealerClient(const DealerClient&) = delete;

  template <class Kind, class W>
  material::Parts<W> get(const material::Params& params, Cost& cost) {
    const auto lay = Kind::layout(params.words);
    const std::uint64_t index = next_++;
    cost.dealer_requests += 1;
    if constexpr (P::id == 0) {
      return material::expand_p0<W>(lay, key_, index);
    } else {
      std::vector<std::byte> req;
      dealer_wire::put32(req, dealer_wire::magic);
      dealer_wire::put32(req, 1);
      dealer_wire::put64(req, index);
      dealer_wire::put32(req, Kind::id);
      dealer_wire::put32(req, 8 * sizeof(W));
      dealer_wire::put32(req, static_cast<std::uint32_t>(params.words.size()));
      for (auto w : params.words) dealer_wire::put64(req, w);
      ch_->send(req);
      auto parts = material::expand_p1_randoms<W>(lay, key_, index);
      std::size_t total = 0;
      for (auto& s : lay.derived) total += material::elements(s);
      auto msg = ch_->recv_message(total * sizeof(W));
      if (msg.size() != total * sizeof(W)) throw channel_error("secformer: dealer answer of the wrong size");
      cost.dealer_bytes += msg.size();
      std::size_t at = 0;
      for (auto& s : lay.derived) {
        xt::xarray<W> t(s);
        std::memcpy(t.data(), msg.data() + at, t.size() * sizeof(W));
        at += t.size() * sizeof(W);
        parts.push_back(std::move(t));
      }
      return parts;
    }
  }

  /// Ends the dealer's session (party 1 only; party 0 has nothing to say).
  void finish() {
    if constexpr (P::id == 1) {
      std::vector<std::byte> req;
      dealer_wire::put32(req, dealer_wire::magic);
      dealer_wire::put32(req, 0);
      ch_->send(req);
    }
  }

 private:
  DC* ch_;
  Seed key_;
  std::uint64_t next_ = 0;
};

/// The simulation's dealer: whole material from a local PRG (the peer's shares are zero).
class SoloDealer {
 public:
  explicit SoloDealer(Seed key = Seed::from_os()) : prg_(key, 0) {}
  template <class Kind, class W>
  material::Parts<W> get(const material::Params& params, Cost& cost) {
    cost.dealer_requests += 1;
    return material::deal_whole<Kind, W>(params.words, prg_, state_);
  }
  void finish() {}
 private:
  Prg prg_;
  material::State state_;
};

}  // namespace secformer
