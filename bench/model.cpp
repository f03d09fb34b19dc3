// bench/model.cpp: whole-model benchmark. BERT-base (12 layers, 768 hidden, 12 heads, FFN 3072) and
// BERT-large (24, 1024, 16, 4096), batch 1, random weights, with the secure token embedding (one-hot
// rows times the masked tables) and the encoder stack, for each protocol suite.
//
// Setting: party 0, party 1 and the dealer as three threads of this process over loopback TCP (the
// in-process dealer of the setting). The model is secret-shared and masked once (setup, not
// timed as inference). Each inference runs segment by segment (the embedding, then each layer): the
// segment's dealer material is fetched first (offline; planned by a dry run) and then the segment
// runs (online, timed on party 0's clock after both parties are ready). Offline time is party 1's
// (it includes the dealer's work); dealer bytes are what party 1 receives (party 0 expands its own
// material from a key). Splitting the offline phase per segment bounds the memory to one layer's
// material; it does not change any count.
//
// Online time is wall-clock time; the benchmark also records each party's thread CPU time during
// the online phase ("CPU s"), which does not count waiting for a core when the machine is shared.
//
// Split of the online time, rounds and bytes: Softmax, GeLU, Norm (the suite's protocols, tags
// "softmax", "gelu", "layernorm" inside the layers), Embed (the embedding segment: lookup and its
// LayerNorm), Linear (the rest of each layer: projections, Q K^T and P V, biases and residuals).
//
//   bench_model [--models base,large] [--suites secformer,puma,mpcformer,crypten] [--tokens 128,512]
//               [--runs N] [--warmup N] [--layers N] [--estimate LINK[;LINK...]] [--emulate LINK[;LINK...]]
//               [--reuse-layer-weights] [--dealer-link tcp|memory] [--json F] [--txt F] [--svg F] [--merge]
//     --suites also takes secformer-exact: SecFormerSuite with Fixed<16, trunc::Dealer>, whose
//       truncations never fail (trunc.hpp), to measure what that costs.
//     LINK: lan (3 Gbit/s, 0.8 ms RTT), wan (200 Mbit/s, 40 ms RTT) or BANDWIDTH,RTT (1gbit,0.5ms).
//     --estimate (default lan;wan) adds the time on those links estimated from the measured online
//       time, rounds and bytes (secformer/channel/shaped.hpp: compute + rounds RTT/2 + bytes/bandwidth).
//     --emulate runs one more inference per link with the parties' channel shaped to that link
//       (ShapedChannel), to compare with the estimate.
//     --warmup N (default 1) inferences run first and not recorded (page faults, caches).
//     --layers N runs only the first N layers (quick checks; the row records it).
//     --reuse-layer-weights: all layers use one shared weight bundle (same computation and costs,
//       1/L of the weight memory); recorded in the row.
//     --dealer-link memory: the in-process dealer talks to the parties over the in-memory channel
//       (no copy through the kernel) instead of loopback TCP; the parties' own link stays TCP.
//       Recorded in the row (a row of its own). What it changes is the offline time: the dealer's
//       bytes no longer cross loopback TCP (about 1 GB/s here).
//     --merge keeps the rows of an existing --json file that this run does not measure again, and
//       writes the table and plot of all of them.
#include <algorithm>
#include <array>
#include <span>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <secformer/channel/shaped.hpp>
#include <secformer/channel/tcp.hpp>
#include <secformer/run.hpp>
#include <secformer/nn/bert.hpp>
#include <secformer/secformer.hpp>

#include "../tests/support/test_data.hpp"

namespace sf = secformer;
namespace nn = secformer::nn;

namespace {
using clk = std::chrono::steady_clock;
double since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }
/// CPU seconds of the calling thread (user + system): what a role computed, whatever the load of
/// the machine (the wall-clock time also counts waiting for a core on a busy machine).
double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

const char* const kParts[] = {"linear", "softmax", "gelu", "norm", "embed"};

struct NamedLink {
  std::string name;
  sf::LinkShape shape;
};

struct Options {
  std::vector<std::string> models{"base", "large"}, suites{"secformer", "puma", "mpcformer", "crypten"};
  std::vector<std::size_t> tokens{128, 512};
  int runs = 3, warmup = 1;
  std::size_t layers = 0;
  std::vector<NamedLink> estimate{{"lan", sf::LinkShape::lan()}, {"wan", sf::LinkShape::wan()}}, emulate;
  bool reuse = false, merge = false, memory_dealer = false;
  std::string json = "bench_model.json", txt = "bench_model.txt", svg = "bench_model.svg";
};

/// One inference as seen by one party.
struct Inference {
  double offline_s = 0, online_s = 0, online_cpu_s = 0;
  sf::Cost online, offline;
  std::map<std::string, double> part_s;
  std::map<std::string, sf::Cost> part;
};
struct PartyLog {
  double setup_s = 0;
  std::vector<Inference> inf;  // runs, then one per emulated link
};

/// One line of the results (one model, size and suite).
struct Row {
  std::string model, suite, note, dealer_link = "tcp";
  double tokens = 0, layers = 0, runs = 0, setup_s = 0, offline_s = 0, dealer_mb = 0, online_s = 0, online_min_s = 0, online_max_s = 0;
  double mb_p0 = 0, mb_p1 = 0, rounds = 0, peak_rss_gb = 0, reuse = 0, cpu_p0 = 0, cpu_p1 = 0;
  std::map<std::string, double> part_s, part_rounds, part_mb;
  std::map<std::string, double> est, emu;  // link name -> seconds

  std::string key() const {
    return model + "/" + std::to_string(static_cast<int>(tokens)) + "/" + suite + (dealer_link == "tcp" ? "" : "/" + dealer_link);
  }

  std::string json() const {
    std::ostringstream f;
    f.precision(6);
    f << "{\"model\": \"" << model << "\", \"suite\": \"" << suite << "\", \"dealer_link\": \"" << dealer_link << "\", \"tokens\": " << tokens << ", \"layers\": " << layers
      << ", \"runs\": " << runs << ", \"reused_layer_weights\": " << reuse << ", \"setup_s\": " << setup_s << ", \"offline_s\": " << offline_s
      << ", \"dealer_mb\": " << dealer_mb << ", \"online_s\": " << online_s << ", \"online_min_s\": " << online_min_s
      << ", \"online_max_s\": " << online_max_s << ", \"online_mb_p0\": " << mb_p0 << ", \"online_mb_p1\": " << mb_p1
      << ", \"rounds\": " << rounds << ", \"peak_rss_gb\": " << peak_rss_gb << ", \"online_cpu_s_p0\": " << cpu_p0
      << ", \"online_cpu_s_p1\": " << cpu_p1;
    for (const char* p : kParts)
      f << ", \"" << p << "_s\": " << at(part_s, p) << ", \"" << p << "_rounds\": " << at(part_rounds, p) << ", \"" << p
        << "_mb\": " << at(part_mb, p);
    for (const auto& [k, v] : est) f << ", \"est_" << k << "_s\": " << v;
    for (const auto& [k, v] : emu) f << ", \"emu_" << k << "_s\": " << v;
    f << ", \"note\": \"" << note << "\"}";
    return f.str();
  }

  /// Reads back a line written by json() (this file's own flat format only).
  static std::optional<Row> parse(const std::string& line) {
    auto str = [&](const std::string& k) -> std::optional<std::string> {
      const auto at = line.find("\"" + k + "\": \"");
      if (at == std::string::npos) return std::nullopt;
      const auto b = at + k.size() + 5, e = line.find('"', b);
      return line.substr(b, e - b);
    };
    auto num = [&](const std::string& k) -> double {
      const auto at = line.find("\"" + k + "\": ");
      return at == std::string::npos ? 0.0 : std::strtod(line.c_str() + at + k.size() + 4, nullptr);
    };
    auto m = str("model"), s = str("suite");
    if (!m || !s) return std::nullopt;
    Row r;
    r.model = *m, r.suite = *s, r.note = str("note").value_or(""), r.dealer_link = str("dealer_link").value_or("tcp");
    r.tokens = num("tokens"), r.layers = num("layers"), r.runs = num("runs"), r.reuse = num("reused_layer_weights");
    r.setup_s = num("setup_s"), r.offline_s = num("offline_s"), r.dealer_mb = num("dealer_mb"), r.online_s = num("online_s");
    r.online_min_s = num("online_min_s"), r.online_max_s = num("online_max_s"), r.mb_p0 = num("online_mb_p0");
    r.mb_p1 = num("online_mb_p1"), r.rounds = num("rounds"), r.peak_rss_gb = num("peak_rss_gb");
    r.cpu_p0 = num("online_cpu_s_p0"), r.cpu_p1 = num("online_cpu_s_p1");
    for (const char* p : kParts) {
      r.part_s[p] = num(std::string(p) + "_s"), r.part_rounds[p] = num(std::string(p) + "_rounds");
      r.part_mb[p] = num(std::string(p) + "_mb");
    }
    for (const char* pre : {"\"est_", "\"emu_"}) {
      for (auto at = line.find(pre); at != std::string::npos; at = line.find(pre, at + 1)) {
        const auto b = at + 5, e = line.find("_s\"", b);
        const std::string k = line.substr(b, e - b);
        (pre[2] == 's' ? r.est : r.emu)[k] = num(line.substr(at + 1, e + 2 - at - 1));
      }
    }
    return r;
  }
  static double at(const std::map<std::string, double>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0.0 : it->second;
  }
};

// ------------------------------------------------------------------------------------------------
// Memory: the process's peak RSS per configuration (reset through /proc/self/clear_refs).

void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}
double peak_rss_gb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / (1024.0 * 1024.0);
  return 0;
}
std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a;
  f >> a;
  return a;
}
double available_gb() {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("MemAvailable:", 0) == 0) return std::strtod(line.c_str() + 13, nullptr) / (1024.0 * 1024.0);
  return 0;
}

// ------------------------------------------------------------------------------------------------
// The three roles over loopback TCP, the parties' channel wrapped in a (switchable) shaped link.

/// The parties' end of the dealer link: loopback TCP (the default) or, with --dealer-link memory, the
/// in-memory channel of an in-process dealer (run_two_party's), which hands its answers over
/// without copying them through the kernel. One type for both, so the model is compiled once.
class DealerLink {
 public:
  explicit DealerLink(sf::TcpChannel c) : ch_(std::move(c)) {}
  explicit DealerLink(sf::MemoryChannel c) : ch_(std::move(c)) {}
  void send(std::span<const std::byte> b) {
    std::visit([&](auto& c) { c.send(b); }, ch_);
  }
  void recv(std::span<std::byte> b) {
    std::visit([&](auto& c) { c.recv(b); }, ch_);
  }
  void exchange(std::span<const std::byte> out, std::span<std::byte> in) {
    std::visit([&](auto& c) { c.exchange(out, in); }, ch_);
  }
  std::vector<std::byte> recv_message(std::size_t max) {
    return std::visit([&](auto& c) { return c.recv_message(max); }, ch_);
  }
  void close() {
    std::visit([](auto& c) { c.close(); }, ch_);
  }

 private:
  std::variant<sf::TcpChannel, sf::MemoryChannel> ch_;
};

template <class P, class Suite>
using BenchContext = sf::Context<P, sf::ShapedChannel<sf::TcpChannel>, sf::DealerClient<P, DealerLink>, Suite>;

namespace roles {
/// This benchmark's own minimal connection setup (no session handshake: all roles are this process).
template <int I>
sf::TcpChannel connect_dealer(std::uint16_t port, const sf::TcpOptions& to) {
  sf::TcpChannel ch = sf::TcpChannel::connect("127.0.0.1", port, to);
  const std::byte who[1] = {static_cast<std::byte>(I)};
  ch.send(std::span<const std::byte>(who, 1));
  return ch;
}
inline std::array<sf::TcpChannel, 2> accept_parties(sf::TcpListener& l) {
  std::optional<sf::TcpChannel> ch[2];
  for (int k = 0; k < 2; ++k) {
    sf::TcpChannel c = l.accept();
    std::byte who[1];
    c.recv(std::span<std::byte>(who, 1));
    const int i = std::to_integer<int>(who[0]);
    if (i < 0 || i > 1 || ch[i]) throw sf::channel_error("bench_model: bad party hello");
    ch[i].emplace(std::move(c));
  }
  return {std::move(*ch[0]), std::move(*ch[1])};
}
}  // namespace roles

template <class Suite, class F>
void run_roles(bool memory_dealer, F&& f) {
  sf::TcpOptions to;
  to.timeout = std::chrono::milliseconds(900000);
  to.connect_timeout = std::chrono::milliseconds(10000);
  sf::TcpListener peer_l(0, to), dealer_l(0, to);
  const std::uint16_t peer_port = peer_l.port(), dealer_port = dealer_l.port();
  auto [d0, p0d] = sf::MemoryChannel::make_pair(to.timeout);  // the in-memory dealer link
  auto [d1, p1d] = sf::MemoryChannel::make_pair(to.timeout);
  sf::detail::FirstError err;
  auto party_main = [&]<int I>(sf::Party<I>) {
    std::optional<DealerLink> dch;
    std::optional<sf::ShapedChannel<sf::TcpChannel>> peer;
    try {
      if (memory_dealer) dch.emplace(std::move(I == 0 ? p0d : p1d));
      else dch.emplace(roles::connect_dealer<I>(dealer_port, to));
      peer.emplace(I == 0 ? peer_l.accept() : sf::TcpChannel::connect("127.0.0.1", peer_port, to), sf::LinkShape{});
      BenchContext<sf::Party<I>, Suite> ctx(*peer, sf::DealerClient<sf::Party<I>, DealerLink>(*dch), sf::Seed::from_os());
      f(ctx);
      ctx.finish();
    } catch (...) {
      err.set(std::current_exception());
      if (peer) peer->close();
      if (dch) dch->close();
    }
  };
  std::thread dealer([&] {
    try {
      sf::BasicDealer<> d(sf::Seed::from_os());
      if (memory_dealer) {
        d.serve(d0, d1);
      } else {
        auto ch = roles::accept_parties(dealer_l);
        d.serve(ch[0], ch[1]);
      }
    } catch (...) {
      err.set(std::current_exception());
      d0.close();
      d1.close();
    }
  });
  std::thread t1([&] { party_main(sf::Party<1>{}); });
  party_main(sf::Party<0>{});
  t1.join();
  dealer.join();
  if (err.first) std::rethrow_exception(err.first);
}

// ------------------------------------------------------------------------------------------------

struct Plans {
  sf::MaterialPlan embed, layer;
  std::uint64_t layer_first_handle = 0;
};

/// The layer plan for a layer whose first masked weight has handle `first` (the plan was recorded
/// with the layer's weights at layer_first_handle; only fixed-weight triples name a handle).
sf::MaterialPlan plan_for_layer(const Plans& p, std::uint64_t first) {
  sf::MaterialPlan out = p.layer;
  for (auto& r : out)
    if (r.kind == sf::material::FixedMatTriple::id) r.params.at(0) = r.params.at(0) - p.layer_first_handle + first;
  return out;
}

struct Job {
  std::string model_name;
  nn::BertConfig cfg;
  std::size_t tokens = 0;
};

template <class R>
auto front_of(const nn::EmbeddingParams<R>& emb, double eps) {
  return nn::sequential(nn::Embedding<R>(emb), nn::named("embedding", nn::Norm<R>(emb.ln, eps)));
}

/// Dry runs (a party-0 context with a recording dealer) of the embedding and of one layer.
template <class Suite>
Plans make_plans(const Job& j, const nn::EmbeddingParams<>& emb_plain, const nn::TokenIds& ids) {
  using RCtx = sf::Context<sf::Party<0>, sf::NullChannel, sf::RecordingDealer, Suite>;
  sf::NullChannel none;
  Plans p;
  {
    RCtx r(none, sf::RecordingDealer{}, sf::Seed{});
    const auto emb = nn::share_bundle(emb_plain, r);
    const std::size_t n0 = r.dealer().plan().size();
    const auto tok = nn::share_tokens(sf::party<1>, ids, j.cfg.vocab, j.cfg.type_vocab, r);
    (void)front_of(emb, j.cfg.ln_eps)(tok, r);
    auto plan = r.dealer().take_plan();
    p.embed.assign(plan.begin() + static_cast<std::ptrdiff_t>(n0), plan.end());
  }
  {
    RCtx r(none, sf::RecordingDealer{}, sf::Seed{});
    const auto w = nn::random_bundle(nn::shapes::encoder(j.cfg.hidden, j.cfg.ffn), 1);
    const auto sw = nn::share_bundle(w, r);
    const std::size_t n0 = r.dealer().plan().size();
    p.layer_first_handle = sw.attn.wqkv.handle;
    const auto x = r.input_shape(sf::party<1>, {j.tokens, j.cfg.hidden});
    (void)nn::encoder_layer(sw, j.cfg.heads, nullptr, j.cfg.ln_eps)(x, r);
    auto plan = r.dealer().take_plan();
    p.layer.assign(plan.begin() + static_cast<std::ptrdiff_t>(n0), plan.end());
  }
  return p;
}

template <class Suite>
std::array<PartyLog, 2> session(const Options& o, const Job& j, const std::string& label) {
  const std::size_t layers = o.layers ? std::min(o.layers, j.cfg.layers) : j.cfg.layers;
  const std::size_t distinct = o.reuse ? 1 : layers;
  sf::test::TestData d(2024);
  nn::TokenIds ids;
  for (std::size_t i = 0; i < j.tokens; ++i) ids.token.push_back(static_cast<std::size_t>(d.uniform(0, static_cast<double>(j.cfg.vocab))) % j.cfg.vocab);
  const auto emb_shapes = nn::shapes::embedding(j.cfg.vocab, j.cfg.max_positions, j.cfg.type_vocab, j.cfg.hidden);
  const auto emb_plain = nn::random_bundle(emb_shapes, 7);
  const auto t_plan = clk::now();
  const Plans plans = make_plans<Suite>(j, emb_plain, ids);
  std::fprintf(stderr, "[%s] planned in %.1f s: %zu + %zu x %zu pieces of dealer material\n", label.c_str(), since(t_plan), plans.embed.size(),
               layers, plans.layer.size());

  std::array<PartyLog, 2> logs;
  run_roles<Suite>(o.memory_dealer, [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    constexpr int id = Ctx::id;
    PartyLog& log = logs[id];
    // Setup: the model owner (party 0) secret-shares and masks the weights; the client (party 1)
    // shares its one-hot tokens.
    const auto t_setup = clk::now();
    const auto emb = [&] {
      if constexpr (id == 0) return nn::share_bundle(emb_plain, ctx);
      else return nn::share_bundle(emb_shapes, ctx);
    }();
    std::vector<nn::EncoderParams<nn::shared_repr_t<Ctx>>> lw;
    for (std::size_t i = 0; i < distinct; ++i) {
      if constexpr (id == 0) lw.push_back(nn::share_bundle(nn::random_bundle(nn::shapes::encoder(j.cfg.hidden, j.cfg.ffn), 100 + i), ctx));
      else lw.push_back(nn::share_bundle(nn::shapes::encoder(j.cfg.hidden, j.cfg.ffn), ctx));
    }
    const auto tok = nn::share_tokens(sf::party<1>, ids, j.cfg.vocab, j.cfg.type_vocab, ctx);
    log.setup_s = since(t_setup);
    if constexpr (id == 0) std::fprintf(stderr, "[%s] model shared and masked in %.1f s\n", label.c_str(), log.setup_s);

    auto sync = [&] { (void)ctx.open(ctx.input(sf::party<0>, xt::xarray<double>{0.0})); };
    const int total = o.warmup + o.runs + static_cast<int>(o.emulate.size());
    for (int k = 0; k < total; ++k) {
      const int rep = k - o.warmup;  // < 0: warm-up inference (not recorded)
      const bool emulated = rep >= o.runs;
      ctx.channel().set_shape(emulated ? o.emulate[static_cast<std::size_t>(rep - o.runs)].shape : sf::LinkShape{});
      Inference inf;
      // One segment: its offline phase, then its online phase (timed after both parties are ready).
      auto segment = [&](const sf::MaterialPlan& plan, bool embed, std::size_t index, auto&& body) {
        const sf::Cost d0 = ctx.stats()["offline"];
        const auto t0 = clk::now();
        ctx.preprocess(plan);
        const double off = since(t0);
        sync();
        const sf::Stats s0 = ctx.stats();
        const auto sec0 = ctx.scope_seconds();
        const auto t1 = clk::now();
        const double cpu1 = thread_cpu();
        body();
        const double on = since(t1);
        inf.online_cpu_s += thread_cpu() - cpu1;
        const sf::Stats& s1 = ctx.stats();
        if (ctx.dealer().pending() != 0 || s1.total().dealer_requests - s0.total().dealer_requests != plan.size())
          throw sf::usage_error("bench_model: the online phase did not use exactly the planned dealer material");
        const sf::Cost c = s1.total() - s0.total();
        inf.offline_s += off;
        inf.offline += s1["offline"] - d0;
        inf.online_s += on;
        inf.online += c;
        if (embed) {
          inf.part["embed"] += c;
          inf.part_s["embed"] += on;
        } else {
          sf::Cost rest = c;
          double rest_s = on;
          for (auto [tag, part] : {std::pair{"softmax", "softmax"}, std::pair{"gelu", "gelu"}, std::pair{"layernorm", "norm"}}) {
            const sf::Cost pc = s1[tag] - s0[tag];
            const auto it0 = sec0.find(tag);
            const auto it1 = ctx.scope_seconds().find(tag);
            const double ps = (it1 == ctx.scope_seconds().end() ? 0.0 : it1->second) - (it0 == sec0.end() ? 0.0 : it0->second);
            inf.part[part] += pc;
            inf.part_s[part] += ps;
            rest = rest - pc;
            rest_s -= ps;
          }
          inf.part["linear"] += rest;
          inf.part_s["linear"] += rest_s;
        }
        if constexpr (id == 0)
          std::fprintf(stderr, "[%s]%s %s %d %s %zu: offline %.2f s, online %.2f s, %llu rounds, %.1f MB sent\n", label.c_str(),
                       emulated ? (" emulated " + o.emulate[static_cast<std::size_t>(rep - o.runs)].name).c_str() : "", rep < 0 ? "warm-up" : "run", rep + 1,
                       embed ? "embedding" : "layer", index, off, on, static_cast<unsigned long long>(c.rounds), static_cast<double>(c.bytes_sent) / 1e6);
      };
      std::optional<typename Ctx::template shared<>> x;
      segment(plans.embed, true, 0, [&] { x.emplace(front_of(emb, j.cfg.ln_eps)(tok, ctx)); });
      for (std::size_t i = 0; i < layers; ++i) {
        const auto& w = lw[i % distinct];
        segment(plan_for_layer(plans, w.attn.wqkv.handle), false, i + 1,
                [&] { x.emplace(nn::encoder_layer(w, j.cfg.heads, nullptr, j.cfg.ln_eps)(*x, ctx)); });
      }
      if (rep >= 0) log.inf.push_back(std::move(inf));
    }
    ctx.channel().set_shape(sf::LinkShape{});
  });
  return logs;
}

Row summarize(const Options& o, const Job& j, const std::string& suite, const std::array<PartyLog, 2>& logs) {
  Row r;
  r.model = j.model_name, r.suite = suite, r.tokens = static_cast<double>(j.tokens);
  r.layers = static_cast<double>(o.layers ? std::min(o.layers, j.cfg.layers) : j.cfg.layers);
  r.runs = o.runs, r.reuse = o.reuse ? 1 : 0, r.setup_s = logs[0].setup_s, r.dealer_link = o.memory_dealer ? "memory" : "tcp";
  std::vector<std::size_t> order(static_cast<std::size_t>(o.runs));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return logs[0].inf[a].online_s < logs[0].inf[b].online_s; });
  const std::size_t med = order[order.size() / 2];
  const Inference& p0 = logs[0].inf[med];
  const Inference& p1 = logs[1].inf[med];
  r.online_s = p0.online_s;
  r.online_min_s = logs[0].inf[order.front()].online_s, r.online_max_s = logs[0].inf[order.back()].online_s;
  std::vector<double> off;
  for (int i = 0; i < o.runs; ++i) off.push_back(std::max(logs[0].inf[static_cast<std::size_t>(i)].offline_s, logs[1].inf[static_cast<std::size_t>(i)].offline_s));
  std::sort(off.begin(), off.end());
  r.offline_s = off[off.size() / 2];
  r.dealer_mb = static_cast<double>(p1.offline.dealer_bytes) / 1e6;
  r.mb_p0 = static_cast<double>(p0.online.bytes_sent) / 1e6, r.mb_p1 = static_cast<double>(p1.online.bytes_sent) / 1e6;
  r.rounds = static_cast<double>(p0.online.rounds);
  {  // median CPU seconds of each party
    std::vector<double> c0, c1;
    for (int i = 0; i < o.runs; ++i) {
      c0.push_back(logs[0].inf[static_cast<std::size_t>(i)].online_cpu_s);
      c1.push_back(logs[1].inf[static_cast<std::size_t>(i)].online_cpu_s);
    }
    std::sort(c0.begin(), c0.end());
    std::sort(c1.begin(), c1.end());
    r.cpu_p0 = c0[c0.size() / 2], r.cpu_p1 = c1[c1.size() / 2];
  }
  for (const char* p : kParts) {
    r.part_s[p] = Row::at(p0.part_s, p);
    auto it = p0.part.find(p);
    const sf::Cost c = it == p0.part.end() ? sf::Cost{} : it->second;
    r.part_rounds[p] = static_cast<double>(c.rounds);
    r.part_mb[p] = static_cast<double>(c.bytes_sent) / 1e6;
  }
  const std::uint64_t bytes = std::max(p0.online.bytes_sent, p1.online.bytes_sent);
  for (const auto& l : o.estimate) {
    r.est[l.name] = sf::estimate_online_seconds(r.online_s, p0.online.rounds, bytes, l.shape);
    // The same from CPU time (an idle 2-core machine, one core per party): for the README table.
    r.est["cpu_" + l.name] = sf::estimate_online_seconds(std::max(r.cpu_p0, r.cpu_p1), p0.online.rounds, bytes, l.shape);
  }
  for (std::size_t k = 0; k < o.emulate.size(); ++k) {
    const auto& l = o.emulate[k];
    r.emu[l.name] = logs[0].inf[static_cast<std::size_t>(o.runs) + k].online_s;
    r.est[l.name] = sf::estimate_online_seconds(r.online_s, p0.online.rounds, bytes, l.shape);
  }
  return r;
}

// ------------------------------------------------------------------------------------------------
// Output

std::string pretty_suite(const std::string& s) {
  if (s == "secformer") return "SecFormerSuite";
  if (s == "secformer-exact") return "SecFormerExact";  // SecFormerSuite with trunc::Dealer
  if (s == "puma") return "PumaSuite";
  if (s == "mpcformer") return "MPCFormerSuite";
  if (s == "crypten") return "CrypTenSuite";
  return s;
}

/// The suite's name, marked when the row's dealer used the in-memory link.
std::string suite_label(const Row& r) { return pretty_suite(r.suite) + (r.dealer_link == "tcp" ? "" : " (dealer in memory)"); }

void sort_rows(std::vector<Row>& rows) {
  auto rank = [](const std::string& s) {
    const char* order[] = {"secformer", "secformer-exact", "puma", "mpcformer", "crypten"};
    for (int i = 0; i < 5; ++i)
      if (s == order[i]) return i;
    return 9;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (a.model != b.model) return a.model < b.model;
    if (a.tokens != b.tokens) return a.tokens < b.tokens;
    return rank(a.suite) < rank(b.suite);
  });
}

std::string table(const std::vector<Row>& rows) {
  std::ostringstream t;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-11s %-15s %5s %7s %9s %8s %7s %9s %9s %6s | %7s %7s %7s %7s %7s | %5s %s\n", "model", "suite", "runs",
                "offl. s", "dealer MB", "online s", "CPU s", "MB p0", "MB p1", "rounds", "Linear", "Softmax", "GeLU", "Norm", "Embed", "RSS", "estimates / emulated");
  t << buf;
  for (const auto& r : rows) {
    std::snprintf(buf, sizeof buf, "%-11s %-15s %5.0f %7.2f %9.0f %8.2f %7.2f %9.1f %9.1f %6.0f | %7.2f %7.2f %7.2f %7.2f %7.2f | %5.1f ",
                  (r.model + " " + std::to_string(static_cast<int>(r.tokens))).c_str(), pretty_suite(r.suite).c_str(), r.runs, r.offline_s,
                  r.dealer_mb, r.online_s, std::max(r.cpu_p0, r.cpu_p1), r.mb_p0, r.mb_p1, r.rounds, Row::at(r.part_s, "linear"), Row::at(r.part_s, "softmax"),
                  Row::at(r.part_s, "gelu"), Row::at(r.part_s, "norm"), Row::at(r.part_s, "embed"), r.peak_rss_gb);
    t << buf;
    for (const auto& [k, v] : r.est) {
      std::snprintf(buf, sizeof buf, "%s %.2f s", k.c_str(), v);
      t << buf;
      if (auto it = r.emu.find(k); it != r.emu.end()) {
        std::snprintf(buf, sizeof buf, " (emulated %.2f s)", it->second);
        t << buf;
      }
      t << "; ";
    }
    if (r.layers != (r.model.find("large") != std::string::npos ? 24 : 12)) t << "ONLY " << r.layers << " layers; ";
    if (r.reuse != 0) t << "one weight bundle for all layers; ";
    if (r.dealer_link != "tcp") t << "dealer over an in-memory channel; ";
    if (!r.note.empty()) t << r.note;
    t << "\n";
  }
  t << "\nrounds and online MB (party 0) per part:\n";
  for (const auto& r : rows) {
    std::snprintf(buf, sizeof buf, "%-11s %-15s", (r.model + " " + std::to_string(static_cast<int>(r.tokens))).c_str(), suite_label(r).c_str());
    t << buf;
    for (const char* p : kParts) {
      std::snprintf(buf, sizeof buf, "  %s %4.0f r %8.1f MB", p, Row::at(r.part_rounds, p), Row::at(r.part_mb, p));
      t << buf;
    }
    t << "\n";
  }
  t << "\nspeedup of SecFormerSuite over PumaSuite (online time; same run setting):\n";
  for (const auto& a : rows) {
    if (a.suite != "secformer") continue;
    for (const auto& b : rows) {
      if (b.suite != "puma" || b.model != a.model || b.tokens != a.tokens || b.layers != a.layers || b.dealer_link != a.dealer_link) continue;
      std::snprintf(buf, sizeof buf, "  %s %d tokens: loopback wall clock %.2fx, CPU time %.2fx", a.model.c_str(), static_cast<int>(a.tokens),
                    b.online_s / a.online_s, std::max(b.cpu_p0, b.cpu_p1) / std::max(a.cpu_p0, a.cpu_p1));
      t << buf;
      for (const auto& [k, v] : a.est)
        if (auto it = b.est.find(k); it != b.est.end()) {
          std::snprintf(buf, sizeof buf, ", %s (estimated) %.2fx", k.c_str(), it->second / v);
          t << buf;
        }
      std::snprintf(buf, sizeof buf, "; rounds %.0f vs %.0f, MB %.0f vs %.0f\n", a.rounds, b.rounds, a.mb_p0, b.mb_p0);
      t << buf;
    }
  }
  return t.str();
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char ch : s) o += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  return o;
}

/// Stacked bars of the online time split per row (linear scale) and the online bytes (log scale).
void write_svg(const std::vector<Row>& rows, const std::string& path) {
  const double bar_h = 16, gap = 6, left = 250, width = 420, top = 50;
  const double h = top + static_cast<double>(rows.size()) * (bar_h + gap) + 60;
  const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"};
  double tmax = 0;
  for (const auto& r : rows) tmax = std::max(tmax, r.online_s);
  double step = std::pow(10.0, std::floor(std::log10(std::max(tmax, 1e-3))));
  if (tmax / step < 3) step /= 2;
  const double axis = std::ceil(tmax / step) * step;
  std::ofstream f(path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << left + 2 * width + 100 << "' height='" << h
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  f << "<text x='" << left << "' y='18' font-size='13' font-weight='bold'>online seconds (wall clock, party 0, loopback TCP)</text>\n";
  for (int k = 0; k < 5; ++k)
    f << "<rect x='" << left + k * 80 << "' y='26' width='10' height='10' fill='" << colors[k] << "'/><text x='" << left + k * 80 + 14
      << "' y='35'>" << kParts[k] << "</text>\n";
  for (double t = 0; t <= axis * 1.0001; t += step) {
    const double px = left + width * t / axis;
    f << "<line x1='" << px << "' y1='" << top - 5 << "' x2='" << px << "' y2='" << h - 40 << "' stroke='#ddd'/><text x='" << px << "' y='"
      << h - 25 << "' text-anchor='middle'>" << t << "</text>\n";
  }
  const double x2 = left + width + 80;
  f << "<text x='" << x2 << "' y='18' font-size='13' font-weight='bold'>online MB sent by party 0 (log)</text>\n";
  for (double t = 1; t <= 1e5; t *= 10) {
    const double px = x2 + width * std::log10(t) / 5;
    f << "<line x1='" << px << "' y1='" << top - 5 << "' x2='" << px << "' y2='" << h - 40 << "' stroke='#ddd'/><text x='" << px << "' y='"
      << h - 25 << "' text-anchor='middle'>" << t << "</text>\n";
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const double y = top + static_cast<double>(i) * (bar_h + gap);
    f << "<text x='" << left - 8 << "' y='" << y + 12 << "' text-anchor='end'>"
      << xml_escape(r.model + " " + std::to_string(static_cast<int>(r.tokens)) + " " + suite_label(r)) << "</text>\n";
    double x = left;
    for (int k = 0; k < 5; ++k) {
      const double w = width * std::max(Row::at(r.part_s, kParts[k]), 0.0) / axis;
      f << "<rect x='" << x << "' y='" << y << "' width='" << w << "' height='" << bar_h << "' fill='" << colors[k] << "'/>\n";
      x += w;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f s", r.online_s);
    f << "<text x='" << x + 4 << "' y='" << y + 12 << "'>" << buf << "</text>\n";
    const double bw = width * std::log10(std::max(r.mb_p0, 1.0)) / 5;
    f << "<rect x='" << x2 << "' y='" << y << "' width='" << std::max(bw, 1.0) << "' height='" << bar_h << "' fill='"
      << (r.suite == "secformer" ? "#d62728" : "#7f7f7f") << "'/>\n";
    std::snprintf(buf, sizeof buf, "%.0f MB, %.0f rounds", r.mb_p0, r.rounds);
    f << "<text x='" << x2 + bw + 4 << "' y='" << y + 12 << "'>" << buf << "</text>\n";
  }
  f << "</svg>\n";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<NamedLink> parse_links(const std::string& s) {
  std::vector<NamedLink> out;
  for (const auto& t : split(s, ';')) {
    std::string name = t;
    for (auto& ch : name)
      if (ch == ',' || ch == '.') ch = '_';
    out.push_back({name, sf::LinkShape::parse(t)});
  }
  return out;
}

/// SecFormer's policies with the dealer-assisted truncation everywhere: no truncation ever fails
/// (trunc.hpp), at one more round and one more word per truncated element.
using SecFormerExact = sf::SecFormerSuite::with_encoding<sf::Fixed<16, sf::trunc::Dealer>>;

template <class F>
void with_suite(const std::string& name, F&& f) {
  if (name == "secformer") f(sf::SecFormerSuite{});
  else if (name == "secformer-exact") f(SecFormerExact{});
  else if (name == "puma") f(sf::PumaSuite{});
  else if (name == "mpcformer") f(sf::MPCFormerSuite{});
  else if (name == "crypten") f(sf::CrypTenSuite{});
  else throw sf::usage_error("bench_model: unknown suite '" + name + "' (secformer, secformer-exact, puma, mpcformer, crypten)");
}
}  // namespace

int main(int argc, char** argv) try {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw sf::usage_error("bench_model: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--models") o.models = split(value(), ',');
    else if (a == "--suites") o.suites = split(value(), ',');
    else if (a == "--tokens") {
      o.tokens.clear();
      for (const auto& t : split(value(), ',')) o.tokens.push_back(std::stoul(t));
    } else if (a == "--runs") o.runs = std::stoi(value());
    else if (a == "--warmup") o.warmup = std::stoi(value());
    else if (a == "--layers") o.layers = std::stoul(value());
    else if (a == "--estimate") o.estimate = parse_links(value());
    else if (a == "--emulate") o.emulate = parse_links(value());
    else if (a == "--reuse-layer-weights") o.reuse = true;
    else if (a == "--dealer-link") {
      const std::string v = value();
      if (v != "tcp" && v != "memory") throw sf::usage_error("bench_model: --dealer-link is tcp or memory");
      o.memory_dealer = v == "memory";
    }
    else if (a == "--merge") o.merge = true;
    else if (a == "--json") o.json = value();
    else if (a == "--txt") o.txt = value();
    else if (a == "--svg") o.svg = value();
    else throw sf::usage_error("bench_model: unknown option " + a + " (see the comment at the top of bench/model.cpp)");
  }
  if (o.runs < 1) throw sf::usage_error("bench_model: --runs must be at least 1");
  for (auto t : o.tokens)
    if (t < 1 || t > 512) throw sf::usage_error("bench_model: --tokens must be in 1..512 (BERT's positions)");
  sf::keep_large_buffers();

  std::vector<Row> rows;
  for (const auto& m : o.models) {
    Job j;
    j.model_name = m == "base" ? "BERT-base" : m == "large" ? "BERT-large" : "";
    if (j.model_name.empty()) throw sf::usage_error("bench_model: unknown model '" + m + "' (base, large)");
    j.cfg = m == "base" ? nn::BertConfig::base() : nn::BertConfig::large();
    for (auto tokens : o.tokens) {
      j.tokens = tokens;
      for (const auto& s : o.suites) {
        const std::string label = j.model_name + " " + std::to_string(tokens) + " " + s;
        std::fprintf(stderr, "[%s] starting (%.1f GB available)\n", label.c_str(), available_gb());
        reset_peak_rss();
        const std::string load0 = loadavg();
        with_suite(s, [&](auto suite) {
          const auto logs = session<decltype(suite)>(o, j, label);
          rows.push_back(summarize(o, j, s, logs));
        });
        rows.back().peak_rss_gb = peak_rss_gb();
        rows.back().note = "load average " + load0 + " -> " + loadavg() + (o.warmup ? "" : "; no warm-up");
        std::printf("%s", table({rows.back()}).substr(0, table({rows.back()}).find("\nrounds and")).c_str());
        std::fflush(stdout);
      }
    }
  }

  if (o.merge) {
    std::ifstream in(o.json);
    std::string line;
    std::vector<Row> kept;
    while (std::getline(in, line))
      if (auto r = Row::parse(line)) {
        const bool again = std::any_of(rows.begin(), rows.end(), [&](const Row& x) { return x.key() == r->key(); });
        if (!again) kept.push_back(*r);
      }
    rows.insert(rows.end(), kept.begin(), kept.end());
  }
  sort_rows(rows);
  {
    std::ofstream f(o.json);
    f << "[\n";
    for (std::size_t i = 0; i < rows.size(); ++i) f << "  " << rows[i].json() << (i + 1 < rows.size() ? ",\n" : "\n");
    f << "]\n";
  }
  const std::string t = table(rows);
  {
    std::ofstream f(o.txt);
    f << "# bench_model: BERT, batch 1, random weights; 3 roles in one process over loopback TCP, 2-core machine.\n"
         "# online s = median over the runs (party 0's clock); offline s = party 1's (includes the dealer's work);\n"
         "# dealer MB = bytes to party 1; MB p0/p1 = online bytes sent by each party; estimates: compute + rounds RTT/2 +\n"
         "# bytes/bandwidth (lan = 3 Gbit/s 0.8 ms RTT, wan = 200 Mbit/s 40 ms RTT); emulated = one run over ShapedChannel.\n"
         "# CPU s = online CPU seconds of the busier party (thread CPU time: unaffected by waiting for a core on a loaded machine).\n"
         "# RSS = the process's peak resident memory in GB (all three roles); load average = /proc/loadavg before -> after.\n";
    f << t;
  }
  write_svg(rows, o.svg);
  std::cout << "\n" << t << "wrote " << o.json << ", " << o.txt << " and " << o.svg << "\n";
} catch (const std::exception& e) {
  std::cerr << "bench_model: " << e.what() << "\n";
  return 2;
}
