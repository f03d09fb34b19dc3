// The nn layer (include/secformer/nn/): a tiny BERT in the three number systems (two-party shares,
// the Solo fixed-point simulation, doubles with the same approximations, the exact double model),
// measured rounds and bytes against the layers' documented costs, the client-side embedding option,
// the pooler's tanh, weight bundles through .npy files (round trip and the documented errors), and
// a model whose layers differ in width built with the combinators, the .npy parser on malformed
// bytes, and the simulation's range checks of every approximation with a documented input range.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include <secformer/io/npy.hpp>
#include <secformer/nn/bert.hpp>
#include <secformer/protocols/gelu_baselines.hpp>
#include <secformer/run.hpp>

#include "support/test_data.hpp"

namespace sf = secformer;
namespace nn = secformer::nn;

namespace {

/// The SecFormer configuration, spelled out (protocols/suite.hpp's SecFormerSuite has this shape).
struct TestSuite {
  using gelu = sf::SecFormerGelu;
  using softmax = sf::Quad2Softmax;
  using layernorm = sf::SecFormerLayerNorm;
  using compare = sf::MaskedCompare<>;
  using encoding = sf::Fixed<16>;
  using ring = sf::Z2k<64>;
};

struct TwoParty {
  std::array<std::vector<xt::xarray<double>>, 2> out;
  std::array<sf::Stats, 2> stats;
};
/// Runs f(ctx) -> vector of revealed tensors for both parties.
template <class Suite, class F>
TwoParty two_party(std::uint64_t seed, F f) {
  TwoParty r;
  r.stats = sf::run_two_party<Suite>(seed, [&](auto& ctx) { r.out[std::remove_cvref_t<decltype(ctx)>::id] = f(ctx); });
  return r;
}
template <class Suite, class F>
std::pair<std::vector<xt::xarray<double>>, sf::Stats> solo(std::uint64_t seed, F f) {
  std::vector<xt::xarray<double>> out;
  auto st = sf::run_solo<Suite>(seed, [&](auto& ctx) { out = f(ctx); });
  return {out, st};
}

template <class Ctx> inline constexpr bool is_client_v = Ctx::id == 1 && !Ctx::is_solo;

/// The owner (party 0, or the simulation) shares values; party 1 passes only the shapes.
template <class Plain, class Shapes, class Ctx>
auto owner_shares(const Plain& w, const Shapes& shapes, Ctx& ctx, const nn::ShareOptions& opt = {}) {
  if constexpr (is_client_v<Ctx>) return nn::share_bundle(shapes, ctx, opt);
  else return nn::share_bundle(w, ctx, opt);
}

/// Catch's expression decomposition does not mix with xtensor's operators: compare here.
bool same(const xt::xarray<double>& a, const xt::xarray<double>& b) { return a.shape() == b.shape() && a == b; }
bool shape_is(const xt::xarray<double>& a, const std::vector<std::size_t>& s) {
  return std::vector<std::size_t>(a.shape().begin(), a.shape().end()) == s;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const sf::usage_error& e) {
    return e.what();
  }
  return "(no usage_error)";
}

void report(const char* what, const sf::test::ErrorStats& e) {
  std::cout << "  " << what << ": mean " << e.mean << ", p99 " << e.p99 << ", max " << e.max << '\n';
}

nn::BertConfig tiny_config() {
  nn::BertConfig c;
  c.vocab = 40;
  c.max_positions = 16;
  c.type_vocab = 2;
  c.hidden = 16;
  c.heads = 2;
  c.ffn = 32;
  c.layers = 2;
  c.labels = 3;
  return c;
}

template <class Bundle>
std::size_t matrix_words(const Bundle& shapes, bool with_tables) {
  std::size_t n = 0;
  nn::for_each_tensor(shapes, [&](const std::string& path, const nn::TensorShape& s) {
    if (s.dims.size() == 2 && (with_tables || !nn::skip_embedding_tables(path))) n += s.size();
  });
  return n;
}

}  // namespace

// ================================================================================================

TEST_CASE("nn: a tiny BERT as shares, in the simulation and in doubles", "[nn][bert]") {
  using Gelu = TestSuite::gelu;
  using Softmax = TestSuite::softmax;
  using Norm = TestSuite::layernorm;
  using Tanh = nn::SigmoidTanh<>;
  const nn::BertConfig cfg = tiny_config();
  const auto shapes = nn::bert_shapes(cfg);
  const auto w = nn::random_bundle(shapes, 11);
  const nn::TokenIds ids{{3, 17, 5, 29, 11, 2, 0, 0}, {0, 0, 0, 1, 1, 1, 0, 0}};
  const nn::TokenIds placeholder{std::vector<std::size_t>(ids.size(), 0), {}};  // party 0 knows the length only
  const xt::xarray<double> mask{1, 1, 1, 1, 1, 1, 0, 0};                          // two padding tokens
  const std::size_t s = ids.size(), d = cfg.hidden, L = cfg.layers;

  // Doubles: the same approximations, and the exact model.
  const nn::Bert plain_model(w, cfg);
  nn::PlainContext<TestSuite, nn::Approx> approx_ctx;
  nn::PlainContext<TestSuite, nn::Exact> exact_ctx;
  const xt::xarray<double> h_approx = plain_model.encode(ids, &mask, approx_ctx);
  const xt::xarray<double> l_approx = plain_model.classify(h_approx, approx_ctx);
  const xt::xarray<double> h_exact = plain_model.encode(ids, &mask, exact_ctx);
  const xt::xarray<double> l_exact = plain_model.classify(h_exact, exact_ctx);
  REQUIRE(shape_is(h_approx, {s, d}));
  REQUIRE(shape_is(l_approx, {1, cfg.labels}));

  SECTION("secure one-hot lookup: two parties vs simulation vs doubles; costs") {
    auto secure = [&](auto& ctx) {
      using Ctx = std::remove_cvref_t<decltype(ctx)>;
      const auto sw = owner_shares(w, shapes, ctx);
      const nn::Bert model(sw, cfg);
      const auto tokens = nn::share_tokens(sf::party<1>, is_client_v<Ctx> || Ctx::is_solo ? ids : placeholder, cfg.vocab, cfg.type_vocab, ctx);
      const auto h = model.encode(tokens, &mask, ctx);
      const auto logits = model.classify(h, ctx);
      return std::vector<xt::xarray<double>>{ctx.reveal(h), ctx.reveal(logits)};
    };
    const auto tp = two_party<TestSuite>(101, secure);
    const auto [so, sst] = solo<TestSuite>(102, secure);

    // Both parties revealed the same values.
    REQUIRE(tp.out[0].size() == 2);
    CHECK(same(tp.out[0][0], tp.out[1][0]));
    CHECK(same(tp.out[0][1], tp.out[1][1]));

    const auto e_tp = sf::test::abs_error(tp.out[0][0], h_approx);
    const auto e_so = sf::test::abs_error(so[0], h_approx);
    const auto e_ts = sf::test::abs_error(tp.out[0][0], so[0]);
    const auto e_ex = sf::test::abs_error(tp.out[0][0], h_exact);
    const auto e_ax = sf::test::abs_error(h_approx, h_exact);
    const auto e_lg = sf::test::abs_error(tp.out[0][1], l_approx);
    const auto e_lx = sf::test::abs_error(tp.out[0][1], l_exact);
    std::cout << "tiny BERT (2 layers, hidden 16, 2 heads, FFN 32, 8 tokens, 2 masked), final hidden states:\n";
    report("two-party vs doubles with the same approximations", e_tp);
    report("simulation vs doubles with the same approximations", e_so);
    report("two-party vs simulation", e_ts);
    report("two-party vs the exact model", e_ex);
    report("doubles with the approximations vs the exact model", e_ax);
    report("logits, two-party vs doubles with the approximations", e_lg);
    report("logits, two-party vs the exact model", e_lx);
    CHECK(e_tp.mean <= 1e-3);  // the bound is 1e-2
    CHECK(e_tp.max <= 1e-2);
    CHECK(e_so.mean <= 1e-3);
    CHECK(e_so.max <= 1e-2);
    CHECK(e_ts.mean <= 5e-4);  // truncation noise only
    CHECK(e_ts.max <= 5e-3);
    CHECK(e_lg.max <= 5e-3);
    CHECK(std::isfinite(e_ex.mean));

    // Costs: both parties count the same rounds; what one sends, the other receives; the
    // simulation counts what a party pays.
    const auto& c0 = tp.stats[0];
    const auto& c1 = tp.stats[1];
    CHECK(c0.total().rounds == c1.total().rounds);
    CHECK(c0.total().bytes_sent == c1.total().bytes_received);
    CHECK(c1.total().bytes_sent == c0.total().bytes_received);
    CHECK(sst.total().rounds == c0.total().rounds);
    CHECK(sst.total().bytes_sent == c0.total().bytes_sent);

    constexpr int ln = Norm::online_rounds;
    constexpr int layer_rounds = nn::encoder_layer_rounds<Softmax, Gelu, Norm>();
    STATIC_REQUIRE(layer_rounds == 6 + Softmax::online_rounds + Gelu::online_rounds + 2 * ln);
    for (const auto* c : {&c0, &c1, &sst}) {
      CHECK((*c)["weight mask"].rounds == 1);                                       // all matrices masked in one round
      CHECK((*c)["weight mask"].bytes_sent == 8 * matrix_words(shapes, true));
      CHECK((*c)["embedding"].rounds == 1 + ln);                                  // token and segment rows in one round
      CHECK((*c)["attention"].rounds == static_cast<std::uint64_t>(L * (4 + Softmax::online_rounds)));  // QKV, QK^T, PV, output
      CHECK((*c)["ffn"].rounds == static_cast<std::uint64_t>(L * (2 + Gelu::online_rounds)));
      CHECK((*c)["layernorm"].rounds == static_cast<std::uint64_t>((2 * L + 1) * ln));
      CHECK((*c)["tanh"].rounds == static_cast<std::uint64_t>(Tanh::rounds_for<TestSuite::compare>));
      CHECK((*c)["pooler"].rounds == 1 + (*c)["tanh"].rounds);
      CHECK((*c)["classifier"].rounds == 1);
      // Every linear layer opens its input once (rows x in words): QKV, output, FC1 (s x d), FC2 (s x ffn), pooler, classifier.
      CHECK((*c)["linear"].bytes_sent == 8 * (L * (3 * s * d + s * cfg.ffn) + 2 * d));
      CHECK(c->total().rounds == 1 + (1 + ln) + L * layer_rounds + (1 + (*c)["tanh"].rounds) + 1 + 2);  // + 2 reveals
    }
    std::cout << "  online rounds: " << c0.total().rounds - 3 << " (encoder layer " << layer_rounds << "), bytes sent by party 0: "
              << c0.total().bytes_sent << '\n';
  }

  SECTION("the cheaper embedding: the client embeds and shares its rows") {
    auto cheap = [&](auto& ctx) {
      using Ctx = std::remove_cvref_t<decltype(ctx)>;
      nn::ShareOptions opt;
      opt.skip = nn::skip_embedding_tables;
      const auto sw = owner_shares(w, shapes, ctx, opt);
      const nn::Bert model(sw, cfg);
      const auto x = nn::client_embedding(sf::party<1>, is_client_v<Ctx> || Ctx::is_solo ? &w.emb : nullptr,
                                          is_client_v<Ctx> || Ctx::is_solo ? ids : placeholder, cfg.hidden, ctx);
      const auto h = model.encode(x, &mask, ctx);
      return std::vector<xt::xarray<double>>{ctx.reveal(h)};
    };
    const auto tp = two_party<TestSuite>(103, cheap);
    CHECK(same(tp.out[0][0], tp.out[1][0]));
    const auto e = sf::test::abs_error(tp.out[0][0], h_approx);
    report("client embedding, two-party vs doubles", e);
    CHECK(e.mean <= 1e-3);
    CHECK(e.max <= 1e-2);
    for (const auto& c : tp.stats) {
      CHECK(c["embedding"].rounds == static_cast<std::uint64_t>(Norm::online_rounds));  // the LayerNorm only
      CHECK(c["weight mask"].bytes_sent == 8 * matrix_words(shapes, false));            // tables neither shared nor masked
    }
  }

  SECTION("a layer that was not shared is a clear error") {
    auto wrong = [&](auto& ctx) {
      nn::ShareOptions opt;
      opt.skip = nn::skip_embedding_tables;
      const auto sw = nn::share_bundle(w, ctx, opt);
      const nn::Bert model(sw, cfg);
      const auto tokens = nn::share_tokens(sf::party<1>, ids, cfg.vocab, cfg.type_vocab, ctx);
      (void)model.encode(tokens, &mask, ctx);
      return std::vector<xt::xarray<double>>{};
    };
    CHECK_THROWS_AS(solo<TestSuite>(104, wrong), sf::usage_error);
  }
}

// ================================================================================================

TEST_CASE("nn: the pooler's tanh (SigmoidTanh)", "[nn][tanh]") {
  using Tanh = nn::SigmoidTanh<>;
  xt::xarray<double> x = xt::xarray<double>::from_shape({161});
  for (std::size_t i = 0; i < 161; ++i) x(i) = -8.0 + 0.1 * static_cast<double>(i);
  xt::xarray<double> approx(x.shape()), exact(x.shape());
  for (std::size_t i = 0; i < x.size(); ++i) {
    approx(i) = Tanh::approx(x(i));
    exact(i) = std::tanh(x(i));
  }
  auto run = [&](auto& ctx) {
    const auto sx = ctx.input(sf::party<0>, x);
    return std::vector<xt::xarray<double>>{ctx.reveal(nn::tanh<Tanh>(sx, ctx))};
  };
  const auto tp = two_party<TestSuite>(201, run);
  const auto [so, sst] = solo<TestSuite>(202, run);
  CHECK(same(tp.out[0][0], tp.out[1][0]));
  const auto e_ap = sf::test::abs_error(approx, exact);
  const auto e_tp = sf::test::abs_error(tp.out[0][0], approx);
  const auto e_tx = sf::test::abs_error(tp.out[0][0], exact);
  const auto e_so = sf::test::abs_error(so[0], approx);
  std::cout << "SigmoidTanh on [-8, 8]:\n";
  report("the approximation in doubles vs tanh", e_ap);
  report("two-party vs the approximation", e_tp);
  report("two-party vs tanh", e_tx);
  report("simulation vs the approximation", e_so);
  CHECK(e_ap.max <= 2e-3);
  CHECK(e_tp.max <= 5e-3);
  CHECK(e_tx.max <= 5e-3);
  CHECK(e_so.max <= 5e-3);
  for (const auto& c : tp.stats) CHECK(c["tanh"].rounds == static_cast<std::uint64_t>(Tanh::rounds_for<TestSuite::compare>));
  CHECK(sst["tanh"].rounds == static_cast<std::uint64_t>(Tanh::rounds_for<TestSuite::compare>));
  // Outside the documented range the simulation refuses.
  auto out_of_range = [&](auto& ctx) {
    const auto sx = ctx.input(sf::party<0>, xt::xarray<double>{1.0, 70.0});
    return std::vector<xt::xarray<double>>{ctx.reveal(nn::tanh<Tanh>(sx, ctx))};
  };
  CHECK_THROWS_AS(solo<TestSuite>(203, out_of_range), sf::range_error);
}

// ================================================================================================

TEST_CASE("nn: weight bundles through .npy files", "[nn][weights]") {
  namespace fs = std::filesystem;
  const nn::BertConfig cfg = tiny_config();
  const auto shapes = nn::bert_shapes(cfg);
  const auto w = nn::random_bundle(shapes, 21);
  const fs::path dir = fs::temp_directory_path() / ("secformer_nn_weights_" + std::to_string(std::hash<std::string>{}(fs::current_path().string()) % 100000));
  fs::remove_all(dir);
  nn::save_bundle(w, dir);

  // BERT-base has 109,482,240 parameters with its pooler (the published count), + 1538 for a 2-way classifier.
  CHECK(nn::parameter_count(nn::bert_shapes(nn::BertConfig::base())) == 109482240u + 1538u);
  CHECK(nn::parameter_count(w) == nn::parameter_count(shapes));

  SECTION("round trip: every tensor loads bit for bit") {
    CHECK(fs::exists(dir / "layer0.attn.wqkv.npy"));
    CHECK(fs::exists(dir / "layer1.ln2.gamma.npy"));
    CHECK(fs::exists(dir / "emb.ln.beta.npy"));
    const auto back = nn::load_bundle(shapes, dir);
    std::vector<xt::xarray<double>> a, b;
    nn::for_each_tensor(w, [&](const std::string&, const xt::xarray<double>& t) { a.push_back(t); });
    nn::for_each_tensor(back, [&](const std::string&, const xt::xarray<double>& t) { b.push_back(t); });
    REQUIRE(a.size() == b.size());
    REQUIRE(a.size() == 5 + 2 * 12 + 4);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(same(a[i], b[i]));
    // Skipped tensors are not read.
    nn::LoadOptions opt;
    opt.skip = nn::skip_embedding_tables;
    fs::remove(dir / "emb.token.npy");
    const auto partial = nn::load_bundle(shapes, dir, opt);
    CHECK(partial.emb.token.dimension() == 0);  // left default-constructed
    CHECK(same(partial.emb.ln.gamma, w.emb.ln.gamma));
  }

  SECTION("float32 and Fortran-order files are accepted") {
    const xt::xarray<double>& m = w.layer[1].fc1.w;  // 16 x 32
    std::vector<float> f32(m.begin(), m.end());
    sf::io::npy::write_raw(dir / "layer1.fc1.w.npy", "<f4", {16, 32}, f32.data(), f32.size() * 4);
    std::vector<double> colmajor;
    const auto& wo = w.layer[0].attn.wo;  // 16 x 16, written column by column
    for (std::size_t j = 0; j < 16; ++j)
      for (std::size_t i = 0; i < 16; ++i) colmajor.push_back(wo(i, j));
    sf::io::npy::write_raw(dir / "layer0.attn.wo.npy", "<f8", {16, 16}, colmajor.data(), colmajor.size() * 8, true);
    const auto back = nn::load_bundle(shapes, dir);
    CHECK(same(back.layer[0].attn.wo, wo));
    for (std::size_t i = 0; i < m.size(); ++i) CHECK(back.layer[1].fc1.w.data()[i] == static_cast<double>(f32[i]));
  }

  SECTION("clear errors: missing file, wrong shape, wrong dtype, truncated or corrupt file") {
    fs::remove(dir / "layer1.fc2.w.npy");
    const auto missing = message_of([&] { (void)nn::load_bundle(shapes, dir); });
    CHECK_THAT(missing, Catch::Contains("weight 'layer1.fc2.w'") && Catch::Contains("layer1.fc2.w.npy") && Catch::Contains("missing file"));
    sf::io::npy::save(dir / "layer1.fc2.w.npy", xt::zeros<double>({31, 16}));
    const auto shape = message_of([&] { (void)nn::load_bundle(shapes, dir); });
    CHECK_THAT(shape, Catch::Contains("weight 'layer1.fc2.w'") && Catch::Contains("wrong shape (31, 16), expected (32, 16)"));
    std::vector<std::int64_t> ints(32 * 16, 1);
    sf::io::npy::write_raw(dir / "layer1.fc2.w.npy", "<i8", {32, 16}, ints.data(), ints.size() * 8);
    const auto dtype = message_of([&] { (void)nn::load_bundle(shapes, dir); });
    CHECK_THAT(dtype, Catch::Contains("wrong dtype") && Catch::Contains("int64 ('<i8')") && Catch::Contains("float64"));
    sf::io::npy::save(dir / "layer1.fc2.w.npy", w.layer[1].fc2.w);
    fs::resize_file(dir / "layer1.fc2.w.npy", fs::file_size(dir / "layer1.fc2.w.npy") - 100);
    const auto truncated = message_of([&] { (void)nn::load_bundle(shapes, dir); });
    CHECK_THAT(truncated, Catch::Contains("truncated file") && Catch::Contains("needs 4096 data bytes, the file has 3996"));
    fs::resize_file(dir / "layer1.fc2.w.npy", 40);  // inside the header
    CHECK_THAT(message_of([&] { (void)nn::load_bundle(shapes, dir); }), Catch::Contains("truncated file (incomplete header)"));
    {
      std::ofstream junk(dir / "layer1.fc2.w.npy", std::ios::binary | std::ios::trunc);
      junk << "this is not an array";
    }
    CHECK_THAT(message_of([&] { (void)nn::load_bundle(shapes, dir); }), Catch::Contains("corrupt file: not a .npy file"));
    sf::io::npy::save(dir / "layer1.fc2.w.npy", w.layer[1].fc2.w);
    CHECK_NOTHROW(nn::load_bundle(shapes, dir));
  }

  SECTION("sharing: party 0 inputs values, party 1 shapes; matrices are masked once") {
    auto run = [&](auto& ctx) {
      using Ctx = std::remove_cvref_t<decltype(ctx)>;
      const auto sw = owner_shares(w, shapes, ctx);
      // A masked weight's fb is this party's share of W; f = W - B is public.
      const auto& mw = sw.layer[1].fc1.w;
      const typename Ctx::template shared<> share_of_w(mw.fb);
      return std::vector<xt::xarray<double>>{ctx.reveal(share_of_w), ctx.reveal(sw.layer[0].ln1.gamma), ctx.reveal(sw.pooler.b)};
    };
    const auto tp = two_party<TestSuite>(301, run);
    for (int p = 0; p < 2; ++p) {
      CHECK(sf::test::abs_error(tp.out[p][0], w.layer[1].fc1.w).max <= 1.0 / 65536);
      CHECK(sf::test::abs_error(tp.out[p][1], w.layer[0].ln1.gamma).max <= 1.0 / 65536);
      CHECK(sf::test::abs_error(tp.out[p][2], w.pooler.b).max <= 1.0 / 65536);
      CHECK(tp.stats[p]["weight mask"].rounds == 1);
    }
    // Party 0 must pass values.
    auto wrong = [&](auto& ctx) {
      (void)nn::share_bundle(shapes, ctx);
      return std::vector<xt::xarray<double>>{};
    };
    CHECK_THAT(message_of([&] { (void)solo<TestSuite>(302, wrong); }), Catch::Contains("must pass the values of 'emb.token'"));
    // A small budget masks in several rounds.
    auto budget = [&](auto& ctx) {
      nn::ShareOptions opt;
      opt.max_words_per_round = 1000;
      (void)nn::share_bundle(w, ctx, opt);
      return std::vector<xt::xarray<double>>{};
    };
    const auto [o, st] = solo<TestSuite>(303, budget);
    CHECK(st["weight mask"].rounds > 1);
    CHECK(st["weight mask"].bytes_sent == 8 * matrix_words(shapes, true));
  }
  fs::remove_all(dir);
}

// ================================================================================================

namespace {
/// A model whose layers differ in width: a 16-wide encoder block, a residual block widening to 24
/// with a projection on the shortcut, and a 24-wide block with other policies.
template <class R = nn::PlainRepr>
struct TwoWidthParams {
  BOOST_HANA_DEFINE_STRUCT(TwoWidthParams, (nn::EncoderParams<R>, narrow), (nn::LinearParams<R>, up1), (nn::LinearParams<R>, up2),
                           (nn::LinearParams<R>, shortcut), (nn::NormParams<R>, ln), (nn::EncoderParams<R>, wide));
};
TwoWidthParams<nn::ShapeRepr> two_width_shapes() {
  return {nn::shapes::encoder(16, 32), nn::shapes::linear(16, 48), nn::shapes::linear(48, 24), nn::shapes::linear(16, 24), nn::shapes::norm(24),
          nn::shapes::encoder(24, 48)};
}
template <class R>
auto two_width_model(const TwoWidthParams<R>& p) {
  using namespace nn;
  return sequential(encoder_layer(p.narrow, 2),
                    residual(sequential(Linear<R>(p.up1), Activation<Relu<>>{}, Linear<R>(p.up2)), Linear<R>(p.shortcut)), Norm<R>(p.ln),
                    encoder_layer<sf::Quad2Softmax, sf::PumaGelu>(p.wide, 3));
}
}  // namespace

TEST_CASE("nn: combinators build a model whose layers differ in width", "[nn][combinators]") {
  const auto shapes = two_width_shapes();
  const auto w = nn::random_bundle(shapes, 31);
  sf::test::TestData data(32);
  const xt::xarray<double> x = data.normal_array({6, 16}, 1.0);

  nn::PlainContext<TestSuite> approx_ctx;
  nn::PlainContext<TestSuite, nn::Exact> exact_ctx;
  const auto model = two_width_model(w);
  const xt::xarray<double> y = model(x, approx_ctx);
  const xt::xarray<double> y_exact = model(x, exact_ctx);
  REQUIRE(shape_is(y, {6, 24}));

  auto run = [&](auto& ctx) {
    const auto sw = owner_shares(w, shapes, ctx);
    const auto sx = ctx.input(sf::party<1>, x);
    return std::vector<xt::xarray<double>>{ctx.reveal(two_width_model(sw)(sx, ctx))};
  };
  const auto tp = two_party<TestSuite>(401, run);
  CHECK(same(tp.out[0][0], tp.out[1][0]));
  REQUIRE(shape_is(tp.out[0][0], {6, 24}));
  const auto e = sf::test::abs_error(tp.out[0][0], y);
  const auto ex = sf::test::abs_error(tp.out[0][0], y_exact);
  std::cout << "two-width model (16 -> 24):\n";
  report("two-party vs doubles with the approximations", e);
  report("two-party vs the exact model", ex);
  CHECK(e.mean <= 1e-3);
  CHECK(e.max <= 1e-2);
  // The explicit policies are the ones that ran: the narrow block's GeLU from the suite, PUMA's in
  // the wide block, ReLU in the widening block.
  for (const auto& c : tp.stats) {
    CHECK(c["gelu"].rounds == static_cast<std::uint64_t>(TestSuite::gelu::online_rounds + sf::PumaGelu::online_rounds));
    CHECK(c["relu"].rounds == static_cast<std::uint64_t>(sf::MaskedCompare<>::relu_rounds<sf::Z2k<64>>));
  }

  // Combinators on their own: an empty sequential is the identity; fn and named wrap callables.
  const auto id = nn::sequential();
  CHECK(same(id(x, approx_ctx), x));
  const auto twice = nn::named("twice", nn::fn([](const auto& v, auto&) { return std::decay_t<decltype(v)>(v + v); }));
  CHECK(same(twice(x, approx_ctx), 2.0 * x));
}

// ================================================================================================

namespace {
/// The bytes of a .npy file with a given header dict text (padded as numpy pads) and data bytes.
std::vector<unsigned char> npy_bytes(const std::string& dict, const std::vector<unsigned char>& data, int version = 1) {
  const std::size_t pre = version == 1 ? 10 : 12;
  std::string h = dict;
  h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::vector<unsigned char> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<unsigned char>(version), 0};
  for (std::size_t i = 0; i < pre - 8; ++i) b.push_back(static_cast<unsigned char>(h.size() >> (8 * i)));
  b.insert(b.end(), h.begin(), h.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}
template <class T>
std::vector<unsigned char> raw_bytes(const std::vector<T>& v) {
  std::vector<unsigned char> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}
std::string dict(const std::string& descr, const std::string& shape, const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
}
std::string parse_error(const std::vector<unsigned char>& b, const sf::io::npy::Limits& lim = {}) {
  return message_of([&] { (void)sf::io::npy::parse(b, "t", "<bytes>", lim); });
}
}  // namespace

TEST_CASE("nn: the .npy parser accepts numpy's files and rejects malformed bytes with clear errors", "[nn][weights][npy]") {
  namespace npy = sf::io::npy;
  const std::vector<double> six = {1.5, -2, 0.25, 4, 5, -6};
  SECTION("valid files: versions 1.0, 2.0 and 3.0, scalars, empty arrays, float32, Fortran order in 3-D") {
    for (int v : {1, 2, 3}) {
      const auto a = npy::parse(npy_bytes(dict("<f8", "(2, 3)"), raw_bytes(six), v));
      CHECK(a.shape == std::vector<std::size_t>{2, 3});
      CHECK(a.data == six);
    }
    CHECK(npy::parse(npy_bytes(dict("<f8", "()"), raw_bytes(std::vector<double>{7}))).data == std::vector<double>{7});
    const auto empty = npy::parse(npy_bytes(dict("<f8", "(0, 3)"), {}));
    CHECK((empty.shape == std::vector<std::size_t>{0, 3} && empty.data.empty()));
    CHECK(npy::parse(npy_bytes(dict("<f4", "(3,)"), raw_bytes(std::vector<float>{1, 2, 3}))).data == std::vector<double>{1, 2, 3});
    // Keys in another order, double quotes, no trailing comma, Python 2 longs.
    CHECK(npy::parse(npy_bytes("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f8\"}", raw_bytes(six))).data == six);
    // Fortran order: element (i, j, k) of a 2 x 3 x 4 array is at i + 2 j + 6 k in the file.
    std::vector<double> f(24);
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        for (std::size_t k = 0; k < 4; ++k) f[i + 2 * j + 6 * k] = 100.0 * i + 10.0 * j + k;
    const auto a = npy::parse(npy_bytes(dict("<f8", "(2, 3, 4)", "True"), raw_bytes(f)));
    REQUIRE(a.data.size() == 24);
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        for (std::size_t k = 0; k < 4; ++k) CHECK(a.data[12 * i + 4 * j + k] == 100.0 * i + 10.0 * j + k);
  }
  SECTION("magic, version and header length") {
    auto good = npy_bytes(dict("<f8", "(2, 3)"), raw_bytes(six));
    auto b = good;
    b[5] = 'Z';
    CHECK_THAT(parse_error(b), Catch::Contains("weight 't': <bytes>: corrupt file: not a .npy file (bad magic"));
    CHECK_THAT(parse_error({0x93, 'N', 'U'}), Catch::Contains("bad magic, 3 bytes"));
    CHECK_THAT(parse_error({}), Catch::Contains("bad magic, 0 bytes"));
    b = good;
    b[6] = 4;
    CHECK_THAT(parse_error(b), Catch::Contains("unknown .npy format version 4.0"));
    b = good;
    b[7] = 1;
    CHECK_THAT(parse_error(b), Catch::Contains("unknown .npy format version 1.1"));
    b.assign(good.begin(), good.begin() + 40);
    CHECK_THAT(parse_error(b), Catch::Contains("truncated file (incomplete header)"));
    b = npy_bytes(dict("<f8", "(2, 3)"), raw_bytes(six), 2);
    b[10] = 0x10;  // header length 2^20 + ...: beyond the limit, rejected before anything is read
    const std::size_t hlen = b[8] | (std::size_t(b[9]) << 8) | (std::size_t(0x10) << 16);
    CHECK_THAT(parse_error(b), Catch::Contains("corrupt file: header of " + std::to_string(hlen) + " bytes (at most 65536)"));
  }
  SECTION("the header dict") {
    const auto d = raw_bytes(six);
    const std::pair<std::string, std::string> cases[] = {
        {"['descr', '<f8']", "the header is not a dict"},
        {"{'descr': '<f8', 'fortran_order': False}", "no 'shape'"},
        {"{'shape': (2, 3), 'fortran_order': False}", "no 'descr'"},
        {"{'descr': '<f8', 'shape': (2, 3)}", "no 'fortran_order'"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", "duplicate key 'descr'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unknown key 'extra'"},
        {dict("<f8", "(2, 3)", "maybe"), "fortran_order is neither True nor False"},
        {dict("<f8", "[2, 3]"), "the shape is not a tuple"},
        {dict("<f8", "(6)"), "a 1-D shape needs a trailing comma"},
        {dict("<f8", "(-2, -3)"), "bad shape entry at '-2, -3)"},
        {dict("<f8", "(2 3)"), "bad shape at '3)"},
        {dict("<f8", "(2, 3)") + " x", "text after the dict"},
        {"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (6,)}", "the dtype descriptor is not a string (structured dtypes are not supported)"},
        {"{'descr' '<f8'}", "no ':' after 'descr'"},
        {"{'descr': '<f8' 'fortran_order': False}", "expected ',' or '}'"},
        {dict("<f8", "(99999999999999999999999,)"), "a shape dimension overflows 64 bits"},
        {dict("<f8", "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)"), "more than 32 dimensions"},
    };
    for (const auto& [h, want] : cases) {
      INFO(h);
      CHECK_THAT(parse_error(npy_bytes(h, d)), Catch::Contains("corrupt header: " + want));
    }
  }
  SECTION("dtype, shape against size, trailing bytes, non-finite values") {
    CHECK_THAT(parse_error(npy_bytes(dict(">f8", "(2, 3)"), raw_bytes(six))), Catch::Contains("wrong dtype: the file holds float64 big-endian ('>f8')"));
    CHECK_THAT(parse_error(npy_bytes(dict("|u1", "(6,)"), std::vector<unsigned char>(6))), Catch::Contains("wrong dtype: the file holds uint8 ('|u1')"));
    CHECK_THAT(parse_error(npy_bytes(dict("<f2", "(3,)"), std::vector<unsigned char>(6))), Catch::Contains("float16 ('<f2')"));
    // Element counts that overflow 64 bits are rejected before any allocation...
    CHECK_THAT(parse_error(npy_bytes(dict("<f8", "(4294967296, 4294967296, 16)"), raw_bytes(six))),
               Catch::Contains("corrupt header: shape (4294967296, 4294967296, 16) has more elements than fit in memory"));
    CHECK_THAT(parse_error(npy_bytes(dict("<f8", "(2305843009213693952,)"), raw_bytes(six))), Catch::Contains("more elements than fit in memory"));
    // ...and so are absurd shapes that fit 64 bits but not the file.
    CHECK_THAT(parse_error(npy_bytes(dict("<f8", "(1000000000, 1000)"), raw_bytes(six))),
               Catch::Contains("truncated file: shape (1000000000, 1000) needs 8000000000000 data bytes, the file has 48"));
    CHECK_THAT(parse_error(npy_bytes(dict("<f8", "(2, 2)"), raw_bytes(six))), Catch::Contains("corrupt file: 16 bytes after the data of shape (2, 2)"));
    auto nan = six;
    nan[1] = std::nan("");
    CHECK_THAT(parse_error(npy_bytes(dict("<f8", "(2, 3)"), raw_bytes(nan))), Catch::Contains("non-finite value (NaN or infinity) at flat index 1"));
    const std::vector<float> inf = {1, 2, -std::numeric_limits<float>::infinity()};
    CHECK_THAT(parse_error(npy_bytes(dict("<f4", "(3,)"), raw_bytes(inf))), Catch::Contains("non-finite value (NaN or infinity) at flat index 2"));
  }
  SECTION("files: oversized files are refused before reading; shape and dtype errors name the tensor") {
    namespace fs = std::filesystem;
    const fs::path file = fs::temp_directory_path() / ("secformer_npy_" + std::to_string(std::hash<std::string>{}(fs::current_path().string()) % 100000) + ".npy");
    npy::save(file, xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}});
    npy::Limits small;
    small.max_file_bytes = 100;
    CHECK_THAT(message_of([&] { (void)npy::read(file, "layer0.fc1.w", small); }),
               Catch::Contains("weight 'layer0.fc1.w': " + file.string() + ": oversized file: 160 bytes (at most 100)"));
    CHECK(npy::read(file).data == std::vector<double>{1, 2, 3, 4});
    CHECK((npy::load<xt::xarray<double>>(file) == xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}}));
    fs::remove(file);
  }
}

// ================================================================================================

namespace {
/// The documented input range [lo, hi] of an element-wise policy (a constant or a function).
template <class P>
std::pair<double, double> documented_range() {
  if constexpr (requires { P::range_min(); }) return {P::range_min(), P::range_max()};
  else return {P::range_min, P::range_max};
}
/// Whether the simulation throws range_error for f on the 1 x 8 row x (any other exception fails).
template <class F>
bool solo_range_error(const xt::xarray<double>& x, F f) {
  try {
    sf::run_solo<TestSuite>(77, [&](auto& ctx) { (void)f(ctx.input(sf::party<0>, x), ctx); });
  } catch (const sf::range_error&) {
    return true;
  }
  return false;
}
xt::xarray<double> row_of(double v) {
  xt::xarray<double> x = xt::zeros<double>({1, 8});
  x.fill(v);
  return x;
}
/// A row whose variance is a^2 (entries +-a).
xt::xarray<double> spread_row(double a) {
  xt::xarray<double> x = xt::zeros<double>({1, 8});
  for (std::size_t i = 0; i < 8; ++i) x(0, i) = i % 2 ? a : -a;
  return x;
}
}  // namespace

TEST_CASE("range checks: every approximation with a documented input range throws range_error in the simulation", "[nn][range]") {
  // Inside the range (ends within 1%) runs; outside it (10% beyond either end) is detected. The
  // two-party run cannot see these values (they are secret); its behaviour outside the ranges is
  // measured in the protocols' own tests ("documented failure cases").
  auto check_range = [](const char* name, double lo, double hi, auto f) {
    INFO(name << " documented range [" << lo << ", " << hi << "]");
    const double in_lo = lo >= 0 ? lo * 1.01 : lo * 0.99, in_hi = hi >= 0 ? hi * 0.99 : hi * 1.01;
    const double out_lo = lo > 0 ? lo * 0.9 : lo * 1.1 - (lo == 0 ? 0.1 : 0), out_hi = hi >= 0 ? hi * 1.1 : hi * 0.9;
    CHECK_FALSE(solo_range_error(row_of(in_lo), f));
    CHECK_FALSE(solo_range_error(row_of(in_hi), f));
    CHECK(solo_range_error(row_of(out_lo), f));
    CHECK(solo_range_error(row_of(out_hi), f));
  };
  auto elementwise = [&]<class P>(const char* name, auto f) {
    const auto [lo, hi] = documented_range<P>();
    check_range(name, lo, hi, f);
  };
  elementwise.operator()<sf::CrypTenExp>("CrypTenExp", [](const auto& x, auto& ctx) { return sf::exp<sf::CrypTenExp>(x, ctx); });
  elementwise.operator()<sf::GoldschmidtReciprocal<>>("GoldschmidtReciprocal", [](const auto& x, auto& ctx) { return sf::reciprocal<sf::GoldschmidtReciprocal<>>(x, ctx); });
  elementwise.operator()<sf::NewtonReciprocal<>>("NewtonReciprocal", [](const auto& x, auto& ctx) { return sf::reciprocal<sf::NewtonReciprocal<>>(x, ctx); });
  elementwise.operator()<sf::GoldschmidtRsqrt<>>("GoldschmidtRsqrt (bracket start)", [](const auto& x, auto& ctx) { return sf::rsqrt<sf::GoldschmidtRsqrt<>>(x, ctx); });
  using EtaRsqrt = sf::GoldschmidtRsqrt<sf::EtaStart<0>, 7>;
  elementwise.operator()<EtaRsqrt>("GoldschmidtRsqrt<EtaStart<0>, 7>", [](const auto& x, auto& ctx) { return sf::rsqrt<EtaRsqrt>(x, ctx); });
  elementwise.operator()<sf::NewtonRsqrt<>>("NewtonRsqrt", [](const auto& x, auto& ctx) { return sf::rsqrt<sf::NewtonRsqrt<>>(x, ctx); });
  elementwise.operator()<sf::NewtonRsqrt<>>("CrypTenSqrt", [](const auto& x, auto& ctx) { return sf::sqrt<sf::CrypTenSqrt>(x, ctx); });
  auto gelu = [&]<class P>(const char* name) {
    constexpr double b = P::template input_bound<sf::Z2k<64>, 16>;
    check_range(name, -b, b, [](const auto& x, auto& ctx) { return sf::gelu<P>(x, ctx); });
  };
  gelu.operator()<sf::SecFormerGelu>("SecFormerGelu");
  gelu.operator()<sf::PumaGelu>("PumaGelu");
  gelu.operator()<sf::QuadGelu>("QuadGelu");
  gelu.operator()<sf::CrypTenGelu>("CrypTenGelu");
  using Tanh = nn::SigmoidTanh<sf::MaskedCompare<>>;
  check_range("SigmoidTanh", -Tanh::input_bound, Tanh::input_bound, [](const auto& x, auto& ctx) { return nn::tanh<Tanh>(x, ctx); });
  check_range("MaskedCompare<31> (|x| < 2^31 ring units)", -32767.0, 32767.0, [](const auto& x, auto& ctx) { return sf::ltz<sf::MaskedCompare<31>>(x, ctx); });
  // CrypTen's softmax: logits in [-64, 64].
  check_range("CrypTenSoftmax", -sf::CrypTenSoftmax::logit_max, sf::CrypTenSoftmax::logit_max,
              [](const auto& x, auto& ctx) { return sf::softmax<sf::CrypTenSoftmax>(x, ctx); });
  // 2Quad softmaxes: the row mean of (x + 5)^2 in [1/4, 1024] (SecFormer) or [1/32, 2000] (MPCFormer).
  auto quad = [](auto policy, double mean) {
    return solo_range_error(row_of(std::sqrt(mean) - 5.0), [](const auto& x, auto& ctx) { return sf::softmax<decltype(policy)>(x, ctx); });
  };
  CHECK_FALSE(quad(sf::Quad2Softmax{}, 0.3));
  CHECK_FALSE(quad(sf::Quad2Softmax{}, 1000));
  CHECK(quad(sf::Quad2Softmax{}, 0.2));
  CHECK(quad(sf::Quad2Softmax{}, 1100));
  CHECK_FALSE(quad(sf::MPCFormerSoftmax{}, 0.04));
  CHECK_FALSE(quad(sf::MPCFormerSoftmax{}, 1950));
  CHECK(quad(sf::MPCFormerSoftmax{}, 0.02));
  CHECK(quad(sf::MPCFormerSoftmax{}, 2100));
  // LayerNorms: the row variance (rows of +-a have variance a^2) in the Rsqrt's range.
  auto ln = [](auto policy, double var) {
    return solo_range_error(spread_row(std::sqrt(var)), [](const auto& x, auto& ctx) {
      using P = decltype(policy);
      return sf::layernorm<P>(x, xt::xarray<double>(xt::ones<double>({8})), xt::xarray<double>(xt::zeros<double>({8})), ctx);
    });
  };
  CHECK_FALSE(ln(sf::SecFormerLayerNorm{}, 1.1e-3));
  CHECK_FALSE(ln(sf::SecFormerLayerNorm{}, 16000));
  CHECK(ln(sf::SecFormerLayerNorm{}, 8e-4));
  CHECK(ln(sf::SecFormerLayerNorm{}, 18000));
  for (auto [lo, hi] : {std::pair{0.11, 140.0}, std::pair{0.09, 160.0}}) {
    const bool inside = lo > 0.1;
    CHECK(ln(sf::PumaLayerNorm{}, lo) != inside);
    CHECK(ln(sf::PumaLayerNorm{}, hi) != inside);
    CHECK(ln(sf::CrypTenLayerNorm{}, lo) != inside);
    CHECK(ln(sf::CrypTenLayerNorm{}, hi) != inside);
  }
}
