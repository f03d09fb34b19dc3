// secformer/protocols/suite.hpp: protocol suites, whole configurations chosen at compile time.
//
//   Suite<Gelu, Softmax, Norm, Compare, Encoding, Ring>
//   SecFormerSuite  SecFormer's protocols (Pi_GeLU, 2Quad with Goldschmidt, Goldschmidt LayerNorm)
//   CrypTenSuite    CrypTen's (tanh GeLU, exp/max softmax, sqrt-then-reciprocal LayerNorm, A2B compare)
//   PumaSuite       PUMA's approximations in the same two-party framework
//   MPCFormerSuite  Quad GeLU and 2Quad with the Newton reciprocal
//
// A Context carries its suite; sf::gelu(x, ctx), sf::softmax(x, ctx), sf::layernorm(...),
// sf::ltz(x, ctx) use the suite's choice, and sf::gelu<sf::PumaGelu>(x, ctx) overrides one call.
// One-line ablations: SecFormerSuite::with_gelu<PumaGelu>.
#pragma once

#include "../core/fixed_point.hpp"
#include "../core/ring.hpp"
#include "compare.hpp"
#include "div.hpp"
#include "exp.hpp"
#include "gelu.hpp"
#include "gelu_baselines.hpp"
#include "layernorm.hpp"
#include "rsqrt.hpp"
#include "softmax.hpp"

namespace secformer {

template <class Gelu = SecFormerGelu, class Softmax = Quad2Softmax, class Norm = SecFormerLayerNorm,
          class Compare = MaskedCompare<>, class Encoding = Fixed<16>, class Ring = Z2k<64>>
struct Suite {
  using gelu = Gelu;
  using softmax = Softmax;
  using layernorm = Norm;
  using compare = Compare;
  using encoding = Encoding;
  using ring = Ring;

  template <class G> using with_gelu = Suite<G, Softmax, Norm, Compare, Encoding, Ring>;
  template <class S> using with_softmax = Suite<Gelu, S, Norm, Compare, Encoding, Ring>;
  template <class N> using with_layernorm = Suite<Gelu, Softmax, N, Compare, Encoding, Ring>;
  template <class C> using with_compare = Suite<Gelu, Softmax, Norm, C, Encoding, Ring>;
  template <class E> using with_encoding = Suite<Gelu, Softmax, Norm, Compare, E, Ring>;
  template <class R> using with_ring = Suite<Gelu, Softmax, Norm, Compare, Encoding, R>;
};

using SecFormerSuite = Suite<>;
using CrypTenSuite = Suite<CrypTenGelu, CrypTenSoftmax, CrypTenLayerNorm, CrypTenCompare>;
using PumaSuite = Suite<PumaGelu, PumaSoftmax, PumaLayerNorm, MaskedCompare<>>;
using MPCFormerSuite = Suite<QuadGelu, MPCFormerSoftmax, CrypTenLayerNorm, MaskedCompare<>>;

}  // namespace secformer
