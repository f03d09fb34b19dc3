// secformer/channel/frame.hpp: the wire framing of the TCP/TLS channel as pure functions (no Asio),
// so that the decoder can be fuzzed (tests/fuzz/fuzz_frame.cpp).
//
// A frame is an 8-byte little-endian payload length followed by the payload. A length above the
// receiver's limit is rejected from the header alone, before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"

namespace secformer {

namespace frame {

inline constexpr std::size_t header_bytes = 8;

inline void put_le64(std::byte* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}
inline std::uint64_t get_le64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(std::to_integer<unsigned>(p[i])) << (8 * i);
  return v;
}

/// What a header says, checked against the receiver's limit and (when expected >= 0) the size it waits for.
struct HeaderCheck {
  enum Verdict { ok, oversized, mismatch } verdict = ok;
  std::uint64_t length = 0;  ///< the announced payload length
  std::uint64_t limit = 0;   ///< the limit (oversized) or the expected size (mismatch)
};

/// Checks a frame header; never allocates. expected < 0: any length up to limit.
inline HeaderCheck check_header(std::span<const std::byte, header_bytes> header, std::uint64_t limit,
                                std::int64_t expected = -1) noexcept {
  HeaderCheck c;
  c.length = get_le64(header.data());
  if (c.length > limit) {
    c.verdict = HeaderCheck::oversized;
    c.limit = limit;
  } else if (expected >= 0 && c.length != static_cast<std::uint64_t>(expected)) {
    c.verdict = HeaderCheck::mismatch;
    c.limit = static_cast<std::uint64_t>(expected);
  }
  return c;
}

/// The message of a failed header check (sizes only, never payload bytes).
inline std::string describe(const HeaderCheck& c) {
  if (c.verdict == HeaderCheck::oversized)
    return "secformer: oversized frame: the peer announced " + std::to_string(c.length) + " bytes, the limit is " +
           std::to_string(c.limit) + " bytes; the channel is closed";
  if (c.verdict == HeaderCheck::mismatch)
    return "secformer: expected a message of " + std::to_string(c.limit) + " bytes, got a frame of " +
           std::to_string(c.length) + " bytes; the channel is closed";
  return "secformer: frame ok";
}

/// One frame as bytes (header and payload).
inline std::vector<std::byte> encode(std::span<const std::byte> payload) {
  std::vector<std::byte> out(header_bytes + payload.size());
  put_le64(out.data(), payload.size());
  for (std::size_t i = 0; i < payload.size(); ++i) out[header_bytes + i] = payload[i];
  return out;
}

/// Splits a complete byte stream into frames, as a receiver with the given limit would. Throws
/// channel_error for an oversized frame or a stream that ends inside a frame. Allocation is bounded
/// by the input size (each payload is checked against the bytes actually present before copying).
inline std::vector<std::vector<std::byte>> decode_stream(std::span<const std::byte> stream, std::uint64_t limit) {
  std::vector<std::vector<std::byte>> frames;
  std::size_t at = 0;
  while (at < stream.size()) {
    if (stream.size() - at < header_bytes)
      throw channel_error("secformer: the stream ends inside a frame header (" + std::to_string(stream.size() - at) +
                          " of 8 bytes)");
    const HeaderCheck c = check_header(stream.subspan(at).first<header_bytes>(), limit);
    if (c.verdict != HeaderCheck::ok) throw channel_error(describe(c));
    at += header_bytes;
    if (c.length > stream.size() - at)
      throw channel_error("secformer: the stream ends inside a frame (" + std::to_string(stream.size() - at) + " of " +
                          std::to_string(c.length) + " payload bytes)");
    frames.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(at),
                        stream.begin() + static_cast<std::ptrdiff_t>(at + c.length));
    at += static_cast<std::size_t>(c.length);
  }
  return frames;
}

}  // namespace frame
}  // namespace secformer
