// The real-model pieces: the JSON and TF.js weight readers (io/), the SentencePiece tokenizer
// (text/), the USE teacher (nn/use.hpp) in doubles and as shares. Cases tagged [real] need the
// fetched cache (cmake/fetch_data.sh); CTest runs them as the test nn_real, after data.fetch.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

#include <xtensor/xarray.hpp>

#include <secformer/io/json.hpp>
#include <secformer/io/tfjs.hpp>
#include <secformer/text/sentencepiece.hpp>
#include <secformer/nn/use.hpp>
#include <secformer/protocols/suite.hpp>
#include <secformer/run.hpp>

#include "support/test_data.hpp"

namespace sf = secformer;
namespace nn = secformer::nn;
namespace json = secformer::io::json;
namespace tfjs = secformer::io::tfjs;
namespace text = secformer::text;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const sf::usage_error& e) {
    return e.what();
  }
  return "(no usage_error)";
}

std::filesystem::path temp_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("secformer_nn_real_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}
void write(const std::filesystem::path& f, const std::string& bytes) { std::ofstream(f, std::ios::binary) << bytes; }

std::filesystem::path cache_dir() {
  if (const char* c = std::getenv("SECFORMER_CACHE")) return c;
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "cache";
}

bool same(const xt::xarray<double>& a, const xt::xarray<double>& b) { return a.shape() == b.shape() && a == b; }

double cosine(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ab += a.data()[i] * b.data()[i], aa += a.data()[i] * a.data()[i], bb += b.data()[i] * b.data()[i];
  return ab / std::sqrt(aa * bb);
}

}  // namespace

// ================================================================================================

TEST_CASE("json: a strict reader", "[io][json]") {
  const auto v = json::parse(R"( {"a": [1, -2.5e-1, true, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {}} )");
  CHECK(v.at("a").at(0).as_int() == 1);
  CHECK(v.at("a").at(1).as_number() == -0.25);
  CHECK(v.at("a").at(2).as_bool());
  CHECK(v.at("a").at(3).is_null());
  CHECK(v.at("s").as_string() == "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.at("o").as_object().empty());
  CHECK(v.find("missing") == nullptr);
  CHECK(error_of([&] { (void)v.at("missing"); }).find("missing member \"missing\"") != std::string::npos);
  CHECK(error_of([&] { (void)v.at("s").as_number(); }).find("expected a number, found string") != std::string::npos);
  CHECK(error_of([&] { (void)v.at("a").at(1).as_int(); }).find("integer") != std::string::npos);

  // Each of these is rejected, with the position of the problem.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"[1, 2,]", "invalid value"},         {"{\"a\": 1,}", "expected a string key"}, {"01", "leading zero"},
      {"[1] x", "trailing characters"},     {"\"\\ud800\"", "high surrogate"},      {"\"\\udc00\"", "lone low surrogate"},
      {"\"a\tb\"", "raw control character"}, {"NaN", "invalid value"},            {"{\"a\" 1}", "expected ':'"},
      {"[1.]", "digits expected"},          {"\"abc", "unterminated string"},     {"", "unexpected end"},
      {"'a'", "invalid value"},             {"[tru]", "invalid literal"}};
  for (const auto& [text, why] : bad) {
    const auto e = error_of([&] { (void)json::parse(text, "t.json"); });
    INFO(text << " -> " << e);
    CHECK(e.find(why) != std::string::npos);
    CHECK(e.find("t.json:1:") != std::string::npos);
  }
  CHECK(error_of([] { (void)json::parse("[\n\n  ]]", "t.json"); }).find("t.json:3:4") != std::string::npos);
  // Hostile nesting: an error, not a stack overflow.
  CHECK(error_of([] { (void)json::parse(std::string(100000, '['), "deep"); }).find("deeper than 256") != std::string::npos);
  CHECK(error_of([] { (void)json::parse_file("/nonexistent/model.json"); }).find("run cmake/fetch_data.sh") != std::string::npos);
}

TEST_CASE("tfjs: weight manifest and shards", "[io][tfjs]") {
  const auto dir = temp_dir("tfjs");
  auto manifest = [](const std::string& dtype, const std::string& shards) {
    return R"({"modelTopology": {"node": [{"name": "w", "op": "Const"}]}, "weightsManifest": [{"paths": [)" + shards +
           R"(], "weights": [{"name": "w", "shape": [2, 3], "dtype": ")" + dtype + R"("}, {"name": "k", "shape": [2], "dtype": "int32"}]}]})";
  };
  // 6 floats then 2 ints, split over two shards at an arbitrary byte (a weight may straddle shards).
  std::string bytes;
  for (float f : {1.f, -2.f, 3.5f, 0.f, 0.25f, 6.f}) bytes.append(reinterpret_cast<const char*>(&f), 4);
  for (std::int32_t i : {7, -1}) bytes.append(reinterpret_cast<const char*>(&i), 4);
  write(dir / "s1", bytes.substr(0, 10));
  write(dir / "s2", bytes.substr(10));
  write(dir / "model.json", manifest("float32", R"("s1", "s2")"));
  const auto m = tfjs::Model::load(dir);
  const auto w = m.tensor<xt::xarray<double>>("w", {2, 3});
  CHECK(w(0, 1) == -2.0);
  CHECK(w(1, 2) == 6.0);
  CHECK(m.ints("k") == std::vector<std::int32_t>{7, -1});
  CHECK(m.nodes().size() == 1);
  CHECK(error_of([&] { (void)m.tensor<xt::xarray<double>>("w", {3, 2}); }).find("has shape [2, 3], expected [3, 2]") != std::string::npos);
  CHECK(error_of([&] { (void)m.tensor<xt::xarray<double>>("nope", {1}); }).find("no weight 'nope'") != std::string::npos);
  CHECK(error_of([&] { (void)m.scalar("w"); }).find("not a float32 scalar") != std::string::npos);

  // Truncated shard, oversized shard, missing shard, unknown dtype, NaN, missing model.json.
  write(dir / "s2", bytes.substr(10, bytes.size() - 14));
  CHECK(error_of([&] { (void)tfjs::Model::load(dir); }).find("too few for weight 'k'") != std::string::npos);
  write(dir / "s2", bytes.substr(10) + "xxxx");
  CHECK(error_of([&] { (void)tfjs::Model::load(dir); }).find("the manifest 32") != std::string::npos);
  std::filesystem::remove(dir / "s2");
  CHECK(error_of([&] { (void)tfjs::Model::load(dir); }).find("s2 (missing? run cmake/fetch_data.sh)") != std::string::npos);
  write(dir / "s2", bytes.substr(10));
  write(dir / "model.json", manifest("float16", R"("s1", "s2")"));
  CHECK(error_of([&] { (void)tfjs::Model::load(dir); }).find("dtype 'float16'") != std::string::npos);
  std::string nan_bytes = bytes;
  const float nan = std::nanf("");
  std::memcpy(nan_bytes.data() + 4, &nan, 4);
  write(dir / "s1", nan_bytes.substr(0, 10));
  write(dir / "model.json", manifest("float32", R"("s1", "s2")"));
  CHECK(error_of([&] { (void)tfjs::Model::load(dir); }).find("NaN or infinity") != std::string::npos);
  std::filesystem::remove(dir / "model.json");
  CHECK(error_of([&] { (void)tfjs::Model::load(dir); }).find("model.json (missing? run cmake/fetch_data.sh)") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tokenizer: Viterbi over piece scores, unknowns, normalisation", "[text][tokenizer]") {
  const std::string W = "\xe2\x96\x81";  // U+2581
  std::vector<std::pair<std::string, double>> v = {{"\xef\xbf\xbd", 0}, {"<s>", 0}, {"</s>", 0}, {"x1", 0}, {"x2", 0}, {"x3", 0}};
  auto add = [&](const std::string& p, double s) { v.emplace_back(p, s); return static_cast<std::int32_t>(v.size() - 1); };
  const auto w_a = add(W + "a", -2), b = add("b", -3), w_ab = add(W + "ab", -4.5), c = add("c", -1), bc = add("bc", -3.5),
             w_ = add(W, -6), fi = add(W + "fi", -2), e_acute = add(W + "\xc3\xa9", -2), A = add(W + "A", -2), dup = add("c", -5);
  const text::SentencePiece tok(v);
  CHECK(tok.unknown_score() == -16.0);  // lowest score - 10

  // Viterbi: "▁ab": ▁ab (-4.5) beats ▁a + b (-5). "▁abc": ▁a + bc and ▁ab + c tie at -5.5 (the
  // first found, the longer last piece, wins); ▁a + b + c is -6.
  CHECK(tok.encode("ab") == std::vector<std::int32_t>{w_ab});
  CHECK(tok.encode("abc") == std::vector<std::int32_t>{w_a, bc});
  CHECK(tok.encode("abb") == std::vector<std::int32_t>{w_ab, b});
  (void)dup;
  // Unknown code points: one id 0 per run, with the word mark kept as its own piece.
  CHECK(tok.encode("a\xe2\x98\x83\xe2\x98\x83" "c") == std::vector<std::int32_t>{w_a, 0, c});
  CHECK(tok.encode("  \t\n ") .empty());
  // Normalisation: whitespace runs collapse, NFKC maps fullwidth and ligatures, composes e + U+0301.
  CHECK(tok.normalize(" a \t\n b ") == U"\u2581a\u2581b");
  CHECK(tok.encode("\xef\xbc\xa1") == std::vector<std::int32_t>{A});              // fullwidth A
  CHECK(tok.encode("\xef\xac\x81") == std::vector<std::int32_t>{fi});             // U+FB01 ligature fi
  CHECK(tok.encode("e\xcc\x81") == std::vector<std::int32_t>{e_acute});           // e + combining acute
  CHECK(tok.normalize("\xc2\xbd\xe2\x80\xa6") == U"\u25811\u20442...");           // 1/2 and ellipsis (NFKC)
  CHECK(tok.normalize("\xff") == U"\u2581\uFFFD");                                // invalid UTF-8
  // Truncation: the first n ids of the full encoding.
  const auto full = tok.encode("ab c abc a b");
  for (std::size_t n = 0; n <= full.size(); ++n) CHECK(tok.encode("ab c abc a b", n) == std::vector<std::int32_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
  (void)w_;
  // Reserved pieces never match text.
  CHECK(tok.encode("<s>") != std::vector<std::int32_t>{1});
  CHECK(error_of([] { (void)text::SentencePiece({{"a", 0}}, 6); }).find("a vocabulary of 1 pieces") != std::string::npos);
}

TEST_CASE("use: the teacher's structure in doubles, the simulation and two parties", "[nn][use]") {
  using Suite = sf::CrypTenSuite;
  nn::UseConfig cfg;
  cfg.vocab = 40, cfg.embed = 16, cfg.hidden = 32, cfg.heads = 4, cfg.ffn = 48, cfg.max_tokens = 12;
  const auto shapes = nn::shapes::use(cfg);
  const auto w = nn::random_bundle(shapes, 21);
  const nn::TokenIds ids{{3, 17, 5, 29, 11, 2}, {}};
  const nn::Use plain_model(w, cfg);
  nn::PlainContext<Suite, nn::Exact> exact;
  nn::PlainContext<Suite, nn::Approx> approx;
  const xt::xarray<double> z_exact = plain_model.embed(ids, exact);
  const xt::xarray<double> z_approx = plain_model.embed(ids, approx);
  REQUIRE(z_exact.shape() == std::vector<std::size_t>{1, cfg.hidden});
  // emb (token, position, segment, unused LN) + projection + layer 0 (LN, QKV 16 -> 48, output 16 -> 32, LN,
  // FFN 32 -> 48 -> 32) + layer 1 (LN, QKV 32 -> 96, output 32 -> 32, LN, FFN) + final layer.
  const std::size_t ffn_weights = (32 * 48 + 48) + (48 * 32 + 32);
  REQUIRE(parameter_count(w) == (40 * 16 + 12 * 16 + 16 + 2 * 16) + (16 * 32 + 32) + (2 * 16 + 16 * 48 + 48 + 16 * 32 + 32 + 2 * 32 + ffn_weights) +
                                    (2 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 2 * 32 + ffn_weights) + (32 * 32 + 32));

  // An independent forward pass of the same architecture (pre-LN, projected residual in layer 0).
  auto ln = [](xt::xarray<double> x, const nn::NormParams<>& p, double eps) {
    const std::size_t n = x.shape()[1];
    for (std::size_t r = 0; r < x.shape()[0]; ++r) {
      double m = 0, s = 0;
      for (std::size_t j = 0; j < n; ++j) m += x(r, j) / static_cast<double>(n);
      for (std::size_t j = 0; j < n; ++j) s += (x(r, j) - m) * (x(r, j) - m) / static_cast<double>(n);
      for (std::size_t j = 0; j < n; ++j) x(r, j) = p.gamma(j) * (x(r, j) - m) / std::sqrt(s + eps) + p.beta(j);
    }
    return x;
  };
  auto lin = [](const xt::xarray<double>& x, const xt::xarray<double>& W, const xt::xarray<double>& B) {
    xt::xarray<double> y = xt::zeros<double>({x.shape()[0], W.shape()[1]});
    for (std::size_t r = 0; r < x.shape()[0]; ++r)
      for (std::size_t j = 0; j < W.shape()[1]; ++j) {
        double a = B(j);
        for (std::size_t k = 0; k < W.shape()[0]; ++k) a += x(r, k) * W(k, j);
        y(r, j) = a;
      }
    return y;
  };
  auto mha = [&](const xt::xarray<double>& h, const nn::AttentionParams<>& p) {
    const std::size_t s = h.shape()[0], d = h.shape()[1], dh = d / cfg.heads;
    const auto qkv = lin(h, p.wqkv, p.bqkv);
    xt::xarray<double> o = xt::zeros<double>({s, d});
    for (std::size_t hd = 0; hd < cfg.heads; ++hd)
      for (std::size_t i = 0; i < s; ++i) {
        std::vector<double> sc(s);
        double mx = -1e300, tot = 0;
        for (std::size_t j = 0; j < s; ++j) {
          double a = 0;
          for (std::size_t k = 0; k < dh; ++k) a += qkv(i, hd * dh + k) * qkv(j, d + hd * dh + k);
          sc[j] = a / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, sc[j]);
        }
        for (auto& x : sc) tot += (x = std::exp(x - mx));
        for (std::size_t k = 0; k < dh; ++k) {
          double a = 0;
          for (std::size_t j = 0; j < s; ++j) a += sc[j] / tot * qkv(j, 2 * d + hd * dh + k);
          o(i, hd * dh + k) = a;
        }
      }
    return lin(o, p.wo, p.bo);
  };
  auto ffn = [&](const xt::xarray<double>& y, const nn::UseBlockParams<>& p) {
    xt::xarray<double> h = lin(ln(y, p.ln_ffn, cfg.ln_eps), p.fc1.w, p.fc1.b);
    h = nn::plain::map(h, [](double v) { return v > 0 ? v : 0.0; });
    return xt::xarray<double>(y + lin(h, p.fc2.w, p.fc2.b));
  };
  xt::xarray<double> x = xt::zeros<double>({ids.size(), cfg.embed});
  for (std::size_t t = 0; t < ids.size(); ++t)
    for (std::size_t j = 0; j < cfg.embed; ++j) x(t, j) = w.emb.token(ids.token[t], j) + w.emb.position(t, j) + w.emb.segment(0, j);
  xt::xarray<double> y = mha(ln(x, w.layer[0].ln_attn, cfg.ln_eps), w.layer[0].attn) + lin(x, w.proj.w, w.proj.b);
  y = ffn(y, w.layer[0]);
  y = y + mha(ln(y, w.layer[1].ln_attn, cfg.ln_eps), w.layer[1].attn);
  y = ffn(y, w.layer[1]);
  xt::xarray<double> pooled = xt::view(xt::mean(y, {0}), xt::newaxis(), xt::all());
  const xt::xarray<double> z_ref = nn::plain::map(lin(pooled, w.final_layer.w, w.final_layer.b), [](double v) { return std::tanh(v); });
  const double ref_diff = xt::amax(xt::abs(z_ref - z_exact))();
  CHECK(ref_diff < 1e-12);
  const double unit = xt::sum(nn::l2_normalize(z_exact) * nn::l2_normalize(z_exact))();
  CHECK(std::abs(unit - 1.0) < 1e-12);

  // Shares: CrypTen's policies with the graph's ReLU (exact on shares). The client embeds its tokens.
  const nn::TokenIds placeholder{std::vector<std::size_t>(ids.size(), 0), {}};
  auto secure = [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    constexpr bool client = Ctx::id == 1 && !Ctx::is_solo;
    nn::ShareOptions opt;
    opt.skip = [](const std::string& path) { return path == "emb.token" || path == "emb.position" || path == "emb.segment"; };
    auto sw = [&] {
      if constexpr (client) return nn::share_bundle(shapes, ctx, opt);
      else return nn::share_bundle(w, ctx, opt);
    }();
    const nn::Use model(sw, cfg);
    const bool holds = Ctx::id == 1 || Ctx::is_solo;
    const auto xs = nn::client_embedding(sf::party<1>, holds ? &w.emb : nullptr, holds ? ids : placeholder, cfg.embed, ctx);
    return std::vector<xt::xarray<double>>{ctx.reveal(model.embed(xs, ctx))};
  };
  std::vector<xt::xarray<double>> so;
  const auto sst = sf::run_solo<Suite>(31, [&](auto& ctx) { so = secure(ctx); });
  std::array<std::vector<xt::xarray<double>>, 2> tp;
  const auto tst = sf::run_two_party<Suite>(32, [&](auto& ctx) { tp[std::remove_cvref_t<decltype(ctx)>::id] = secure(ctx); });
  const auto e_so = sf::test::abs_error(so[0], z_approx), e_tp = sf::test::abs_error(tp[0][0], z_approx),
             e_ex = sf::test::abs_error(tp[0][0], z_exact);
  INFO("simulation vs doubles (same approximations): max " << e_so.max << "; two-party: max " << e_tp.max << "; two-party vs exact: max " << e_ex.max
                                                          << ", cosine " << cosine(tp[0][0], z_exact));
  CHECK(same(tp[0][0], tp[1][0]));
  CHECK(e_so.max <= 1e-2);
  CHECK(e_tp.max <= 1e-2);
  CHECK(cosine(tp[0][0], z_exact) >= 0.999);
  CHECK(tst[0].total().rounds == sst.total().rounds);
  CHECK(tst[0].total().bytes_sent == tst[1].total().bytes_received);
  CHECK(tst[0]["pooling"].rounds == 0);  // mean pooling is local
}

// ================================================================================================
// On the fetched weights (cmake/fetch_data.sh); the numpy cross-check of the whole graph is the
// CTest example.sentiment_crosscheck.

TEST_CASE("use: the real weights, tokenizer and sanity figures", "[real]") {
  const auto dist = cache_dir() / "use" / "package" / "dist";
  INFO("cache: " << dist << " (run cmake/fetch_data.sh)");
  REQUIRE(std::filesystem::exists(dist / "model.json"));
  nn::UseConfig cfg;
  const auto w = nn::load_use(dist, &cfg);
  CHECK(cfg.max_tokens == 128);
  CHECK(cfg.ln_eps == Approx(1e-6));
  // The graph's weights: embeddings, projection, 2 layers (LayerNorms, QKV, output, FFN), tanh layer.
  const std::size_t graph_weights = 8002 * 256 + (256 * 512 + 512) + (2 * 256 + 256 * 768 + 768 + 256 * 512 + 512) +
                                    (2 * 512 + 512 * 1536 + 1536 + 512 * 512 + 512) + 2 * (2 * 512 + 512 * 1536 + 1536 + 1536 * 512 + 512) +
                                    (512 * 512 + 512);
  CHECK(graph_weights == 6975744);  // "7.0 M parameters"
  CHECK(parameter_count(w) == graph_weights + 128 * 256 + 256 + 2 * 256);  // + timing rows, the zero segment row, the unused LN
  const auto tok = text::SentencePiece::from_vocab_json(dist / "vocab.json");
  CHECK(tok.vocab_size() == 8000);
  auto pieces = [&](const std::string& s) {
    std::vector<std::string> p;
    for (auto id : tok.encode(s)) p.push_back(tok.piece(static_cast<std::size_t>(id)));
    return p;
  };
  const std::string W = "\xe2\x96\x81";
  CHECK(pieces("I loved this movie") == std::vector<std::string>{W + "I", W + "loved", W + "this", W + "movie"});
  CHECK(pieces("Ｉ\xc2\xa0loved") == std::vector<std::string>{W + "I", W + "loved"});  // fullwidth I, no-break space

  const nn::Use model(w, cfg);
  nn::PlainContext<sf::Basic<>, nn::Exact> ctx;
  auto embed = [&](const std::string& s) {
    nn::TokenIds t;
    for (auto id : tok.encode(s, cfg.max_tokens)) t.token.push_back(static_cast<std::size_t>(id));
    return nn::l2_normalize(model.embed(t, ctx));
  };
  const auto a = embed("I loved this movie"), b = embed("What a great film"), c = embed("The central bank raised interest rates by a quarter point.");
  // environment.md: 0.80 and 0.11 (its finance sentence is not given).
  CHECK(cosine(a, b) == Approx(0.80).margin(0.02));
  CHECK(cosine(a, c) < 0.2);

  // A corrupted copy of the cache is a clear error.
  const auto dir = temp_dir("corrupt");
  for (const auto& e : std::filesystem::directory_iterator(dist)) std::filesystem::copy_file(e.path(), dir / e.path().filename());
  std::filesystem::resize_file(dir / "group1-shard7of7", 1000);
  CHECK(error_of([&] { (void)nn::load_use(dir); }).find("truncated download") != std::string::npos);
  std::filesystem::remove_all(dir);
}
