// secformer/io/json_checks.hpp: checks on top of the strict JSON reader (json.hpp) for the model
// files of other tools (safetensors headers, Hugging Face config.json and shard indices):
//
//   refuse_duplicate_keys(value, source)   every object, at any depth, has distinct member names
//                                          (json.hpp keeps duplicates and finds the first)
//   check_utf8(bytes, source)              the bytes are well-formed UTF-8 (no overlong forms,
//                                          no surrogates, nothing above U+10FFFF)
//   Fields f(object, "config.json");       typed members that name the field and the file:
//     f.integer("hidden_size"), f.optional_integer(...), f.number(...), f.string(...),
//     f.optional_string(...), f.object(...), f.array(...), f.get(...) (nullptr if absent)
//
// Every failure throws secformer::usage_error with the source and the member name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "../config.hpp"
#include "json.hpp"

namespace secformer::io::json {

namespace detail {
inline void refuse_duplicates_at(const Value& v, const std::string& source, const std::string& path, int depth) {
  if (depth > 300) throw usage_error("secformer: " + source + ": nesting too deep");
  if (v.is_array()) {
    const Array& a = v.as_array();
    for (std::size_t i = 0; i < a.size(); ++i) refuse_duplicates_at(a[i], source, path + "[" + std::to_string(i) + "]", depth + 1);
  } else if (v.is_object()) {
    std::set<std::string_view> seen;
    for (const auto& [k, m] : v.as_object()) {
      if (!seen.insert(k).second)
        throw usage_error("secformer: " + source + ": duplicate key \"" + k + "\"" + (path.empty() ? "" : " in " + path));
      refuse_duplicates_at(m, source, path.empty() ? k : path + "." + k, depth + 1);
    }
  }
}
}  // namespace detail

/// Throws usage_error naming the source and the key if any object repeats a member name.
inline void refuse_duplicate_keys(const Value& v, const std::string& source) { detail::refuse_duplicates_at(v, source, "", 0); }

/// Throws usage_error naming the source and the byte offset unless `s` is well-formed UTF-8.
inline void check_utf8(std::string_view s, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  auto bad = [&](std::size_t at) { throw usage_error("secformer: " + source + ": invalid UTF-8 at byte " + std::to_string(at)); };
  for (std::size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F;  // no UTF-16 surrogates
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;  // nothing above U+10FFFF
    else bad(i);
    if (i + len > n) bad(i);
    if (p[i + 1] < lo || p[i + 1] > hi) bad(i);
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) bad(i);
    i += len;
  }
}

/// Typed access to the members of one JSON object; errors name the member and the source.
class Fields {
 public:
  Fields(const Value& object, std::string source, std::string prefix = "") : src_(std::move(source)), prefix_(std::move(prefix)) {
    if (!object.is_object()) throw usage_error("secformer: " + src_ + ": " + (prefix_.empty() ? "the document" : prefix_) + " must be a JSON object, found " + object.kind());
    obj_ = &object;
  }

  const Value* get(std::string_view key) const { return obj_->find(key); }
  const Value& require(std::string_view key) const {
    const Value* v = get(key);
    if (!v) fail(key, "is missing");
    return *v;
  }
  std::int64_t integer(std::string_view key) const { return integer_of(key, require(key)); }
  std::optional<std::int64_t> optional_integer(std::string_view key) const {
    const Value* v = get(key);
    if (!v) return std::nullopt;
    return integer_of(key, *v);
  }
  double number(std::string_view key) const { return number_of(key, require(key)); }
  std::optional<double> optional_number(std::string_view key) const {
    const Value* v = get(key);
    if (!v) return std::nullopt;
    return number_of(key, *v);
  }
  const std::string& string(std::string_view key) const { return string_of(key, require(key)); }
  std::optional<std::string> optional_string(std::string_view key) const {
    const Value* v = get(key);
    if (!v) return std::nullopt;
    return string_of(key, *v);
  }
  const Value& object(std::string_view key) const {
    const Value& v = require(key);
    if (!v.is_object()) fail(key, std::string("must be an object, found ") + v.kind());
    return v;
  }
  const Array& array(std::string_view key) const {
    const Value& v = require(key);
    if (!v.is_array()) fail(key, std::string("must be an array, found ") + v.kind());
    return v.as_array();
  }
  bool boolean(std::string_view key) const {
    const Value& v = require(key);
    if (!v.is_bool()) fail(key, std::string("must be true or false, found ") + v.kind());
    return v.as_bool();
  }

  /// "field": the member name with the object's prefix ("secformer.quad_c").
  std::string field(std::string_view key) const { return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key); }
  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    throw usage_error("secformer: " + src_ + ": \"" + field(key) + "\" " + what);
  }
  const std::string& source() const noexcept { return src_; }

 private:
  std::int64_t integer_of(std::string_view key, const Value& v) const {
    if (!v.is_number()) fail(key, std::string("must be an integer, found ") + v.kind());
    const double d = v.as_number();
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<std::int64_t>(d)))
      fail(key, "must be an integer, found " + std::to_string(d));
    return static_cast<std::int64_t>(d);
  }
  double number_of(std::string_view key, const Value& v) const {
    if (!v.is_number()) fail(key, std::string("must be a number, found ") + v.kind());
    const double d = v.as_number();
    if (!(d - d == 0.0)) fail(key, "must be a finite number");
    return d;
  }
  const std::string& string_of(std::string_view key, const Value& v) const {
    if (!v.is_string()) fail(key, std::string("must be a string, found ") + v.kind());
    return v.as_string();
  }

  const Value* obj_ = nullptr;
  std::string src_;
  std::string prefix_;
};

}  // namespace secformer::io::json
