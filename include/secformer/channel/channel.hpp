// secformer/channel/channel.hpp: the byte-channel concept and communication statistics.
// A channel carries whole messages between this party and one peer (the other party or the dealer).
// Counting of rounds and bytes per protocol tag happens in the Context, not in the channel.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"

namespace secformer {

/// One message channel to one peer. send() and recv() move one message each; exchange() sends one
/// and receives one at the same time (full duplex, never deadlocks on large messages). recv() of a
/// message whose size differs from the buffer, a closed peer, or a timeout throw channel_error.
template <class C>
concept byte_channel = requires(C& c, std::span<const std::byte> out, std::span<std::byte> in, std::size_t max) {
  c.send(out);
  c.recv(in);
  c.exchange(out, in);
  { c.recv_message(max) } -> std::same_as<std::vector<std::byte>>;
  c.close();
};

/// Sends a message the caller no longer needs: channels with send(std::vector<std::byte>&&) (the
/// in-memory one) take the buffer over instead of copying it.
template <byte_channel C>
void send_owned(C& c, std::vector<std::byte>&& msg) {
  if constexpr (requires { c.send(std::move(msg)); }) c.send(std::move(msg));
  else c.send(std::span<const std::byte>(msg));
}

/// Costs counted under one tag (a protocol or a model part).
struct Cost {
  std::uint64_t rounds = 0;          ///< online communication rounds (one exchange = one round)
  std::uint64_t bytes_sent = 0;      ///< online bytes this party sent to its peer
  std::uint64_t bytes_received = 0;  ///< online bytes this party received from its peer
  std::uint64_t dealer_bytes = 0;    ///< offline bytes received from the dealer
  std::uint64_t dealer_requests = 0; ///< pieces of dealer material used

  Cost& operator+=(const Cost& o) {
    rounds += o.rounds; bytes_sent += o.bytes_sent; bytes_received += o.bytes_received;
    dealer_bytes += o.dealer_bytes; dealer_requests += o.dealer_requests;
    return *this;
  }
  friend Cost operator-(Cost a, const Cost& b) {
    a.rounds -= b.rounds; a.bytes_sent -= b.bytes_sent; a.bytes_received -= b.bytes_received;
    a.dealer_bytes -= b.dealer_bytes; a.dealer_requests -= b.dealer_requests;
    return a;
  }
  friend bool operator==(const Cost&, const Cost&) = default;
};

/// Calls f(tag) once for each distinct open tag (a tag open twice, by nested calls of one protocol,
/// counts once).
template <class F>
void for_each_open_tag(const std::vector<std::string>& open_tags, F&& f) {
  for (std::size_t i = 0; i < open_tags.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen = seen || open_tags[j] == open_tags[i];
    if (!seen) f(open_tags[i]);
  }
}

/// Costs per tag. A cost is counted under every tag open at the time (so "gelu" includes the
/// multiplications inside it, and "mul" counts every multiplication), and once in total().
class Stats {
 public:
  void add(const std::vector<std::string>& open_tags, const Cost& c) {
    total_ += c;
    for_each_open_tag(open_tags, [&](const std::string& tag) { by_tag_[tag] += c; });
  }
  const Cost& total() const noexcept { return total_; }
  Cost operator[](const std::string& tag) const {
    auto it = by_tag_.find(tag);
    return it == by_tag_.end() ? Cost{} : it->second;
  }
  const std::map<std::string, Cost>& by_tag() const noexcept { return by_tag_; }
  void reset() { total_ = {}; by_tag_.clear(); }

  friend std::ostream& operator<<(std::ostream& os, const Stats& s) {
    auto line = [&](const std::string& name, const Cost& c) {
      os << "  " << name << ": " << c.rounds << " rounds, " << c.bytes_sent << " B sent, " << c.bytes_received
         << " B received, " << c.dealer_bytes << " dealer B\n";
    };
    for (const auto& [k, v] : s.by_tag_) line(k, v);
    line("total", s.total_);
    return os;
  }

 private:
  Cost total_;
  std::map<std::string, Cost> by_tag_;
};

/// Default time a party waits for its peer before giving up with channel_error.
inline constexpr std::chrono::milliseconds default_channel_timeout{60000};

}  // namespace secformer
