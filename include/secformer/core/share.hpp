// secformer/core/share.hpp: Shared<T, Ring, Party>, one party's additive share of a tensor.
// x = x_0 + x_1 (mod 2^l). Everything here is local (no communication, no randomness): linear
// combinations, public constants (added by party 0 only), public integer and real scaling, sums,
// reshapes, transposes, slices and concatenation. Multiplying by a public real returns a
// Scaled<T, 2F> value that must be truncated (protocols/trunc.hpp) before further use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xview.hpp>

#include "../config.hpp"
#include "fixed_point.hpp"
#include "party.hpp"
#include "ring.hpp"

namespace secformer {

template <class T, ring_like Ring, party_tag P, class Container = xt::xarray<typename Ring::word_type>>
class Shared {
 public:
  using encoding_type = T;
  using ring_type = Ring;
  using party_type = P;
  using word_type = typename Ring::word_type;
  using container_type = Container;
  static constexpr int party_id = P::id;
  static_assert(encoding<T>, "secformer: T must be an encoding (Fixed<F>, Int, Scaled<...>)");
  static_assert(encoding_fits_v<T, Ring>, "secformer: 2*F must stay below the ring width (fractional bits too large for the ring)");
  static_assert(std::is_same_v<typename Container::value_type, word_type>, "secformer: container of ring words");

  Shared() = default;
  explicit Shared(Container share) : share_(std::move(share)) {}

  const Container& share() const noexcept { return share_; }
  Container& share() noexcept { return share_; }
  const auto& shape() const noexcept { return share_.shape(); }
  std::size_t size() const noexcept { return share_.size(); }
  std::size_t dimension() const noexcept { return share_.dimension(); }

  // ---- linear operations (local, exact in the ring) ----
  friend Shared operator+(const Shared& a, const Shared& b) { return Shared(checked(a, b, a.share_ + b.share_)); }
  friend Shared operator-(const Shared& a, const Shared& b) { return Shared(checked(a, b, a.share_ - b.share_)); }
  friend Shared operator-(const Shared& a) { return Shared(Container(word_type(0) - a.share_)); }
  Shared& operator+=(const Shared& b) { share_ = checked(*this, b, share_ + b.share_); return *this; }
  Shared& operator-=(const Shared& b) { share_ = checked(*this, b, share_ - b.share_); return *this; }

  /// Multiplication by a public integer: stays in the same encoding.
  template <std::integral I>
  friend Shared operator*(const Shared& a, I k) { return Shared(Container(a.share_ * static_cast<word_type>(k))); }
  template <std::integral I>
  friend Shared operator*(I k, const Shared& a) { return a * k; }

  /// Multiplication by a public real: encoded with T's fractional bits, result at doubled scale.
  friend Shared<product_t<T>, Ring, P> operator*(const Shared& a, double k) {
    const word_type w = encode_one<T, Ring>(k);
    return Shared<product_t<T>, Ring, P>(Container(a.share_ * w));
  }
  friend Shared<product_t<T>, Ring, P> operator*(double k, const Shared& a) { return a * k; }

  /// Element-wise product with a public tensor (broadcasting), result at doubled scale.
  Shared<product_t<T>, Ring, P> mul_public(const xt::xarray<double>& k) const {
    const auto w = encode<T, Ring>(k);
    check_broadcast(share_.shape(), w.shape());
    return Shared<product_t<T>, Ring, P>(Container(share_ * w));
  }
  /// Element-wise product with public ring words of encoding Int (no rescaling).
  template <class E>
  Shared mul_public_words(const E& words) const { return Shared(Container(share_ * words)); }

  /// Adds a public constant or tensor (only party 0's share changes).
  friend Shared operator+(const Shared& a, double c) {
    if constexpr (P::id == 0) return Shared(Container(a.share_ + encode_one<T, Ring>(c)));
    else return a;
  }
  friend Shared operator+(double c, const Shared& a) { return a + c; }
  friend Shared operator-(const Shared& a, double c) { return a + (-c); }
  friend Shared operator-(double c, const Shared& a) { return (-a) + c; }
  Shared add_public(const xt::xarray<double>& c) const {
    check_broadcast(share_.shape(), c.shape());
    if constexpr (P::id == 0) return Shared(Container(share_ + encode<T, Ring>(c)));
    else return Shared(Container(share_ + xt::zeros<word_type>(c.shape())));
  }
  /// Adds public ring words (same encoding assumed); only party 0's share changes.
  template <class E>
  Shared add_public_words(const E& words) const {
    if constexpr (P::id == 0) return Shared(Container(share_ + words));
    else return *this;
  }

  // ---- shape manipulation (local) ----
  Shared sum(std::size_t axis, bool keep_dims = false) const {
    SECFORMER_ASSERT(axis < dimension(), "sum over an axis the tensor does not have");
    Container s = xt::sum(share_, {axis});
    if (keep_dims) {
      auto sh = std::vector<std::size_t>(share_.shape().begin(), share_.shape().end());
      sh[axis] = 1;
      s.reshape(sh);
    }
    return Shared(std::move(s));
  }
  Shared reshape(std::vector<std::size_t> shape) const {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    SECFORMER_ASSERT(n == size(), "reshape to a different number of elements");
    Container c = share_;
    c.reshape(shape);
    return Shared(std::move(c));
  }
  /// Transpose with a permutation (default: reverse the axes).
  Shared transpose(std::vector<std::size_t> perm = {}) const {
    if (perm.empty()) return Shared(Container(xt::transpose(share_)));
    SECFORMER_ASSERT(perm.size() == dimension(), "transpose permutation of the wrong length");
    return Shared(Container(xt::transpose(share_, perm)));
  }
  /// A slice (copied): x.slice(xt::range(0, 2), xt::all()).
  template <class... S>
  Shared slice(S&&... s) const { return Shared(Container(xt::view(share_, std::forward<S>(s)...))); }

  /// Reinterprets the words under another encoding of the same ring and party (explicit, unchecked).
  template <class T2>
  Shared<T2, Ring, P, Container> reinterpret() const& { return Shared<T2, Ring, P, Container>(share_); }
  template <class T2>
  Shared<T2, Ring, P, Container> reinterpret() && { return Shared<T2, Ring, P, Container>(std::move(share_)); }

 private:
  template <class E>
  static Container checked(const Shared& a, const Shared& b, E&& e) {
    SECFORMER_ASSERT(a.share_.shape() == b.share_.shape(),
                     "element-wise operation on shares of different shapes " + shape_str(a.share_.shape()) +
                         " and " + shape_str(b.share_.shape()));
    return Container(std::forward<E>(e));
  }
  template <class S1, class S2>
  static void check_broadcast(const S1& a, const S2& b) {
    // b must broadcast to a without changing a's shape.
    SECFORMER_ASSERT(b.size() <= a.size(), "public operand has more axes than the share");
    for (std::size_t i = 0; i < b.size(); ++i) {
      auto da = a[a.size() - b.size() + i], db = b[i];
      SECFORMER_ASSERT(db == da || db == 1,
                       "public operand of shape " + shape_str(b) + " does not broadcast to " + shape_str(a));
    }
  }
  template <class S>
  static std::string shape_str(const S& s) {
    std::string r = "(";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + ")";
  }

  Container share_;
};

/// Concatenation along an axis.
template <class T, class Ring, class P, class C>
Shared<T, Ring, P, C> concatenate(const std::vector<Shared<T, Ring, P, C>>& parts, std::size_t axis = 0) {
  SECFORMER_ASSERT(!parts.empty(), "concatenate of no tensors");
  std::vector<std::size_t> shape(parts[0].shape().begin(), parts[0].shape().end());
  SECFORMER_ASSERT(axis < shape.size(), "concatenate along an axis the tensors do not have");
  std::size_t total = 0;
  for (const auto& p : parts) {
    SECFORMER_ASSERT(p.dimension() == shape.size(), "concatenate of tensors with different ranks");
    for (std::size_t d = 0; d < shape.size(); ++d)
      SECFORMER_ASSERT(d == axis || p.shape()[d] == shape[d], "concatenate of tensors with different shapes");
    total += p.shape()[axis];
  }
  shape[axis] = total;
  C out(shape);
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (std::size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  auto* o = out.data();
  for (std::size_t i = 0; i < outer; ++i)
    for (const auto& p : parts) {
      const std::size_t block = p.shape()[axis] * inner;
      const auto* src = p.share().data() + i * block;
      o = std::copy(src, src + block, o);
    }
  return Shared<T, Ring, P, C>(std::move(out));
}

template <class S> struct is_shared : std::false_type {};
template <class T, class R, class P, class C> struct is_shared<Shared<T, R, P, C>> : std::true_type {};
template <class S> concept shared_tensor = is_shared<std::remove_cvref_t<S>>::value;

/// The same tensor type with another encoding.
template <class S, class T2> struct rebind_encoding;
template <class T, class R, class P, class C, class T2>
struct rebind_encoding<Shared<T, R, P, C>, T2> { using type = Shared<T2, R, P, C>; };
template <class S, class T2> using rebind_encoding_t = typename rebind_encoding<S, T2>::type;

template <party_tag P> using SFix64 = Shared<Fixed<16>, Z2k<64>, P>;

}  // namespace secformer
