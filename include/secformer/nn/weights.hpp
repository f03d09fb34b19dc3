// secformer/nn/weights.hpp: weight bundles and the generic routines over bundles.
//
// A weight bundle is a plain struct template over a REPRESENTATION R, described with
// BOOST_HANA_DEFINE_STRUCT, whose members are tensors of two roles (R::matrix: multiplied from the
// right, masked once when shared; R::vector: biases, LayerNorm gamma and beta), nested bundles, or
// std::vectors of bundles:
//
//   template <class R = PlainRepr> struct LinearParams {
//     BOOST_HANA_DEFINE_STRUCT(LinearParams, (typename R::matrix, w), (typename R::vector, b));
//   };
//
// Representations:  PlainRepr          xt::xarray<double> (values; what the owner loads)
//                   ShapeRepr          TensorShape (dimensions and a random-init hint only)
//                   SharedRepr<T,R,P>  matrix = MaskedWeight (protocols/matmul.hpp), vector = Shared
// rebind_t<Bundle<R0>, R> is the same bundle in another representation.
//
// Every tensor has a PATH: the member names joined by '.', an element of a std::vector member
// named `layer` is `layer0`, `layer1`, ... (e.g. "layer0.attn.wqkv"). Routines (all generic):
//   for_each_tensor(b, f)             f(path, tensor) for every tensor, in declaration order
//   load_bundle(shapes, folder)       PlainRepr bundle from folder/<path>.npy, one file per tensor,
//                                     shapes checked against the ShapeRepr bundle; throws
//                                     usage_error naming the tensor and file for a missing file, a
//                                     wrong shape, a wrong dtype (float64 and float32 accepted,
//                                     little-endian, C or Fortran order), a truncated, oversized or
//                                     corrupt file (bad magic, version, header dict, shape overflow,
//                                     trailing bytes) or a NaN/infinity (the .npy reader:
//                                     io/npy.hpp)
//   save_bundle(b, folder)            the inverse (float64, C order)
//   random_bundle(shapes, seed)       random test weights (splitmix64; TEST DATA ONLY, never masks)
//   share_bundle(b, ctx[, options])   secret-shares a bundle: party 0 (the model owner) inputs the
//                                     values (PlainRepr), party 1 passes the shapes (ShapeRepr or
//                                     any PlainRepr of the right shapes); 0 rounds for the inputs,
//                                     then every matrix is masked once (MaskedWeight: F = W - B
//                                     opened) in ONE round per max_words_per_round words (default
//                                     2^25 words: BERT-base needs 4 rounds, BERT-large 10), k n
//                                     words each way per matrix; dealer: nothing sent (WeightMask
//                                     randoms come from the key), B kept for later products.
//   shapes_of(b), parameter_count(b)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../config.hpp"
#include "../context.hpp"
#include "../core/share.hpp"
#include "../io/npy.hpp"
#include "../protocols/matmul.hpp"
#include "../protocols/mul.hpp"
#include "combinators.hpp"
#include "plain.hpp"

namespace secformer::nn {

// ================================================================================================
// Representations

/// How random_bundle fills a tensor (test data): weight U(+-sqrt(3 / rows)) (variance 1/fan_in),
/// table U(+-1), bias U(+-0.05), ones U(0.8, 1.2) (LayerNorm gamma), zeros U(+-0.1) (beta).
enum class Init { weight, table, bias, ones, zeros };

/// A tensor's dimensions (and a random-init hint): the ShapeRepr leaf.
struct TensorShape {
  std::vector<std::size_t> dims;
  Init init = Init::weight;
  std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

struct PlainRepr {
  using matrix = Tensor;
  using vector = Tensor;
};
struct ShapeRepr {
  using matrix = TensorShape;
  using vector = TensorShape;
};
template <class T, class Ring, class P>
struct SharedRepr {
  using matrix = MaskedWeight<T, Ring, P>;
  using vector = Shared<T, Ring, P>;
};
/// The shared representation of a context (its encoding, ring and party).
template <class Ctx>
using shared_repr_t = SharedRepr<typename Ctx::encoding, typename Ctx::ring, typename Ctx::party_type>;

/// The same bundle in another representation.
template <class B, class R> struct rebind;
template <template <class> class B, class R0, class R>
struct rebind<B<R0>, R> { using type = B<R>; };
template <class B, class A, class R>
struct rebind<std::vector<B, A>, R> { using type = std::vector<typename rebind<B, R>::type>; };
template <class B, class R> using rebind_t = typename rebind<B, R>::type;

namespace detail {
template <class T> struct is_leaf : std::false_type {};
template <> struct is_leaf<Tensor> : std::true_type {};
template <> struct is_leaf<TensorShape> : std::true_type {};
template <class T, class Ring, class P, class C> struct is_leaf<Shared<T, Ring, P, C>> : std::true_type {};
template <class T, class Ring, class P, class C> struct is_leaf<MaskedWeight<T, Ring, P, C>> : std::true_type {};
template <class T> inline constexpr bool is_leaf_v = is_leaf<std::remove_cvref_t<T>>::value;

template <class T> struct is_masked : std::false_type {};
template <class T, class Ring, class P, class C> struct is_masked<MaskedWeight<T, Ring, P, C>> : std::true_type {};

template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T> inline constexpr bool is_vector_v = is_vector<std::remove_cvref_t<T>>::value;

inline std::string join_path(const std::string& prefix, const char* name) { return prefix.empty() ? std::string(name) : prefix + "." + name; }

template <class B, class F>
void walk(B& b, const std::string& path, F& f) {
  using D = std::remove_cvref_t<B>;
  if constexpr (is_leaf_v<D>) {
    f(path, b);
  } else if constexpr (is_vector_v<D>) {
    for (std::size_t i = 0; i < b.size(); ++i) walk(b[i], path + std::to_string(i), f);
  } else {
    static_assert(boost::hana::Struct<D>::value,
                  "secformer: a weight bundle member must be a tensor, a std::vector of bundles or a bundle described with BOOST_HANA_DEFINE_STRUCT");
    boost::hana::for_each(boost::hana::accessors<D>(), [&](auto acc) {
      walk(boost::hana::second(acc)(b), join_path(path, boost::hana::to<char const*>(boost::hana::first(acc))), f);
    });
  }
}

/// Walks two bundles of the same template in different representations; resizes b's vectors.
template <class A, class B, class F>
void zip_walk(const A& a, B& b, const std::string& path, F& f) {
  using DA = std::remove_cvref_t<A>;
  using DB = std::remove_cvref_t<B>;
  if constexpr (is_leaf_v<DA>) {
    static_assert(is_leaf_v<DB>, "secformer: bundles of different structure");
    f(path, a, b);
  } else if constexpr (is_vector_v<DA>) {
    static_assert(is_vector_v<DB>, "secformer: bundles of different structure");
    b.resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) zip_walk(a[i], b[i], path + std::to_string(i), f);
  } else {
    static_assert(boost::hana::Struct<DA>::value && boost::hana::Struct<DB>::value,
                  "secformer: a weight bundle must be described with BOOST_HANA_DEFINE_STRUCT");
    constexpr auto n = boost::hana::length(boost::hana::accessors<DA>());
    static_assert(decltype(n)::value == decltype(boost::hana::length(boost::hana::accessors<DB>()))::value,
                  "secformer: bundles of different structure");
    boost::hana::for_each(boost::hana::make_range(boost::hana::size_c<0>, n), [&](auto i) {
      auto acc_a = boost::hana::at(boost::hana::accessors<DA>(), i);
      auto acc_b = boost::hana::at(boost::hana::accessors<DB>(), i);
      zip_walk(boost::hana::second(acc_a)(a), boost::hana::second(acc_b)(b),
               join_path(path, boost::hana::to<char const*>(boost::hana::first(acc_a))), f);
    });
  }
}

template <class Leaf>
std::vector<std::size_t> leaf_dims(const Leaf& l) {
  if constexpr (std::is_same_v<std::remove_cvref_t<Leaf>, TensorShape>) return l.dims;
  else if constexpr (is_masked<std::remove_cvref_t<Leaf>>::value) return {l.k, l.n};
  else return std::vector<std::size_t>(l.shape().begin(), l.shape().end());
}

inline std::string dims_str(const std::vector<std::size_t>& d) {
  std::string s = "(";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (d.size() == 1 ? ",)" : ")");
}
}  // namespace detail

/// f(path, tensor) for every tensor of a bundle (const or not), in declaration order.
template <class Bundle, class F>
void for_each_tensor(Bundle& b, F&& f) {
  detail::walk(b, std::string(), f);
}

/// The number of scalars in a bundle.
template <class Bundle>
std::size_t parameter_count(const Bundle& b) {
  std::size_t n = 0;
  for_each_tensor(b, [&](const std::string&, const auto& t) {
    std::size_t s = 1;
    for (auto x : detail::leaf_dims(t)) s *= x;
    n += s;
  });
  return n;
}

/// The shapes of a bundle (init hints: weight).
template <class Bundle>
rebind_t<Bundle, ShapeRepr> shapes_of(const Bundle& b) {
  rebind_t<Bundle, ShapeRepr> out;
  auto f = [](const std::string&, const auto& t, TensorShape& s) { s.dims = detail::leaf_dims(t); };
  detail::zip_walk(b, out, std::string(), f);
  return out;
}

// ================================================================================================
// Loading, saving, random weights

struct LoadOptions {
  /// Tensors whose path satisfies skip are not read (left empty).
  std::function<bool(const std::string&)> skip;
};

/// Loads folder/<path>.npy for every tensor of the ShapeRepr bundle; checks the shapes.
template <class ShapeBundle>
rebind_t<ShapeBundle, PlainRepr> load_bundle(const ShapeBundle& shapes, const std::filesystem::path& folder, const LoadOptions& opt = {}) {
  rebind_t<ShapeBundle, PlainRepr> out;
  auto f = [&](const std::string& path, const auto& shape_leaf, Tensor& dst) {
    if (opt.skip && opt.skip(path)) return;
    const auto file = folder / (path + ".npy");
    io::npy::Array a = io::npy::read(file, path);
    const auto want = detail::leaf_dims(shape_leaf);
    if (a.shape != want)
      throw usage_error("secformer: weight '" + path + "': " + file.string() + ": wrong shape " + detail::dims_str(a.shape) + ", expected " +
                        detail::dims_str(want));
    dst = Tensor(a.shape);
    std::copy(a.data.begin(), a.data.end(), dst.begin());
  };
  detail::zip_walk(shapes, out, std::string(), f);
  return out;
}

/// Writes every tensor of a PlainRepr bundle to folder/<path>.npy (creates the folder).
template <class Bundle>
void save_bundle(const Bundle& b, const std::filesystem::path& folder) {
  std::filesystem::create_directories(folder);
  for_each_tensor(b, [&](const std::string& path, const Tensor& t) { io::npy::save(folder / (path + ".npy"), t); });
}

namespace detail {
/// splitmix64 (test data only: never masks or shares).
struct SplitMix {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
};
inline std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}
}  // namespace detail

/// Random test weights of the bundle's shapes (each tensor seeded by the seed and its path).
template <class ShapeBundle>
rebind_t<ShapeBundle, PlainRepr> random_bundle(const ShapeBundle& shapes, std::uint64_t seed) {
  rebind_t<ShapeBundle, PlainRepr> out;
  auto f = [&](const std::string& path, const TensorShape& s, Tensor& dst) {
    detail::SplitMix g{seed * 0x9E3779B97F4A7C15ull ^ detail::fnv1a(path)};
    double lo = -1, hi = 1;
    switch (s.init) {
      case Init::weight: hi = std::sqrt(3.0 / static_cast<double>(s.dims.empty() ? 1 : std::max<std::size_t>(s.dims[0], 1))); lo = -hi; break;
      case Init::table: break;
      case Init::bias: lo = -0.05, hi = 0.05; break;
      case Init::ones: lo = 0.8, hi = 1.2; break;
      case Init::zeros: lo = -0.1, hi = 0.1; break;
    }
    dst = Tensor(s.dims);
    for (auto& v : dst) v = g.uniform(lo, hi);
  };
  detail::zip_walk(shapes, out, std::string(), f);
  return out;
}

// ================================================================================================
// Secret sharing

struct ShareOptions {
  /// Tensors whose path satisfies skip are not shared (left empty), e.g. the embedding tables
  /// when the client computes its embeddings itself (skip_embedding_tables in nn/layers.hpp).
  std::function<bool(const std::string&)> skip;
  /// Matrices are masked in one round per this many words (bounds the memory of the openings).
  std::size_t max_words_per_round = std::size_t(1) << 25;
};

namespace detail {
/// Masks weight matrices in batches: one opening per batch.
template <class Ctx>
class Masker {
 public:
  using T = typename Ctx::encoding;
  using Ring = typename Ctx::ring;
  using P = typename Ctx::party_type;
  using W = typename Ring::word_type;
  using S = Shared<T, Ring, P>;
  using C = typename S::container_type;
  using MW = MaskedWeight<T, Ring, P>;

  Masker(Ctx& ctx, std::size_t budget) : ctx_(&ctx), budget_(budget) {}

  /// Masks w (consumed: W - B is computed in its buffer).
  void add(S w, MW& out) {
    out.handle = ctx_->new_handle();
    out.k = w.shape()[0];
    out.n = w.shape()[1];
    auto m = ctx_->template material<material::WeightMask, W>(material::Params{}.value(out.handle).value(out.k).value(out.n));
    m[0].reshape(std::vector<std::size_t>{out.k, out.n});
    const std::size_t n = w.size();
    w.share() -= m[0];
    masked_.push_back(std::move(w));
    b_.push_back(std::move(m[0]));
    dst_.push_back(&out);
    words_ += n;
    if (words_ >= budget_) flush();
  }
  void flush() {
    if (dst_.empty()) return;
    [[maybe_unused]] auto g = ctx_->scope("weight mask");
    auto f = secformer::detail::open_through(*ctx_, masked_);
    for (std::size_t i = 0; i < dst_.size(); ++i) {
      dst_[i]->f = std::move(f[i]);
      if constexpr (P::id == 0) b_[i] += dst_[i]->f;  // F + B_0
      dst_[i]->fb = std::move(b_[i]);
    }
    masked_.clear();
    b_.clear();
    dst_.clear();
    words_ = 0;
  }

 private:
  Ctx* ctx_;
  std::size_t budget_, words_ = 0;
  std::vector<S> masked_;
  std::vector<C> b_;
  std::vector<MW*> dst_;
};
}  // namespace detail

/// Secret-shares a bundle: party 0 (the model owner) passes the values, party 1 the shapes (a
/// ShapeRepr bundle or a PlainRepr bundle of the right shapes); the Solo simulation passes values.
/// Matrices come out masked (MaskedWeight), vectors as shares. See the header comment for costs.
template <class Bundle, class Ctx>
rebind_t<Bundle, shared_repr_t<Ctx>> share_bundle(const Bundle& in, Ctx& ctx, const ShareOptions& opt = {}) {
  using Out = rebind_t<Bundle, shared_repr_t<Ctx>>;
  using P = typename Ctx::party_type;
  Out out;
  detail::Masker<Ctx> masker(ctx, opt.max_words_per_round);
  auto f = [&](const std::string& path, const auto& leaf, auto& dst) {
    if (opt.skip && opt.skip(path)) return;
    using Leaf = std::remove_cvref_t<decltype(leaf)>;
    using Dst = std::remove_cvref_t<decltype(dst)>;
    typename detail::Masker<Ctx>::S s;
    if constexpr (std::is_same_v<Leaf, TensorShape>) {
      if constexpr (P::id == 0)
        throw usage_error("secformer: share_bundle: party 0 (the model owner) must pass the values of '" + path + "', not only its shape");
      else s = ctx.input_shape(party<0>, leaf.dims);
    } else {
      s = ctx.input(party<0>, leaf);
    }
    if constexpr (detail::is_masked<Dst>::value) {
      SECFORMER_ASSERT(s.dimension() == 2, "share_bundle: the matrix '" + path + "' is not 2-D");
      masker.add(std::move(s), dst);
    } else {
      dst = std::move(s);
    }
  };
  detail::zip_walk(in, out, std::string(), f);
  masker.flush();
  return out;
}

}  // namespace secformer::nn
