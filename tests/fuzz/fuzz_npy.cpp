// libFuzzer target: the .npy parser (io::npy::parse) on arbitrary bytes. Every input must either parse
// into a consistent array or throw secformer::usage_error; anything else (a crash, a sanitizer report,
// another exception type, an inconsistent result) is a finding. Built and run by tests/fuzz/run.sh.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <secformer/io/npy.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace npy = secformer::io::npy;
  npy::Limits lim;
  lim.max_header_bytes = 4096;
  try {
    const npy::Array a = npy::parse(std::span<const unsigned char>(data, size), "fuzz", "<input>", lim);
    std::size_t n = 1;
    for (auto d : a.shape) n *= d;
    const std::size_t item = a.descr == "<f8" ? 8 : 4;
    if (a.descr != "<f8" && a.descr != "<f4") std::abort();  // only the accepted dtypes come back
    if (a.data.size() != n || n * item > size) std::abort();  // the data fit the file and the shape
    for (double v : a.data)
      if (!std::isfinite(v)) std::abort();
  } catch (const secformer::usage_error&) {
  }
  return 0;
}
