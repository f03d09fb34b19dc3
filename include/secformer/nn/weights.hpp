// secformer/nn/weights.hpp: weight bundles, .npy files, and the generic routines over bundles.
//
// A weight bundle is a plain struct template over a REPRESENTATION R, described with
// BOOST_HANA_DEFINE_STRUCT, whose members are tensors of two roles (R::matrix: multiplied from the
// right, masked once when shared; R::vector: biases, LayerNorm gamma and beta), nested bundles, or
// std::vectors of bundles:
//
//   template <class R = PlainRepr> struct LinearParams {
//     BOOST_HANA_DEFINE_STRUCT(LinearParams, (typename R::matrix, w), (typename R::vector, b));
//   };
//
// Representations:  PlainRepr          xt::xarray<double> (values; what the owner loads)
//                   ShapeRepr          TensorShape (dimensions and a random-init hint only)
//                   SharedRepr<T,R,P>  matrix = MaskedWeight (protocols/matmul.hpp), vector = Shared
// rebind_t<Bundle<R0>, R> is the same bundle in another representation.
//
// Every tensor has a PATH: the member names joined by '.', an element of a std::vector member
// named `layer` is `layer0`, `layer1`, ... (e.g. "layer0.attn.wqkv"). Routines (all generic):
//   for_each_tensor(b, f)             f(path, tensor) for every tensor, in declaration order
//   load_bundle(shapes, folder)       PlainRepr bundle from folder/<path>.npy, one file per tensor,
//                                     shapes checked against the ShapeRepr bundle; throws
//                                     usage_error naming the tensor and file for a missing file, a
//                                     wrong shape, a wrong dtype (float64 and float32 accepted,
//                                     little-endian, C or Fortran order), a truncated, oversized or
//                                     corrupt file (bad magic, version, header dict, shape overflow,
//                                     trailing bytes) or a NaN/infinity. npy::parse(bytes) is the
//                                     pure parser under npy::read (fuzzed: tests/fuzz/fuzz_npy.cpp)
//   save_bundle(b, folder)            the inverse (float64, C order)
//   random_bundle(shapes, seed)       random test weights (splitmix64; TEST DATA ONLY, never masks)
//   share_bundle(b, ctx[, options])   secret-shares a bundle: party 0 (the model owner) inputs the
//                                     values (PlainRepr), party 1 passes the shapes (ShapeRepr or
//                                     any PlainRepr of the right shapes); 0 rounds for the inputs,
//                                     then every matrix is masked once (MaskedWeight: F = W - B
//                                     opened) in ONE round per max_words_per_round words (default
//                                     2^25 words: BERT-base needs 4 rounds, BERT-large 10), k n
//                                     words each way per matrix; dealer: nothing sent (WeightMask
//                                     randoms come from the key), B kept for later products.
//   shapes_of(b), parameter_count(b)
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../protocols/matmul.hpp"
#include "../protocols/mul.hpp"
#include "combinators.hpp"
#include "plain.hpp"

namespace secformer::nn {

// ================================================================================================
// Representations

/// How random_bundle fills a tensor (test data): weight U(+-sqrt(3 / rows)) (variance 1/fan_in),
/// table U(+-1), bias U(+-0.05), ones U(0.8, 1.2) (LayerNorm gamma), zeros U(+-0.1) (beta).
enum class Init { weight, table, bias, ones, zeros };

/// A tensor's dimensions (and a random-init hint): the ShapeRepr leaf.
struct TensorShape {
  std::vector<std::size_t> dims;
  Init init = Init::weight;
  std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

struct PlainRepr {
  using matrix = Tensor;
  using vector = Tensor;
};
struct ShapeRepr {
  using matrix = TensorShape;
  using vector = TensorShape;
};
template <class T, class Ring, class P>
struct SharedRepr {
  using matrix = MaskedWeight<T, Ring, P>;
  using vector = Shared<T, Ring, P>;
};
/// The shared representation of a context (its encoding, ring and party).
template <class Ctx>
using shared_repr_t = SharedRepr<typename Ctx::encoding, typename Ctx::ring, typename Ctx::party_type>;

/// The same bundle in another representation.
template <class B, class R> struct rebind;
template <template <class> class B, class R0, class R>
struct rebind<B<R0>, R> { using type = B<R>; };
template <class B, class A, class R>
struct rebind<std::vector<B, A>, R> { using type = std::vector<typename rebind<B, R>::type>; };
template <class B, class R> using rebind_t = typename rebind<B, R>::type;

namespace detail {
template <class T> struct is_leaf : std::false_type {};
template <> struct is_leaf<Tensor> : std::true_type {};
template <> struct is_leaf<TensorShape> : std::true_type {};
template <class T, class Ring, class P, class C> struct is_leaf<Shared<T, Ring, P, C>> : std::true_type {};
template <class T, class Ring, class P, class C> struct is_leaf<MaskedWeight<T, Ring, P, C>> : std::true_type {};
template <class T> inline constexpr bool is_leaf_v = is_leaf<std::remove_cvref_t<T>>::value;

template <class T> struct is_masked : std::false_type {};
template <class T, class Ring, class P, class C> struct is_masked<MaskedWeight<T, Ring, P, C>> : std::true_type {};

template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T> inline constexpr bool is_vector_v = is_vector<std::remove_cvref_t<T>>::value;

inline std::string join_path(const std::string& prefix, const char* name) { return prefix.empty() ? std::string(name) : prefix + "." + name; }

template <class B, class F>
void walk(B& b, const std::string& path, F& f) {
  using D = std::remove_cvref_t<B>;
  if constexpr (is_leaf_v<D>) {
    f(path, b);
  } else if constexpr (is_vector_v<D>) {
    for (std::size_t i = 0; i < b.size(); ++i) walk(b[i], path + std::to_string(i), f);
  } else {
    static_assert(boost::hana::Struct<D>::value,
                  "secformer: a weight bundle member must be a tensor, a std::vector of bundles or a bundle described with BOOST_HANA_DEFINE_STRUCT");
    boost::hana::for_each(boost::hana::accessors<D>(), [&](auto acc) {
      walk(boost::hana::second(acc)(b), join_path(path, boost::hana::to<char const*>(boost::hana::first(acc))), f);
    });
  }
}

/// Walks two bundles of the same template in different representations; resizes b's vectors.
template <class A, class B, class F>
void zip_walk(const A& a, B& b, const std::string& path, F& f) {
  using DA = std::remove_cvref_t<A>;
  using DB = std::remove_cvref_t<B>;
  if constexpr (is_leaf_v<DA>) {
    static_assert(is_leaf_v<DB>, "secformer: bundles of different structure");
    f(path, a, b);
  } else if constexpr (is_vector_v<DA>) {
    static_assert(is_vector_v<DB>, "secformer: bundles of different structure");
    b.resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) zip_walk(a[i], b[i], path + std::to_string(i), f);
  } else {
    static_assert(boost::hana::Struct<DA>::value && boost::hana::Struct<DB>::value,
                  "secformer: a weight bundle must be described with BOOST_HANA_DEFINE_STRUCT");
    constexpr auto n = boost::hana::length(boost::hana::accessors<DA>());
    static_assert(decltype(n)::value == decltype(boost::hana::length(boost::hana::accessors<DB>()))::value,
                  "secformer: bundles of different structure");
    boost::hana::for_each(boost::hana::make_range(boost::hana::size_c<0>, n), [&](auto i) {
      auto acc_a = boost::hana::at(boost::hana::accessors<DA>(), i);
      auto acc_b = boost::hana::at(boost::hana::accessors<DB>(), i);
      zip_walk(boost::hana::second(acc_a)(a), boost::hana::second(acc_b)(b),
               join_path(path, boost::hana::to<char const*>(boost::hana::first(acc_a))), f);
    });
  }
}

template <class Leaf>
std::vector<std::size_t> leaf_dims(const Leaf& l) {
  if constexpr (std::is_same_v<std::remove_cvref_t<Leaf>, TensorShape>) return l.dims;
  else if constexpr (is_masked<std::remove_cvref_t<Leaf>>::value) return {l.k, l.n};
  else return std::vector<std::size_t>(l.shape().begin(), l.shape().end());
}

inline std::string dims_str(const std::vector<std::size_t>& d) {
  std::string s = "(";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (d.size() == 1 ? ",)" : ")");
}
}  // namespace detail

/// f(path, tensor) for every tensor of a bundle (const or not), in declaration order.
template <class Bundle, class F>
void for_each_tensor(Bundle& b, F&& f) {
  detail::walk(b, std::string(), f);
}

/// The number of scalars in a bundle.
template <class Bundle>
std::size_t parameter_count(const Bundle& b) {
  std::size_t n = 0;
  for_each_tensor(b, [&](const std::string&, const auto& t) {
    std::size_t s = 1;
    for (auto x : detail::leaf_dims(t)) s *= x;
    n += s;
  });
  return n;
}

/// The shapes of a bundle (init hints: weight).
template <class Bundle>
rebind_t<Bundle, ShapeRepr> shapes_of(const Bundle& b) {
  rebind_t<Bundle, ShapeRepr> out;
  auto f = [](const std::string&, const auto& t, TensorShape& s) { s.dims = detail::leaf_dims(t); };
  detail::zip_walk(b, out, std::string(), f);
  return out;
}

// ================================================================================================
// .npy files

namespace npy {

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
  if (overflow) fail("corrupt header: shape " + nn::detail::dims_str(a.shape) + " has more elements than fit in memory");
  if (have < need)
    fail("truncated file: shape " + nn::detail::dims_str(a.shape) + " needs " + std::to_string(need) + " data bytes, the file has " + std::to_string(have));
  if (have > need) fail("corrupt file: " + std::to_string(have - need) + " bytes after the data of shape " + nn::detail::dims_str(a.shape));
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
    // Fortran order: the data are the C-order array of the reversed shape, transposed.
    std::vector<std::size_t> rev(a.shape.rbegin(), a.shape.rend());
    Tensor t(rev);
    std::copy(raw.begin(), raw.end(), t.begin());
    Tensor c = xt::transpose(t);
    a.data.assign(c.begin(), c.end());
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

/// Reads a .npy file as a tensor.
inline Tensor load(const std::filesystem::path& file, const std::string& what = "") {
  Array a = read(file, what);
  Tensor t(a.shape);
  std::copy(a.data.begin(), a.data.end(), t.begin());
  return t;
}

/// Writes raw data with a given descriptor and order (e.g. other dtypes, in tests).
inline void write_raw(const std::filesystem::path& file, const std::string& descr, const std::vector<std::size_t>& shape,
                      const void* data, std::size_t bytes, bool fortran_order = false) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                  ", 'shape': " + nn::detail::dims_str(shape) + ", }";
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

/// Writes a tensor as float64, C order.
inline void save(const std::filesystem::path& file, const Tensor& x) {
  std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
  std::vector<double> v(x.begin(), x.end());
  write_raw(file, "<f8", shape, v.data(), v.size() * sizeof(double));
}

}  // namespace npy

// ================================================================================================
// Loading, saving, random weights

struct LoadOptions {
  /// Tensors whose path satisfies skip are not read (left empty).
  std::function<bool(const std::string&)> skip;
};

/// Loads folder/<path>.npy for every tensor of the ShapeRepr bundle; checks the shapes.
template <class ShapeBundle>
rebind_t<ShapeBundle, PlainRepr> load_bundle(const ShapeBundle& shapes, const std::filesystem::path& folder, const LoadOptions& opt = {}) {
  rebind_t<ShapeBundle, PlainRepr> out;
  auto f = [&](const std::string& path, const auto& shape_leaf, Tensor& dst) {
    if (opt.skip && opt.skip(path)) return;
    const auto file = folder / (path + ".npy");
    npy::Array a = npy::read(file, path);
    const auto want = detail::leaf_dims(shape_leaf);
    if (a.shape != want)
      throw usage_error("secformer: weight '" + path + "': " + file.string() + ": wrong shape " + detail::dims_str(a.shape) + ", expected " +
                        detail::dims_str(want));
    dst = Tensor(a.shape);
    std::copy(a.data.begin(), a.data.end(), dst.begin());
  };
  detail::zip_walk(shapes, out, std::string(), f);
  return out;
}

/// Writes every tensor of a PlainRepr bundle to folder/<path>.npy (creates the folder).
template <class Bundle>
void save_bundle(const Bundle& b, const std::filesystem::path& folder) {
  std::filesystem::create_directories(folder);
  for_each_tensor(b, [&](const std::string& path, const Tensor& t) { npy::save(folder / (path + ".npy"), t); });
}

namespace detail {
/// splitmix64 (test data only: never masks or shares).
struct SplitMix {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
};
inline std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}
}  // namespace detail

/// Random test weights of the bundle's shapes (each tensor seeded by the seed and its path).
template <class ShapeBundle>
rebind_t<ShapeBundle, PlainRepr> random_bundle(const ShapeBundle& shapes, std::uint64_t seed) {
  rebind_t<ShapeBundle, PlainRepr> out;
  auto f = [&](const std::string& path, const TensorShape& s, Tensor& dst) {
    detail::SplitMix g{seed * 0x9E3779B97F4A7C15ull ^ detail::fnv1a(path)};
    double lo = -1, hi = 1;
    switch (s.init) {
      case Init::weight: hi = std::sqrt(3.0 / static_cast<double>(s.dims.empty() ? 1 : std::max<std::size_t>(s.dims[0], 1))); lo = -hi; break;
      case Init::table: break;
      case Init::bias: lo = -0.05, hi = 0.05; break;
      case Init::ones: lo = 0.8, hi = 1.2; break;
      case Init::zeros: lo = -0.1, hi = 0.1; break;
    }
    dst = Tensor(s.dims);
    for (auto& v : dst) v = g.uniform(lo, hi);
  };
  detail::zip_walk(shapes, out, std::string(), f);
  return out;
}

// ================================================================================================
// Secret sharing

struct ShareOptions {
  /// Tensors whose path satisfies skip are not shared (left empty), e.g. the embedding tables
  /// when the client computes its embeddings itself (skip_embedding_tables in nn/layers.hpp).
  std::function<bool(const std::string&)> skip;
  /// Matrices are masked in one round per this many words (bounds the memory of the openings).
  std::size_t max_words_per_round = std::size_t(1) << 25;
};

namespace detail {
/// Masks weight matrices in batches: one opening per batch.
template <class Ctx>
class Masker {
 public:
  using T = typename Ctx::encoding;
  using Ring = typename Ctx::ring;
  using P = typename Ctx::party_type;
  using W = typename Ring::word_type;
  using S = Shared<T, Ring, P>;
  using C = typename S::container_type;
  using MW = MaskedWeight<T, Ring, P>;

  Masker(Ctx& ctx, std::size_t budget) : ctx_(&ctx), budget_(budget) {}

  /// Masks w (consumed: W - B is computed in its buffer).
  void add(S w, MW& out) {
    out.handle = ctx_->new_handle();
    out.k = w.shape()[0];
    out.n = w.shape()[1];
    auto m = ctx_->template material<material::WeightMask, W>(material::Params{}.value(out.handle).value(out.k).value(out.n));
    m[0].reshape(std::vector<std::size_t>{out.k, out.n});
    const std::size_t n = w.size();
    w.share() -= m[0];
    masked_.push_back(std::move(w));
    b_.push_back(std::move(m[0]));
    dst_.push_back(&out);
    words_ += n;
    if (words_ >= budget_) flush();
  }
  void flush() {
    if (dst_.empty()) return;
    [[maybe_unused]] auto g = ctx_->scope("weight mask");
    auto f = secformer::detail::open_through(*ctx_, masked_);
    for (std::size_t i = 0; i < dst_.size(); ++i) {
      dst_[i]->f = std::move(f[i]);
      if constexpr (P::id == 0) b_[i] += dst_[i]->f;  // F + B_0
      dst_[i]->fb = std::move(b_[i]);
    }
    masked_.clear();
    b_.clear();
    dst_.clear();
    words_ = 0;
  }

 private:
  Ctx* ctx_;
  std::size_t budget_, words_ = 0;
  std::vector<S> masked_;
  std::vector<C> b_;
  std::vector<MW*> dst_;
};
}  // namespace detail

/// Secret-shares a bundle: party 0 (the model owner) passes the values, party 1 the shapes (a
/// ShapeRepr bundle or a PlainRepr bundle of the right shapes); the Solo simulation passes values.
/// Matrices come out masked (MaskedWeight), vectors as shares. See the header comment for costs.
template <class Bundle, class Ctx>
rebind_t<Bundle, shared_repr_t<Ctx>> share_bundle(const Bundle& in, Ctx& ctx, const ShareOptions& opt = {}) {
  using Out = rebind_t<Bundle, shared_repr_t<Ctx>>;
  using P = typename Ctx::party_type;
  Out out;
  detail::Masker<Ctx> masker(ctx, opt.max_words_per_round);
  auto f = [&](const std::string& path, const auto& leaf, auto& dst) {
    if (opt.skip && opt.skip(path)) return;
    using Leaf = std::remove_cvref_t<decltype(leaf)>;
    using Dst = std::remove_cvref_t<decltype(dst)>;
    typename detail::Masker<Ctx>::S s;
    if constexpr (std::is_same_v<Leaf, TensorShape>) {
      if constexpr (P::id == 0)
        throw usage_error("secformer: share_bundle: party 0 (the model owner) must pass the values of '" + path + "', not only its shape");
      else s = ctx.input_shape(party<0>, leaf.dims);
    } else {
      s = ctx.input(party<0>, leaf);
    }
    if constexpr (detail::is_masked<Dst>::value) {
      SECFORMER_ASSERT(s.dimension() == 2, "share_bundle: the matrix '" + path + "' is not 2-D");
      masker.add(std::move(s), dst);
    } else {
      dst = std::move(s);
    }
  };
  detail::zip_walk(in, out, std::string(), f);
  masker.flush();
  return out;
}

}  // namespace secformer::nn
