// secformer/nn/bert.hpp: BERT from the layers and combinators, in any number system.
//
//   encoder_layer(p, heads, mask, eps)   one post-LN encoder block:
//       sequential(residual(Attention), Norm, residual(Linear, Activation, Linear), Norm)
//   Bert<R, Softmax, Gelu, Norm, Tanh>{params, config}
//       encode(tokens, mask, ctx)  embeddings + LayerNorm, then a runtime loop over params.layer
//                                  (std::vector<EncoderParams<R>>); tokens: TokenIds (plain),
//                                  OneHotTokens (secure lookup, share_tokens) or the client's
//                                  embedding rows (client_embedding). Returns hidden states (s, d).
//       classify(hidden, ctx)      [CLS] row -> pooler (Linear, tanh) -> classifier: (1, labels)
//   Weight files (load_bundle(bert_shapes(cfg), folder)): emb.token, emb.position, emb.segment,
//   emb.ln.gamma, emb.ln.beta, layer<i>.attn.{wqkv,bqkv,wo,bo}, layer<i>.ln1.{gamma,beta},
//   layer<i>.fc1.{w,b}, layer<i>.fc2.{w,b}, layer<i>.ln2.{gamma,beta}, pooler.{w,b},
//   classifier.{w,b} (.npy; matrices in x W convention: Hugging Face's Linear weights transposed,
//   wqkv = concatenate([Wq^T, Wk^T, Wv^T], axis=1)).
//
// Online rounds of one encoder layer (local truncation): QKV 1 + Q K^T 1 + softmax + P V 1 +
// output 1 + LayerNorm + FC1 1 + GeLU + FC2 1 + LayerNorm = 6 + softmax + GeLU + 2 LayerNorm
// (encoder_layer_rounds; SecFormer's policies: 6 + 11 + 4 + 2 x 5 = 31).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "combinators.hpp"
#include "layers.hpp"
#include "ops.hpp"
#include "weights.hpp"

namespace secformer::nn {

struct BertConfig {
  std::size_t vocab = 30522;
  std::size_t max_positions = 512;
  std::size_t type_vocab = 2;
  std::size_t hidden = 768;
  std::size_t heads = 12;
  std::size_t ffn = 3072;
  std::size_t layers = 12;
  std::size_t labels = 2;
  double ln_eps = 1e-12;

  static BertConfig base() { return {}; }
  static BertConfig large() {
    BertConfig c;
    c.hidden = 1024;
    c.heads = 16;
    c.ffn = 4096;
    c.layers = 24;
    return c;
  }
};

template <class R = PlainRepr>
struct EncoderParams {
  BOOST_HANA_DEFINE_STRUCT(EncoderParams, (AttentionParams<R>, attn), (NormParams<R>, ln1), (LinearParams<R>, fc1), (LinearParams<R>, fc2),
                           (NormParams<R>, ln2));
};

template <class R = PlainRepr>
struct BertParams {
  BOOST_HANA_DEFINE_STRUCT(BertParams, (EmbeddingParams<R>, emb), (std::vector<EncoderParams<R>>, layer), (LinearParams<R>, pooler),
                           (LinearParams<R>, classifier));
};

namespace shapes {
inline EncoderParams<ShapeRepr> encoder(std::size_t hidden, std::size_t ffn) {
  return {attention(hidden), norm(hidden), linear(hidden, ffn), linear(ffn, hidden), norm(hidden)};
}
inline BertParams<ShapeRepr> bert(const BertConfig& c) {
  return {embedding(c.vocab, c.max_positions, c.type_vocab, c.hidden), std::vector<EncoderParams<ShapeRepr>>(c.layers, encoder(c.hidden, c.ffn)),
          linear(c.hidden, c.hidden), linear(c.hidden, c.labels)};
}
}  // namespace shapes
inline BertParams<ShapeRepr> bert_shapes(const BertConfig& c) { return shapes::bert(c); }

/// share_bundle / load_bundle option: leave out the embedding tables (the client embeds itself).
inline bool skip_embedding_tables(const std::string& path) {
  return path == "emb.token" || path == "emb.position" || path == "emb.segment";
}

/// Online rounds of one encoder layer with local truncation.
template <class Softmax, class Gelu, class NormP>
constexpr int encoder_layer_rounds() {
  return 6 + Softmax::online_rounds + Gelu::online_rounds + 2 * NormP::online_rounds;
}

/// One post-LN BERT encoder block.
template <class Softmax = void, class Gelu = void, class NormP = void, class R>
auto encoder_layer(const EncoderParams<R>& p, std::size_t heads, const Tensor* mask = nullptr, double eps = 1e-12) {
  return sequential(residual(Attention<R, Softmax>(p.attn, heads, mask)), Norm<R, NormP>(p.ln1, eps),
                    named("ffn", residual(sequential(Linear<R>(p.fc1), Activation<Gelu>{}, Linear<R>(p.fc2)))), Norm<R, NormP>(p.ln2, eps));
}

template <class R, class Softmax = void, class Gelu = void, class NormP = void, class TanhP = SigmoidTanh<>>
class Bert {
 public:
  Bert(const BertParams<R>& p, const BertConfig& cfg) : p_(&p), cfg_(cfg) {
    SECFORMER_ASSERT(p.layer.size() == cfg.layers, "BERT bundle with " + std::to_string(p.layer.size()) + " layers for a config of " +
                                                       std::to_string(cfg.layers));
  }
  Bert(const BertParams<R>&&, const BertConfig&) = delete;

  /// Final hidden states (s, d).
  template <class In, class Ctx>
  auto encode(const In& tokens, const Tensor* mask, Ctx& ctx) const {
    const auto front = sequential(Embedding<R>(p_->emb), named("embedding", Norm<R, NormP>(p_->emb.ln, cfg_.ln_eps)));
    const auto x = front(tokens, ctx);
    const auto blocks = repeated(p_->layer, [this, mask](const EncoderParams<R>& lp) {
      return encoder_layer<Softmax, Gelu, NormP>(lp, cfg_.heads, mask, cfg_.ln_eps);
    });
    return blocks(x, ctx);
  }

  /// Logits (1, labels) from the hidden states.
  template <class H, class Ctx>
  H classify(const H& hidden, Ctx& ctx) const {
    const auto head = sequential(FirstToken{}, named("pooler", sequential(Linear<R>(p_->pooler), Tanh<TanhP>{})),
                                 named("classifier", Linear<R>(p_->classifier)));
    return head(hidden, ctx);
  }

  template <class In, class Ctx>
  auto operator()(const In& tokens, const Tensor* mask, Ctx& ctx) const {
    return classify(encode(tokens, mask, ctx), ctx);
  }

  const BertConfig& config() const noexcept { return cfg_; }

 private:
  const BertParams<R>* p_;
  BertConfig cfg_;
};

}  // namespace secformer::nn
