// libFuzzer target: the channel's frame decoder (secformer::frame, the length-prefix parsing the TCP
// and TLS channels use) on arbitrary bytes. The first input byte picks the receiver's frame limit
// (2^0 .. 2^39 bytes); the rest is the byte stream. Every input must either decode into frames that
// re-encode to exactly the input and respect the limit, or throw secformer::channel_error; anything
// else (a crash, a sanitizer report, an allocation beyond the input, another exception) is a finding.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <secformer/channel/frame.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace frame = secformer::frame;
  if (size == 0) return 0;
  const std::uint64_t limit = std::uint64_t{1} << (data[0] % 40);
  const std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 1), size - 1);

  // The header check alone: a verdict consistent with the announced length, never an allocation.
  if (stream.size() >= frame::header_bytes) {
    const auto h = stream.first<frame::header_bytes>();
    const auto c = frame::check_header(h, limit);
    if ((c.verdict == frame::HeaderCheck::oversized) != (c.length > limit)) std::abort();
    const auto e = frame::check_header(h, limit, 3);
    if (e.verdict == frame::HeaderCheck::ok && e.length != 3) std::abort();
  }
  try {
    const auto frames = frame::decode_stream(stream, limit);
    std::vector<std::byte> again;
    for (const auto& f : frames) {
      if (f.size() > limit) std::abort();
      const auto enc = frame::encode(f);
      again.insert(again.end(), enc.begin(), enc.end());
    }
    if (again.size() != stream.size()) std::abort();
    for (std::size_t i = 0; i < again.size(); ++i)
      if (again[i] != stream[i]) std::abort();
  } catch (const secformer::channel_error&) {
  }
  return 0;
}
