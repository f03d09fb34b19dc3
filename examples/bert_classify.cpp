// bert_classify: a Hugging Face BERT folder (config.json, model.safetensors or shards, vocab.txt or
// tokenizer.json) run on one text or text pair.
//
//   bert_classify --model DIR [--mode exact|approx|solo|secure] [--suite secformer|mpcformer|puma|crypten]
//                 [--max-length N] [--pad-to N] [--seed N] [--json] [--hidden] TEXT [PAIR]
//
// Modes:
//   exact   doubles with the exact functions (erf GeLU or the config's hidden_act, exp softmax,
//           LayerNorm, tanh: what transformers computes); a 2Quad student runs exact 2Quad
//           (nn::ExactOf<Quad2Softmax>). The suite plays no part.
//   approx  doubles with the suite's approximations (nn::PlainContext<Suite, Approx>)
//   solo    the fixed-point simulation of the suite's protocols (sf::run_solo)
//   secure  two parties and the dealer in this process (sf::run_two_party): party 0 holds the
//           checkpoint, party 1 the text (it reads only config.json and the vocabulary: the public
//           shapes); the token lookup is the secure one-hot product (nn::share_tokens), s (vocab +
//           type_vocab) words each way in one round (printed on stderr as the "embedding" cost).
// Attention: a checkpoint with "secformer": {"attention": "2quad"} is a 2Quad student; under
// secformer/mpcformer (2Quad suites) a standard softmax BERT is refused, under crypten/puma a
// student is refused (nn::require_attention), never silently approximated.
// Padding: --pad-to N pads with [PAD] to N tokens and passes the attention mask (1 = token,
// 0 = padding), Hugging Face's attention_mask: padded keys get no weight. In the exp softmax a
// masked key gets probability 0 (transformers adds finfo.min before exp); inside 2Quad the mask is
// multiplied in after squaring, (x_j + c)^2 m_j / sum_k (x_k + c)^2 m_k, so a masked key adds
// nothing to the row's sum and gets 0. Padded query rows are still computed (as transformers does).
// Output: the logits and the label (id2label); a BertModel checkpoint (no classifier) has no
// logits: the final hidden states are printed instead. --json prints one line
// {"ids": [...], "token_types": [...], "logits": [...], "label": "..."} (+ "hidden": [[...]] with
// --hidden or for a BertModel).
// Roles over TCP (the network, TLS and key flags of examples/common/cli.hpp; defaults
// 127.0.0.1:7600 peer, :7601 dealer):
//   bert_classify dealer [net flags]
//   bert_classify p0 --model DIR --pad-to N [--suite S] [net flags]          the model owner
//   bert_classify p1 --model DIR --pad-to N [--suite S] [--json] [--hidden] [net flags] TEXT [PAIR]
// p1 (the client) reads only config.json and the vocabulary (no weight), pads its text to the
// public length N (truncating to N), inputs its attention mask, which both open (public: 1 round),
// and its one-hot tokens; only p1 learns the outputs (reveal_to). p0 needs the architecture from
// config.json's "architectures" (or it must be a classifier) and refuses a checkpoint that disagrees.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <secformer/net.hpp>
#include <secformer/nn/hf.hpp>
#include <secformer/protocols/suite.hpp>
#include <secformer/run.hpp>
#include <secformer/text/wordpiece.hpp>

#include "common/cli.hpp"

namespace sf = secformer;
namespace nn = secformer::nn;
namespace cli = examples::cli;

namespace {

const char* const usage_text =
    "usage: bert_classify --model DIR [--mode exact|approx|solo|secure] [--suite secformer|mpcformer|puma|crypten]\n"
    "                     [--max-length N] [--pad-to N] [--seed N] [--json] [--hidden] TEXT [PAIR]\n"
    "  --model DIR      a Hugging Face BERT folder: config.json, model.safetensors (or shards), vocab.txt or tokenizer.json\n"
    "  --mode           exact (doubles, exact functions: transformers' model), approx (doubles, the suite's\n"
    "                   approximations), solo (fixed-point simulation), secure (two parties in-process); default exact\n"
    "  --suite          the protocols of approx/solo/secure (default secformer); 2Quad suites need a 2Quad student\n"
    "  --max-length N   truncate to N tokens (default: max_position_embeddings, at most 512)\n"
    "  --pad-to N       pad with [PAD] to N tokens (attention mask 0 on the padding)\n"
    "  --seed N         fixed seed of solo/secure (tests); default: keys from the operating system\n"
    "  --json           one line of JSON: ids, token_types, logits, label (hidden with --hidden)\n"
    "  --hidden         print the final hidden states too\n"
    "roles over TCP:   bert_classify dealer | p0 --model DIR --pad-to N | p1 --model DIR --pad-to N [...] TEXT [PAIR]\n"
    "                  (the same --suite and --pad-to on p0 and p1)\n";

struct Args {
  std::string model;
  std::string mode = "exact";
  std::string suite = "secformer";
  std::optional<std::size_t> max_length;
  std::optional<std::size_t> pad_to;
  std::optional<std::uint64_t> seed;
  bool json = false;
  bool hidden = false;
  std::vector<std::string> texts;
};

std::uint64_t number(const std::string& flag, const std::string& v) { return cli::parse_number(flag, v); }

/// Parses the options from argv[first]; network flags go to `net` when given (roles), else they
/// are unknown options.
Args parse(int argc, char** argv, int first, cli::NetFlags* net) {
  Args a;
  cli::Args args(argc, argv, first);
  while (!args.done()) {
    const std::string s = args.next();
    if (s == "--help" || s == "-h") {
      std::cout << usage_text << cli::net_help;
      std::exit(0);
    } else if (s == "--model") a.model = args.value(s);
    else if (s == "--mode") a.mode = args.value(s);
    else if (s == "--suite") a.suite = args.value(s);
    else if (s == "--max-length") a.max_length = number(s, args.value(s));
    else if (s == "--pad-to") a.pad_to = number(s, args.value(s));
    else if (net && cli::net_flag(*net, s, args)) continue;
    else if (s == "--seed") a.seed = number(s, args.value(s));
    else if (s == "--json") a.json = true;
    else if (s == "--hidden") a.hidden = true;
    else if (s.size() > 1 && s[0] == '-' && s[1] == '-') throw sf::usage_error("unknown option " + cli::escape(s) + " (bert_classify --help)");
    else a.texts.push_back(s);
  }
  if (a.mode != "exact" && a.mode != "approx" && a.mode != "solo" && a.mode != "secure")
    throw sf::usage_error("--mode must be exact, approx, solo or secure, found \"" + cli::escape(a.mode) + "\"");
  if (a.suite != "secformer" && a.suite != "mpcformer" && a.suite != "puma" && a.suite != "crypten")
    throw sf::usage_error("--suite must be secformer, mpcformer, puma or crypten, found \"" + cli::escape(a.suite) + "\"");
  return a;
}

void require_model_and_text(const Args& a, bool text) {
  if (a.model.empty()) throw sf::usage_error("--model DIR is required");
  if (text && (a.texts.empty() || a.texts.size() > 2)) throw sf::usage_error("give one TEXT or a TEXT and its PAIR");
  if (!text && !a.texts.empty()) throw sf::usage_error("this role takes no text");
}

struct Output {
  nn::Tensor hidden;
  nn::Tensor logits;  // empty for a BertModel
};

struct Input {
  nn::TokenIds ids;
  nn::Tensor mask;  // (s), 0/1
  bool padded = false;
  const nn::Tensor* mask_ptr() const { return padded ? &mask : nullptr; }
};

template <class Softmax, class Gelu, class Norm, class Tanh, class Ctx>
Output run_plain(const nn::HfBert& m, const Input& in, Ctx& ctx) {
  const nn::Bert<nn::PlainRepr, Softmax, Gelu, Norm, Tanh> model(m.params, m.config);
  Output o;
  o.hidden = model.encode(in.ids, in.mask_ptr(), ctx);
  if (m.has_classifier()) o.logits = model.classify(o.hidden, ctx);
  return o;
}

template <class Softmax, class Norm, class Tanh>
Output exact_with_gelu(const nn::HfBert& m, const Input& in) {
  nn::PlainContext<sf::Basic<>, nn::Approx> ctx;  // Approx: the layers apply the explicit policies' approx = exact
  if (m.hf.secformer && m.hf.secformer->gelu == sf::io::StudentGelu::quad) return run_plain<Softmax, sf::QuadGelu, Norm, Tanh>(m, in, ctx);
  switch (m.hf.hidden_act) {
    case sf::io::HiddenAct::gelu: return run_plain<Softmax, nn::ExactGelu, Norm, Tanh>(m, in, ctx);
    case sf::io::HiddenAct::gelu_new: return run_plain<Softmax, nn::ExactGeluTanh, Norm, Tanh>(m, in, ctx);
    case sf::io::HiddenAct::relu: return run_plain<Softmax, nn::Relu<>, Norm, Tanh>(m, in, ctx);
  }
  throw sf::usage_error("unknown hidden_act");
}

Output run_exact(const nn::HfBert& m, const Input& in) {
  if (m.is_student()) {
    if (m.hf.secformer->quad_c != sf::Quad2Softmax::c)
      throw sf::usage_error("secformer: 2Quad with quad_c = " + std::to_string(m.hf.secformer->quad_c) + " is not supported (c = 5 only)");
    return exact_with_gelu<nn::ExactOf<sf::Quad2Softmax>, nn::ExactLayerNorm, nn::ExactTanh>(m, in);
  }
  return exact_with_gelu<nn::ExactSoftmax, nn::ExactLayerNorm, nn::ExactTanh>(m, in);
}

template <class Suite>
Output run_suite(const Args& a, const nn::HfBert& owner, const Input& in) {
  nn::require_attention<typename Suite::softmax>(owner.hf, a.suite);
  nn::require_activation<typename Suite::gelu>(owner.hf, a.suite);
  if (a.mode == "approx") {
    nn::PlainContext<Suite, nn::Approx> ctx;
    return run_plain<void, void, void, nn::SigmoidTanh<>>(owner, in, ctx);
  }
  // Party 1's view: config.json only, with the owner's head (public: the output's shape).
  const nn::HfBert client = nn::load_hf_bert_config(a.model, owner.head);
  const auto shapes = nn::hf_shapes(client.config);
  nn::ShareOptions opt;
  if (!owner.has_classifier()) opt.skip = nn::skip_classifier;
  const nn::TokenIds placeholder{std::vector<std::size_t>(in.ids.size(), 0), {}};  // party 0 knows the length only
  std::array<Output, 2> out;
  auto body = [&](auto& ctx) {
    using Ctx = std::remove_cvref_t<decltype(ctx)>;
    constexpr bool is_client = Ctx::id == 1 && !Ctx::is_solo;
    const auto sw = [&] {
      if constexpr (is_client) return nn::share_bundle(shapes, ctx, opt);
      else return nn::share_bundle(owner.params, ctx, opt);
    }();
    const nn::Bert model(sw, is_client ? client.config : owner.config);
    const auto tokens = nn::share_tokens(sf::party<1>, is_client || Ctx::is_solo ? in.ids : placeholder, client.config.vocab,
                                         client.config.type_vocab, ctx);
    const auto h = model.encode(tokens, in.mask_ptr(), ctx);
    Output o;
    o.hidden = ctx.reveal(h);
    if (owner.has_classifier()) o.logits = ctx.reveal(model.classify(h, ctx));
    out[Ctx::is_solo ? 0 : Ctx::id] = std::move(o);
  };
  sf::RunOptions ro;
  ro.seed = a.seed;
  // The one-hot lookup: ONE round, the masked one-hot rows s (vocab + type_vocab) words each way
  // (exact: an Int share times the masked tables); the "embedding" tag also holds its LayerNorm.
  const std::size_t lookup_bytes = in.ids.size() * (client.config.vocab + client.config.type_vocab) * sizeof(typename Suite::ring::word_type);
  auto cost = [&](const char* who, const sf::Stats& st) {
    const sf::Cost e = st["embedding"], t = st.total();
    std::cerr << "bert_classify: " << who << ": one-hot token lookup 1 round, " << lookup_bytes << " B sent (" << in.ids.size() << " x ("
              << client.config.vocab << " + " << client.config.type_vocab << ") words); embedding with its LayerNorm " << e.rounds
              << " rounds, " << e.bytes_sent << " B sent, " << e.dealer_bytes << " dealer B; total " << t.rounds << " rounds, "
              << t.bytes_sent << " B sent, " << t.dealer_bytes << " dealer B\n";
  };
  if (a.mode == "solo") {
    const sf::Stats st = sf::run_solo<Suite>(ro, body);
    cost("simulation", st);
    return out[0];
  }
  const auto st = sf::run_two_party<Suite>(ro, body);
  cost("party 0", st[0]);
  cost("party 1", st[1]);
  return out[1];  // the client's answer (both parties reveal the same values)
}

void print_list(std::ostream& os, const double* v, std::size_t n) {
  char buf[40];
  os << '[';
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", v[i]);
    os << (i ? ", " : "") << buf;
  }
  os << ']';
}

std::string json_string(const std::string& s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') r += '\\', r += static_cast<char>(c);
    else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      r += b;
    } else r += static_cast<char>(c);
  }
  return r + "\"";
}

/// Tokenizes (truncating to max_length, padding to --pad-to) with the folder's vocabulary.
std::pair<sf::text::Encoding, Input> tokenize(const Args& a, const nn::HfBert& m) {
  const auto tok = sf::text::WordPiece::from_pretrained(a.model);
  const std::size_t max_len = a.max_length.value_or(std::min<std::size_t>(512, m.config.max_positions));
  if (max_len > m.config.max_positions)
    throw sf::usage_error("--max-length " + std::to_string(max_len) + " exceeds max_position_embeddings " + std::to_string(m.config.max_positions));
  sf::text::Encoding e = a.texts.size() == 2 ? tok.encode_pair(a.texts[0], a.texts[1], max_len) : tok.encode(a.texts[0], max_len);
  if (e.dropped) std::cerr << "bert_classify: note: the text was truncated (" << e.dropped << " tokens dropped to fit " << max_len << ")\n";
  if (a.pad_to) {
    if (*a.pad_to < e.ids.size()) throw sf::usage_error("--pad-to " + std::to_string(*a.pad_to) + " is shorter than the " + std::to_string(e.ids.size()) + " tokens");
    if (*a.pad_to > m.config.max_positions) throw sf::usage_error("--pad-to exceeds max_position_embeddings");
    tok.pad(e, *a.pad_to);
  }
  Input in;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    in.ids.token.push_back(static_cast<std::size_t>(e.ids[i]));
    in.ids.segment.push_back(static_cast<std::size_t>(e.type_ids[i]));
  }
  in.mask = nn::Tensor::from_shape({e.ids.size()});
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    in.mask(i) = e.attention_mask[i];
    if (e.attention_mask[i] == 0) in.padded = true;
  }
  return {std::move(e), std::move(in)};
}

void print_result(const Args& a, const sf::text::Encoding& e, const Input& in, const nn::HfBert& m, const Output& o);

int run(const Args& a) {
  require_model_and_text(a, true);
  // The owner's load checks the folder (config, every tensor) before anything runs.
  const nn::HfBert m = nn::load_hf_bert(a.model);
  const auto [e, in] = tokenize(a, m);
  Output o;
  if (a.mode == "exact") o = run_exact(m, in);
  else if (a.suite == "secformer") o = run_suite<sf::SecFormerSuite>(a, m, in);
  else if (a.suite == "mpcformer") o = run_suite<sf::MPCFormerSuite>(a, m, in);
  else if (a.suite == "puma") o = run_suite<sf::PumaSuite>(a, m, in);
  else o = run_suite<sf::CrypTenSuite>(a, m, in);
  print_result(a, e, in, m, o);
  return 0;
}

void print_result(const Args& a, const sf::text::Encoding& e, const Input& in, const nn::HfBert& m, const Output& o) {
  std::string label;
  if (m.has_classifier() && o.logits.size() > 1) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < o.logits.size(); ++i)
      if (o.logits.data()[i] > o.logits.data()[best]) best = i;
    label = best < m.hf.id2label.size() ? m.hf.id2label[best] : "LABEL_" + std::to_string(best);
  }
  const bool with_hidden = a.hidden || !m.has_classifier();
  std::ostringstream os;
  if (a.json) {
    os << "{\"ids\": [";
    for (std::size_t i = 0; i < e.ids.size(); ++i) os << (i ? ", " : "") << e.ids[i];
    os << "], \"token_types\": [";
    for (std::size_t i = 0; i < e.type_ids.size(); ++i) os << (i ? ", " : "") << e.type_ids[i];
    os << "]";
    if (m.has_classifier()) {
      os << ", \"logits\": ";
      print_list(os, o.logits.data(), o.logits.size());
      os << ", \"label\": " << json_string(label);
    }
    if (with_hidden) {
      const std::size_t s = o.hidden.shape()[0], d = o.hidden.shape()[1];
      os << ", \"hidden\": [";
      for (std::size_t i = 0; i < s; ++i) {
        os << (i ? ", " : "");
        print_list(os, o.hidden.data() + i * d, d);
      }
      os << "]";
    }
    os << "}\n";
  } else {
    os << "tokens: " << e.ids.size() << (in.padded ? " (padded)" : "") << "\n";
    if (m.has_classifier()) {
      os << "logits: ";
      print_list(os, o.logits.data(), o.logits.size());
      os << "\nlabel: " << label << "\n";
    } else {
      os << "BertModel checkpoint (no classifier): final hidden states\n";
    }
    if (with_hidden) {
      const std::size_t s = o.hidden.shape()[0], d = o.hidden.shape()[1];
      for (std::size_t i = 0; i < s; ++i) {
        os << "hidden[" << i << "]: ";
        print_list(os, o.hidden.data() + i * d, d);
        os << "\n";
      }
    }
  }
  std::cout << os.str();
}

// ---- roles over TCP

/// One party's program over TCP: party 0 holds `owner`, party 1 `in` (and pub, the config-only model).
template <class Ctx>
void role_program(Ctx& ctx, const nn::HfBert* owner, const nn::HfBert& pub, const Input* in, std::size_t n, Output* out) {
  constexpr bool is_client = Ctx::id == 1;
  const auto shapes = nn::hf_shapes(pub.config);
  nn::ShareOptions opt;
  if (!pub.has_classifier()) opt.skip = nn::skip_classifier;
  const auto sw = [&] {
    if constexpr (is_client) return nn::share_bundle(shapes, ctx, opt);
    else return nn::share_bundle(owner->params, ctx, opt);
  }();
  const nn::Bert model(sw, pub.config);
  // The attention mask is public (the padding's positions): party 1 inputs it, both open it.
  const auto mask_share = [&] {
    if constexpr (is_client) return ctx.input(sf::party<1>, in->mask);
    else return ctx.input_shape(sf::party<1>, std::vector<std::size_t>{n});
  }();
  const nn::Tensor mask = ctx.reveal(mask_share);
  bool padded = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (mask(i) != 0.0 && mask(i) != 1.0) throw sf::usage_error("the attention mask party 1 sent is not 0/1");
    padded = padded || mask(i) == 0.0;
  }
  const nn::TokenIds placeholder{std::vector<std::size_t>(n, 0), {}};
  const auto tokens = nn::share_tokens(sf::party<1>, is_client ? in->ids : placeholder, pub.config.vocab, pub.config.type_vocab, ctx);
  const auto h = model.encode(tokens, padded ? &mask : nullptr, ctx);
  auto hidden = ctx.reveal_to(sf::party<1>, h);
  std::optional<nn::Tensor> logits;
  if (pub.has_classifier()) logits = ctx.reveal_to(sf::party<1>, model.classify(h, ctx));
  if constexpr (is_client) {
    out->hidden = std::move(*hidden);
    if (logits) out->logits = std::move(*logits);
  }
}

template <class Suite>
int run_role_suite(const std::string& role, const Args& a, const sf::NetConfig& cfg) {
  const std::size_t n = *a.pad_to;
  const nn::HfBert pub = nn::load_hf_bert_config(a.model);
  if (n == 0 || n > pub.config.max_positions) throw sf::usage_error("--pad-to must be in 1..max_position_embeddings");
  if (role == "p0") {
    const nn::HfBert owner = nn::load_hf_bert(a.model);
    if (owner.head != pub.head)
      throw sf::usage_error("secformer: " + a.model + ": the checkpoint is a " + (owner.has_classifier() ? "BertForSequenceClassification" : "BertModel") +
                            " but config.json does not say so in \"architectures\": party 1 could not know the shapes");
    nn::require_attention<typename Suite::softmax>(owner.hf, a.suite);
    nn::require_activation<typename Suite::gelu>(owner.hf, a.suite);
    const sf::Stats st = sf::run_party<Suite>(sf::party<0>, cfg, [&](auto& ctx) { role_program(ctx, &owner, pub, nullptr, n, nullptr); });
    std::cerr << "bert_classify p0: " << st.total().rounds << " rounds, " << st.total().bytes_sent << " B sent, " << st.total().dealer_bytes
              << " dealer B\n";
    return 0;
  }
  nn::require_attention<typename Suite::softmax>(pub.hf, a.suite);
  nn::require_activation<typename Suite::gelu>(pub.hf, a.suite);
  Args b = a;
  b.max_length = std::min(a.max_length.value_or(n), n);
  auto [e, in] = tokenize(b, pub);
  Output o;
  sf::run_party<Suite>(sf::party<1>, cfg, [&](auto& ctx) { role_program(ctx, nullptr, pub, &in, n, &o); });
  print_result(a, e, in, pub, o);
  return 0;
}

int run_role(const std::string& role, int argc, char** argv) {
  cli::NetFlags f;
  f.net.peer_port = 7600;
  f.net.dealer_port = 7601;
  const Args a = parse(argc, argv, 2, &f);
  cli::apply_policy(f, cli::Transport::tcp, {role});
  cli::tls_for(f, role);
  if (role == "dealer") {
    if (!a.texts.empty() || !a.model.empty()) throw sf::usage_error("the dealer takes no model and no text");
    sf::run_dealer(f.net);
    return 0;
  }
  require_model_and_text(a, role == "p1");
  if (!a.pad_to) throw sf::usage_error("roles need --pad-to N: the public sequence length, the same on p0 and p1");
  if (a.suite == "secformer") return run_role_suite<sf::SecFormerSuite>(role, a, f.net);
  if (a.suite == "mpcformer") return run_role_suite<sf::MPCFormerSuite>(role, a, f.net);
  if (a.suite == "puma") return run_role_suite<sf::PumaSuite>(role, a, f.net);
  return run_role_suite<sf::CrypTenSuite>(role, a, f.net);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string first = argc > 1 ? argv[1] : "";
    if (first == "p0" || first == "p1" || first == "dealer") return run_role(first, argc, argv);
    return run(parse(argc, argv, 1, nullptr));
  } catch (const sf::usage_error& e) {
    std::cerr << "bert_classify: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bert_classify: error: " << e.what() << "\n";
    return 1;
  }
}
