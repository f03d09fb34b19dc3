// secformer/nn/hf.hpp: a Hugging Face BERT checkpoint folder (config.json + model.safetensors or
// its shards) as an nn::Bert bundle.
//
//   HfBert m = load_hf_bert(dir);            // the model owner (party 0): config + weights
//   HfBert m = load_hf_bert_config(dir);     // party 1: config and public shapes only (no tensor read)
//   nn::Bert model(m.params, m.config);      // m.params: BertParams<PlainRepr>
//   require_attention<Softmax>(m.hf)         // refuses a checkpoint whose attention the policy is not
//
// Mapping (io::BertConfig -> nn::BertConfig): hidden_size, num_attention_heads, intermediate_size,
// num_hidden_layers, vocab_size, max_position_embeddings, type_vocab_size, layer_norm_eps;
// labels = num_labels (BertForSequenceClassification) or 0 (BertModel).
// hidden_act: gelu (erf), gelu_new (tanh form) and relu are what nn computes (ExactGelu,
// ExactGeluTanh, Relu<> in the exact model; under a suite, gelu and gelu_new both run the suite's
// GeLU approximation, relu is refused there: hf_activation names the field). Any other value is
// refused by io::parse_bert_config (naming hidden_act).
//
// Tensors: io::match_bert_tensors checks every name, shape and dtype first (missing, extra and
// misshaped tensors are errors naming them); then the bundle is filled tensor by tensor: one
// tensor's values are read into a scratch buffer (the largest tensor, never a second copy of the
// file), Linear weights (out, in) are transposed into the x W convention, wqkv = [Wq^T | Wk^T | Wv^T]
// and bqkv = [bq | bk | bv] are assembled from query, key and value.
//
// A BertModel checkpoint (no classifier) loads too: has_classifier is false, the classifier bundle
// stays empty (0 labels) and Bert::classify must not be called (it is unavailable, not the pooled
// output): callers use the final hidden states (what bert_classify prints for a BertModel). The head comes from config.json's "architectures" when
// given, else from the presence of classifier.weight.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../io/bert_config.hpp"
#include "../io/safetensors.hpp"
#include "../protocols/gelu_baselines.hpp"
#include "../protocols/softmax.hpp"
#include "bert.hpp"
#include "layers.hpp"
#include "plain.hpp"

namespace secformer::nn {

struct HfBert {
  io::BertConfig hf;          ///< config.json as read
  io::BertHead head = io::BertHead::model;
  BertConfig config;          ///< nn's config (labels 0 for a BertModel)
  BertParams<PlainRepr> params;
  bool has_classifier() const noexcept { return head == io::BertHead::sequence_classification; }
  bool is_student() const noexcept { return hf.secformer && hf.secformer->attention == io::AttentionKind::quad2; }
};

inline BertConfig to_nn_config(const io::BertConfig& c, io::BertHead head) {
  BertConfig n;
  n.vocab = c.vocab_size;
  n.max_positions = c.max_position_embeddings;
  n.type_vocab = c.type_vocab_size;
  n.hidden = c.hidden_size;
  n.heads = c.num_attention_heads;
  n.ffn = c.intermediate_size;
  n.layers = c.num_hidden_layers;
  n.labels = head == io::BertHead::sequence_classification ? c.num_labels : 0;
  n.ln_eps = c.layer_norm_eps;
  return n;
}

/// The public shapes of a loaded model (party 1's share_bundle argument).
inline BertParams<ShapeRepr> hf_shapes(const BertConfig& c) {
  auto s = bert_shapes(c);
  if (c.labels == 0) s.classifier = {};
  return s;
}

/// share_bundle's skip option for a BertModel (no classifier).
inline bool skip_classifier(const std::string& path) { return path.starts_with("classifier."); }

namespace detail {

inline std::filesystem::path hf_config_file(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw usage_error("secformer: " + dir.string() + " is not a model folder (a directory with config.json and model.safetensors)");
  const fs::path f = dir / "config.json";
  if (!fs::is_regular_file(f)) throw usage_error("secformer: " + dir.string() + " has no config.json (a Hugging Face BERT folder expected)");
  return f;
}

/// Reads the tensors of a checked checkpoint into the bundle, one tensor at a time.
class HfFiller {
 public:
  HfFiller(const io::safetensors::Checkpoint& ck, const io::TensorMap& map) : ck_(&ck), map_(&map) {}

  /// A tensor of the shape it has in the file.
  void raw(const std::string& canonical, Tensor& out) {
    const auto& e = ck_->at(map_->file_name(canonical));
    std::vector<std::size_t> shape(e.info.shape.begin(), e.info.shape.end());
    out = Tensor::from_shape(shape);
    ck_->read(e.info.name, std::span<double>(out.data(), out.size()));
  }
  /// A torch Linear weight (out, in) as x W's (in, out), into the columns [col, col + out) of w.
  void linear_weight(const std::string& canonical, Tensor& w, std::size_t col) {
    const auto& e = ck_->at(map_->file_name(canonical));
    const std::size_t out = e.info.shape[0], in = e.info.shape[1];
    scratch_.resize(out * in);
    ck_->read(e.info.name, std::span<double>(scratch_));
    const std::size_t n = w.shape()[1];
    SECFORMER_ASSERT(w.shape()[0] == in && col + out <= n, "hf: weight '" + canonical + "' does not fit its bundle slot");
    for (std::size_t o = 0; o < out; ++o)
      for (std::size_t i = 0; i < in; ++i) w.data()[i * n + col + o] = scratch_[o * in + i];
  }
  void bias(const std::string& canonical, Tensor& b, std::size_t offset) {
    const auto& e = ck_->at(map_->file_name(canonical));
    const std::size_t n = e.info.shape[0];
    SECFORMER_ASSERT(offset + n <= b.size(), "hf: bias '" + canonical + "' does not fit its bundle slot");
    ck_->read(e.info.name, std::span<double>(b.data() + offset, n));
  }
  void linear(const std::string& p, LinearParams<PlainRepr>& lp) {
    const auto& e = ck_->at(map_->file_name(p + ".weight"));
    lp.w = Tensor::from_shape({static_cast<std::size_t>(e.info.shape[1]), static_cast<std::size_t>(e.info.shape[0])});
    lp.b = Tensor::from_shape({static_cast<std::size_t>(e.info.shape[0])});
    linear_weight(p + ".weight", lp.w, 0);
    bias(p + ".bias", lp.b, 0);
  }
  void norm(const std::string& p, NormParams<PlainRepr>& np) {
    raw(p + ".weight", np.gamma);
    raw(p + ".bias", np.beta);
  }

 private:
  const io::safetensors::Checkpoint* ck_;
  const io::TensorMap* map_;
  std::vector<double> scratch_;
};

}  // namespace detail

/// Party 1's view: config.json only (no tensor is opened).
inline HfBert load_hf_bert_config(const std::filesystem::path& dir, io::BertHead head) {
  HfBert m;
  m.hf = io::read_bert_config(detail::hf_config_file(dir));
  m.head = head;
  m.config = to_nn_config(m.hf, head);
  return m;
}
inline HfBert load_hf_bert_config(const std::filesystem::path& dir) {
  HfBert m;
  m.hf = io::read_bert_config(detail::hf_config_file(dir));
  m.head = m.hf.architecture.value_or(io::BertHead::sequence_classification);
  m.config = to_nn_config(m.hf, m.head);
  return m;
}

/// The model owner's load: config.json, the tensor check, the weights.
inline HfBert load_hf_bert(const std::filesystem::path& dir) {
  HfBert m;
  m.hf = io::read_bert_config(detail::hf_config_file(dir));
  const auto ck = io::safetensors::Checkpoint::open(dir);
  const auto have = ck.tensors();
  if (m.hf.architecture) {
    m.head = *m.hf.architecture;
  } else {
    m.head = io::BertHead::model;
    for (const auto& t : have)
      if (t.name == "classifier.weight") m.head = io::BertHead::sequence_classification;
  }
  const io::TensorMap map = io::match_bert_tensors(m.hf, m.head, have, dir.string());
  m.config = to_nn_config(m.hf, m.head);
  detail::HfFiller fill(ck, map);
  auto& p = m.params;
  fill.raw("embeddings.word_embeddings.weight", p.emb.token);
  fill.raw("embeddings.position_embeddings.weight", p.emb.position);
  fill.raw("embeddings.token_type_embeddings.weight", p.emb.segment);
  fill.norm("embeddings.LayerNorm", p.emb.ln);
  const std::size_t d = m.config.hidden;
  p.layer.resize(m.config.layers);
  for (std::size_t i = 0; i < m.config.layers; ++i) {
    const std::string l = "encoder.layer." + std::to_string(i) + ".";
    auto& lp = p.layer[i];
    lp.attn.wqkv = Tensor::from_shape({d, 3 * d});
    lp.attn.bqkv = Tensor::from_shape({3 * d});
    const char* parts[] = {"query", "key", "value"};
    for (std::size_t j = 0; j < 3; ++j) {
      fill.linear_weight(l + "attention.self." + parts[j] + ".weight", lp.attn.wqkv, j * d);
      fill.bias(l + "attention.self." + parts[j] + ".bias", lp.attn.bqkv, j * d);
    }
    lp.attn.wo = Tensor::from_shape({d, d});
    lp.attn.bo = Tensor::from_shape({d});
    fill.linear_weight(l + "attention.output.dense.weight", lp.attn.wo, 0);
    fill.bias(l + "attention.output.dense.bias", lp.attn.bo, 0);
    fill.norm(l + "attention.output.LayerNorm", lp.ln1);
    fill.linear(l + "intermediate.dense", lp.fc1);
    fill.linear(l + "output.dense", lp.fc2);
    fill.norm(l + "output.LayerNorm", lp.ln2);
  }
  fill.linear("pooler.dense", p.pooler);
  if (m.has_classifier()) fill.linear("classifier", p.classifier);
  return m;
}

// ------------------------------------------------------------------------------------------------
// Attention and activation checks

template <class P>
concept quad2_softmax_policy = requires {
  typename P::reciprocal_policy;
  { P::c } -> std::convertible_to<double>;
};

/// Refuses a checkpoint whose attention is not the one the softmax policy computes: a 2Quad policy
/// (SecFormerSuite, MPCFormerSuite) needs a student ("secformer": {"attention": "2quad"}) with the
/// policy's constant c; a softmax approximation (CrypTenSuite, PumaSuite) needs a standard BERT.
/// Never silently approximated. `suite_name` is for the message.
template <class Softmax>
void require_attention(const io::BertConfig& c, const std::string& suite_name) {
  const bool student = c.secformer && c.secformer->attention == io::AttentionKind::quad2;
  if constexpr (quad2_softmax_policy<Softmax>) {
    if (!student)
      throw usage_error("secformer: the suite " + suite_name +
                        " computes 2Quad attention, but this checkpoint is a standard BERT with softmax attention "
                        "(config.json has no \"secformer\": {\"attention\": \"2quad\"}): refused, it would be a different model; "
                        "use --suite crypten or puma, or --mode exact");
    if (c.secformer->quad_c != Softmax::c)
      throw usage_error("secformer: the suite " + suite_name + " computes 2Quad with c = " + std::to_string(Softmax::c) +
                        ", the checkpoint's secformer.quad_c is " + std::to_string(c.secformer->quad_c) + ": refused");
  } else {
    if (student)
      throw usage_error("secformer: this checkpoint is a 2Quad student (config.json: \"secformer\": {\"attention\": \"2quad\"}), "
                        "but the suite " + suite_name + " approximates the exponential softmax: refused; use --suite secformer or mpcformer");
  }
}

/// Refuses an activation the suite's GeLU does not compute (relu; a student's "secformer.gelu" that
/// names another GeLU than the suite's). gelu and gelu_new both run the suite's GeLU approximation.
template <class Gelu>
void require_activation(const io::BertConfig& c, const std::string& suite_name) {
  if (c.hidden_act == io::HiddenAct::relu)
    throw usage_error("secformer: config.json's hidden_act \"relu\" is supported in the exact model only; the suite " + suite_name +
                      " computes GeLU");
  if (c.secformer && c.secformer->gelu) {
    const bool want_quad = *c.secformer->gelu == io::StudentGelu::quad;
    if (want_quad != std::is_same_v<Gelu, QuadGelu>)
      throw usage_error("secformer: config.json's secformer.gelu is \"" + std::string(want_quad ? "quad" : "secformer") +
                        "\" but the suite " + suite_name + " computes another GeLU: refused");
  }
}

}  // namespace secformer::nn
