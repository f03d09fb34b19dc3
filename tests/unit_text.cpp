// Unit tests of the tokenizers in <secformer/text/>: the WordPiece rules on a small vocabulary
// (the expected values are what the Hugging Face tokenizers library 0.19 gives for the same
// inputs; the oracle test wordpiece.oracle compares whole reviews with it).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <secformer/text/wordpiece.hpp>

namespace sf = secformer;
using sf::text::WordPiece;
using sf::text::WordPieceConfig;
using Words = std::vector<std::string>;

namespace {

const Words small_vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "##a", "##ff",
                           "hello", "world", "e", "##e", "x", "cafe", "caf", "##é", "我", "爱", "ab", ",", "!",
                           "'", "don", "t", "[", "mask", "]"};

std::vector<std::int32_t> ids_of(const WordPiece& tok, const Words& pieces) {
  std::vector<std::int32_t> ids;
  for (const auto& p : pieces) ids.push_back(tok.id(p).value());
  return ids;
}

Words pieces_of(const WordPiece& tok, const std::vector<std::int32_t>& ids) {
  Words out;
  for (auto id : ids) out.push_back(tok.piece(id));
  return out;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("wordpiece: normalization (clean text, CJK, accents, lower case)", "[wordpiece]") {
  const WordPiece uncased(small_vocab);
  // CJK ideographs get a space on each side; NFD then non-spacing marks dropped; lower case.
  CHECK(uncased.normalize("H\xC3\xA9llo \xE6\x88\x91\xE7\x88\xB1" "ab \xC3\x9Cn\xC3\xAF" "c\xC3\xB6" "d\xC3\xA9") ==
        "hello  \xE6\x88\x91  \xE7\x88\xB1 ab unicode");
  // Control characters: U+0000, U+200B (Cf), DEL, \v (Cc, not a space), U+FFFD and NEL removed;
  // \t, NBSP and U+2028 become spaces.
  CHECK(uncased.normalize(std::string("a\0b\xE2\x80\x8B" "c\td\x7F" "e\vf\xEF\xBF\xBDg\xC2\xA0h\xE2\x80\xA8i\xC2\x85j", 27)) ==
        "abc defg h ij");
  // Fullwidth letters and ligatures are no NFD business: they stay.
  CHECK(uncased.normalize("\xEF\xBD\x86\xEF\xAC\x81") == "\xEF\xBD\x86\xEF\xAC\x81");
  // U+0130: accents stripped first (I), then lower case (i).
  CHECK(uncased.normalize("\xC4\xB0stanbul") == "istanbul");

  WordPieceConfig lower_keep;  // lower case, accents kept: U+0130's lower case is i + U+0307
  lower_keep.strip_accents = false;
  CHECK(WordPiece(small_vocab, lower_keep).normalize("\xC4\xB0STANBUL Caf\xC3\xA9") == "i\xCC\x87stanbul caf\xC3\xA9");
  WordPieceConfig strip_only;
  strip_only.lowercase = false;
  strip_only.strip_accents = true;
  CHECK(WordPiece(small_vocab, strip_only).normalize("\xC4\xB0STANBUL Caf\xC3\xA9") == "ISTANBUL Cafe");
  WordPieceConfig cased;  // strip_accents unset follows lowercase = false
  cased.lowercase = false;
  CHECK(WordPiece(small_vocab, cased).normalize("\xC4\xB0STANBUL Caf\xC3\xA9") == "\xC4\xB0STANBUL Caf\xC3\xA9");

  // The CJK split reaches the pieces; without handle_chinese_chars the ideographs stay one word.
  CHECK(pieces_of(uncased, uncased.tokenize("\xE6\x88\x91\xE7\x88\xB1" "ab")) == Words{"我", "爱", "ab"});
  WordPieceConfig no_cjk;
  no_cjk.handle_chinese_chars = false;
  CHECK(pieces_of(uncased, WordPiece(small_vocab, no_cjk).tokenize("\xE6\x88\x91\xE7\x88\xB1" "ab")) == Words{"[UNK]"});
  // Accents: "café" is cafe uncased, caf ##é cased.
  CHECK(pieces_of(uncased, uncased.tokenize("Caf\xC3\xA9")) == Words{"cafe"});
  CHECK(pieces_of(uncased, WordPiece(small_vocab, cased).tokenize("caf\xC3\xA9")) == Words{"caf", "##é"});
}

TEST_CASE("wordpiece: pre-tokenization splits at white space and around punctuation", "[wordpiece]") {
  CHECK(WordPiece::pre_tokenize("\xC2\xAB" "hi\xC2\xBB a\xE2\x80\x93" "b $5 don't 3.14 \xE2\x80\xB9x\xE2\x80\xBA") ==
        Words{"«", "hi", "»", "a", "–", "b", "$", "5", "don", "'", "t", "3", ".", "14", "‹", "x", "›"});
  // ASCII symbols that are not P* in Unicode are BERT punctuation too; other symbols are not.
  CHECK(WordPiece::pre_tokenize("a+b=c^d`e|f~g<h>i") ==
        Words{"a", "+", "b", "=", "c", "^", "d", "`", "e", "|", "f", "~", "g", "<", "h", ">", "i"});
  CHECK(WordPiece::pre_tokenize("a\xC2\xA9" "b\xE2\x82\xAC" "c") == Words{"a©b€c"});
  CHECK(WordPiece::pre_tokenize("  a\t\n b\xE3\x80\x80" "c  ") == Words{"a", "b", "c"});
  CHECK(WordPiece::pre_tokenize("").empty());
  const WordPiece tok(small_vocab);
  CHECK(pieces_of(tok, tok.tokenize("Hello, world!")) == Words{"hello", ",", "world", "!"});
  CHECK(pieces_of(tok, tok.tokenize("don't")) == Words{"don", "'", "t"});
}

TEST_CASE("wordpiece: greedy longest match first, [UNK] for unmatched and long words", "[wordpiece]") {
  const WordPiece tok(small_vocab);
  CHECK(pieces_of(tok, tok.tokenize("unaffable")) == Words{"un", "##aff", "##able"});
  CHECK(pieces_of(tok, tok.tokenize("unaffa")) == Words{"un", "##aff", "##a"});
  // A remainder no piece matches makes the whole word one [UNK], not a partial match.
  CHECK(pieces_of(tok, tok.tokenize("unaffz hello")) == Words{"[UNK]", "hello"});
  // max_input_chars_per_word = 100 code points (after normalization), not bytes.
  CHECK(tok.tokenize(repeat("e", 100)).size() == 100);
  CHECK(pieces_of(tok, tok.tokenize(repeat("e", 101))) == Words{"[UNK]"});
  CHECK(tok.tokenize(repeat("\xC3\xA9", 100)).size() == 100);  // 200 bytes, 100 code points
  CHECK(pieces_of(tok, tok.tokenize(repeat("\xC3\xA9", 101))) == Words{"[UNK]"});
  CHECK(tok.tokenize(repeat("e\xCC\x81", 100)).size() == 100);  // the marks go before counting
  CHECK(pieces_of(tok, tok.tokenize(repeat("e\xCC\x81", 101))) == Words{"[UNK]"});
  WordPieceConfig short_words;
  short_words.max_input_chars_per_word = 3;
  const WordPiece short_tok(small_vocab, short_words);
  CHECK(pieces_of(short_tok, short_tok.tokenize("eee eeee")) == Words{"e", "##e", "##e", "[UNK]"});
}

TEST_CASE("wordpiece: special tokens in the raw text, [CLS] A [SEP] B [SEP] and type ids", "[wordpiece]") {
  const WordPiece tok(small_vocab);
  CHECK(pieces_of(tok, tok.tokenize("hello [MASK] world [mask]")) == Words{"hello", "[MASK]", "world", "[", "mask", "]"});
  CHECK(pieces_of(tok, tok.tokenize("x[SEP]x")) == Words{"x", "[SEP]", "x"});
  const auto e = tok.encode("Hello world");
  CHECK(e.ids == ids_of(tok, {"[CLS]", "hello", "world", "[SEP]"}));
  CHECK(e.type_ids == std::vector<std::int32_t>{0, 0, 0, 0});
  CHECK(e.attention_mask == std::vector<std::int32_t>{1, 1, 1, 1});
  CHECK(e.dropped == 0);
  const auto p = tok.encode_pair("hello", "world!");
  CHECK(p.ids == ids_of(tok, {"[CLS]", "hello", "[SEP]", "world", "!", "[SEP]"}));
  CHECK(p.type_ids == std::vector<std::int32_t>{0, 0, 0, 1, 1, 1});
  CHECK(tok.encode("").ids == ids_of(tok, {"[CLS]", "[SEP]"}));
  CHECK(tok.encode_pair("", "").type_ids == std::vector<std::int32_t>{0, 0, 1});
  auto padded = tok.encode("hello");
  tok.pad(padded, 5);
  CHECK(padded.ids == ids_of(tok, {"[CLS]", "hello", "[SEP]", "[PAD]", "[PAD]"}));
  CHECK(padded.attention_mask == std::vector<std::int32_t>{1, 1, 1, 0, 0});
  CHECK(padded.type_ids == std::vector<std::int32_t>{0, 0, 0, 0, 0});
}

TEST_CASE("wordpiece: longest-first truncation of pairs, dropped tokens counted", "[wordpiece]") {
  // (len A, len B, budget) -> kept, as tokenizers 0.19 keeps them (max_length = budget + 3).
  using P = std::pair<std::size_t, std::size_t>;
  CHECK(WordPiece::longest_first(10, 10, 21) == P{10, 10});  // fits
  CHECK(WordPiece::longest_first(10, 3, 10) == P{7, 3});     // only the longer is cut
  CHECK(WordPiece::longest_first(3, 10, 10) == P{3, 7});
  CHECK(WordPiece::longest_first(10, 10, 12) == P{6, 6});
  CHECK(WordPiece::longest_first(10, 10, 13) == P{6, 7});    // equal lengths: B takes the odd one
  CHECK(WordPiece::longest_first(10, 3, 3) == P{2, 1});      // both cut: the longer takes the odd one
  CHECK(WordPiece::longest_first(3, 10, 3) == P{1, 2});
  CHECK(WordPiece::longest_first(10, 10, 1) == P{0, 1});
  CHECK(WordPiece::longest_first(10, 3, 1) == P{1, 0});
  CHECK(WordPiece::longest_first(10, 0, 7) == P{7, 0});
  CHECK(WordPiece::longest_first(10, 10, 0) == P{0, 0});

  const WordPiece tok(small_vocab);
  const std::string a = "hello hello hello hello hello hello", b = "world world";
  const auto e = tok.encode_pair(a, b, 8);  // budget 5: B keeps 2, A 3
  CHECK(e.ids == ids_of(tok, {"[CLS]", "hello", "hello", "hello", "[SEP]", "world", "world", "[SEP]"}));
  CHECK(e.type_ids == std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1});
  CHECK(e.dropped == 3);
  const auto s = tok.encode(a, 4);
  CHECK(s.ids == ids_of(tok, {"[CLS]", "hello", "hello", "[SEP]"}));
  CHECK(s.dropped == 4);
  CHECK(tok.encode(a, 100).dropped == 0);
  CHECK(tok.encode(a, 2).ids == ids_of(tok, {"[CLS]", "[SEP]"}));
  CHECK_THROWS_AS(tok.encode(a, 1), sf::usage_error);
  CHECK_THROWS_AS(tok.encode_pair(a, b, 2), sf::usage_error);
}

TEST_CASE("wordpiece: invalid UTF-8 is a usage error naming the byte", "[wordpiece]") {
  const WordPiece tok(small_vocab);
  for (const char* bad : {"ab\xFF", "ab\xC3", "ab\xC0\xAF", "ab\xED\xA0\x80", "ab\xF4\x90\x80\x80", "ab\x80", "ab\xE2\x82"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH(tok.tokenize(bad), Catch::Contains("invalid UTF-8 at byte 2"));
    CHECK_THROWS_AS(tok.encode_pair("ok", bad), sf::usage_error);
  }
  CHECK_NOTHROW(tok.tokenize("\xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));  // U+1F600, U+10FFFF
}

TEST_CASE("wordpiece: loading vocab.txt, tokenizer_config.json and tokenizer.json", "[wordpiece]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("secformer_wordpiece_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto write = [&](const char* name, const std::string& text) { std::ofstream(dir / name, std::ios::binary) << text; };
  write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\ncaf\n##\xC3\xA9\ncafe \r\n");
  const auto txt = WordPiece::from_vocab_txt(dir / "vocab.txt");
  CHECK(txt.size() == 8);
  CHECK(txt.id("cafe") == 7);  // trailing white space is not part of the piece
  CHECK(!txt.id("[MASK]"));
  CHECK(pieces_of(txt, txt.tokenize("Caf\xC3\xA9")) == Words{"cafe"});

  write("tokenizer_config.json", R"({"do_lower_case": false, "strip_accents": null, "tokenize_chinese_chars": true})");
  const auto cased = WordPiece::from_pretrained(dir);
  CHECK(!cased.config().lowercase);
  CHECK(pieces_of(cased, cased.tokenize("caf\xC3\xA9 Hello")) == Words{"caf", "##é", "[UNK]"});

  const std::string post = R"("post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 1}}], "special_tokens": {}})";
  const std::string json_head = R"({"version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"}, )";
  const std::string model = R"(, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
      "max_input_chars_per_word": 100, "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5}}})";
  write("tokenizer.json", json_head + post + model);
  const auto js = WordPiece::from_pretrained(dir);  // tokenizer.json wins over vocab.txt
  CHECK(js.size() == 6);
  CHECK(js.encode_pair("Hello", "WORLD [UNK]").ids == std::vector<std::int32_t>{2, 4, 3, 5, 1, 3});
  CHECK(js.config().special_tokens == Words{"[UNK]"});
  CHECK(pieces_of(js, js.tokenize("[CLS]")) == Words{"[UNK]", "[UNK]", "[UNK]"});  // not an added token here

  write("tokenizer.json", json_head + R"("post_processor": {"type": "RobertaProcessing"})" + model);
  CHECK_THROWS_WITH(WordPiece::from_tokenizer_json(dir / "tokenizer.json"), Catch::Contains("RobertaProcessing"));
  write("tokenizer.json", "{\"normalizer\": {\"type\": \"NFC\"}}");
  CHECK_THROWS_WITH(WordPiece::from_tokenizer_json(dir / "tokenizer.json"), Catch::Contains("BertNormalizer"));
  CHECK_THROWS_AS(WordPiece::from_vocab_txt(dir / "missing.txt"), sf::usage_error);
  CHECK_THROWS_WITH(WordPiece(Words{"a", "b"}), Catch::Contains("[UNK]"));
  fs::remove_all(dir);
}
