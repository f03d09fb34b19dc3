// secformer/text/wordpiece.hpp: BERT's WordPiece tokenizer, as the Hugging Face tokenizers library
// runs it (BertNormalizer, BertPreTokenizer, WordPiece model, the [CLS] A [SEP] B [SEP] template and
// longest-first truncation), over a vocabulary of bert-base-uncased's kind.
//
//   auto tok = text::WordPiece::from_pretrained(dir);  // tokenizer.json, else vocab.txt (+ tokenizer_config.json)
//   text::Encoding e = tok.encode_pair("How good is it?", "It is great.", 128);
//   if (e.dropped) std::cerr << "note: " << e.dropped << " tokens dropped to fit 128\n";
//   // e.ids, e.type_ids (0 for [CLS] A [SEP], 1 for B [SEP]), e.attention_mask (1; 0 after pad())
//
// The pipeline (each step as tokenizers 0.19 does it):
//   0. Special tokens ([CLS], [SEP], [UNK], [PAD], [MASK], or tokenizer.json's added_tokens) written
//      literally in the raw text are matched first (leftmost, longest) and map to their ids; the text
//      between them goes through steps 1-4 on its own.
//   1. Normalizer: the UTF-8 is decoded (invalid UTF-8 is a usage_error naming the byte offset).
//      clean_text: U+0000, U+FFFD and every Cc, Cf, Co character except \t \n \r are removed
//      (unassigned code points stay); \t \n \r and White_Space characters become ' '.
//      handle_chinese_chars: a CJK ideograph (U+3400-4DBF, 4E00-9FFF, F900-FAFF, 20000-2A6DF,
//      2A700-2B81F, 2B920-2CEAF, 2F800-2FA1F) gets a space on each side.
//      strip_accents (unset: follows lowercase): NFD, then every Mn (non-spacing mark) is removed.
//      lowercase: each code point's lower case (U+0130 becomes i + U+0307, the one multi-character
//      lower case).
//   2. Pre-tokenizer: split at White_Space (removed) and around each punctuation character (kept
//      as a word of its own): ASCII 33-47, 58-64, 91-96, 123-126 and the Unicode categories P*.
//   3. WordPiece: a word of more than max_input_chars_per_word (100) code points is [UNK]; otherwise
//      greedy longest match first, pieces after the first looked up with the "##" prefix; a word
//      with a remainder no piece matches is one [UNK] as a whole.
//   4. Template and truncation: [CLS] A [SEP] (type 0) and B [SEP] (type 1). With max_length, the
//      pieces of A and B are cut to max_length - 2 (single) or - 3 (pair) first, longest first as
//      tokenizers computes it: with n1 <= n2 the lengths and m the budget, the longer keeps
//      max(n1, m - n1); if both still do not fit, the shorter keeps m / 2 and the longer m / 2 + m % 2
//      (equal lengths: B is the longer). Tokens are cut from the end. Encoding::dropped counts the
//      removed tokens, so the caller can say that text was dropped. max_length below the number of
//      special tokens is a usage_error (tokenizers then silently skips truncation).
//
// Unicode data (normalization, general categories, lower case) come from utf8proc (link
// secformer::text; Debian: libutf8proc-dev). Known difference: tokenizers classifies characters
// (P*, Mn, Cc/Cf/Co) with the tables of an older Unicode version than utf8proc's; code points
// assigned or re-categorised since then (rare scripts, a few new punctuation and format characters)
// can tokenize differently. tests/support/wordpiece_oracle.py --code-points lists them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "../config.hpp"
#include "../io/json.hpp"

namespace secformer::text {

/// The options of BertNormalizer, the WordPiece model and the special tokens.
struct WordPieceConfig {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool lowercase = true;
  std::optional<bool> strip_accents;  ///< unset: strip when lowercase (Hugging Face's rule)
  std::size_t max_input_chars_per_word = 100;
  std::string continuing_subword_prefix = "##";
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  /// Tokens matched literally in the raw text before normalization. Empty: unk, cls, sep, pad and
  /// "[MASK]", each one the vocabulary holds (what BertTokenizerFast registers).
  std::vector<std::string> special_tokens;
};

/// One encoded input: ids, token type ids and attention mask have the same length.
struct Encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;
  std::vector<std::int32_t> attention_mask;
  std::size_t dropped = 0;  ///< tokens removed by truncation (0: nothing was dropped)
};

namespace detail::wordpiece {

/// Decodes UTF-8; a usage_error names the byte offset of the first invalid sequence.
inline std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0 || cp < 0)
      throw usage_error("secformer: wordpiece: invalid UTF-8 at byte " + std::to_string(i) + " of the text (" +
                        std::string(utf8proc_errmsg(n < 0 ? n : UTF8PROC_ERROR_INVALIDUTF8)) + ")");
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(n);
  }
  return out;
}

inline void append_utf8(std::string& out, char32_t cp) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

inline std::string encode_utf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) append_utf8(out, c);
  return out;
}

inline utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

/// Unicode's White_Space property: the Z* categories and U+0009-000D, U+0085.
inline bool is_white_space(char32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || c == 0x85) return true;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/// clean_text removes these: Cc (but \t \n \r), Cf, Co, Cs, and U+0000, U+FFFD.
inline bool is_removed_control(char32_t c) {
  if (c == 0 || c == 0xFFFD) return true;
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
         k == UTF8PROC_CATEGORY_CS;
}

/// BERT's CJK ideograph blocks (the ranges tokenizers' BertNormalizer spaces out).
inline bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x2F800 && c <= 0x2FA1F);
}

/// BERT's punctuation: the ASCII ranges 33-47, 58-64, 91-96, 123-126 and the categories P*.
inline bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  const auto k = category(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/// Canonical decomposition (NFD) of a code point sequence, by utf8proc.
inline std::u32string nfd(std::u32string_view cps) {
  const std::string utf8 = encode_utf8(cps);
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  const auto len = static_cast<utf8proc_ssize_t>(utf8.size());
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE);
  std::vector<utf8proc_int32_t> buf(cps.size() + 8);
  for (;;) {
    const utf8proc_ssize_t n = utf8proc_decompose(p, len, buf.data(), static_cast<utf8proc_ssize_t>(buf.size()), options);
    if (n < 0) throw usage_error(std::string("secformer: wordpiece: utf8proc_decompose: ") + utf8proc_errmsg(n));
    if (static_cast<std::size_t>(n) <= buf.size()) return std::u32string(buf.begin(), buf.begin() + n);
    buf.resize(static_cast<std::size_t>(n));
  }
}

}  // namespace detail::wordpiece

class WordPiece {
 public:
  /// pieces[i] is the piece with id i (duplicates: the last id wins, as in tokenizers' vocab.txt
  /// reader). The unk, cls and sep tokens must be pieces.
  explicit WordPiece(std::vector<std::string> pieces, WordPieceConfig config = {})
      : pieces_(std::move(pieces)), config_(std::move(config)) {
    SECFORMER_ASSERT(!pieces_.empty(), "wordpiece: the vocabulary is empty");
    SECFORMER_ASSERT(pieces_.size() <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
                     "wordpiece: the vocabulary has more than 2^31 - 1 pieces");
    SECFORMER_ASSERT(config_.max_input_chars_per_word > 0, "wordpiece: max_input_chars_per_word must be positive");
    vocab_.reserve(pieces_.size());
    for (std::size_t i = 0; i < pieces_.size(); ++i) vocab_[pieces_[i]] = static_cast<std::int32_t>(i);
    unk_id_ = required_id(config_.unk_token, "unk_token");
    cls_id_ = required_id(config_.cls_token, "cls_token");
    sep_id_ = required_id(config_.sep_token, "sep_token");
    if (config_.special_tokens.empty()) {
      for (const std::string* s : {&config_.pad_token, &config_.unk_token, &config_.cls_token, &config_.sep_token})
        if (vocab_.count(*s)) config_.special_tokens.push_back(*s);
      if (vocab_.count("[MASK]")) config_.special_tokens.push_back("[MASK]");
    }
    for (const auto& s : config_.special_tokens) {
      SECFORMER_ASSERT(!s.empty(), "wordpiece: a special token is empty");
      required_id(s, "special token");
      detail::wordpiece::decode_utf8(s);
    }
  }

  /// vocab.txt: one piece a line, id = line index (trailing whitespace of a line is not part of
  /// the piece). config: the normalizer options (see read_tokenizer_config).
  static WordPiece from_vocab_txt(const std::filesystem::path& file, WordPieceConfig config = {}) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw usage_error("secformer: wordpiece: cannot open " + file.string());
    std::vector<std::string> pieces;
    std::string line;
    while (std::getline(in, line)) {
      std::size_t end = line.size();
      while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r' ||
                         line[end - 1] == '\v' || line[end - 1] == '\f'))
        --end;
      line.resize(end);
      pieces.push_back(line);
    }
    if (in.bad()) throw usage_error("secformer: wordpiece: error reading " + file.string());
    if (pieces.empty()) throw usage_error("secformer: wordpiece: " + file.string() + " holds no piece");
    return WordPiece(std::move(pieces), std::move(config));
  }

  /// The options of a Hugging Face tokenizer_config.json: do_lower_case, strip_accents (null:
  /// follows do_lower_case), tokenize_chinese_chars and the unk/cls/sep/pad token strings.
  static WordPieceConfig read_tokenizer_config(const std::filesystem::path& file, WordPieceConfig config = {}) {
    const io::json::Value v = io::json::parse_file(file);
    if (const auto* p = v.find("do_lower_case")) config.lowercase = p->as_bool();
    if (const auto* p = v.find("strip_accents")) {
      if (p->is_null()) config.strip_accents.reset();
      else config.strip_accents = p->as_bool();
    }
    if (const auto* p = v.find("tokenize_chinese_chars")) config.handle_chinese_chars = p->as_bool();
    const auto token = [&](const char* key, std::string& dst) {
      if (const auto* p = v.find(key); p && p->is_string()) dst = p->as_string();
    };
    token("unk_token", config.unk_token);
    token("cls_token", config.cls_token);
    token("sep_token", config.sep_token);
    token("pad_token", config.pad_token);
    return config;
  }

  /// A tokenizers tokenizer.json with a BertNormalizer, a BertPreTokenizer, a WordPiece model
  /// (model.vocab: piece -> id) and a Bert or [CLS] $A [SEP] $B:1 [SEP]:1 template post-processor.
  static WordPiece from_tokenizer_json(const std::filesystem::path& file) {
    const io::json::Value v = io::json::parse_file(file);
    const std::string where = "secformer: wordpiece: " + file.string() + ": ";
    WordPieceConfig config;
    const auto type_of = [&](const io::json::Value* p, const char* what) -> std::string {
      if (!p || p->is_null()) throw usage_error(where + what + " is missing");
      return p->at("type").as_string();
    };
    const io::json::Value* norm = v.find("normalizer");
    if (type_of(norm, "normalizer") != "BertNormalizer") throw usage_error(where + "normalizer is not a BertNormalizer");
    config.clean_text = norm->at("clean_text").as_bool();
    config.handle_chinese_chars = norm->at("handle_chinese_chars").as_bool();
    config.lowercase = norm->at("lowercase").as_bool();
    if (const auto& s = norm->at("strip_accents"); !s.is_null()) config.strip_accents = s.as_bool();
    if (type_of(v.find("pre_tokenizer"), "pre_tokenizer") != "BertPreTokenizer")
      throw usage_error(where + "pre_tokenizer is not a BertPreTokenizer");
    const io::json::Value& model = v.at("model");
    if (model.at("type").as_string() != "WordPiece") throw usage_error(where + "model is not WordPiece");
    config.unk_token = model.at("unk_token").as_string();
    config.continuing_subword_prefix = model.at("continuing_subword_prefix").as_string();
    const std::int64_t max_chars = model.at("max_input_chars_per_word").as_int();
    if (max_chars <= 0) throw usage_error(where + "max_input_chars_per_word must be positive");
    config.max_input_chars_per_word = static_cast<std::size_t>(max_chars);

    const io::json::Object& entries = model.at("vocab").as_object();
    std::vector<std::string> pieces(entries.size());
    std::vector<bool> seen(entries.size(), false);
    for (const auto& [piece, id_value] : entries) {
      const std::int64_t id = id_value.as_int();
      if (id < 0 || static_cast<std::size_t>(id) >= entries.size() || seen[static_cast<std::size_t>(id)])
        throw usage_error(where + "model.vocab ids are not 0 .. " + std::to_string(entries.size() - 1) +
                          " each once (piece \"" + piece + "\" has id " + std::to_string(id) + ")");
      seen[static_cast<std::size_t>(id)] = true;
      pieces[static_cast<std::size_t>(id)] = piece;
    }

    read_post_processor(v, where, config);
    if (const auto* added = v.find("added_tokens"); added && !added->is_null()) {
      for (const auto& t : added->as_array()) {
        if (t.at("normalized").as_bool() || t.at("lstrip").as_bool() || t.at("rstrip").as_bool() ||
            t.at("single_word").as_bool())
          throw usage_error(where + "added token \"" + t.at("content").as_string() +
                            "\": only normalized, lstrip, rstrip and single_word all false are supported");
        config.special_tokens.push_back(t.at("content").as_string());
      }
    }
    WordPiece tok(std::move(pieces), config);
    if (const auto* added = v.find("added_tokens"); added && !added->is_null())
      for (const auto& t : added->as_array())
        if (tok.id(t.at("content").as_string()) != t.at("id").as_int())
          throw usage_error(where + "added token \"" + t.at("content").as_string() + "\" has another id than in model.vocab");
    return tok;
  }

  /// A model directory: tokenizer.json if there is one, else vocab.txt with tokenizer_config.json's
  /// options (when that file exists).
  static WordPiece from_pretrained(const std::filesystem::path& dir) {
    if (std::filesystem::exists(dir / "tokenizer.json")) return from_tokenizer_json(dir / "tokenizer.json");
    WordPieceConfig config;
    if (std::filesystem::exists(dir / "tokenizer_config.json")) config = read_tokenizer_config(dir / "tokenizer_config.json");
    return from_vocab_txt(dir / "vocab.txt", std::move(config));
  }

  const WordPieceConfig& config() const noexcept { return config_; }
  std::size_t size() const noexcept { return pieces_.size(); }
  /// The id of a piece (nullopt if the vocabulary lacks it).
  std::optional<std::int32_t> id(std::string_view piece) const {
    auto it = vocab_.find(std::string(piece));
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& piece(std::int32_t id) const {
    SECFORMER_ASSERT(id >= 0 && static_cast<std::size_t>(id) < pieces_.size(), "wordpiece: id outside the vocabulary");
    return pieces_[static_cast<std::size_t>(id)];
  }
  std::int32_t unk_id() const noexcept { return unk_id_; }
  std::int32_t cls_id() const noexcept { return cls_id_; }
  std::int32_t sep_id() const noexcept { return sep_id_; }

  /// Step 1 (BertNormalizer) on UTF-8 text; the result is UTF-8.
  std::string normalize(std::string_view text) const {
    return detail::wordpiece::encode_utf8(normalize_code_points(detail::wordpiece::decode_utf8(text)));
  }

  /// Step 2 alone (BertPreTokenizer) on UTF-8 text: its words.
  static std::vector<std::string> pre_tokenize(std::string_view text) {
    std::vector<std::string> words;
    for_each_word(detail::wordpiece::decode_utf8(text),
                  [&](std::u32string_view w) { words.push_back(detail::wordpiece::encode_utf8(w)); });
    return words;
  }

  /// Steps 1-3: the piece ids of a text, without special tokens or truncation.
  std::vector<std::int32_t> tokenize(std::string_view text) const {
    std::vector<std::int32_t> ids;
    std::string word, key;
    std::vector<std::size_t> bounds;
    for_each_segment(text, [&](std::string_view segment, std::optional<std::int32_t> special) {
      if (special) {
        ids.push_back(*special);
        return;
      }
      for_each_word(normalize_code_points(detail::wordpiece::decode_utf8(segment)),
                    [&](std::u32string_view w) { wordpiece(w, word, bounds, key, ids); });
    });
    return ids;
  }

  /// [CLS] text [SEP], type ids 0. max_length (>= 2) bounds the whole length.
  Encoding encode(std::string_view text, std::optional<std::size_t> max_length = std::nullopt) const {
    std::vector<std::int32_t> a = tokenize(text);
    Encoding e;
    if (max_length) {
      SECFORMER_ASSERT(*max_length >= 2, "wordpiece: max_length must leave room for [CLS] and [SEP] (at least 2)");
      const std::size_t budget = *max_length - 2;
      if (a.size() > budget) {
        e.dropped = a.size() - budget;
        a.resize(budget);
      }
    }
    e.ids.reserve(a.size() + 2);
    e.ids.push_back(cls_id_);
    e.ids.insert(e.ids.end(), a.begin(), a.end());
    e.ids.push_back(sep_id_);
    e.type_ids.assign(e.ids.size(), 0);
    e.attention_mask.assign(e.ids.size(), 1);
    return e;
  }

  /// [CLS] a [SEP] b [SEP], type ids 0 up to the first [SEP] and 1 after it. max_length (>= 3)
  /// bounds the whole length; the pieces are cut longest first (see the top of this file).
  Encoding encode_pair(std::string_view a_text, std::string_view b_text,
                       std::optional<std::size_t> max_length = std::nullopt) const {
    std::vector<std::int32_t> a = tokenize(a_text);
    std::vector<std::int32_t> b = tokenize(b_text);
    Encoding e;
    if (max_length) {
      SECFORMER_ASSERT(*max_length >= 3, "wordpiece: max_length must leave room for [CLS] and two [SEP] (at least 3)");
      const auto [na, nb] = longest_first(a.size(), b.size(), *max_length - 3);
      e.dropped = (a.size() - na) + (b.size() - nb);
      a.resize(na);
      b.resize(nb);
    }
    e.ids.reserve(a.size() + b.size() + 3);
    e.ids.push_back(cls_id_);
    e.ids.insert(e.ids.end(), a.begin(), a.end());
    e.ids.push_back(sep_id_);
    e.type_ids.assign(e.ids.size(), 0);
    e.ids.insert(e.ids.end(), b.begin(), b.end());
    e.ids.push_back(sep_id_);
    e.type_ids.resize(e.ids.size(), 1);
    e.attention_mask.assign(e.ids.size(), 1);
    return e;
  }

  /// The lengths A and B keep within budget (the pieces besides the special tokens), as
  /// tokenizers' longest-first truncation computes them.
  static std::pair<std::size_t, std::size_t> longest_first(std::size_t len_a, std::size_t len_b, std::size_t budget) {
    if (len_a + len_b <= budget) return {len_a, len_b};
    const bool a_longer = len_a > len_b;
    std::size_t n1 = a_longer ? len_b : len_a;  // the shorter
    std::size_t n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
    if (n1 + n2 > budget) {
      n1 = budget / 2;
      n2 = n1 + budget % 2;
    }
    if (a_longer) std::swap(n1, n2);
    return {std::min(len_a, n1), std::min(len_b, n2)};
  }

  /// Pads to length with pad_token (type id 0, attention mask 0); an encoding at least that long
  /// is left as it is.
  void pad(Encoding& e, std::size_t length) const {
    if (e.ids.size() >= length) return;
    const std::int32_t pad_id = required_id(config_.pad_token, "pad_token");
    e.ids.resize(length, pad_id);
    e.type_ids.resize(length, 0);
    e.attention_mask.resize(length, 0);
  }

 private:
  std::int32_t required_id(const std::string& token, const char* what) const {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) throw usage_error("secformer: wordpiece: the vocabulary lacks the " + std::string(what) + " \"" + token + "\"");
    return it->second;
  }

  static void read_post_processor(const io::json::Value& v, const std::string& where, WordPieceConfig& config) {
    const io::json::Value* post = v.find("post_processor");
    if (!post || post->is_null()) throw usage_error(where + "post_processor is missing");
    const std::string& type = post->at("type").as_string();
    if (type == "BertProcessing") {
      config.cls_token = post->at("cls").at(0).as_string();
      config.sep_token = post->at("sep").at(0).as_string();
      return;
    }
    if (type != "TemplateProcessing") throw usage_error(where + "post_processor " + type + " is not supported");
    // Expect single = [S:cls, A, S:sep] and pair = [S:cls, A, S:sep, B:1, S:sep:1].
    const auto special = [&](const io::json::Value& item, std::int64_t type_id) -> const std::string* {
      const auto* s = item.find("SpecialToken");
      if (!s || s->at("type_id").as_int() != type_id) return nullptr;
      return &s->at("id").as_string();
    };
    const auto sequence = [&](const io::json::Value& item, const char* name, std::int64_t type_id) {
      const auto* s = item.find("Sequence");
      return s && s->at("id").as_string() == name && s->at("type_id").as_int() == type_id;
    };
    const io::json::Array& single = post->at("single").as_array();
    const io::json::Array& pair = post->at("pair").as_array();
    const std::string *cls = nullptr, *sep = nullptr;
    bool ok = single.size() == 3 && pair.size() == 5;
    if (ok) {
      cls = special(single[0], 0);
      sep = special(single[2], 0);
      ok = cls && sep && sequence(single[1], "A", 0) && special(pair[0], 0) && *special(pair[0], 0) == *cls &&
           sequence(pair[1], "A", 0) && special(pair[2], 0) && *special(pair[2], 0) == *sep &&
           sequence(pair[3], "B", 1) && special(pair[4], 1) && *special(pair[4], 1) == *sep;
    }
    if (!ok) throw usage_error(where + "post_processor is not the template [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1");
    config.cls_token = *cls;
    config.sep_token = *sep;
  }

  /// Calls f(segment, id) over the raw text: special tokens (leftmost, longest match) with their
  /// id, the text between them with nullopt.
  template <class F>
  void for_each_segment(std::string_view text, F&& f) const {
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
      std::size_t best = 0;
      for (const auto& s : config_.special_tokens)
        if (s.size() > best && text.compare(i, s.size(), s) == 0) best = s.size();
      if (best == 0) {
        ++i;
        continue;
      }
      if (i > start) f(text.substr(start, i - start), std::nullopt);
      const std::string_view token = text.substr(i, best);
      f(token, vocab_.at(std::string(token)));
      i += best;
      start = i;
    }
    if (start < text.size() || text.empty()) f(text.substr(start), std::nullopt);
  }

  /// Step 1 on code points.
  std::u32string normalize_code_points(std::u32string cps) const {
    namespace d = detail::wordpiece;
    if (config_.clean_text || config_.handle_chinese_chars) {
      std::u32string out;
      out.reserve(cps.size());
      for (char32_t c : cps) {
        if (config_.clean_text) {
          if (d::is_removed_control(c)) continue;
          if (d::is_white_space(c)) c = U' ';
        }
        if (config_.handle_chinese_chars && d::is_cjk_ideograph(c)) {
          out.push_back(U' ');
          out.push_back(c);
          out.push_back(U' ');
        } else {
          out.push_back(c);
        }
      }
      cps = std::move(out);
    }
    if (config_.strip_accents.value_or(config_.lowercase)) {
      std::u32string decomposed = d::nfd(cps);
      cps.clear();
      for (char32_t c : decomposed)
        if (d::category(c) != UTF8PROC_CATEGORY_MN) cps.push_back(c);
    }
    if (config_.lowercase) {
      std::u32string out;
      out.reserve(cps.size());
      for (char32_t c : cps) {
        if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: i + COMBINING DOT ABOVE
          out.push_back(U'i');
          out.push_back(0x307);
        } else {
          out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
        }
      }
      cps = std::move(out);
    }
    return cps;
  }

  /// Step 2: calls f(word) for each word of normalized code points.
  template <class F>
  static void for_each_word(std::u32string_view cps, F&& f) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      const bool space = detail::wordpiece::is_white_space(cps[i]);
      if (space || detail::wordpiece::is_punctuation(cps[i])) {
        if (i > start) f(cps.substr(start, i - start));
        if (!space) f(cps.substr(i, 1));
        start = i + 1;
      }
    }
    if (cps.size() > start) f(cps.substr(start));
  }

  /// Step 3 for one word; word, bounds and key are scratch buffers.
  void wordpiece(std::u32string_view w, std::string& word, std::vector<std::size_t>& bounds, std::string& key,
                 std::vector<std::int32_t>& ids) const {
    if (w.size() > config_.max_input_chars_per_word) {
      ids.push_back(unk_id_);
      return;
    }
    word.clear();
    bounds.clear();
    for (char32_t c : w) {
      bounds.push_back(word.size());
      detail::wordpiece::append_utf8(word, c);
    }
    bounds.push_back(word.size());
    const std::size_t first = ids.size();
    std::size_t start = 0;
    while (start < w.size()) {
      std::size_t end = w.size();
      std::int32_t found = -1;
      for (; end > start; --end) {
        key.clear();
        if (start > 0) key += config_.continuing_subword_prefix;
        key.append(word, bounds[start], bounds[end] - bounds[start]);
        if (auto it = vocab_.find(key); it != vocab_.end()) {
          found = it->second;
          break;
        }
      }
      if (found < 0) {
        ids.resize(first);
        ids.push_back(unk_id_);
        return;
      }
      ids.push_back(found);
      start = end;
    }
  }

  std::vector<std::string> pieces_;
  WordPieceConfig config_;
  std::unordered_map<std::string, std::int32_t> vocab_;
  std::int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0;
};

}  // namespace secformer::text
