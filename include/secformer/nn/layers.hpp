// secformer/nn/layers.hpp: Transformer layers as small value objects, generic over the number
// system (doubles with a PlainContext, the Solo fixed-point simulation, two-party shares).
//
// Weight bundles (nn/weights.hpp; R = PlainRepr, ShapeRepr or SharedRepr<T, Ring, P>):
//   LinearParams<R>     w (in x out, x W convention: the transpose of torch.nn.Linear.weight), b (out)
//   NormParams<R>       gamma, beta (d)
//   AttentionParams<R>  wqkv (d x 3d) = [Wq | Wk | Wv], bqkv (3d) = [bq | bk | bv], wo (d x d), bo (d)
//   EmbeddingParams<R>  token (vocab x d), position (max_pos x d), segment (types x d), ln
//   shapes::linear(in, out), shapes::norm(d), shapes::attention(d), shapes::embedding(...) give the
//   ShapeRepr bundles (for load_bundle, random_bundle, and party 1's share_bundle).
//
// Layers (each holds a POINTER to its bundle, which must outlive it; layer(x, ctx) -> y):
//   Linear{p}                   x W + b; shares: 1 round (masked weight), rows x in words each way
//   Activation<Policy>{}        the suite's GeLU (or Relu<>, any policy with eval and approx)
//   Norm<R, Policy>{p, eps}     LayerNorm over the last axis, the suite's policy (norm<Policy>(p))
//   Attention<R, Softmax>{p, heads, mask}
//                               multi-head self-attention on x (s, d) or (b, s, d); mask: public
//                               0/1 tensor (1 = attend) broadcast right-aligned to the scores
//                               (b, heads, s, s), e.g. (s) for key padding, or null.
//                               Q, K and V come from ONE product with [Wq | Wk | Wv] (1 round);
//                               all heads in one batched product for Q K^T (1 round; the scale
//                               1/sqrt(d_head) folds into its truncation when d_head is a power
//                               of 4) and one for P V (1 round); softmax by the suite; the output
//                               projection (1 round). Rounds: 4 + the softmax's.
//   Embedding<R>{p}             token ids -> token + position + segment rows:
//                                 plain: TokenIds; secure (as in the paper): OneHotTokens, the
//                                 client's one-hot rows (public shape, secret values; made by
//                                 share_tokens) times the masked token and segment tables, both
//                                 products in ONE round (s (vocab + types) words each way; the
//                                 one-hot is an Int share, so the lookup is exact: no truncation),
//                                 positions (public) are rows of the position table's share
//                                 (local). The cheaper option: the client, given the tables
//                                 (public to it), computes its rows itself and secret-shares them
//                                 (client_embedding: 0 rounds, 0 bytes); Embedding then passes
//                                 that tensor through. It reveals the tables to the client and
//                                 saves the one-hot product (BERT-base, 128 tokens: 31 MB each
//                                 way) and the masking of the 23.4 M-entry token table.
//   FirstToken{}                (s, d) -> (1, d), (b, s, d) -> (b, d): the [CLS] row
//   Tanh<Policy>{}              tanh (default SigmoidTanh<>: see nn/ops.hpp)
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "combinators.hpp"
#include "ops.hpp"
#include "plain.hpp"
#include "weights.hpp"

namespace secformer::nn {

// ================================================================================================
// Weight bundles

template <class R = PlainRepr>
struct LinearParams {
  BOOST_HANA_DEFINE_STRUCT(LinearParams, (typename R::matrix, w), (typename R::vector, b));
};
template <class R = PlainRepr>
struct NormParams {
  BOOST_HANA_DEFINE_STRUCT(NormParams, (typename R::vector, gamma), (typename R::vector, beta));
};
template <class R = PlainRepr>
struct AttentionParams {
  BOOST_HANA_DEFINE_STRUCT(AttentionParams, (typename R::matrix, wqkv), (typename R::vector, bqkv), (typename R::matrix, wo),
                           (typename R::vector, bo));
};
template <class R = PlainRepr>
struct EmbeddingParams {
  BOOST_HANA_DEFINE_STRUCT(EmbeddingParams, (typename R::matrix, token), (typename R::matrix, position), (typename R::matrix, segment),
                           (NormParams<R>, ln));
};

namespace shapes {
inline LinearParams<ShapeRepr> linear(std::size_t in, std::size_t out) {
  return {TensorShape{{in, out}, Init::weight}, TensorShape{{out}, Init::bias}};
}
inline NormParams<ShapeRepr> norm(std::size_t d) { return {TensorShape{{d}, Init::ones}, TensorShape{{d}, Init::zeros}}; }
inline AttentionParams<ShapeRepr> attention(std::size_t d) {
  return {TensorShape{{d, 3 * d}, Init::weight}, TensorShape{{3 * d}, Init::bias}, TensorShape{{d, d}, Init::weight},
          TensorShape{{d}, Init::bias}};
}
inline EmbeddingParams<ShapeRepr> embedding(std::size_t vocab, std::size_t max_positions, std::size_t types, std::size_t d) {
  return {TensorShape{{vocab, d}, Init::table}, TensorShape{{max_positions, d}, Init::table}, TensorShape{{types, d}, Init::table}, norm(d)};
}
}  // namespace shapes

// ================================================================================================
// Layers

template <class R>
class Linear {
 public:
  explicit Linear(const LinearParams<R>& p) : p_(&p) {}
  Linear(const LinearParams<R>&&) = delete;  // the bundle must outlive the layer

  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    [[maybe_unused]] auto g = ctx.scope("linear");
    return nn::affine(x, p_->w, p_->b, ctx);
  }
  const LinearParams<R>& params() const noexcept { return *p_; }

 private:
  const LinearParams<R>* p_;
};

template <class Policy = void>
struct Activation {
  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    return nn::activation<gelu_policy_t<Policy, Ctx>>(x, ctx);
  }
};

template <class R, class Policy = void>
class Norm {
 public:
  explicit Norm(const NormParams<R>& p, double eps = 1e-12) : p_(&p), eps_(eps) {}
  Norm(const NormParams<R>&&, double = 0) = delete;

  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    return nn::layernorm<layernorm_policy_t<Policy, Ctx>>(x, p_->gamma, p_->beta, eps_, ctx);
  }

 private:
  const NormParams<R>* p_;
  double eps_;
};
/// Norm with an explicit policy: norm<PumaLayerNorm>(p).
template <class Policy = void, class R>
Norm<R, Policy> norm(const NormParams<R>& p, double eps = 1e-12) {
  return Norm<R, Policy>(p, eps);
}

template <class R, class Softmax = void>
class Attention {
 public:
  Attention(const AttentionParams<R>& p, std::size_t heads, const Tensor* mask = nullptr) : p_(&p), heads_(heads), mask_(mask) {
    SECFORMER_ASSERT(heads > 0, "attention with no heads");
  }
  Attention(const AttentionParams<R>&&, std::size_t, const Tensor* = nullptr) = delete;

  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    [[maybe_unused]] auto g = ctx.scope("attention");
    SECFORMER_ASSERT(x.dimension() >= 2, "attention needs (s, d) or (..., s, d) inputs");
    const std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
    const std::size_t d = shape.back(), s = shape[shape.size() - 2], h = heads_;
    SECFORMER_ASSERT(d % h == 0, "attention: width " + std::to_string(d) + " not divisible by " + std::to_string(h) + " heads");
    const std::size_t dh = d / h, b = x.size() / (s * d);
    const X qkv = linear(x, p_->wqkv, p_->bqkv, ctx);                         // (..., s, 3d)
    const X t = nn::permute(nn::reshape(qkv, {b, s, 3, h, dh}), {2, 0, 3, 1, 4});  // (3, b, h, s, dh)
    const X q = nn::take(t, 0), k = nn::take(t, 1), v = nn::take(t, 2);
    const X scores = nn::bmm(q, nn::permute(k, {0, 1, 3, 2}), ctx, 1.0 / std::sqrt(static_cast<double>(dh)));  // (b, h, s, s)
    const X probs = nn::softmax<softmax_policy_t<Softmax, Ctx>>(scores, mask_, ctx);
    const X o = nn::bmm(probs, v, ctx);                                         // (b, h, s, dh)
    return linear(nn::reshape(nn::permute(o, {0, 2, 1, 3}), shape), p_->wo, p_->bo, ctx);
  }

 private:
  /// The projections are counted under "linear" too (as Linear layers are).
  template <class X, class Wt, class B, class Ctx>
  static X linear(const X& x, const Wt& w, const B& b, Ctx& ctx) {
    [[maybe_unused]] auto g = ctx.scope("linear");
    return nn::affine(x, w, b, ctx);
  }

  const AttentionParams<R>* p_;
  std::size_t heads_;
  const Tensor* mask_;
};
/// Attention with an explicit softmax policy: attention<PumaSoftmax>(p, heads, mask).
template <class Softmax = void, class R>
Attention<R, Softmax> attention(const AttentionParams<R>& p, std::size_t heads, const Tensor* mask = nullptr) {
  return Attention<R, Softmax>(p, heads, mask);
}

// ------------------------------------------------------------------------------------------------
// Embeddings

/// One sequence's token ids and segment (token type) ids; empty segment = all 0.
struct TokenIds {
  std::vector<std::size_t> token;
  std::vector<std::size_t> segment;
  std::size_t size() const noexcept { return token.size(); }
  std::size_t segment_at(std::size_t i) const { return segment.empty() ? 0 : segment[i]; }
};

/// The client's one-hot token and segment rows, shared (Int encoding: 0/1 words).
template <class SI>
struct OneHotTokens {
  SI token;    ///< (s, vocab)
  SI segment;  ///< (s, types)
  std::size_t size() const noexcept { return token.shape()[0]; }
};

/// Secret-shares one-hot rows of token ids held by party I (the other party passes a TokenIds of
/// the same length, whatever its values: the length is public). 0 rounds, 0 bytes.
template <int I, class Ctx>
OneHotTokens<typename Ctx::template shared<Int>> share_tokens(Party<I>, const TokenIds& ids, std::size_t vocab, std::size_t types, Ctx& ctx) {
  constexpr bool owner = Ctx::id == I || Ctx::is_solo;
  const std::size_t s = ids.size();
  SECFORMER_ASSERT(ids.segment.empty() || ids.segment.size() == s, "token and segment ids of different lengths");
  Tensor tok = xt::zeros<double>(std::vector<std::size_t>{s, vocab}), seg = xt::zeros<double>(std::vector<std::size_t>{s, types});
  if constexpr (owner) {
    for (std::size_t i = 0; i < s; ++i) {
      SECFORMER_ASSERT(ids.token[i] < vocab, "token id " + std::to_string(ids.token[i]) + " outside the vocabulary of " + std::to_string(vocab));
      SECFORMER_ASSERT(ids.segment_at(i) < types, "segment id outside the " + std::to_string(types) + " token types");
      tok(i, ids.token[i]) = 1;
      seg(i, ids.segment_at(i)) = 1;
    }
  }
  return {ctx.template input<Int>(Party<I>{}, tok), ctx.template input<Int>(Party<I>{}, seg)};
}

namespace detail {
inline Tensor embed_rows(const EmbeddingParams<PlainRepr>& p, const TokenIds& ids) {
  const std::size_t s = ids.size(), d = p.token.shape()[1];
  SECFORMER_ASSERT(s <= p.position.shape()[0], "sequence of " + std::to_string(s) + " tokens, longer than the " +
                                                   std::to_string(p.position.shape()[0]) + " positions");
  SECFORMER_ASSERT(ids.segment.empty() || ids.segment.size() == s, "token and segment ids of different lengths");
  Tensor out(std::vector<std::size_t>{s, d});
  for (std::size_t i = 0; i < s; ++i) {
    SECFORMER_ASSERT(ids.token[i] < p.token.shape()[0], "token id " + std::to_string(ids.token[i]) + " outside the vocabulary");
    SECFORMER_ASSERT(ids.segment_at(i) < p.segment.shape()[0], "segment id outside the token types");
    for (std::size_t j = 0; j < d; ++j) out(i, j) = p.token(ids.token[i], j) + p.position(i, j) + p.segment(ids.segment_at(i), j);
  }
  return out;
}
}  // namespace detail

/// The cheaper embedding: party I (the client) computes token + position + segment rows from the
/// tables (which it must hold: public tables) and secret-shares them. The other party passes null
/// tables. 0 rounds, 0 bytes.
template <int I, class Ctx>
typename Ctx::template shared<> client_embedding(Party<I>, const EmbeddingParams<PlainRepr>* tables, const TokenIds& ids, std::size_t hidden,
                                                 Ctx& ctx) {
  if constexpr (Ctx::id == I || Ctx::is_solo) {
    SECFORMER_ASSERT(tables != nullptr, "client_embedding: the client needs the embedding tables");
    SECFORMER_ASSERT(tables->token.shape()[1] == hidden, "client_embedding: tables of another width");
    return ctx.input(Party<I>{}, detail::embed_rows(*tables, ids));
  } else {
    return ctx.input_shape(Party<I>{}, std::vector<std::size_t>{ids.size(), hidden});
  }
}

template <class R>
class Embedding {
 public:
  explicit Embedding(const EmbeddingParams<R>& p) : p_(&p) {}
  Embedding(const EmbeddingParams<R>&&) = delete;

  /// Plain: rows of the tables.
  template <class Ctx>
  Tensor operator()(const TokenIds& ids, Ctx& ctx) const {
    static_assert(std::is_same_v<R, PlainRepr>, "secformer: token ids in the clear need plaintext tables; share them with share_tokens");
    [[maybe_unused]] auto g = ctx.scope("embedding");
    return detail::embed_rows(*p_, ids);
  }

  /// Secure lookup: one-hot rows times the masked tables (token and segment in one round).
  template <class SI, class Ctx>
  auto operator()(const OneHotTokens<SI>& in, Ctx& ctx) const {
    using T = typename Ctx::encoding;
    using S = rebind_encoding_t<SI, T>;
    [[maybe_unused]] auto g = ctx.scope("embedding");
    const std::size_t s = in.size();
    const auto& pos = p_->position;
    SECFORMER_ASSERT(p_->token.k > 0 && p_->segment.k > 0 && pos.k > 0,
                     "embedding: the tables were not shared (skipped): use client_embedding, or share them");
    SECFORMER_ASSERT(pos.k >= s, "sequence of " + std::to_string(s) + " tokens, longer than the " + std::to_string(pos.k) + " positions");
    const S tok = in.token.template reinterpret<T>(), seg = in.segment.template reinterpret<T>();
    auto rows = nn::matmul_many_raw<T>(std::vector<std::pair<const S*, const typename R::matrix*>>{{&tok, &p_->token}, {&seg, &p_->segment}}, ctx);
    // One-hot (Int) times F-bit table words: already at F bits.
    S out = rows[0].template reinterpret<T>() + rows[1].template reinterpret<T>();
    // fb is this party's share of the table (F [i = 0] + B_i): public positions are local rows.
    typename S::container_type prow(std::vector<std::size_t>{s, pos.n});
    std::copy(pos.fb.data(), pos.fb.data() + s * pos.n, prow.data());
    return S(out + S(std::move(prow)));
  }

  /// Embeddings already computed by the client (client_embedding): passed through.
  template <class X, class Ctx>
    requires(std::is_same_v<X, Tensor> || shared_tensor<X>)
  X operator()(const X& x, Ctx&) const {
    return x;
  }

 private:
  const EmbeddingParams<R>* p_;
};

// ------------------------------------------------------------------------------------------------

struct FirstToken {
  template <class X, class Ctx>
  X operator()(const X& x, Ctx&) const {
    return nn::first_token(x);
  }
};

template <class Policy = SigmoidTanh<>>
struct Tanh {
  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    return nn::tanh<Policy>(x, ctx);
  }
};

}  // namespace secformer::nn
