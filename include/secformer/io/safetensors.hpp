// secformer/io/safetensors.hpp: a strict reader of Hugging Face safetensors files and of sharded
// checkpoints (model.safetensors.index.json). No dependency beyond the standard library.
//
// The format: 8 bytes little-endian N, N bytes of a UTF-8 JSON header starting with '{' (padded
// with spaces), then the data buffer. The header maps each tensor name to
// {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]} (offsets into the data
// buffer, end one past) and may carry "__metadata__": {string: string}.
//
//   Header h = parse_header(json_bytes, "model.safetensors");   // pure, over bytes (fuzzed)
//   Header h = parse(file_bytes, "model.safetensors");          // a whole file in memory
//   File f("model.safetensors");          // reads the 8 + N header bytes only
//   f.header().at("pooler.dense.weight")  // TensorInfo: dtype, shape, byte range
//   f.read("pooler.dense.weight", out);   // std::span<float> or std::span<double>, one tensor
//                                         // from disk (seek + read in 1 MiB chunks) into `out`
//   Checkpoint c = Checkpoint::open(dir); // model.safetensors, or the shards of
//                                         // model.safetensors.index.json: one index over all
//   c.tensors(), c.find(name), c.read(name, out)
//
// Checks (each a usage_error naming the file and, where there is one, the tensor): the header
// length (at most Limits::max_header_bytes, inside the file) before anything is
// allocated; valid UTF-8 and strict JSON (json.hpp) with no duplicate keys at any depth; each
// entry exactly {dtype, shape, data_offsets}, a known dtype, non-negative integer dimensions and
// offsets, begin <= end; the element count times the dtype size (overflow-checked) equals
// end - begin; the byte ranges, sorted, tile the data buffer from 0 without gap or overlap; the
// buffer ends at the end of the file (no trailing bytes, no truncation). Reading converts F32, F16
// and BF16 (exactly; little-endian, whatever the host) and refuses every other dtype and any NaN
// or infinity (naming the tensor and the element). Indexed dtypes that cannot be read (the I64
// position_ids buffer of older BERT checkpoints, for one) stay in the index.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "json.hpp"
#include "json_checks.hpp"

namespace secformer::io::safetensors {

struct Limits {
  std::uint64_t max_header_bytes = 100'000'000;  // the limit of Hugging Face's own reader
};

/// One tensor of the index: its dtype as written, its shape and its byte range in the data buffer.
struct TensorInfo {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;

  std::uint64_t bytes() const noexcept { return end - begin; }
  /// The element count (the header checks that it does not overflow).
  std::uint64_t elements() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  /// F32, F16 or BF16: the dtypes read() converts.
  bool readable() const noexcept { return dtype == "F32" || dtype == "F16" || dtype == "BF16"; }
};

/// The parsed header: the tensors in data-buffer order, the metadata, the buffer's size and start.
struct Header {
  std::vector<TensorInfo> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::uint64_t data_bytes = 0;  // the end of the last tensor
  std::uint64_t data_start = 0;  // the buffer's offset in the file (8 + N; 0 from parse_header)
  std::string source;

  const TensorInfo* find(std::string_view name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors[it->second];
  }
  const TensorInfo& at(std::string_view name) const {
    const TensorInfo* t = find(name);
    if (!t) throw usage_error("secformer: " + source + ": no tensor \"" + std::string(name) + "\"");
    return *t;
  }
  void index_names() {
    by_name_.clear();
    for (std::size_t i = 0; i < tensors.size(); ++i) by_name_.emplace(tensors[i].name, i);
  }

 private:
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

namespace detail {

[[noreturn]] inline void fail(const std::string& source, const std::string& what) {
  throw usage_error("secformer: safetensors: " + source + ": " + what);
}
[[noreturn]] inline void fail(const std::string& source, std::string_view tensor, const std::string& what) {
  throw usage_error("secformer: safetensors: " + source + ": tensor \"" + std::string(tensor) + "\": " + what);
}

/// Bits per element of the dtypes of the format (0: unknown).
inline unsigned dtype_bits(std::string_view d) noexcept {
  struct Entry { std::string_view name; unsigned bits; };
  static constexpr Entry table[] = {
      {"BOOL", 8},     {"U8", 8},      {"I8", 8},        {"F8_E5M2", 8},  {"F8_E4M3", 8},      {"F8_E8M0", 8},
      {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"F4", 4}, {"F6_E2M3", 6},    {"F6_E3M2", 6},      {"I16", 16},
      {"U16", 16},     {"F16", 16},    {"BF16", 16},     {"I32", 32},     {"U32", 32},         {"F32", 32},
      {"I64", 64},     {"U64", 64},    {"F64", 64},      {"C64", 64}};
  for (const auto& e : table)
    if (e.name == d) return e.bits;
  return 0;
}

inline std::uint64_t nonnegative_integer(const json::Value& v, const std::string& source, std::string_view tensor, const char* what) {
  if (!v.is_number()) fail(source, tensor, std::string(what) + " must be an integer, found " + v.kind());
  const double d = v.as_number();
  // Integers up to 2^53 are exact in JSON's doubles; anything larger cannot be a real offset.
  if (!(d >= 0.0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<std::uint64_t>(d)))
    fail(source, tensor, std::string(what) + " must be a non-negative integer, found " + std::to_string(d));
  return static_cast<std::uint64_t>(d);
}

inline TensorInfo parse_entry(const std::string& name, const json::Value& v, const std::string& source) {
  if (!v.is_object()) fail(source, name, std::string("the entry must be an object, found ") + v.kind());
  TensorInfo t;
  t.name = name;
  const json::Value *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& [k, m] : v.as_object()) {
    if (k == "dtype") dtype = &m;
    else if (k == "shape") shape = &m;
    else if (k == "data_offsets") offsets = &m;
    else fail(source, name, "unknown member \"" + k + "\" (expected dtype, shape, data_offsets)");
  }
  if (!dtype) fail(source, name, "\"dtype\" is missing");
  if (!shape) fail(source, name, "\"shape\" is missing");
  if (!offsets) fail(source, name, "\"data_offsets\" is missing");
  if (!dtype->is_string()) fail(source, name, std::string("\"dtype\" must be a string, found ") + dtype->kind());
  t.dtype = dtype->as_string();
  const unsigned bits = dtype_bits(t.dtype);
  if (bits == 0) fail(source, name, "unknown dtype \"" + t.dtype + "\"");
  if (!shape->is_array()) fail(source, name, std::string("\"shape\" must be an array, found ") + shape->kind());
  std::uint64_t n = 1;
  for (const auto& d : shape->as_array()) {
    const std::uint64_t x = nonnegative_integer(d, source, name, "each dimension");
    t.shape.push_back(x);
    if (x != 0 && n > UINT64_MAX / x) fail(source, name, "the element count overflows 64 bits");
    n *= x;
  }
  if (!offsets->is_array() || offsets->as_array().size() != 2) fail(source, name, "\"data_offsets\" must be an array [begin, end]");
  t.begin = nonnegative_integer(offsets->as_array()[0], source, name, "data_offsets[0]");
  t.end = nonnegative_integer(offsets->as_array()[1], source, name, "data_offsets[1]");
  if (t.end < t.begin) fail(source, name, "data_offsets end " + std::to_string(t.end) + " before begin " + std::to_string(t.begin));
  if (n > UINT64_MAX / bits) fail(source, name, "the byte count overflows 64 bits");
  const std::uint64_t total_bits = n * bits;
  if (total_bits % 8 != 0) fail(source, name, "the element count times the dtype's bits is not a whole number of bytes");
  if (total_bits / 8 != t.bytes())
    fail(source, name,
         std::to_string(n) + " elements of " + t.dtype + " take " + std::to_string(total_bits / 8) + " bytes, data_offsets span " +
             std::to_string(t.bytes()));
  return t;
}

inline std::uint64_t read_le64(const std::byte* p) noexcept {
  std::uint64_t x = 0;
  for (int i = 7; i >= 0; --i) x = (x << 8) | static_cast<std::uint64_t>(p[i]);
  return x;
}

}  // namespace detail

/// Parses the JSON header (the N bytes after the length) into the index; checks everything that
/// does not need the file's size (see the top of the file). data_start is 0.
inline Header parse_header(std::span<const std::byte> json_bytes, const std::string& source = "<memory>") {
  const std::string_view text(reinterpret_cast<const char*>(json_bytes.data()), json_bytes.size());
  if (text.empty() || text.front() != '{') detail::fail(source, "the header must start with '{'");
  json::check_utf8(text, source);
  const json::Value doc = json::parse(text, source);
  if (!doc.is_object()) detail::fail(source, "the header must be a JSON object");
  json::refuse_duplicate_keys(doc, source);
  Header h;
  h.source = source;
  for (const auto& [k, v] : doc.as_object()) {
    if (k == "__metadata__") {
      if (!v.is_object()) detail::fail(source, std::string("\"__metadata__\" must be an object of strings, found ") + v.kind());
      for (const auto& [mk, mv] : v.as_object()) {
        if (!mv.is_string()) detail::fail(source, "\"__metadata__\" value of \"" + mk + "\" must be a string, found " + mv.kind());
        h.metadata.emplace_back(mk, mv.as_string());
      }
      continue;
    }
    if (k.empty()) detail::fail(source, "a tensor with an empty name");
    h.tensors.push_back(detail::parse_entry(k, v, source));
  }
  // The buffer is packed: the byte ranges in offset order tile [0, data_bytes) exactly.
  std::stable_sort(h.tensors.begin(), h.tensors.end(),
                   [](const TensorInfo& a, const TensorInfo& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t at = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.begin > at)
      detail::fail(source, t.name, "a gap of " + std::to_string(t.begin - at) + " bytes before it (data_offsets begin " + std::to_string(t.begin) +
                                       ", previous tensor ends at " + std::to_string(at) + ")");
    if (t.begin < at)
      detail::fail(source, t.name, "its bytes [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") overlap tensor \"" +
                                       (prev ? prev->name : std::string()) + "\" (which ends at " + std::to_string(at) + ")");
    at = t.end;
    prev = &t;
  }
  h.data_bytes = at;
  h.index_names();
  return h;
}

/// Parses a whole safetensors file held in memory: the length, the header, and the file's size
/// against the buffer (no truncation, no trailing bytes). data_start is 8 + N.
inline Header parse(std::span<const std::byte> file, const std::string& source = "<memory>", const Limits& lim = {}) {
  if (file.size() < 8) detail::fail(source, "shorter than the 8-byte header length");
  const std::uint64_t n = detail::read_le64(file.data());
  if (n > lim.max_header_bytes) detail::fail(source, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(lim.max_header_bytes) + " bytes");
  if (n > file.size() - 8) detail::fail(source, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(file.size()) + " bytes)");
  Header h = parse_header(file.subspan(8, n), source);
  h.data_start = 8 + n;
  const std::uint64_t have = file.size() - h.data_start;
  if (have < h.data_bytes) detail::fail(source, "truncated: the tensors need " + std::to_string(h.data_bytes) + " data bytes, the file has " + std::to_string(have));
  if (have > h.data_bytes) detail::fail(source, std::to_string(have - h.data_bytes) + " trailing bytes after the last tensor");
  return h;
}

namespace detail {

inline std::uint32_t f16_to_f32_bits(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h >> 15) << 31;
  const std::uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0) {
    if (mant == 0) return sign;
    // Subnormal: mant * 2^-24; normalise into a float (always exact).
    int e = -14;
    std::uint32_t m = mant;
    while ((m & 0x400) == 0) m <<= 1, --e;
    return sign | (static_cast<std::uint32_t>(e + 127) << 23) | ((m & 0x3FF) << 13);
  }
  if (exp == 31) return sign | 0x7F800000u | (mant << 13);  // inf/NaN (refused by the caller)
  return sign | ((exp - 15 + 127) << 23) | (mant << 13);
}

/// Converts `out.size()` elements of `dtype` from little-endian `raw`; `first` is the index of
/// out[0] in the tensor (for the error message).
template <class T>
void convert(std::string_view dtype, std::span<const std::byte> raw, std::span<T> out, std::uint64_t first, const std::string& source,
             std::string_view tensor) {
  const auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(raw[i]); };
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t bits;
    if (dtype == "F32") bits = b(4 * i) | (b(4 * i + 1) << 8) | (b(4 * i + 2) << 16) | (b(4 * i + 3) << 24);
    else if (dtype == "BF16") bits = (b(2 * i) | (b(2 * i + 1) << 8)) << 16;
    else bits = f16_to_f32_bits(static_cast<std::uint16_t>(b(2 * i) | (b(2 * i + 1) << 8)));
    if ((bits & 0x7F800000u) == 0x7F800000u)
      fail(source, tensor, std::string((bits & 0x7FFFFFu) ? "NaN" : "infinity") + " at element " + std::to_string(first + i));
    out[i] = static_cast<T>(std::bit_cast<float>(bits));
  }
}

template <class T>
void check_read(const TensorInfo& t, std::size_t out_size, const std::string& source) {
  if (!t.readable()) fail(source, t.name, "dtype " + t.dtype + " cannot be read as floating point (F32, F16 or BF16 only)");
  if (out_size != t.elements())
    fail(source, t.name, "the buffer holds " + std::to_string(out_size) + " elements, the tensor " + std::to_string(t.elements()));
}

}  // namespace detail

/// Reads one tensor of a file held in memory (parsed by parse()) into `out` (elements() values).
template <class T>
  requires(std::is_same_v<T, float> || std::is_same_v<T, double>)
void read_tensor(std::span<const std::byte> file, const Header& h, std::string_view name, std::span<T> out) {
  const TensorInfo& t = h.at(name);
  detail::check_read<T>(t, out.size(), h.source);
  detail::convert(t.dtype, file.subspan(h.data_start + t.begin, t.bytes()), out, 0, h.source, t.name);
}

/// One safetensors file on disk: the header is read when constructed, the tensors on demand.
class File {
 public:
  explicit File(std::filesystem::path path, const Limits& lim = {}) : path_(std::move(path)) {
    const std::string src = path_.string();
    std::error_code ec;
    const std::uint64_t size = std::filesystem::file_size(path_, ec);
    if (ec) detail::fail(src, "cannot open (" + ec.message() + ")");
    std::ifstream in(path_, std::ios::binary);
    if (!in) detail::fail(src, "cannot open");
    if (size < 8) detail::fail(src, "shorter than the 8-byte header length");
    std::array<std::byte, 8> len{};
    if (!in.read(reinterpret_cast<char*>(len.data()), 8)) detail::fail(src, "cannot read the header length");
    const std::uint64_t n = detail::read_le64(len.data());
    if (n > lim.max_header_bytes) detail::fail(src, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(lim.max_header_bytes) + " bytes");
    if (n > size - 8) detail::fail(src, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
    std::vector<std::byte> text(static_cast<std::size_t>(n));
    if (!in.read(reinterpret_cast<char*>(text.data()), static_cast<std::streamsize>(n))) detail::fail(src, "cannot read the header");
    header_ = parse_header(text, src);
    header_.data_start = 8 + n;
    const std::uint64_t have = size - header_.data_start;
    if (have < header_.data_bytes)
      detail::fail(src, "truncated: the tensors need " + std::to_string(header_.data_bytes) + " data bytes, the file has " + std::to_string(have));
    if (have > header_.data_bytes) detail::fail(src, std::to_string(have - header_.data_bytes) + " trailing bytes after the last tensor");
  }

  const Header& header() const noexcept { return header_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Reads the tensor `name` into `out` (exactly elements() values), converting to T.
  template <class T>
    requires(std::is_same_v<T, float> || std::is_same_v<T, double>)
  void read(std::string_view name, std::span<T> out) const {
    read(header_.at(name), out);
  }
  template <class T>
    requires(std::is_same_v<T, float> || std::is_same_v<T, double>)
  void read(const TensorInfo& t, std::span<T> out) const {
    const std::string& src = header_.source;
    detail::check_read<T>(t, out.size(), src);
    std::ifstream in(path_, std::ios::binary);
    if (!in) detail::fail(src, t.name, "cannot open the file");
    in.seekg(static_cast<std::streamoff>(header_.data_start + t.begin));
    const std::size_t item = t.dtype == "F32" ? 4 : 2;
    constexpr std::size_t chunk_elements = (1u << 20) / 4;
    std::vector<std::byte> buf(std::min<std::uint64_t>(t.bytes(), chunk_elements * item));
    for (std::size_t done = 0; done < out.size();) {
      const std::size_t k = std::min(chunk_elements, out.size() - done);
      if (!in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(k * item)))
        detail::fail(src, t.name, "read failed (the file changed since its header was read?)");
      detail::convert(t.dtype, std::span<const std::byte>(buf.data(), k * item), out.subspan(done, k), done, src, t.name);
      done += k;
    }
  }
  template <class T = float>
  std::vector<T> read(std::string_view name) const {
    std::vector<T> v(static_cast<std::size_t>(header_.at(name).elements()));
    read(name, std::span<T>(v));
    return v;
  }

 private:
  std::filesystem::path path_;
  Header header_;
};

/// A checkpoint: one safetensors file, or the shards named by model.safetensors.index.json
/// ({"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}), as one index.
/// The index is checked: every shard is a plain file name in the index's directory and exists,
/// every mapped tensor is in its shard, every tensor of a shard is mapped to that shard, and
/// total_size (when given) is the sum of the tensors' bytes.
class Checkpoint {
 public:
  struct Entry {
    TensorInfo info;
    std::size_t shard = 0;
  };

  /// `path`: a .safetensors file, an index .json, or a directory holding
  /// model.safetensors.index.json or model.safetensors (not both: ambiguous).
  static Checkpoint open(const std::filesystem::path& path, const Limits& lim = {}) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
      const bool sharded = fs::exists(path / "model.safetensors.index.json"), single = fs::exists(path / "model.safetensors");
      if (sharded && single)
        throw usage_error("secformer: safetensors: " + path.string() + " holds both model.safetensors and model.safetensors.index.json: which one?");
      if (sharded) return from_index(path / "model.safetensors.index.json", lim);
      if (single) return from_file(path / "model.safetensors", lim);
      throw usage_error("secformer: safetensors: " + path.string() + " holds neither model.safetensors nor model.safetensors.index.json");
    }
    if (path.extension() == ".json") return from_index(path, lim);
    return from_file(path, lim);
  }

  static Checkpoint from_file(const std::filesystem::path& file, const Limits& lim = {}) {
    Checkpoint c;
    c.shards_.emplace_back(file, lim);
    for (const auto& t : c.shards_[0].header().tensors) c.add(t, 0);
    return c;
  }

  static Checkpoint from_index(const std::filesystem::path& index_file, const Limits& lim = {}) {
    const std::string src = index_file.string();
    const std::string text = json::read_file(index_file);
    json::check_utf8(text, src);
    const json::Value doc = json::parse(text, src);
    json::refuse_duplicate_keys(doc, src);
    const json::Fields top(doc, src);
    const json::Value& map = top.object("weight_map");
    std::optional<std::uint64_t> total;
    if (const json::Value* meta = top.get("metadata")) {
      const json::Fields m(*meta, src, "metadata");
      if (const auto ts = m.optional_integer("total_size")) {
        if (*ts < 0) m.fail("total_size", "must not be negative");
        total = static_cast<std::uint64_t>(*ts);
      }
    }
    Checkpoint c;
    std::map<std::string, std::size_t, std::less<>> shard_of_file;
    std::vector<std::pair<std::string, std::size_t>> mapped;
    for (const auto& [tensor, file] : map.as_object()) {
      if (!file.is_string()) throw usage_error("secformer: " + src + ": weight_map[\"" + tensor + "\"] must be a file name, found " + file.kind());
      const std::string& f = file.as_string();
      if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos || f.find('\\') != std::string::npos)
        throw usage_error("secformer: " + src + ": weight_map[\"" + tensor + "\"] = \"" + f + "\" is not a plain file name");
      auto it = shard_of_file.find(f);
      if (it == shard_of_file.end()) {
        const auto shard = index_file.parent_path() / f;
        if (!std::filesystem::is_regular_file(shard))
          throw usage_error("secformer: " + src + ": shard \"" + f + "\" (of tensor \"" + tensor + "\") does not exist in " + index_file.parent_path().string());
        it = shard_of_file.emplace(f, c.shards_.size()).first;
        c.shards_.emplace_back(shard, lim);
      }
      mapped.emplace_back(tensor, it->second);
    }
    std::uint64_t sum = 0;
    for (const auto& [tensor, s] : mapped) {
      const TensorInfo* t = c.shards_[s].header().find(tensor);
      if (!t) throw usage_error("secformer: " + src + ": tensor \"" + tensor + "\" is not in its shard " + c.shards_[s].path().string());
      c.add(*t, s);
      sum += t->bytes();
    }
    for (std::size_t s = 0; s < c.shards_.size(); ++s)
      for (const auto& t : c.shards_[s].header().tensors) {
        const auto it = c.by_name_.find(t.name);
        if (it == c.by_name_.end() || c.entries_[it->second].shard != s)
          throw usage_error("secformer: " + src + ": tensor \"" + t.name + "\" of shard " + c.shards_[s].path().string() +
                            (it == c.by_name_.end() ? " is not in the weight map" : " is mapped to another shard"));
      }
    if (total && *total != sum)
      throw usage_error("secformer: " + src + ": metadata.total_size is " + std::to_string(*total) + ", the tensors take " + std::to_string(sum) + " bytes");
    return c;
  }

  const std::vector<Entry>& entries() const noexcept { return entries_; }
  const std::vector<File>& shards() const noexcept { return shards_; }
  std::vector<TensorInfo> tensors() const {
    std::vector<TensorInfo> v;
    v.reserve(entries_.size());
    for (const auto& e : entries_) v.push_back(e.info);
    return v;
  }
  const Entry* find(std::string_view name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &entries_[it->second];
  }
  const Entry& at(std::string_view name) const {
    const Entry* e = find(name);
    if (!e) throw usage_error("secformer: safetensors: no tensor \"" + std::string(name) + "\" in the checkpoint " + describe());
    return *e;
  }
  template <class T>
    requires(std::is_same_v<T, float> || std::is_same_v<T, double>)
  void read(std::string_view name, std::span<T> out) const {
    const Entry& e = at(name);
    shards_[e.shard].read(e.info, out);
  }
  template <class T = float>
  std::vector<T> read(std::string_view name) const {
    std::vector<T> v(static_cast<std::size_t>(at(name).info.elements()));
    read(name, std::span<T>(v));
    return v;
  }
  std::string describe() const { return shards_.empty() ? std::string("<empty>") : shards_[0].path().parent_path().string(); }

 private:
  void add(const TensorInfo& t, std::size_t shard) {
    if (!by_name_.emplace(t.name, entries_.size()).second)
      throw usage_error("secformer: safetensors: tensor \"" + t.name + "\" appears twice in the checkpoint");
    entries_.push_back({t, shard});
  }

  std::vector<File> shards_;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

}  // namespace secformer::io::safetensors
