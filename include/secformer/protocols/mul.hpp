// secformer/protocols/mul.hpp: element-wise multiplication and squaring of shares (Beaver).
//   mul_raw(x, y), square_raw(x)   the raw product at the doubled scale (Scaled<E, 2F>), exact in the ring
//   mul(x, y), square(x)           the same, then truncated with the encoding's policy (trunc.hpp)
//   mul(b, x)                      an Int share (a bit, a count) times any share: no truncation
//   mul_many_raw, detail::open_through      several independent products (openings) in one round
// docs/protocols.md#linear-layers-and-fixed-weights.
#pragma once

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../dealer/mul_material.hpp"
#include "trunc.hpp"

namespace secformer {

namespace detail {
template <class S>
std::vector<std::size_t> shape_of(const S& x) { return {x.shape().begin(), x.shape().end()}; }

template <class S>
void require_same_shape(const S& x, const S& y, const char* what) {
  SECFORMER_ASSERT(x.shape() == y.shape(), std::string(what) + " of shares with different shapes");
}
}  // namespace detail

/// mul: x y of two shares by a Beaver triple (a, b, c = a b): open x - a and y - b together
/// | paper  | Beaver (1991); docs/protocols.md#linear-layers-and-fixed-weights
/// | rounds | 1
/// | online | 16 B/element/party
/// | dealer | 8 B/element
/// | error  | exact in the ring at scale 2F, then the truncation's (trunc::Local: +-1 LSB)
/// | range  | |x y| < 2^(63-2F); trunc::Local fails with probability about |x y| 2^(2F-64)
/// mul_raw: the raw product (doubled scale), 1 round; mul(x, y) truncates it.
template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<product_t<T>, Ring, P, C> mul_raw(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  using W = typename Ring::word_type;
  using Out = Shared<product_t<T>, Ring, P, C>;
  detail::require_same_shape(x, y, "mul");
  auto g = ctx.scope("mul");
  if constexpr (P::is_solo) {
    ctx.count_round(2 * x.size() * sizeof(W), 2 * x.size() * sizeof(W));
    return Out(C(x.share() * y.share()));
  } else {
    auto m = ctx.template material<material::Triple, W>(material::Params{}.shape(detail::shape_of(x)));
    auto [e, f] = ctx.open_many(Shared<T, Ring, P, C>(C(x.share() - m[0])), Shared<T, Ring, P, C>(C(y.share() - m[1])));
    C z = e * m[1] + m[0] * f + m[2];
    if constexpr (P::id == 0) z += e * f;
    return Out(std::move(z));
  }
}

/// square: x^2 by a square pair (a, a^2): open x - a only
/// | paper  | none; docs/protocols.md#linear-layers-and-fixed-weights
/// | rounds | 1
/// | online | 8 B/element/party
/// | dealer | 8 B/element
/// | error  | exact in the ring at scale 2F, then the truncation's (trunc::Local: +-1 LSB)
/// | range  | x^2 < 2^(63-2F); trunc::Local fails with probability about x^2 2^(2F-64)
/// square_raw: the raw square (doubled scale), 1 round; square(x) truncates it.
template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<product_t<T>, Ring, P, C> square_raw(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
  using W = typename Ring::word_type;
  using Out = Shared<product_t<T>, Ring, P, C>;
  auto g = ctx.scope("square");
  if constexpr (P::is_solo) {
    ctx.count_round(x.size() * sizeof(W), x.size() * sizeof(W));
    return Out(C(x.share() * x.share()));
  } else {
    auto m = ctx.template material<material::SquarePair, W>(material::Params{}.shape(detail::shape_of(x)));
    auto e = ctx.open(Shared<T, Ring, P, C>(C(x.share() - m[0])));
    C z = W(2) * e * m[0] + m[1];
    if constexpr (P::id == 0) z += e * e;
    return Out(std::move(z));
  }
}

/// Product of an integer share (a bit, a count) with a share of any encoding: the result keeps x's
/// encoding and needs no truncation. 1 round, 2 words per element each way; dealer: 1 word.
template <class T, class Ring, class P, class C, protocol_context Ctx>
  requires(!std::is_same_v<T, Int>)
Shared<T, Ring, P, C> mul(const Shared<Int, Ring, P, C>& b, const Shared<T, Ring, P, C>& x, Ctx& ctx) {
  return mul_raw(b, x.template reinterpret<Int>(), ctx).template reinterpret<T>();
}

template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<T, Ring, P, C> mul(const Shared<T, Ring, P, C>& x, const Shared<T, Ring, P, C>& y, Ctx& ctx) {
  return truncate(mul_raw(x, y, ctx), ctx);
}

template <class T, class Ring, class P, class C, protocol_context Ctx>
Shared<T, Ring, P, C> square(const Shared<T, Ring, P, C>& x, Ctx& ctx) {
  return truncate(square_raw(x, ctx), ctx);
}

/// Several independent raw products in one round: pairs (x_i, y_i) of possibly different shapes.
template <class T, class Ring, class P, class C, protocol_context Ctx>
std::vector<Shared<product_t<T>, Ring, P, C>> mul_many_raw(const std::vector<std::pair<Shared<T, Ring, P, C>, Shared<T, Ring, P, C>>>& xy, Ctx& ctx) {
  using W = typename Ring::word_type;
  using S = Shared<T, Ring, P, C>;
  auto g = ctx.scope("mul");
  std::vector<Shared<product_t<T>, Ring, P, C>> out;
  if constexpr (P::is_solo) {
    std::size_t n = 0;
    for (auto& [x, y] : xy) { detail::require_same_shape(x, y, "mul"); n += x.size(); out.emplace_back(C(x.share() * y.share())); }
    ctx.count_round(2 * n * sizeof(W), 2 * n * sizeof(W));
    return out;
  } else {
    std::vector<material::Parts<W>> mats;
    std::vector<S> masked;
    for (auto& [x, y] : xy) {
      detail::require_same_shape(x, y, "mul");
      mats.push_back(ctx.template material<material::Triple, W>(material::Params{}.shape(detail::shape_of(x))));
      masked.emplace_back(C(x.share() - mats.back()[0]));
      masked.emplace_back(C(y.share() - mats.back()[1]));
    }
    auto opened = detail::open_through(ctx, masked);
    for (std::size_t i = 0; i < xy.size(); ++i) {
      const auto& e = opened[2 * i];
      const auto& f = opened[2 * i + 1];
      auto& m = mats[i];
      C z = e * m[1] + m[0] * f + m[2];
      if constexpr (P::id == 0) z += e * f;
      out.emplace_back(std::move(z));
    }
    return out;
  }
}

}  // namespace secformer
