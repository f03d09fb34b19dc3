// secformer/io/npy.hpp: a strict reader (and a writer) of NumPy .npy files. No dependency beyond
// the standard library.
//
//   npy::Array a = npy::read(file, "layer0.fc1.w");   // shape, C-order doubles, the dtype descriptor
//   npy::Array a = npy::parse(bytes, what, source);   // the pure parser under read (fuzzed:
//                                                     // tests/fuzz/fuzz_npy.cpp)
//   T t = npy::load<T>(file), npy::save(file, x)      // into / from an array type (e.g. nn::Tensor)
//   npy::write_raw(file, descr, shape, data, bytes)   // any descriptor and order (for tests)
//
// Accepted: versions 1.0, 2.0 and 3.0; dtypes float64 and float32, little-endian; C or Fortran order
// (returned in C order). Rejected with usage_error "secformer: weight '<what>': <source>: <reason>":
// a missing, oversized or truncated file, bad magic, an unknown version, a malformed header dict
// (keys other than descr, fortran_order and shape, duplicates, more than Limits::max_dims
// dimensions), another dtype, a shape whose element count overflows or exceeds the data, bytes
// after the data, a NaN or infinity. Limits bound what is allocated before the data are checked.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../config.hpp"

namespace secformer::io::npy {

static_assert(std::endian::native == std::endian::little, "secformer: the .npy reader assumes a little-endian host");

/// An array read from a .npy file: C-order float64 values.
struct Array {
  std::vector<std::size_t> shape;
  std::vector<double> data;
  std::string descr;  ///< the file's dtype descriptor, e.g. "<f8"
};

/// Bounds on what the reader accepts (a file beyond them is rejected before anything is allocated).
struct Limits {
  std::size_t max_header_bytes = std::size_t(1) << 16;      ///< numpy itself writes headers of < 100 bytes
  std::uint64_t max_file_bytes = std::uint64_t(1) << 36;   ///< 64 GiB; BERT-large's largest tensor is 250 MB
  std::size_t max_dims = 32;                               ///< numpy's NPY_MAXDIMS
};

namespace detail {
/// "(2, 3)", "(3,)", "()": a shape as numpy prints it.
inline std::string dims_str(const std::vector<std::size_t>& d) {
  std::string s = "(";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (d.size() == 1 ? ",)" : ")");
}

inline std::string dtype_name(const std::string& d) {
  if (d.size() < 3 || d.size() > 8) return "'" + d + "'";
  const char kind = d[1];
  const std::string bytes = d.substr(2);
  std::string name;
  switch (kind) {
    case 'f': name = "float"; break;
    case 'i': name = "int"; break;
    case 'u': name = "uint"; break;
    case 'b': name = "bool"; break;
    case 'c': name = "complex"; break;
    default: name = std::string(1, kind);
  }
  int bits = 0;
  for (char c : bytes) {
    if (c < '0' || c > '9') return "'" + d + "'";
    bits = bits * 10 + (c - '0');
  }
  std::string r = name + (kind == 'b' ? "" : std::to_string(8 * bits));
  if (d[0] == '>') r += " big-endian";
  return r + " ('" + d + "')";
}

/// A printable excerpt of untrusted header text (never more than 40 characters, no control bytes).
inline std::string excerpt(std::string_view s) {
  std::string r;
  for (char c : s.substr(0, 40)) r += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 40 ? r + "..." : r;
}

/// A strict parser of the header dict numpy writes:
///   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }   (keys in any order, each once)
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view h) : h_(h) {}
  /// Parses the dict into a; returns an empty string on success, else what is wrong.
  std::string parse(Array& a, bool& fortran, std::size_t max_dims) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    if (!eat('{')) return "the header is not a dict";
    for (;;) {
      skip_ws();
      if (eat('}')) break;
      std::string key;
      if (!string_literal(key)) return "bad key at '" + excerpt(h_.substr(p_)) + "'";
      skip_ws();
      if (!eat(':')) return "no ':' after '" + excerpt(key) + "'";
      skip_ws();
      if (key == "descr") {
        if (have_descr) return "duplicate key 'descr'";
        have_descr = true;
        if (!string_literal(a.descr)) return "the dtype descriptor is not a string (structured dtypes are not supported)";
      } else if (key == "fortran_order") {
        if (have_order) return "duplicate key 'fortran_order'";
        have_order = true;
        if (word("True")) fortran = true;
        else if (word("False")) fortran = false;
        else return "fortran_order is neither True nor False";
      } else if (key == "shape") {
        if (have_shape) return "duplicate key 'shape'";
        have_shape = true;
        if (auto e = shape(a.shape, max_dims); !e.empty()) return e;
      } else {
        return "unknown key '" + excerpt(key) + "'";
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return "expected ',' or '}' at '" + excerpt(h_.substr(p_)) + "'";
    }
    skip_ws();
    if (p_ != h_.size()) return "text after the dict";
    if (!have_descr) return "no 'descr' (dtype descriptor)";
    if (!have_order) return "no 'fortran_order'";
    if (!have_shape) return "no 'shape'";
    return {};
  }

 private:
  std::string_view h_;
  std::size_t p_ = 0;
  void skip_ws() {
    while (p_ < h_.size() && (h_[p_] == ' ' || h_[p_] == '\n' || h_[p_] == '\t' || h_[p_] == '\r')) ++p_;
  }
  bool eat(char c) {
    if (p_ < h_.size() && h_[p_] == c) return ++p_, true;
    return false;
  }
  bool word(std::string_view w) {
    if (h_.substr(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }
  bool string_literal(std::string& out) {
    if (p_ >= h_.size() || (h_[p_] != '\'' && h_[p_] != '"')) return false;
    const char q = h_[p_++];
    const auto end = h_.find(q, p_);
    if (end == std::string_view::npos || end - p_ > 64) return false;
    out.assign(h_.substr(p_, end - p_));
    p_ = end + 1;
    return true;
  }
  std::string shape(std::vector<std::size_t>& dims, std::size_t max_dims) {
    if (!eat('(')) return "the shape is not a tuple";
    bool need_comma = false;  // a 1-tuple needs its trailing comma: (3,)
    for (;;) {
      skip_ws();
      if (eat(')')) break;
      if (p_ >= h_.size() || h_[p_] < '0' || h_[p_] > '9') return "bad shape entry at '" + excerpt(h_.substr(p_)) + "'";
      std::uint64_t v = 0;
      while (p_ < h_.size() && h_[p_] >= '0' && h_[p_] <= '9') {
        const unsigned digit = static_cast<unsigned>(h_[p_++] - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return "a shape dimension overflows 64 bits";
        v = v * 10 + digit;
      }
      eat('L');  // Python 2 longs
      if (dims.size() == max_dims) return "more than " + std::to_string(max_dims) + " dimensions";
      dims.push_back(static_cast<std::size_t>(v));
      skip_ws();
      if (eat(',')) {
        need_comma = false;
        continue;
      }
      need_comma = dims.size() == 1;
      skip_ws();
      if (eat(')')) break;
      return "bad shape at '" + excerpt(h_.substr(p_)) + "'";
    }
    if (need_comma) return "a 1-D shape needs a trailing comma";
    return {};
  }
};
}  // namespace detail

/// Parses the bytes of a .npy file (a pure function: fuzzed by tests/fuzz/fuzz_npy.cpp). Accepts
/// versions 1.0, 2.0 and 3.0, dtypes '<f8' and '<f4', C or Fortran order; returns C-order doubles.
/// Throws usage_error "secformer: weight '<what>': <source>: <reason>" for bad magic, an unknown
/// version, a truncated header, a malformed header dict, another dtype, a shape whose element count
/// overflows or exceeds the data (truncated file), bytes after the data, or a NaN or infinity.
inline Array parse(std::span<const unsigned char> bytes, const std::string& what = "", const std::string& source = "<memory>",
                   const Limits& lim = {}) {
  auto fail = [&](const std::string& msg) -> void { throw usage_error("secformer: weight '" + what + "': " + source + ": " + msg); };
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
    fail("corrupt file: not a .npy file (bad magic, " + std::to_string(bytes.size()) + " bytes)");
  const unsigned major = bytes[6], minor = bytes[7];
  std::size_t hlen = 0, hstart = 0;
  if (major == 1 && minor == 0) {
    hlen = bytes[8] | (std::size_t(bytes[9]) << 8);
    hstart = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (bytes.size() < 12) fail("truncated file (incomplete header)");
    for (int i = 0; i < 4; ++i) hlen |= std::size_t(bytes[8 + i]) << (8 * i);
    hstart = 12;
  } else {
    fail("corrupt file: unknown .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  }
  if (hlen > lim.max_header_bytes) fail("corrupt file: header of " + std::to_string(hlen) + " bytes (at most " + std::to_string(lim.max_header_bytes) + ")");
  if (hlen > bytes.size() - hstart) fail("truncated file (incomplete header)");
  const std::string_view h(reinterpret_cast<const char*>(bytes.data()) + hstart, hlen);
  Array a;
  bool fortran = false;
  if (auto e = detail::HeaderParser(h).parse(a, fortran, lim.max_dims); !e.empty()) fail("corrupt header: " + e);
  std::size_t item = 0;
  if (a.descr == "<f8") item = 8;
  else if (a.descr == "<f4") item = 4;
  else fail("wrong dtype: the file holds " + detail::dtype_name(a.descr) + "; expected float64 ('<f8') or float32 ('<f4')");
  const std::size_t off = hstart + hlen, have = bytes.size() - off;
  std::size_t n = 1;
  bool overflow = false;
  for (auto d : a.shape) overflow = overflow || __builtin_mul_overflow(n, d, &n);
  std::size_t need = 0;
  overflow = overflow || __builtin_mul_overflow(n, item, &need);
  if (overflow) fail("corrupt header: shape " + detail::dims_str(a.shape) + " has more elements than fit in memory");
  if (have < need)
    fail("truncated file: shape " + detail::dims_str(a.shape) + " needs " + std::to_string(need) + " data bytes, the file has " + std::to_string(have));
  if (have > need) fail("corrupt file: " + std::to_string(have - need) + " bytes after the data of shape " + detail::dims_str(a.shape));
  std::vector<double> raw(n);
  const unsigned char* src = bytes.data() + off;
  if (item == 8) {
    if (n) std::memcpy(raw.data(), src, need);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, src + 4 * i, 4);
      raw[i] = f;
    }
  }
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(raw[i])) fail("non-finite value (NaN or infinity) at flat index " + std::to_string(i) + " of the file's data");
  if (!fortran || a.shape.size() < 2) {
    a.data = std::move(raw);
  } else {
    // Fortran order: element (i_0, ..., i_{d-1}) is at sum_m i_m s_m, s_0 = 1, s_m = s_{m-1} shape[m-1]
    // (the C-order array of the reversed shape, transposed). Walk the C-order output with a counter.
    const std::size_t nd = a.shape.size();
    std::vector<std::size_t> stride(nd, 1), idx(nd, 0);
    for (std::size_t m = 1; m < nd; ++m) stride[m] = stride[m - 1] * a.shape[m - 1];  // <= n when n > 0
    a.data.resize(n);
    std::size_t src = 0;
    for (std::size_t k = 0; k < n; ++k) {
      a.data[k] = raw[src];
      for (std::size_t m = nd; m-- > 0;) {
        src += stride[m];
        if (++idx[m] < a.shape[m]) break;
        src -= idx[m] * stride[m];
        idx[m] = 0;
      }
    }
  }
  return a;
}

/// Reads a .npy file (see parse). `what` names the tensor in errors.
inline Array read(const std::filesystem::path& file, const std::string& what = "", const Limits& lim = {}) {
  const std::string name = what.empty() ? file.filename().string() : what;
  auto fail = [&](const std::string& msg) -> void { throw usage_error("secformer: weight '" + name + "': " + file.string() + ": " + msg); };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) fail("missing file (no such .npy file)");
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) fail("cannot read the file size");
  if (size > lim.max_file_bytes) fail("oversized file: " + std::to_string(size) + " bytes (at most " + std::to_string(lim.max_file_bytes) + ")");
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("cannot open the file");
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size || in.peek() != std::ifstream::traits_type::eof())
    fail("the file changed size while being read");
  return parse(bytes, name, file.string(), lim);
}

/// Reads a .npy file into an array type A constructible from the shape, with row-major iterators
/// (e.g. xt::xarray<double>).
template <class A>
A load(const std::filesystem::path& file, const std::string& what = "") {
  Array a = read(file, what);
  A t(a.shape);
  std::copy(a.data.begin(), a.data.end(), t.begin());
  return t;
}

/// Writes raw data with a given descriptor and order (e.g. other dtypes, in tests).
inline void write_raw(const std::filesystem::path& file, const std::string& descr, const std::vector<std::size_t>& shape,
                      const void* data, std::size_t bytes, bool fortran_order = false) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                  ", 'shape': " + detail::dims_str(shape) + ", }";
  const std::size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw usage_error("secformer: cannot write " + file.string());
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(h.size() & 0xff),
                                 static_cast<unsigned char>(h.size() >> 8)};
  out.write(reinterpret_cast<const char*>(pre), 10);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw usage_error("secformer: cannot write " + file.string());
}

/// Writes an array as float64, C order: any x with x.shape() and row-major x.begin(), x.end()
/// (e.g. an xtensor expression).
template <class A>
void save(const std::filesystem::path& file, const A& x) {
  std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
  std::vector<double> v(x.begin(), x.end());
  write_raw(file, "<f8", shape, v.data(), v.size() * sizeof(double));
}

}  // namespace secformer::io::npy
