// wordpiece_check: compares secformer::text::WordPiece with the Hugging Face tokenizers library on
// the cases tests/support/wordpiece_oracle.py wrote (ids, token type ids and the number of tokens
// truncation dropped), with the tokenizer loaded both from tokenizer.json and from vocab.txt +
// tokenizer_config.json. Exit status 1 on any mismatch.
//
//   wordpiece_check --model cache/minilm --cases cases.json [--code-points table.tsv]
//
// --code-points also reports (without failing) the code points whose normalization or
// pre-tokenization differs: tokenizers' character categories come from an older Unicode version
// than utf8proc's (see <secformer/text/wordpiece.hpp>).
#include <secformer/text/wordpiece.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace sf = secformer;
namespace json = secformer::io::json;

namespace {

std::vector<std::int32_t> int_array(const json::Value& v) {
  std::vector<std::int32_t> out;
  for (const auto& x : v.as_array()) out.push_back(static_cast<std::int32_t>(x.as_int()));
  return out;
}

std::string show(const sf::text::WordPiece& tok, const std::vector<std::int32_t>& ids, std::size_t from) {
  std::string s;
  for (std::size_t i = from; i < ids.size() && i < from + 8; ++i) s += tok.piece(ids[i]) + " ";
  return s;
}

std::string hex(const std::string& utf8) {
  std::string out;
  char buf[16];
  for (char32_t c : sf::text::detail::wordpiece::decode_utf8(utf8)) {
    std::snprintf(buf, sizeof buf, out.empty() ? "%X" : " %X", static_cast<unsigned>(c));
    out += buf;
  }
  return out;
}

void check_code_points(const sf::text::WordPiece& tok, const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw sf::usage_error("wordpiece_check: cannot open " + file.string());
  std::string line;
  std::size_t total = 0, normalized = 0, split = 0;
  std::map<std::string, std::size_t> by_category;
  std::vector<std::string> examples;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string cp_hex, norm, kind;
    std::getline(fields, cp_hex, '\t');
    std::getline(fields, norm, '\t');
    std::getline(fields, kind, '\t');
    const auto cp = static_cast<char32_t>(std::stoul(cp_hex, nullptr, 16));
    const std::string c = sf::text::detail::wordpiece::encode_utf8(std::u32string(1, cp));
    const auto words = sf::text::WordPiece::pre_tokenize("x" + c + "x");
    const char mine = words == std::vector<std::string>{"x", "x"}          ? 'W'
                      : words == std::vector<std::string>{"x", c, "x"}     ? 'P'
                      : words == std::vector<std::string>{"x" + c + "x"}   ? 'N'
                                                                           : 'O';
    const std::string my_norm = hex(tok.normalize(c));
    ++total;
    const bool bad_norm = my_norm != norm, bad_split = kind.size() != 1 || kind[0] != mine;
    normalized += bad_norm;
    split += bad_split;
    if (bad_norm || bad_split) {
      ++by_category[utf8proc_category_string(static_cast<utf8proc_int32_t>(cp))];
      if (examples.size() < 6)
        examples.push_back("U+" + cp_hex + " (" + utf8proc_category_string(static_cast<utf8proc_int32_t>(cp)) +
                           "): normalized [" + norm + "] / mine [" + my_norm + "], split " + kind + " / mine " + mine);
    }
  }
  std::cout << "code points: " << total << " compared; normalization differs on " << normalized
            << ", pre-tokenization on " << split << " (not a failure: utf8proc has the categories of Unicode "
            << utf8proc_unicode_version() << ", tokenizers older ones); by utf8proc category:";
  for (const auto& [k, n] : by_category) std::cout << ' ' << k << ' ' << n;
  std::cout << '\n';
  for (const auto& e : examples) std::cout << "  e.g. " << e << '\n';
}

}  // namespace

int main(int argc, char** argv) try {
  std::filesystem::path model, cases_file, code_points;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--model") model = argv[++i];
    else if (i + 1 < argc && a == "--cases") cases_file = argv[++i];
    else if (i + 1 < argc && a == "--code-points") code_points = argv[++i];
    else {
      std::cerr << "usage: wordpiece_check --model DIR --cases FILE [--code-points FILE]\n";
      return 2;
    }
  }
  if (model.empty() || cases_file.empty()) {
    std::cerr << "usage: wordpiece_check --model DIR --cases FILE [--code-points FILE]\n";
    return 2;
  }
  const auto from_json = sf::text::WordPiece::from_tokenizer_json(model / "tokenizer.json");
  const auto from_txt = sf::text::WordPiece::from_vocab_txt(
      model / "vocab.txt", sf::text::WordPiece::read_tokenizer_config(model / "tokenizer_config.json"));

  const json::Value doc = json::parse_file(cases_file);
  std::vector<std::string> texts;
  for (const auto& t : doc.at("texts").as_array()) texts.push_back(t.as_string());

  std::set<std::int64_t> reviews, pairs;
  std::size_t cases = 0, mismatches = 0, truncated = 0, dropped = 0;
  for (const auto& c : doc.at("cases").as_array()) {
    const std::string& kind = c.at("kind").as_string();
    const std::string& a = texts.at(static_cast<std::size_t>(c.at("a").as_int()));
    const bool pair = !c.at("b").is_null();
    (pair ? pairs : reviews).insert(c.at("a").as_int());
    std::optional<std::size_t> max_length;
    if (!c.at("max_length").is_null()) max_length = static_cast<std::size_t>(c.at("max_length").as_int());
    const auto ids = int_array(c.at("ids"));
    const auto type_ids = int_array(c.at("type_ids"));
    const auto want_dropped = static_cast<std::size_t>(c.at("dropped").as_int());
    ++cases;
    bool case_ok = true;
    for (const auto* tok : {&from_json, &from_txt}) {
      const sf::text::Encoding e =
          pair ? tok->encode_pair(a, texts.at(static_cast<std::size_t>(c.at("b").as_int())), max_length)
               : tok->encode(a, max_length);
      const bool same = e.ids == ids && e.type_ids == type_ids && e.dropped == want_dropped &&
                        e.attention_mask == std::vector<std::int32_t>(ids.size(), 1);
      if (tok == &from_json && e.dropped) ++truncated, dropped += e.dropped;
      if (same) continue;
      case_ok = false;
      if (mismatches < 5) {
        std::size_t at = 0;
        while (at < ids.size() && at < e.ids.size() && ids[at] == e.ids[at]) ++at;
        std::cout << "mismatch (" << kind << ", text " << c.at("a").as_int() << ", max_length "
                  << (max_length ? std::to_string(*max_length) : "none") << ", "
                  << (tok == &from_json ? "tokenizer.json" : "vocab.txt") << "): " << e.ids.size() << " ids, "
                  << ids.size() << " expected; dropped " << e.dropped << ", " << want_dropped
                  << " expected; first difference at " << at << ": mine [" << show(*tok, e.ids, at)
                  << "] expected [" << show(*tok, ids, at) << "]\n";
      }
    }
    mismatches += !case_ok;
  }
  std::cout << "wordpiece oracle: " << reviews.size() << " reviews, " << pairs.size() << " pairs, " << mismatches
            << " mismatches (" << cases << " cases against tokenizers " << doc.at("tokenizers").as_string()
            << ", each with both loaders; truncation dropped " << dropped << " tokens in " << truncated
            << " cases)\n";
  if (!code_points.empty()) check_code_points(from_json, code_points);
  return mismatches == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "wordpiece_check: " << e.what() << '\n';
  return 1;
}
