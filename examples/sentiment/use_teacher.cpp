// use_teacher: the Universal Sentence Encoder lite (nn/use.hpp) in doubles, on the fetched cache.
//
//   use_teacher [--cache DIR] similarity TEXT TEXT...   cosine of the first text's embedding with
//                                                       each other's (the graph's L2-normalised output)
//   use_teacher [--cache DIR] dump FILE TEXT...         one JSON line per text: {"text", "ids",
//                                                       "embedding"} (for tfjs_reference.py --check)
//   use_teacher [--cache DIR] features OUT FIRST STEP COUNT
//                                                       embeddings of IMDB reviews FIRST, FIRST+STEP,
//                                                       ... (COUNT of them), 128 tokens each, as
//                                                       OUT.emb.npy (COUNT x 512 float32, L2-normalised)
//                                                       and OUT.idx.npy (int32 review indices)
// DIR defaults to ./cache (run cmake/fetch_data.sh first); exact functions (PlainContext<Exact>).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <secformer/io/json.hpp>
#include <secformer/text/sentencepiece.hpp>
#include <secformer/nn/use.hpp>

#include "imdb.hpp"

namespace nn = secformer::nn;

namespace {

nn::Tensor embed(const nn::Use<nn::PlainRepr>& model, const std::vector<std::int32_t>& ids) {
  nn::PlainContext<secformer::Basic<>, nn::Exact> ctx;
  nn::TokenIds t;
  for (auto i : ids) t.token.push_back(static_cast<std::size_t>(i));
  if (t.token.empty()) throw secformer::usage_error("use_teacher: empty text (no tokens)");
  return nn::l2_normalize(model.embed(t, ctx));
}

double cosine(const nn::Tensor& a, const nn::Tensor& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ab += a.data()[i] * b.data()[i], aa += a.data()[i] * a.data()[i], bb += b.data()[i] * b.data()[i];
  return ab / std::sqrt(aa * bb);
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += static_cast<char>(c);
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else o += static_cast<char>(c);
  }
  return o + "\"";
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::filesystem::path cache = "cache";
  if (args.size() >= 2 && args[0] == "--cache") cache = args[1], args.erase(args.begin(), args.begin() + 2);
  if (args.empty()) throw secformer::usage_error("usage: use_teacher [--cache DIR] similarity|dump|features ...");
  const auto dist = cache / "use" / "package" / "dist";
  const auto t0 = std::chrono::steady_clock::now();
  nn::UseConfig cfg;
  const auto w = nn::load_use(dist, &cfg);
  const auto tok = secformer::text::SentencePiece::from_vocab_json(dist / "vocab.json");
  const nn::Use<nn::PlainRepr> model(w, cfg);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string cmd = args[0];

  if (cmd == "similarity" && args.size() >= 3) {
    const auto e0 = embed(model, tok.encode(args[1], cfg.max_tokens));
    for (std::size_t i = 2; i < args.size(); ++i)
      std::printf("cosine(\"%s\", \"%s\") = %.4f\n", args[1].c_str(), args[i].c_str(), cosine(e0, embed(model, tok.encode(args[i], cfg.max_tokens))));
    std::printf("(weights and vocabulary loaded in %.2f s)\n", load_s);
    return 0;
  }
  if (cmd == "dump" && args.size() >= 3) {
    std::ofstream out(args[1]);
    for (std::size_t i = 2; i < args.size(); ++i) {
      const auto ids = tok.encode(args[i], cfg.max_tokens);
      const auto e = embed(model, ids);
      out << "{\"text\": " << json_string(args[i]) << ", \"ids\": [";
      for (std::size_t k = 0; k < ids.size(); ++k) out << (k ? ", " : "") << ids[k];
      out << "], \"embedding\": [";
      char buf[32];
      for (std::size_t k = 0; k < e.size(); ++k) std::snprintf(buf, sizeof buf, "%s%.9g", k ? ", " : "", e.data()[k]), out << buf;
      out << "]}\n";
    }
    if (!out) throw secformer::usage_error("use_teacher: cannot write " + args[1]);
    std::printf("dumped %zu texts to %s\n", args.size() - 2, args[1].c_str());
    return 0;
  }
  if (cmd == "features" && args.size() == 5) {
    const auto reviews = imdb::load_reviews(cache / "imdb" / "package" / "reviews.json");
    const std::size_t first = std::stoul(args[2]), step = std::stoul(args[3]), count = std::stoul(args[4]);
    std::vector<float> emb;
    std::vector<std::int32_t> idx;
    const auto t1 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t r = first + k * step;
      if (r >= reviews.size()) throw secformer::usage_error("use_teacher: review index " + std::to_string(r) + " past the data");
      const auto e = embed(model, tok.encode(imdb::clean(reviews[r].text), cfg.max_tokens));
      emb.insert(emb.end(), e.begin(), e.end());
      idx.push_back(static_cast<std::int32_t>(r));
      if ((k + 1) % 500 == 0) std::fprintf(stderr, "  %zu/%zu\n", k + 1, count);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    imdb::write_npy(args[1] + ".emb.npy", "<f4", {count, cfg.hidden}, emb.data(), emb.size() * 4);
    imdb::write_npy(args[1] + ".idx.npy", "<i4", {count}, idx.data(), idx.size() * 4);
    std::printf("embedded %zu reviews in %.1f s (%.1f ms each, 1 thread)\n", count, secs, 1e3 * secs / static_cast<double>(count));
    return 0;
  }
  throw secformer::usage_error("use_teacher: unknown or incomplete command '" + cmd + "'");
} catch (const std::exception& e) {
  std::cerr << e.what() << '\n';
  return 1;
}
