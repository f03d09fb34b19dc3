// One secure BERT encoder layer on random weights: two parties and a dealer in one process
// (sf::run_two_party), compared with the plaintext model that applies the same approximations in
// double precision (and with the exact model), with the cost table of the online phase.
//
//   bert_layer                  hidden 64, 4 heads, FFN 256, 16 tokens (a few seconds at most)
//   bert_layer --base           BERT-base: hidden 768, 12 heads, FFN 3072, 128 tokens
//   bert_layer --hidden H --heads A --ffn F --tokens S [--pad P] [--seed N]
//       --pad P masks the last P tokens as padding (a public key mask).
//   bert_layer --base --layers 12 --prefetch
//       a stack of N layers (BERT-base: 12, BERT-large: --large --layers 24); --prefetch fetches all
//       dealer material first (the offline phase, timed apart) so the timed online phase has none;
//       --stream instead fetches each layer's material just before that layer (offline phases timed
//       apart from the online ones; only one layer's material is held at a time).
//   --no-check skips the plaintext references (large stacks); --keep-buffers: sf::keep_large_buffers().
//   --forecast also runs the fixed-point simulation (run_solo) of the same program and prints how
//       many local truncations a two-party run should expect to fail, per cost tag (trunc.hpp).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <span>
#include <type_traits>
#include <vector>

#include <secformer/nn/bert.hpp>
#include <secformer/run.hpp>

namespace sf = secformer;
namespace nn = secformer::nn;

namespace {
struct Args {
  std::size_t hidden = 64, heads = 4, ffn = 256, tokens = 16, pad = 0, layers = 1;
  std::uint64_t seed = 1;
  bool prefetch = false, stream = false, check = true, forecast = false;
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
    else if (k == "--large") a.hidden = 1024, a.heads = 16, a.ffn = 4096, a.tokens = 128;
    else if (k == "--layers") a.layers = value();
    else if (k == "--prefetch") a.prefetch = true;
    else if (k == "--stream") a.stream = true;
    else if (k == "--no-check") a.check = false;
    else if (k == "--forecast") a.forecast = true;
    else if (k == "--keep-buffers") sf::keep_large_buffers();
    else if (k == "--hidden") a.hidden = value();
    else if (k == "--heads") a.heads = value();
    else if (k == "--ffn") a.ffn = value();
    else if (k == "--tokens") a.tokens = value();
    else if (k == "--pad") a.pad = value();
    else if (k == "--seed") a.seed = value();
    else throw sf::usage_error("bert_layer: unknown option " + k + " (see the comment at the top of bert_layer.cpp)");
  }
  if (a.layers == 0) throw sf::usage_error("bert_layer: --layers must be at least 1");
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

/// CPU seconds of the whole process (all roles' threads): on a shared machine a fairer figure than
/// the wall clock.
double process_cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

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
  using Gelu = nn::gelu_policy_t<void, nn::PlainContext<>>;
  using Softmax = nn::softmax_policy_t<void, nn::PlainContext<>>;
  using Norm = nn::layernorm_policy_t<void, nn::PlainContext<>>;
  constexpr int documented = nn::encoder_layer_rounds<Softmax, Gelu, Norm>();

  std::cout << "secure BERT encoder layer: hidden " << a.hidden << ", " << a.heads << " heads, FFN " << a.ffn << ", " << a.tokens
            << " tokens" << (a.pad ? ", " + std::to_string(a.pad) + " padding" : std::string()) << "; SecFormer's GeLU, 2Quad softmax, LayerNorm\n";

  nn::PlainContext<sf::Basic<>, nn::Approx> approx_ctx;
  nn::PlainContext<sf::Basic<>, nn::Exact> exact_ctx;
  xt::xarray<double> y_approx = x, y_exact = x;
  if (a.check) {
    for (std::size_t l = 0; l < a.layers; ++l) {  // every layer of the stack has the same weights
      y_approx = nn::encoder_layer(w, a.heads, m)(y_approx, approx_ctx);
      y_exact = nn::encoder_layer(w, a.heads, m)(y_exact, exact_ctx);
    }
  }

  // Model loading (party 0, the owner, inputs the weights; party 1 knows their shapes; masking),
  // the client's input, then the online phase, one layer at a time. before_layer(ctx, l) runs
  // before layer l (streaming: that layer's offline phase).
  auto program = [&](auto& ctx, auto&& online_phase, auto&& before_layer) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    auto share_one = [&] {
      if constexpr (Ctx::id == 0) return nn::share_bundle(w, ctx);
      else return nn::share_bundle(shapes, ctx);
    };
    std::vector<decltype(share_one())> sw;
    for (std::size_t l = 0; l < a.layers; ++l) sw.push_back(share_one());
    const auto sx = ctx.input(sf::party<1>, x);  // the client's hidden states
    return online_phase(sx, [&, &sw = sw](const auto& in) {
      auto cur = in;
      for (std::size_t l = 0; l < a.layers; ++l) {
        before_layer(ctx, l);
        cur = nn::encoder_layer(sw[l], a.heads, m)(cur, ctx);
      }
      return cur;
    });
  };
  // The dry run records the plan and where each layer's material starts (cuts[l]; cuts[layers]: end).
  sf::MaterialPlan plan;
  std::vector<std::size_t> cuts;
  if (a.prefetch || a.stream)
    plan = sf::plan_material([&](auto& ctx) {
      return program(
          ctx, [](const auto& sx, auto run) { return run(sx); },
          [&](auto& c, std::size_t) {
            if constexpr (requires { c.dealer().plan(); }) cuts.push_back(c.dealer().plan().size());
          });
    });
  cuts.push_back(plan.size());

  xt::xarray<double> y_secure;
  sf::Stats online;
  std::uint64_t dealer_bytes = 0;
  double seconds = 0, offline_seconds[2] = {0, 0}, online_cpu = 0, offline_cpu = 0;
  // A generous timeout: large stacks on a loaded machine can keep one role busy for minutes.
  sf::run_two_party(sf::RunOptions{a.seed, std::chrono::minutes(30)}, [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    auto sync = [&] {  // both parties continue together (not counted: outside the protocol)
      std::byte mine[1] = {}, theirs[1];
      ctx.channel().exchange(mine, theirs);
    };
    auto offline = [&](std::span<const sf::MaterialRequest> piece) {
      const double c0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      ctx.preprocess(piece);
      offline_seconds[Ctx::id] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      sync();
      if constexpr (Ctx::id == 0) offline_cpu += process_cpu_seconds() - c0;
    };
    if (a.prefetch) offline(plan);
    else if (a.stream) offline(std::span(plan).first(cuts[0]));  // model loading
    double paused = 0, paused_cpu = 0;  // time spent in the per-layer offline phases (streaming)
    program(
        ctx,
        [&](const auto& sx, auto run) {
          sync();
          if constexpr (Ctx::id == 1) dealer_bytes = ctx.stats().total().dealer_bytes;
          ctx.stats().reset();
          const double c0 = process_cpu_seconds();
          const auto t0 = std::chrono::steady_clock::now();
          const auto y = run(sx);
          const auto t1 = std::chrono::steady_clock::now();
          const double c1 = process_cpu_seconds();
          sf::Stats st = ctx.stats();
          if constexpr (Ctx::id == 1) dealer_bytes += st.total().dealer_bytes;
          if (auto r = ctx.reveal_to(sf::party<0>, y)) {
            y_secure = *r;
            online = st;
            seconds = std::chrono::duration<double>(t1 - t0).count() - paused;
            online_cpu = c1 - c0 - paused_cpu;
          }
          return 0;
        },
        [&](auto&, std::size_t l) {
          if (!a.stream) return;
          const auto t0 = std::chrono::steady_clock::now();
          const double c0 = process_cpu_seconds();
          offline(std::span(plan).subspan(cuts[l], cuts[l + 1] - cuts[l]));  // its dealer bytes count in st
          paused += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          paused_cpu += process_cpu_seconds() - c0;
        });
  });

  if (a.forecast) {  // the simulation sees every value: the expected number of failed local truncations
    sf::run_solo(a.seed, [&](auto& ctx) {
      program(ctx, [](const auto& sx, auto run) { return run(sx); }, [](auto&, std::size_t) {});
      const double risk = ctx.truncation_risk();
      std::cout << std::setprecision(3) << "simulation's forecast of failed local truncations per inference: " << risk;
      if (risk > 0) std::cout << " (one in " << 1.0 / risk << " inferences)";
      std::cout << "; by tag:";
      for (const auto& [tag, v] : ctx.truncation_risk_by_tag()) std::cout << ' ' << tag << ' ' << v;
      std::cout << '\n';
    });
  }

  const Err e = error(y_secure, y_approx), ex = error(y_secure, y_exact), ax = error(y_approx, y_exact);
  const bool ok = !a.check || e.mean <= 1e-2 * static_cast<double>(a.layers);
  const bool rounds_ok = online.total().rounds == static_cast<std::uint64_t>(documented) * a.layers;
  std::cout << std::setprecision(3);
  std::cout << "time of the " << (a.layers == 1 ? "layer" : std::to_string(a.layers) + " layers") << " (online, party 0): " << seconds << " s (CPU of all threads meanwhile: " << online_cpu << " s)\n";
  if (a.prefetch || a.stream)
    std::cout << "offline phase (dealer material, fetched before the online phase): party 0 " << offline_seconds[0] << " s, party 1 "
              << offline_seconds[1] << " s (CPU of all threads: " << offline_cpu << " s)\n";
  if (a.check) {
    std::cout << "error vs the plaintext model with the same approximations: mean " << e.mean << ", max " << e.max << (ok ? " OK" : " TOO LARGE")
              << '\n';
    std::cout << "error vs the exact model: mean " << ex.mean << ", max " << ex.max << " (the approximations alone: mean " << ax.mean << ", max "
              << ax.max << ")\n";
  }
  std::cout << "online rounds: " << online.total().rounds << " (documented " << documented * static_cast<int>(a.layers) << ")"
            << (rounds_ok ? " OK" : " MISMATCH") << '\n';
  std::cout << "online bytes sent by party 0: " << static_cast<double>(online.total().bytes_sent) / 1e6 << " MB\n";
  std::cout << "dealer material for the " << (a.layers == 1 ? "layer" : "layers") << " (to party 1; party 0 expands its own from a key): "
            << static_cast<double>(dealer_bytes) / 1e6 << " MB\n";
  std::cout << "cost table of party 0 (online; a tag counts everything inside it):\n" << online;
  return ok && rounds_ok ? 0 : 1;
} catch (const std::exception& ex) {
  std::cerr << "bert_layer: " << ex.what() << '\n';
  return 2;
}
