// secformer/io/json.hpp: a minimal, strict JSON reader (RFC 8259) for the model and data files
// (TF.js model.json, a SentencePiece vocabulary, the IMDB reviews). No dependency.
//
//   json::Value v = json::parse(text, "model.json");   // throws usage_error naming the source,
//                                                       // line and column of the first problem
//   v.is_object(), v.at("key") (throws if missing), v.find("key") (nullptr if missing),
//   v.as_array(), v.as_string(), v.as_number(), v.as_int() (throws if not integral), v.is_null()
//
// Strict: one value and only whitespace around it; no comments, trailing commas, single quotes,
// NaN/Infinity, leading zeros or raw control characters in strings; \u escapes (with surrogate
// pairs) become UTF-8, lone surrogates are errors. Objects keep their members in file order
// (duplicate keys: find/at return the first). Nesting is limited to 256 levels (no stack overflow
// on hostile input). Numbers are doubles (strtod on the validated token).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../config.hpp"

namespace secformer::io::json {

struct Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;

struct Value {
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v;

  // The special members are defined after the class: inline (and constexpr) ones make clang
  // instantiate std::pair<std::string, Value> while it needs Value's destructor (a cycle).
  Value() noexcept;
  template <class T>
    requires std::is_constructible_v<decltype(v), T&&> && (!std::is_same_v<std::remove_cvref_t<T>, Value>)
  Value(T&& x) : v(std::forward<T>(x)) {}
  Value(const Value&);
  Value(Value&&) noexcept;
  Value& operator=(const Value&);
  Value& operator=(Value&&) noexcept;
  ~Value();

  bool is_null() const noexcept { return std::holds_alternative<std::nullptr_t>(v); }
  bool is_bool() const noexcept { return std::holds_alternative<bool>(v); }
  bool is_number() const noexcept { return std::holds_alternative<double>(v); }
  bool is_string() const noexcept { return std::holds_alternative<std::string>(v); }
  bool is_array() const noexcept { return std::holds_alternative<Array>(v); }
  bool is_object() const noexcept { return std::holds_alternative<Object>(v); }

  const char* kind() const noexcept {
    static constexpr const char* names[] = {"null", "boolean", "number", "string", "array", "object"};
    return names[v.index()];
  }
  bool as_bool() const { return get<bool>("a boolean"); }
  double as_number() const { return get<double>("a number"); }
  const std::string& as_string() const { return get<std::string>("a string"); }
  const Array& as_array() const { return get<Array>("an array"); }
  const Object& as_object() const { return get<Object>("an object"); }
  /// An integral number in [-2^53, 2^53].
  std::int64_t as_int() const {
    const double d = as_number();
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<std::int64_t>(d)))
      throw usage_error("secformer: json: expected an integer, found " + std::to_string(d));
    return static_cast<std::int64_t>(d);
  }
  /// The member `key` of an object, or nullptr.
  const Value* find(std::string_view key) const {
    for (const auto& [k, val] : as_object())
      if (k == key) return &val;
    return nullptr;
  }
  const Value& at(std::string_view key) const {
    const Value* p = find(key);
    if (!p) throw usage_error("secformer: json: missing member \"" + std::string(key) + "\"");
    return *p;
  }
  const Value& at(std::size_t i) const {
    const auto& a = as_array();
    if (i >= a.size()) throw usage_error("secformer: json: index " + std::to_string(i) + " past an array of " + std::to_string(a.size()));
    return a[i];
  }

 private:
  template <class T>
  const T& get(const char* what) const {
    if (const T* p = std::get_if<T>(&v)) return *p;
    throw usage_error(std::string("secformer: json: expected ") + what + ", found " + kind());
  }
};

inline Value::Value() noexcept = default;
inline Value::Value(const Value&) = default;
inline Value::Value(Value&&) noexcept = default;
inline Value& Value::operator=(const Value&) = default;
inline Value& Value::operator=(Value&&) noexcept = default;
inline Value::~Value() = default;

namespace detail {

class Parser {
 public:
  Parser(std::string_view text, std::string source) : s_(text), src_(std::move(source)) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (i_ != s_.size()) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  static constexpr int max_depth = 256;

  [[noreturn]] void fail(const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t k = 0; k < i_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') ++line, col = 1;
      else ++col;
    }
    throw usage_error("secformer: json: " + src_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + what);
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) fail("invalid literal");
    i_ += w.size();
  }

  Value value(int depth) {
    if (depth > max_depth) fail("nesting deeper than 256 levels");
    if (i_ >= s_.size()) fail("unexpected end of input");
    switch (s_[i_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return Value{string()};
      case 't': expect_word("true"); return Value{true};
      case 'f': expect_word("false"); return Value{false};
      case 'n': expect_word("null"); return Value{nullptr};
      default: return Value{number()};
    }
  }

  Value object(int depth) {
    ++i_;  // '{'
    Object o;
    skip_ws();
    if (peek() == '}') { ++i_; return Value{std::move(o)}; }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      std::string k = string();
      skip_ws();
      if (peek() != ':') fail("expected ':'");
      ++i_;
      skip_ws();
      Value v = value(depth + 1);
      o.emplace_back(std::move(k), std::move(v));
      skip_ws();
      if (peek() == ',') { ++i_; continue; }
      if (peek() == '}') { ++i_; return Value{std::move(o)}; }
      fail("expected ',' or '}'");
    }
  }

  Value array(int depth) {
    ++i_;  // '['
    Array a;
    skip_ws();
    if (peek() == ']') { ++i_; return Value{std::move(a)}; }
    for (;;) {
      skip_ws();
      a.push_back(value(depth + 1));
      skip_ws();
      if (peek() == ',') { ++i_; continue; }
      if (peek() == ']') { ++i_; return Value{std::move(a)}; }
      fail("expected ',' or ']'");
    }
  }

  double number() {
    const std::size_t b = i_;
    auto digits = [&] {
      const std::size_t d0 = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ - d0;
    };
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
      if (peek() >= '0' && peek() <= '9') fail("leading zero in a number");
    } else if (digits() == 0) {
      fail("invalid value");
    }
    if (peek() == '.') { ++i_; if (digits() == 0) fail("digits expected after '.'"); }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (digits() == 0) fail("digits expected in the exponent");
    }
    const std::string tok(s_.substr(b, i_ - b));
    return std::strtod(tok.c_str(), nullptr);  // overflow gives +-inf: rejected by callers that care
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      u <<= 4;
      if (c >= '0' && c <= '9') u |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') u |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') u |= static_cast<unsigned>(c - 'A' + 10);
      else fail("bad hex digit in a \\u escape");
    }
    return u;
  }
  static void put_utf8(std::string& out, char32_t c) {
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0x800) out += static_cast<char>(0xC0 | (c >> 6)), out += static_cast<char>(0x80 | (c & 0x3F));
    else if (c < 0x10000)
      out += static_cast<char>(0xE0 | (c >> 12)), out += static_cast<char>(0x80 | ((c >> 6) & 0x3F)), out += static_cast<char>(0x80 | (c & 0x3F));
    else
      out += static_cast<char>(0xF0 | (c >> 18)), out += static_cast<char>(0x80 | ((c >> 12) & 0x3F)),
          out += static_cast<char>(0x80 | ((c >> 6) & 0x3F)), out += static_cast<char>(0x80 | (c & 0x3F));
  }

  std::string string() {
    ++i_;  // '"'
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_];
      if (c == '"') { ++i_; return out; }
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in a string");
      if (c != '\\') {
        // Copy a run of plain bytes at once.
        std::size_t j = i_;
        while (j < s_.size() && s_[j] != '"' && s_[j] != '\\' && static_cast<unsigned char>(s_[j]) >= 0x20) ++j;
        out.append(s_.substr(i_, j - i_));
        i_ = j;
        continue;
      }
      ++i_;
      if (i_ >= s_.size()) fail("unterminated escape");
      switch (s_[i_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          char32_t u = hex4();
          if (u >= 0xD800 && u < 0xDC00) {
            if (s_.substr(i_, 2) != "\\u") fail("high surrogate without its low half");
            i_ += 2;
            const char32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("high surrogate followed by a non-low surrogate");
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          } else if (u >= 0xDC00 && u < 0xE000) {
            fail("lone low surrogate");
          }
          put_utf8(out, u);
          break;
        }
        default: --i_; fail("invalid escape");
      }
    }
  }

  std::string_view s_;
  std::string src_;
  std::size_t i_ = 0;
};

}  // namespace detail

/// Parses one JSON document (source names the input in error messages).
inline Value parse(std::string_view text, const std::string& source = "<memory>") { return detail::Parser(text, source).document(); }

/// The whole file as bytes; usage_error if it cannot be read.
inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw usage_error("secformer: cannot open " + file.string() + " (missing? run cmake/fetch_data.sh)");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw usage_error("secformer: error reading " + file.string());
  return s;
}

inline Value parse_file(const std::filesystem::path& file) { return parse(read_file(file), file.string()); }

}  // namespace secformer::io::json
