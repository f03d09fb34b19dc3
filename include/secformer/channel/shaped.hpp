// secformer/channel/shaped.hpp: an emulated network link around any byte channel, and the time a
// run would take on such a link estimated from its rounds and bytes.
//
//   LinkShape{bits_per_second, rtt}   a symmetric full-duplex link; LinkShape::lan() is 3 Gbit/s with
//                                     0.8 ms round-trip time, LinkShape::wan() 200 Mbit/s with 40 ms
//                                     (the settings of the SecFormer and PUMA papers' experiments);
//                                     LinkShape::parse("lan" | "wan" | "1gbit,0.5ms")
//   ShapedChannel<C>{inner, shape}    delays every message it sends by rtt/2 + bytes * 8 / bandwidth
//                                     (sleeping before handing it to `inner`), so that it arrives when
//                                     it would on the link; received messages pass through (the peer's
//                                     wrapper delayed them). For machines where tc netem is not at hand.
//   estimate_online_seconds(compute, rounds, bytes, shape)
//                                     compute + rounds * rtt/2 + bytes * 8 / bandwidth
//
// Cost model: in a round both parties send at once (exchange), so a round costs one one-way latency
// (rtt/2) plus the serialization of the larger of the two messages; bytes is the larger per-party
// total. Papers that charge a full RTT per round give at most rounds * rtt/2 more.
#pragma once

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "channel.hpp"

namespace secformer {

struct LinkShape {
  double bits_per_second = 0;      ///< 0: unlimited bandwidth
  std::chrono::nanoseconds rtt{0}; ///< round-trip time; a message takes rtt / 2

  static LinkShape lan() { return {3e9, std::chrono::microseconds(800)}; }
  static LinkShape wan() { return {200e6, std::chrono::milliseconds(40)}; }

  /// One-way delay of a message of `bytes` bytes, in seconds.
  double message_seconds(std::uint64_t bytes) const noexcept {
    const double wire = bits_per_second > 0 ? 8.0 * static_cast<double>(bytes) / bits_per_second : 0.0;
    return 0.5 * std::chrono::duration<double>(rtt).count() + wire;
  }

  std::string describe() const {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%g Mbit/s, %g ms RTT", bits_per_second / 1e6, std::chrono::duration<double, std::milli>(rtt).count());
    return buf;
  }

  /// "lan", "wan", or "BANDWIDTH,RTT" with units: bandwidth in bit/kbit/mbit/gbit (or bps/kbps/mbps/
  /// gbps), RTT in s/ms/us (e.g. "1gbit,0.5ms"). Throws usage_error on anything else.
  static LinkShape parse(const std::string& text) {
    if (text == "lan" || text == "LAN") return lan();
    if (text == "wan" || text == "WAN") return wan();
    const auto comma = text.find(',');
    if (comma == std::string::npos) throw usage_error("secformer: a link is 'lan', 'wan' or BANDWIDTH,RTT (e.g. 1gbit,0.5ms), not '" + text + "'");
    auto number = [&](const std::string& s, std::string& unit) {
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(s, &used);
      } catch (const std::exception&) {
        throw usage_error("secformer: no number in '" + s + "' (link '" + text + "')");
      }
      unit = s.substr(used);
      for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!std::isfinite(v) || v < 0) throw usage_error("secformer: negative or invalid value in link '" + text + "'");
      return v;
    };
    std::string bu, lu;
    const double b = number(text.substr(0, comma), bu), l = number(text.substr(comma + 1), lu);
    LinkShape s;
    if (bu == "gbit" || bu == "gbps") s.bits_per_second = b * 1e9;
    else if (bu == "mbit" || bu == "mbps") s.bits_per_second = b * 1e6;
    else if (bu == "kbit" || bu == "kbps") s.bits_per_second = b * 1e3;
    else if (bu == "bit" || bu == "bps") s.bits_per_second = b;
    else throw usage_error("secformer: unknown bandwidth unit '" + bu + "' in link '" + text + "' (gbit, mbit, kbit, bit)");
    double sec = 0;
    if (lu == "ms") sec = l * 1e-3;
    else if (lu == "us") sec = l * 1e-6;
    else if (lu == "s") sec = l;
    else throw usage_error("secformer: unknown time unit '" + lu + "' in link '" + text + "' (s, ms, us)");
    if (s.bits_per_second <= 0) throw usage_error("secformer: link '" + text + "' has no bandwidth");
    s.rtt = std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(sec * 1e9)));
    return s;
  }
};

/// Online time on `link` of a run that computed for `compute_seconds` (measured where the network
/// cost nothing, e.g. loopback) and spent `rounds` rounds sending `bytes` bytes (the larger party).
inline double estimate_online_seconds(double compute_seconds, std::uint64_t rounds, std::uint64_t bytes, const LinkShape& link) {
  const double wire = link.bits_per_second > 0 ? 8.0 * static_cast<double>(bytes) / link.bits_per_second : 0.0;
  return compute_seconds + static_cast<double>(rounds) * 0.5 * std::chrono::duration<double>(link.rtt).count() + wire;
}

/// A byte channel whose sent messages take the time they would on `shape` (see the header comment).
template <byte_channel C>
class ShapedChannel {
 public:
  ShapedChannel(C inner, LinkShape shape) : inner_(std::move(inner)), shape_(shape) {
    SECFORMER_ASSERT(shape.bits_per_second >= 0 && shape.rtt.count() >= 0, "a link with negative bandwidth or latency");
  }
  ShapedChannel(ShapedChannel&&) noexcept = default;

  void send(std::span<const std::byte> out) {
    wait(out.size());
    inner_.send(out);
  }
  void recv(std::span<std::byte> in) { inner_.recv(in); }
  void exchange(std::span<const std::byte> out, std::span<std::byte> in) {
    wait(out.size());
    inner_.exchange(out, in);
  }
  std::vector<std::byte> recv_message(std::size_t max) { return inner_.recv_message(max); }
  void close() { inner_.close(); }

  C& inner() noexcept { return inner_; }
  const LinkShape& shape() const noexcept { return shape_; }
  /// Changes the link from the next message on (both ends should agree; LinkShape{} = no delay).
  void set_shape(const LinkShape& s) {
    SECFORMER_ASSERT(s.bits_per_second >= 0 && s.rtt.count() >= 0, "a link with negative bandwidth or latency");
    shape_ = s;
  }
  /// Total time this side spent emulating the link (sum of the delays of its sent messages).
  std::chrono::nanoseconds delayed() const noexcept { return delayed_; }
  std::uint64_t messages() const noexcept { return messages_; }

 private:
  void wait(std::size_t bytes) {
    const auto d = std::chrono::nanoseconds(static_cast<std::int64_t>(shape_.message_seconds(bytes) * 1e9));
    ++messages_;
    if (d.count() <= 0) return;
    delayed_ += d;
    std::this_thread::sleep_until(std::chrono::steady_clock::now() + d);
  }

  C inner_;
  LinkShape shape_;
  std::chrono::nanoseconds delayed_{0};
  std::uint64_t messages_ = 0;
};

}  // namespace secformer
