// secformer/channel/handshake.hpp: the session handshake message (pure functions, no Asio), so that
// its parser can be fuzzed (tests/fuzz/fuzz_handshake.cpp).
//
// Before any share is sent, party 0, party 1 and the dealer exchange one SessionHello each way on
// every connection and refuse the session when a field differs: library version, ring, encoding,
// protocol suite, model shape digest and session identifier (and the role must be the expected one).
// net.hpp drives the exchange; this file only encodes, parses and compares.
//
// Wire format (little-endian): magic u32 "SFHS", format u16, role u8, ring bits u32, fractional bits
// u32, model digest u64, then three strings (library version, suite, session id), each a u16 length
// and printable ASCII bytes. At most max_bytes in all; trailing bytes are an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"

namespace secformer {

/// A refused or malformed session handshake.
struct handshake_error : channel_error {
  using channel_error::channel_error;
};

/// What one role announces about its session.
struct SessionHello {
  std::uint8_t role = 0;                                   ///< 0: party 0, 1: party 1, 2: dealer
  std::string library_version = SECFORMER_VERSION_STRING;  ///< must be equal on all roles
  std::uint32_t ring_bits = 0;   ///< ring Z_2^k of the parties' suite (the dealer sends 0: it serves any)
  std::uint32_t frac_bits = 0;   ///< fractional bits of the suite's encoding
  std::string suite;             ///< identifier of the protocol suite (the dealer sends it empty)
  std::uint64_t model_digest = 0;  ///< digest of the model's shapes (shape_digest), 0 when not used
  std::string session_id;        ///< identifier agreed out of band for this run
  friend bool operator==(const SessionHello&, const SessionHello&) = default;
};

namespace handshake {

inline constexpr std::uint32_t magic = 0x53484653u;  // "SFHS"
inline constexpr std::uint16_t format_version = 1;
inline constexpr std::size_t max_string = 256;
inline constexpr std::size_t max_bytes = 29 + 3 * max_string;  // fixed fields and string lengths: 29 bytes

inline const char* role_name(unsigned r) { return r == 0 ? "party 0" : r == 1 ? "party 1" : r == 2 ? "dealer" : "invalid role"; }

/// Encodes a hello; throws usage_error for a string field that is too long or not printable ASCII.
inline std::vector<std::byte> encode(const SessionHello& h) {
  std::vector<std::byte> out;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
  };
  auto put_str = [&](const std::string& s, const char* what) {
    if (s.size() > max_string) throw usage_error(std::string("secformer: handshake field '") + what + "' longer than 256 bytes");
    for (char c : s)
      if (c < 0x20 || c > 0x7e) throw usage_error(std::string("secformer: handshake field '") + what + "' must be printable ASCII");
    put(s.size(), 2);
    for (char c : s) out.push_back(static_cast<std::byte>(c));
  };
  put(magic, 4);
  put(format_version, 2);
  put(h.role, 1);
  put(h.ring_bits, 4);
  put(h.frac_bits, 4);
  put(h.model_digest, 8);
  put_str(h.library_version, "library version");
  put_str(h.suite, "suite");
  put_str(h.session_id, "session id");
  return out;
}

/// Parses a hello; throws handshake_error naming what is wrong (never echoes raw bytes).
inline SessionHello parse(std::span<const std::byte> in) {
  if (in.size() > max_bytes)
    throw handshake_error("secformer: malformed session handshake: " + std::to_string(in.size()) + " bytes, at most " +
                          std::to_string(max_bytes) + " allowed");
  std::size_t at = 0;
  auto get = [&](int n, const char* what) {
    if (in.size() - at < static_cast<std::size_t>(n))
      throw handshake_error(std::string("secformer: malformed session handshake: truncated in field '") + what + "'");
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t(std::to_integer<unsigned>(in[at + i])) << (8 * i);
    at += n;
    return v;
  };
  auto get_str = [&](const char* what) {
    const auto n = static_cast<std::size_t>(get(2, what));
    if (n > max_string || in.size() - at < n)
      throw handshake_error(std::string("secformer: malformed session handshake: bad length of field '") + what + "'");
    std::string s(n, ' ');
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = std::to_integer<unsigned>(in[at + i]);
      if (c < 0x20 || c > 0x7e)
        throw handshake_error(std::string("secformer: malformed session handshake: field '") + what + "' is not printable ASCII");
      s[i] = static_cast<char>(c);
    }
    at += n;
    return s;
  };
  if (get(4, "magic") != magic)
    throw handshake_error("secformer: malformed session handshake: bad magic (the peer is not a secformer role of this protocol)");
  const auto fmt = get(2, "format");
  if (fmt != format_version)
    throw handshake_error("secformer: session handshake refused: field 'handshake format' differs (ours " +
                          std::to_string(format_version) + ", peer's " + std::to_string(fmt) + ")");
  SessionHello h;
  h.role = static_cast<std::uint8_t>(get(1, "role"));
  if (h.role > 2) throw handshake_error("secformer: malformed session handshake: role " + std::to_string(h.role));
  h.ring_bits = static_cast<std::uint32_t>(get(4, "ring"));
  h.frac_bits = static_cast<std::uint32_t>(get(4, "encoding"));
  h.model_digest = get(8, "model digest");
  h.library_version = get_str("library version");
  h.suite = get_str("suite");
  h.session_id = get_str("session id");
  if (at != in.size()) throw handshake_error("secformer: malformed session handshake: trailing bytes");
  return h;
}

/// The first field in which `theirs` differs from `mine`, as a message naming it; nullopt when they
/// agree. Ring, encoding and suite are compared between the parties only (the dealer serves any).
inline std::optional<std::string> mismatch(const SessionHello& mine, const SessionHello& theirs, unsigned expected_role) {
  auto differs = [](const char* field, const std::string& a, const std::string& b) {
    return std::string("secformer: session handshake refused: field '") + field + "' differs (ours '" + a + "', peer's '" + b + "')";
  };
  auto hex = [](std::uint64_t v) {
    const char* d = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) s[i] = d[v & 15];
    return s;
  };
  if (theirs.role != expected_role)
    return differs("role", role_name(expected_role) + std::string(" expected"), role_name(theirs.role));
  if (mine.library_version != theirs.library_version) return differs("library version", mine.library_version, theirs.library_version);
  const bool parties = mine.role != 2 && theirs.role != 2;
  if (parties && theirs.ring_bits != mine.ring_bits)
    return differs("ring", "Z_2^" + std::to_string(mine.ring_bits), "Z_2^" + std::to_string(theirs.ring_bits));
  if (parties && theirs.frac_bits != mine.frac_bits)
    return differs("encoding", std::to_string(mine.frac_bits) + " fractional bits", std::to_string(theirs.frac_bits) + " fractional bits");
  if (parties && theirs.suite != mine.suite) return differs("suite", mine.suite, theirs.suite);
  if (theirs.model_digest != mine.model_digest) return differs("model digest", hex(mine.model_digest), hex(theirs.model_digest));
  if (theirs.session_id != mine.session_id) return differs("session id", mine.session_id, theirs.session_id);
  return std::nullopt;
}

/// A 64-bit FNV-1a digest of a list of shapes (the model's weight and input shapes), for
/// SessionHello::model_digest. A consistency check between honest roles, not a cryptographic commitment.
inline std::uint64_t shape_digest(std::initializer_list<std::vector<std::size_t>> shapes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) { h ^= (v >> (8 * i)) & 0xffu; h *= 0x100000001b3ull; }
  };
  mix(shapes.size());
  for (const auto& s : shapes) {
    mix(s.size());
    for (auto d : s) mix(d);
  }
  return h;
}

}  // namespace handshake
}  // namespace secformer
