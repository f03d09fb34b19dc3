// One secure BERT encoder layer on random weights: two parties and a dealer in one process
// (sf::run_two_party), compared with the plaintext model that applies the same approximations in
// double precision (and with the exact model), with the cost table of the online phase.
//
//   bert_layer                  hidden 64, 4 heads, FFN 256, 16 tokens (a few seconds at most)
//   bert_layer --base           BERT-base: hidden 768, 12 heads, FFN 3072, 128 tokens
//   bert_layer --hidden H --heads A --ffn F --tokens S [--pad P] [--seed N]
//       --pad P masks the last P tokens as padding (a public key mask).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <secformer/nn/bert.hpp>
#include <secformer/run.hpp>

namespace sf = secformer;
namespace nn = secformer::nn;

namespace {
struct Args {
  std::size_t hidden = 64, heads = 4, ffn = 256, tokens = 16, pad = 0;
  std::uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::uint64_t {
      if (i + 1 >= argc) throw sf::usage_error("bert_layer: " + k + " needs a value");
      return std::stoull(argv[++i]);
    };
    if (k == "--base") a.hidden = 768, a.heads = 12, a.ffn = 3072, a.tokens = 128;
    else if (k == "--hidden") a.hidden = value();
    else if (k == "--heads") a.heads = value();
    else if (k == "--ffn") a.ffn = value();
    else if (k == "--tokens") a.tokens = value();
    else if (k == "--pad") a.pad = value();
    else if (k == "--seed") a.seed = value();
    else throw sf::usage_error("bert_layer: unknown option " + k + " (see the comment at the top of bert_layer.cpp)");
  }
  if (a.pad >= a.tokens) throw sf::usage_error("bert_layer: --pad must leave at least one token");
  return a;
}

/// Test input only: hidden states as they come out of an embedding LayerNorm (about N(0, 1)).
xt::xarray<double> random_input(std::size_t s, std::size_t d, std::uint64_t seed) {
  xt::xarray<double> x(std::vector<std::size_t>{s, d});
  std::uint64_t st = seed * 0x9E3779B97F4A7C15ull + 12345;
  for (auto& v : x) {  // splitmix64, Irwin-Hall approximation of N(0, 1)
    double acc = 0;
    for (int j = 0; j < 12; ++j) {
      std::uint64_t z = (st += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      acc += static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
    }
    v = acc - 6.0;
  }
  return x;
}

struct Err {
  double mean = 0, max = 0;
};
Err error(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  Err e;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a.flat(i) - b.flat(i));
    e.mean += d;
    e.max = std::max(e.max, d);
  }
  e.mean /= static_cast<double>(a.size());
  return e;
}
}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  const auto shapes = nn::shapes::encoder(a.hidden, a.ffn);
  const auto w = nn::random_bundle(shapes, a.seed);
  const xt::xarray<double> x = random_input(a.tokens, a.hidden, a.seed);
  xt::xarray<double> mask = xt::ones<double>({a.tokens});
  for (std::size_t i = a.tokens - a.pad; i < a.tokens; ++i) mask(i) = 0;
  const xt::xarray<double>* m = a.pad ? &mask : nullptr;

  // The suite Basic<> names no policies: the layers use the library defaults (SecFormer's).
  using Gelu = nn::gelu_policy_t<nn::FromSuite, nn::PlainContext<>>;
  using Softmax = nn::softmax_policy_t<nn::FromSuite, nn::PlainContext<>>;
  using Norm = nn::layernorm_policy_t<nn::FromSuite, nn::PlainContext<>>;
  constexpr int documented = nn::encoder_layer_rounds<Softmax, Gelu, Norm>();

  std::cout << "secure BERT encoder layer: hidden " << a.hidden << ", " << a.heads << " heads, FFN " << a.ffn << ", " << a.tokens
            << " tokens" << (a.pad ? ", " + std::to_string(a.pad) + " padding" : std::string()) << "; SecFormer's GeLU, 2Quad softmax, LayerNorm\n";

  nn::PlainContext<sf::Basic<>, nn::Approx> approx_ctx;
  nn::PlainContext<sf::Basic<>, nn::Exact> exact_ctx;
  const xt::xarray<double> y_approx = nn::encoder_layer(w, a.heads, m)(x, approx_ctx);
  const xt::xarray<double> y_exact = nn::encoder_layer(w, a.heads, m)(x, exact_ctx);

  xt::xarray<double> y_secure;
  sf::Stats online;
  std::uint64_t dealer_bytes = 0;
  double seconds = 0;
  sf::run_two_party(a.seed, [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    // Model loading: party 0 (the owner) inputs the weights, party 1 knows their shapes; masking.
    const auto sw = [&] {
      if constexpr (Ctx::id == 0) return nn::share_bundle(w, ctx);
      else return nn::share_bundle(shapes, ctx);
    }();
    const auto sx = ctx.input(sf::party<1>, x);  // the client's hidden states
    ctx.stats().reset();
    const auto t0 = std::chrono::steady_clock::now();
    const auto y = nn::encoder_layer(sw, a.heads, m)(sx, ctx);
    const auto t1 = std::chrono::steady_clock::now();
    const sf::Stats st = ctx.stats();
    if constexpr (Ctx::id == 1) dealer_bytes = st.total().dealer_bytes;
    if (auto r = ctx.reveal_to(sf::party<0>, y)) {
      y_secure = *r;
      online = st;
      seconds = std::chrono::duration<double>(t1 - t0).count();
    }
  });

  const Err e = error(y_secure, y_approx), ex = error(y_secure, y_exact), ax = error(y_approx, y_exact);
  const bool ok = e.mean <= 1e-2;
  const bool rounds_ok = online.total().rounds == static_cast<std::uint64_t>(documented);
  std::cout << std::setprecision(3);
  std::cout << "time of the layer (online, party 0): " << seconds << " s\n";
  std::cout << "error vs the plaintext model with the same approximations: mean " << e.mean << ", max " << e.max << (ok ? " OK" : " TOO LARGE")
            << '\n';
  std::cout << "error vs the exact model: mean " << ex.mean << ", max " << ex.max << " (the approximations alone: mean " << ax.mean << ", max "
            << ax.max << ")\n";
  std::cout << "online rounds: " << online.total().rounds << " (documented " << documented << ")" << (rounds_ok ? " OK" : " MISMATCH") << '\n';
  std::cout << "dealer material for the layer (to party 1; party 0 expands its own from a key): " << static_cast<double>(dealer_bytes) / 1e6
            << " MB\n";
  std::cout << "cost table of party 0 (online; a tag counts everything inside it):\n" << online;
  return ok && rounds_ok ? 0 : 1;
} catch (const std::exception& ex) {
  std::cerr << "bert_layer: " << ex.what() << '\n';
  return 2;
}
