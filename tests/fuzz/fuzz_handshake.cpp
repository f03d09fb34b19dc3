// libFuzzer target: the session handshake parser (secformer::handshake::parse) on arbitrary bytes.
// Every input must either parse into a hello whose encoding is exactly the input (the format is
// canonical) and which agrees with itself, or throw secformer::handshake_error; anything else (a
// crash, a sanitizer report, another exception type, a non-canonical accept) is a finding.
#include <cstdint>
#include <cstdlib>
#include <span>

#include <secformer/channel/handshake.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace hs = secformer::handshake;
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  try {
    const secformer::SessionHello h = hs::parse(in);
    const auto again = hs::encode(h);  // never throws for a parsed hello
    if (again.size() != size) std::abort();
    for (std::size_t i = 0; i < size; ++i)
      if (again[i] != in[i]) std::abort();
    if (hs::mismatch(h, h, h.role).has_value()) std::abort();
    if (h.role > 2 || h.session_id.size() > hs::max_string) std::abort();
  } catch (const secformer::handshake_error&) {
  }
  return 0;
}
