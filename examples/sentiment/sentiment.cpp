// sentiment: private sentiment analysis of one review (the main demo; examples/run_demo.sh).
//
//   sentiment ["REVIEW TEXT" | -]           all three roles in this process (threads, in-memory
//                                           channels); no text: an embedded review; "-": stdin
//   sentiment p0|p1|dealer [options] [TEXT] one role per process/host over TCP; the network, TLS and
//                                           key flags are examples/common/cli.hpp's (sentiment --help)
//   sentiment plain [TEXT]                  the model owner's plaintext label and logits (no network;
//                                           the cross-check of a three-process run)
//   common options: --model secformer|teacher (default: secformer when its packed weights exist; the
//                   client, which has no weights, defaults to secformer)
//                   --cache DIR (default ./cache) --weights DIR (default examples/sentiment/weights)
// Over TCP, plain TCP is for loopback only (--insecure-plain-tcp overrides) and a fixed seed needs
// --insecure-fixed-seed N (tests only); the in-process run accepts --seed N.
//
// Roles (the library's process model has two computing parties and a dealer):
//   party 1 = the CLIENT: it holds the review, tokenizes it (text/sentencepiece.hpp),
//             computes its token rows from the public embedding tables (the npm package's, which
//             the distillation froze) and secret-shares them (client_embedding); it alone receives
//             the result (reveal_to). The client is one of the two computing parties: the library
//             has no separate input provider, so the client's host runs party 1's protocol. It loads
//             no model weight (no student, no classifier head) and sees no logit.
//   party 0 = the MODEL OWNER: it inputs the student's weights as shares; it learns nothing about
//             the review except its number of tokens (public: the secure model runs on the real
//             length, not on a padded one).
//   dealer  = the offline helper (Beaver triples and other correlated randomness).
// Only the label is revealed: the two logits stay secret, [logit1 - logit0 < 0] is computed by a
// secure comparison and opened to the client.
// Models: the SecFormer student (2Quad attention, GeLU; SecFormerSuite), unpacked from the int8
// deltas in weights/secformer (pack_student.py) on top of the npm teacher; or the teacher itself
// with CrypTenSuite (exact exp softmax, ReLU) when --model teacher.
// The in-process run prints the plaintext model's label as a check (all roles are in one process);
// over TCP, the check is `sentiment plain TEXT` run by the model owner
// (examples/sentiment/three_processes.sh compares the two).
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

#include "../common/cli.hpp"

using namespace sentiment;

namespace {

const char* default_review =
    "This movie was a wonderful surprise. The acting is superb, the story is moving and funny at the same time, "
    "and the soundtrack is beautiful. I would happily watch it again.";

struct Options {
  std::string role = "all", text, model;
  fs::path cache = "cache", weights = fs::path(SENTIMENT_SOURCE_DIR) / "weights";
  examples::cli::NetFlags flags;
  const sf::NetConfig& net() const { return flags.net; }
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Result {  // what each role reports
  double seconds = 0, share_seconds = 0;
  sf::Cost online, sharing;
  int label = -1;
};

/// The secure program of either party. owner: the model (party 0 only); client: tables and ids
/// (party 1 only). The token count goes from the client to the owner first (public).
template <Kind K, class Ctx>
Result program(Ctx& ctx, const Model* owner, const nn::EmbeddingParams<>* client_tables, const std::vector<std::int32_t>* client_ids) {
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
  const auto logits = sm.logits(Ctx::id == 1 ? client_tables : nullptr, ids, ctx);
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

/// The client's token ids of the review: at most max_tokens, with a notice on stderr when it is cut.
std::vector<std::int32_t> tokenize(const Options& o, std::size_t max_tokens) {
  const auto tok = sf::text::SentencePiece::from_vocab_json(o.cache / "use" / "package" / "dist" / "vocab.json");
  auto ids = tok.encode(o.text, max_tokens + 1);
  if (ids.size() > max_tokens) {
    ids.resize(max_tokens);
    std::fprintf(stderr, "note: the review has more than %zu tokens; only the first %zu are classified\n", max_tokens, max_tokens);
  }
  if (ids.empty()) throw sf::usage_error("sentiment: the review has no tokens");
  return ids;
}

void print_review(const Options& o, std::size_t tokens) {
  const auto shown = examples::cli::prefix_utf8(o.text, 120);
  std::printf("review (%zu tokens; the count is public): \"%s%s\"\n", tokens, examples::cli::escape(shown).c_str(),
              shown.size() < o.text.size() ? "..." : "");
}

template <Kind K>
void print_model() {
  std::printf("model: %s, %s\n", K == Kind::teacher ? "USE-lite teacher" : "SecFormer student (2Quad attention, GeLU)",
              K == Kind::teacher ? "CrypTenSuite (exp softmax, ReLU)" : "SecFormerSuite (Pi_GeLU, 2Quad + Goldschmidt, Goldschmidt LayerNorm)");
}

/// The model owner's model: the student unpacked on top of the teacher, or the teacher.
template <Kind K>
Model owner_model(const Options& o, Model& teacher) {
  teacher = load_teacher(o.cache, o.weights / "teacher" / "classifier.w.npy");
  return K == Kind::teacher ? teacher : unpack_student(K, o.weights / name_of(K), teacher);
}

template <Kind K>
int run(const Options& o) {
  using Suite = typename Secure<K>::suite;
  if (o.role == "dealer") {  // the dealer holds no data: it only serves correlated randomness
    sf::run_dealer(o.net());
    std::printf("dealer: session finished\n");
    return 0;
  }
  if (o.role == "p1") {  // the client: public embedding tables and its review only
    const ClientTables tables = load_client_tables(o.cache);
    const auto ids = tokenize(o, tables.cfg.max_tokens);
    print_review(o, ids.size());
    print_model<K>();
    Result r;
    sf::run_party<Suite>(sf::party<1>, o.net(), [&](auto& ctx) { r = program<K>(ctx, nullptr, &tables.emb, &ids); });
    std::printf("private label (revealed to the client only): %s\n", label_text(r.label));
    print_costs(1, r);
    return r.label == 0 || r.label == 1 ? 0 : 1;
  }
  Model teacher;
  const Model model = owner_model<K>(o, teacher);
  if (o.role == "p0") {
    Result r;
    sf::run_party<Suite>(sf::party<0>, o.net(), [&](auto& ctx) { r = program<K>(ctx, &model, nullptr, nullptr); });
    print_costs(0, r);
    return 0;
  }
  const auto ids = tokenize(o, teacher.cfg.max_tokens);
  const auto plain = plain_logits(model, ids);
  const int pl = plain(1) > plain(0) ? 1 : 0;
  if (o.role == "plain") {  // the model owner, alone, on a text it was given for the check
    print_review(o, ids.size());
    print_model<K>();
    std::printf("plaintext model's label: %s (logits %.4f, %.4f)\n", label_text(pl), plain(0), plain(1));
    return 0;
  }
  print_review(o, ids.size());
  print_model<K>();
  Result res[2];
  const double t0 = now();
  sf::run_two_party<Suite>(sf::RunOptions{o.net().seed}, [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    res[Ctx::id] = program<K>(ctx, Ctx::id == 0 ? &model : nullptr, Ctx::id == 1 ? &teacher.w.emb : nullptr, Ctx::id == 1 ? &ids : nullptr);
  });
  const double total = now() - t0;
  std::printf("private label (revealed to the client only): %s\n", label_text(res[1].label));
  std::printf("plaintext model's label: %s (logits %.4f, %.4f)\n", label_text(pl), plain(0), plain(1));
  std::printf("agrees with the plaintext model: %s\n", res[1].label == pl ? "yes" : "NO");
  print_costs(0, res[0]);
  print_costs(1, res[1]);
  std::printf("whole session (3 threads, in-memory channels, dealer in-process): %.2f s\n", total);
  return res[1].label == pl ? 0 : 1;
}

const char* help =
    "sentiment: private sentiment analysis of one review (party 1 = the client holds the review and\n"
    "learns the label only; party 0 = the model owner; the dealer).\n"
    "usage: sentiment [options] [\"TEXT\" | -]              all roles in this process (in-memory)\n"
    "       sentiment p0|p1|dealer [options] [\"TEXT\" | -] one role over TCP (TEXT: party 1's review)\n"
    "       sentiment plain [options] [\"TEXT\" | -]        the model owner's plaintext label (a check)\n"
    "  --model secformer|teacher   the model, the same on every role (default: secformer; the model\n"
    "                              owner falls back to the teacher when the packed weights are missing)\n"
    "  --cache DIR                 the fetched data (default ./cache)\n"
    "  --weights DIR               the packed weights (default examples/sentiment/weights)\n"
    "  a review longer than the model's 128 tokens is cut (a notice on stderr)\n"
    "defaults: --peer 127.0.0.1:7400 --dealer 127.0.0.1:7401\n";

}  // namespace

int main(int argc, char** argv) try {
  namespace cli = examples::cli;
  if (cli::wants_help(argc, argv)) {
    std::cout << help << cli::net_help;
    return 0;
  }
  Options o;
  int i = 1;
  if (argc > 1) {
    const std::string r = argv[1];
    if (r == "p0" || r == "p1" || r == "dealer" || r == "plain") o.role = argv[i++];
  }
  cli::Args args(argc, argv, i);
  std::vector<std::string> rest;
  while (!args.done()) {
    const std::string a = args.next();
    if (a.rfind("--", 0) != 0 || a == "-") {
      rest.push_back(a);
      continue;
    }
    if (a == "--model") o.model = args.value(a);
    else if (a == "--cache") o.cache = args.value(a);
    else if (a == "--weights") o.weights = args.value(a);
    else if (!cli::net_flag(o.flags, a, args)) throw sf::usage_error("unknown option '" + cli::escape(a) + "' (sentiment --help)");
  }
  if (rest.size() > 1) throw sf::usage_error("sentiment: one review text at most (quote it)");
  if (o.role == "dealer" && !rest.empty()) throw sf::usage_error("sentiment: the dealer takes no text");
  if (o.role == "p0" && !rest.empty()) throw sf::usage_error("sentiment: the model owner (p0) takes no text: the review is the client's (p1)");
  o.text = rest.empty() ? default_review : rest[0];
  if (o.text == "-") o.text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  const bool tcp = o.role == "p0" || o.role == "p1" || o.role == "dealer";
  cli::apply_policy(o.flags, tcp ? cli::Transport::tcp : cli::Transport::in_process, {o.role});
  if (tcp) cli::tls_for(o.flags, o.role);
  if (!o.model.empty() && o.model != "secformer" && o.model != "teacher")
    throw sf::usage_error("sentiment: --model secformer or teacher, got '" + cli::escape(o.model) + "'");
  if (o.model.empty() && (o.role == "p1" || o.role == "dealer")) o.model = "secformer";  // no weights on these roles
  if (o.model.empty()) {
    o.model = fs::exists(o.weights / "secformer" / "classifier.w.npy") ? "secformer" : "teacher";
    if (o.model == "teacher") std::printf("note: no packed SecFormer student in %s: using the teacher with CrypTenSuite\n", o.weights.c_str());
  }
  o.flags.net.model_digest = sf::handshake::shape_digest({{o.model == "teacher" ? 1u : 2u}, {512, 2}});
  const Kind k = kind_of(o.model);
  if (k == Kind::secformer) return run<Kind::secformer>(o);
  return run<Kind::teacher>(o);
} catch (const std::exception& e) {
  std::cerr << "sentiment: " << e.what() << '\n';
  return 2;
}
