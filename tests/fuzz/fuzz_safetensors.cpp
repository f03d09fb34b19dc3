// libFuzzer target: the safetensors reader (io::safetensors::parse over a whole file in memory, then
// every readable tensor converted) and the BERT config.json parser (io::parse_bert_config, then
// the expected tensor list). The first input byte picks the parser. Every input must either parse
// into a consistent result or throw secformer::usage_error; anything else (a crash, a sanitizer
// report, another exception type, an inconsistent result) is a finding. Built and run by
// tests/fuzz/run.sh.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include <secformer/io/bert_config.hpp>
#include <secformer/io/safetensors.hpp>

namespace {

void fuzz_safetensors(std::span<const std::byte> file) {
  namespace st = secformer::io::safetensors;
  st::Limits lim;
  lim.max_header_bytes = 4096;
  const st::Header h = st::parse(file, "fuzz", lim);
  // The ranges tile the buffer, the buffer ends the file.
  std::uint64_t at = 0;
  for (const auto& t : h.tensors) {
    if (t.begin != at || t.end < t.begin) std::abort();
    at = t.end;
    if (h.find(t.name) == nullptr) std::abort();
  }
  if (at != h.data_bytes || h.data_start + h.data_bytes != file.size()) std::abort();
  for (const auto& t : h.tensors) {
    if (!t.readable()) continue;
    if (t.elements() * (t.dtype == "F32" ? 4 : 2) != t.bytes()) std::abort();
    std::vector<double> out(static_cast<std::size_t>(t.elements()));
    try {
      st::read_tensor(file, h, t.name, std::span<double>(out));
    } catch (const secformer::usage_error&) {
      continue;  // NaN or infinity
    }
    for (double v : out)
      if (!std::isfinite(v)) std::abort();
  }
}

void fuzz_config(std::string_view text) {
  namespace io = secformer::io;
  const io::BertConfig c = io::parse_bert_config(text, "fuzz.json");
  if (c.hidden_size == 0 || c.num_attention_heads == 0 || c.hidden_size % c.num_attention_heads != 0) std::abort();
  if (c.num_labels == 0 || (!c.id2label.empty() && c.id2label.size() != c.num_labels)) std::abort();
  if (!(c.layer_norm_eps > 0)) std::abort();
  // Keep the expected list small: the sizes come from the input.
  if (c.num_hidden_layers <= 64) {
    const auto e = io::bert_tensors(c, io::BertHead::sequence_classification);
    if (e.size() != 5 + 16 * c.num_hidden_layers + 4) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] & 1) fuzz_config(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    else fuzz_safetensors(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data + 1), size - 1));
  } catch (const secformer::usage_error&) {
  }
  return 0;
}
