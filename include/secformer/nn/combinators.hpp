// secformer/nn/combinators.hpp: functional combinators of layers (the only header that includes
// Boost.Hana; nn/weights.hpp and nn/layers.hpp get BOOST_HANA_DEFINE_STRUCT and the struct
// reflection through it).
//
// A layer is any object callable as layer(x, ctx) -> y (const; y may have another type than x,
// e.g. token ids -> hidden states). The combinators build layers from layers:
//
//   sequential(l1, l2, ...)   a hana::tuple of layers folded over the input: ln(...l2(l1(x)))
//   residual(l)               x + l(x)
//   residual(l, shortcut)     shortcut(x) + l(x) (e.g. a projection when l changes the width)
//   repeated(items, make)     a RUNTIME loop: x = make(item)(x) for each item of a container (e.g. a
//                             std::vector of per-layer weight bundles: twelve identical blocks are a
//                             loop, not a twelve-element tuple); make(item, index) also accepted
//   named("tag", l)           l with its costs tagged "tag" in ctx.stats()
//   fn(f)                     a callable f(x, ctx) as a layer
//
// Every combinator is a small value object holding its layers (which hold pointers to their
// weight bundles); building a block per forward pass costs nothing. Nothing here communicates.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/hana/accessors.hpp>
#include <boost/hana/at.hpp>
#include <boost/hana/define_struct.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/fold_left.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/range.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>
#include <boost/hana/tuple.hpp>

namespace secformer::nn {

/// Layers applied one after the other (a hana::tuple folded over the input).
template <class... L>
class Sequential {
 public:
  explicit Sequential(L... layers) : layers_(std::move(layers)...) {}

  template <class X, class Ctx>
  auto operator()(const X& x, Ctx& ctx) const {
    if constexpr (sizeof...(L) == 0) {
      return X(x);
    } else {
      return boost::hana::fold_left(layers_, x, [&ctx](const auto& acc, const auto& layer) { return layer(acc, ctx); });
    }
  }
  /// The layers (a hana::tuple), e.g. to walk them with boost::hana::for_each.
  const boost::hana::tuple<L...>& layers() const noexcept { return layers_; }
  static constexpr std::size_t size = sizeof...(L);

 private:
  boost::hana::tuple<L...> layers_;
};

template <class... L>
Sequential<std::decay_t<L>...> sequential(L&&... layers) {
  return Sequential<std::decay_t<L>...>(std::forward<L>(layers)...);
}

/// x + inner(x).
template <class L>
struct Residual {
  L inner;
  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    auto y = inner(x, ctx);
    return X(x + y);
  }
};

/// shortcut(x) + inner(x).
template <class L, class S>
struct ResidualWith {
  L inner;
  S shortcut;
  template <class X, class Ctx>
  auto operator()(const X& x, Ctx& ctx) const {
    auto y = inner(x, ctx);
    auto s = shortcut(x, ctx);
    using Y = decltype(y);
    return Y(s + y);
  }
};

template <class L>
Residual<std::decay_t<L>> residual(L&& inner) {
  return {std::forward<L>(inner)};
}
template <class L, class S>
ResidualWith<std::decay_t<L>, std::decay_t<S>> residual(L&& inner, S&& shortcut) {
  return {std::forward<L>(inner), std::forward<S>(shortcut)};
}

/// A runtime loop over the items of a container: x = make(item)(x, ctx) (or make(item, index)).
/// The blocks must map the tensor type to itself.
template <class Items, class Make>
struct Repeated {
  const Items* items;
  Make make;
  template <class X, class Ctx>
  X operator()(const X& x, Ctx& ctx) const {
    X cur = x;
    std::size_t i = 0;
    for (const auto& item : *items) {
      if constexpr (std::is_invocable_v<const Make&, decltype(item), std::size_t>) cur = X(make(item, i)(cur, ctx));
      else cur = X(make(item)(cur, ctx));
      ++i;
    }
    return cur;
  }
};

template <class Items, class Make>
Repeated<Items, std::decay_t<Make>> repeated(const Items& items, Make&& make) {
  return {&items, std::forward<Make>(make)};
}

/// inner with its costs counted under `tag` (ctx.scope).
template <class L>
struct Named {
  std::string tag;
  L inner;
  template <class X, class Ctx>
  auto operator()(const X& x, Ctx& ctx) const {
    [[maybe_unused]] auto g = ctx.scope(tag);
    return inner(x, ctx);
  }
};
template <class L>
Named<std::decay_t<L>> named(std::string tag, L&& inner) {
  return {std::move(tag), std::forward<L>(inner)};
}

/// A callable f(x, ctx) as a layer.
template <class F>
struct Fn {
  F f;
  template <class X, class Ctx>
  auto operator()(const X& x, Ctx& ctx) const {
    return f(x, ctx);
  }
};
template <class F>
Fn<std::decay_t<F>> fn(F&& f) {
  return {std::forward<F>(f)};
}

}  // namespace secformer::nn
