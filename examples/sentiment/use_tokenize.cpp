// use_tokenize: tokenizes all IMDB reviews with the C++ tokenizer (text/sentencepiece.hpp) so that
// Python training (examples/distill/) sees EXACTLY the ids the C++ teacher and the secure model see.
//
//   use_tokenize [--cache DIR] [--max-tokens 128]          (DIR defaults to ./cache)
//
// Reads DIR/use/package/dist/vocab.json and DIR/imdb/package/reviews.json; writes (numpy .npy,
// version 1.0, little-endian, C order), rows in the order of reviews.json:
//   DIR/imdb_tokens_128.npy   int32 [50000, 128]  token ids; row r holds the first min(n_r, 128)
//                                                 ids of review r, then -1 (padding). Id 0 is the
//                                                 unknown piece, a REAL token (the graph pads with
//                                                 -1 and embeds id 0 like any other id).
//   DIR/imdb_lengths_128.npy  int32 [50000]       n = number of real tokens (1..128)
//   DIR/imdb_labels.npy       int32 [50000]       1 = positive, 0 = negative
// (128 = --max-tokens; the file names carry it.) Text preparation: "<br />" -> " " (imdb::clean),
// then the tokenizer's normalisation (NFKC subset, whitespace collapsed, U+2581 word marks); no
// <s>/</s> tokens (the graph uses none). The teacher's figures use review r for training if r is
// even, for testing if r is odd (12,500 per class each).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <secformer/text/sentencepiece.hpp>

#include "imdb.hpp"

int main(int argc, char** argv) try {
  std::filesystem::path cache = "cache";
  std::size_t max_tokens = 128;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cache" && i + 1 < argc) cache = argv[++i];
    else if (a == "--max-tokens" && i + 1 < argc) max_tokens = std::stoul(argv[++i]);
    else throw secformer::usage_error("usage: use_tokenize [--cache DIR] [--max-tokens N]");
  }
  if (max_tokens == 0 || max_tokens > 128) throw secformer::usage_error("use_tokenize: --max-tokens must be in 1..128 (the graph's limit)");
  const auto t0 = std::chrono::steady_clock::now();
  const auto tok = secformer::text::SentencePiece::from_vocab_json(cache / "use" / "package" / "dist" / "vocab.json");
  const auto reviews = imdb::load_reviews(cache / "imdb" / "package" / "reviews.json");
  const auto t1 = std::chrono::steady_clock::now();
  const std::size_t n = reviews.size();
  std::vector<std::int32_t> ids(n * max_tokens, -1), lens(n), labels(n);
  std::size_t unk_reviews = 0, full = 0, total = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const auto t = tok.encode(imdb::clean(reviews[r].text), max_tokens);
    if (t.empty()) throw secformer::usage_error("use_tokenize: review " + std::to_string(r) + " has no tokens");
    std::copy(t.begin(), t.end(), ids.begin() + static_cast<std::ptrdiff_t>(r * max_tokens));
    lens[r] = static_cast<std::int32_t>(t.size());
    labels[r] = reviews[r].label;
    unk_reviews += std::find(t.begin(), t.end(), 0) != t.end();
    full += t.size() == max_tokens;
    total += t.size();
  }
  const auto t2 = std::chrono::steady_clock::now();
  const std::string m = std::to_string(max_tokens);
  imdb::write_npy(cache / ("imdb_tokens_" + m + ".npy"), "<i4", {n, max_tokens}, ids.data(), ids.size() * 4);
  imdb::write_npy(cache / ("imdb_lengths_" + m + ".npy"), "<i4", {n}, lens.data(), lens.size() * 4);
  imdb::write_npy(cache / "imdb_labels.npy", "<i4", {n}, labels.data(), labels.size() * 4);
  std::printf("tokenized %zu reviews: mean %.1f tokens, %zu (%.1f%%) reach %zu, %zu contain an unknown piece\n", n,
              static_cast<double>(total) / static_cast<double>(n), full, 100.0 * static_cast<double>(full) / static_cast<double>(n), max_tokens,
              unk_reviews);
  std::printf("load %.2f s, tokenize %.2f s; wrote %s/imdb_{tokens,lengths}_%s.npy, imdb_labels.npy\n",
              std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(), cache.string().c_str(), m.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << e.what() << '\n';
  return 1;
}
