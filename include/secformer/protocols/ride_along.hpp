// secformer/protocols/ride_along.hpp: the "ride along" contract that fused protocols share. A
// ride-along is a value with words that travel with another protocol's exchange instead of taking
// a round of their own: size() words, fill(dst) writes this party's, take(theirs) receives the
// peer's (concept ride_along). Optional: final_size/final_fill/final_take ride with the last
// exchange (final_ride_along), and public_bits() == true asks a MaskedCompare for its public bits
// [x < 0] xor s (s its final dealer bit). Two uses are built on it: MaskedCompare::sign_bits_with
// takes a ride-along directly (compare.hpp), and RideAlongContext runs any protocol through a view
// of a context whose first exchange carries the ride (SecFormerGelu's separate structure).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../context.hpp"
#include "../core/share.hpp"

namespace secformer::detail {

/// Words riding along with a protocol's first exchange: size(), fill(this party's), take(the peer's).
template <class E, class W>
concept ride_along = requires(const E& ce, E& e, W* d, const W* t) {
  { ce.size() } -> std::convertible_to<std::size_t>;
  e.fill(d);
  e.take(t);
};
/// The optional part of a ride-along: words riding along with the final exchange.
template <class E, class W>
concept final_ride_along = ride_along<E, W> && requires(E& e, W* d, const W* t) {
  { e.final_size() } -> std::convertible_to<std::size_t>;
  e.final_fill(d);
  e.final_take(t);
};
/// Whether a ride-along asks for public comparison bits (public_bits() returning true).
template <class E>
constexpr bool ride_along_public_bits() {
  if constexpr (requires { E::public_bits(); }) return E::public_bits();
  else return false;
}
/// The words riding with the final exchange (0 without a final part).
template <class W, class E>
std::size_t final_ride_along_size(const E& e) {
  if constexpr (final_ride_along<E, W>) return e.final_size();
  else return 0;
}

/// No words riding along.
template <class W>
struct NoRideAlong {
  std::size_t size() const noexcept { return 0; }
  void fill(W*) const noexcept {}
  void take(const W*) const noexcept {}
};

/// The ride-along of both GeLU structures (a comparison's first round): this party's
/// share of X = x - a (the Beaver mask a of x), kept in X; take() adds the peer's, leaving X open.
template <class W>
struct MaskedInputOpening {
  const W *xw, *a;
  W* X;
  std::size_t N;
  std::size_t size() const noexcept { return N; }
  void fill(W* dst) const noexcept {
    for (std::size_t e = 0; e < N; ++e) dst[e] = X[e] = static_cast<W>(xw[e] - a[e]);
  }
  void take(const W* theirs) const noexcept {
    for (std::size_t e = 0; e < N; ++e) X[e] = static_cast<W>(X[e] + theirs[e]);
  }
};

/// A view of a context through which a protocol runs unchanged, except that the words of a
/// ride-along (any ride_along<Ride, word_type>) ride along with its first exchange (its first
/// round): ride.fill writes this party's, ride.take receives the peer's, at no extra round. In the
/// simulation (Solo) the protocol counts its rounds with count_round: the ride's bytes are added to
/// the first one (the caller fills the ride's words itself: the peer's share is zero). finish()
/// opens them in a round of their own if the protocol never exchanged anything (an empty tensor).
template <class Ctx, class Ride>
class RideAlongContext {
 public:
  using party_type = typename Ctx::party_type;
  using suite = typename Ctx::suite;
  using ring = typename Ctx::ring;
  using encoding = typename Ctx::encoding;
  using word_type = typename Ctx::word_type;
  using channel_type = typename Ctx::channel_type;
  using dealer_type = typename Ctx::dealer_type;
  template <class T = encoding> using shared = typename Ctx::template shared<T>;
  static constexpr int id = Ctx::id;
  static constexpr bool is_solo = Ctx::is_solo;
  static_assert(ride_along<Ride, word_type>, "secformer: RideAlongContext needs a ride-along (size, fill, take)");

  RideAlongContext(Ctx& inner, Ride& ride) : inner_(&inner), ride_(&ride) {}
  RideAlongContext(const RideAlongContext&) = delete;
  RideAlongContext& operator=(const RideAlongContext&) = delete;

  template <class V>
  void exchange_words(std::span<const V> mine, std::span<V> theirs) {
    if constexpr (std::is_same_v<V, word_type>) {
      if (!done_) {
        done_ = true;
        const std::size_t nx = ride_->size();
        std::vector<word_type> out(mine.size() + nx), in(mine.size() + nx);
        std::copy(mine.begin(), mine.end(), out.begin());
        ride_->fill(out.data() + mine.size());
        inner_->exchange_words(std::span<const word_type>(out), std::span<word_type>(in));
        std::copy(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(mine.size()), theirs.begin());
        ride_->take(in.data() + mine.size());
        return;
      }
    }
    inner_->exchange_words(mine, theirs);
  }
  void count_round(std::uint64_t bytes_sent, std::uint64_t bytes_received) {
    if (!done_) {
      done_ = true;
      bytes_sent += ride_->size() * sizeof(word_type);
      bytes_received += ride_->size() * sizeof(word_type);
    }
    inner_->count_round(bytes_sent, bytes_received);
  }
  template <shared_tensor... S>
  std::tuple<typename S::container_type...> open_many(const S&... xs) {
    return detail::open_through(*this, xs...);
  }
  template <class S>
  auto open(const S& x) { return std::get<0>(open_many(x)); }
  template <class Kind, class W = word_type>
  material::Parts<W> material(const material::Params& params) { return inner_->template material<Kind, W>(params); }
  [[nodiscard]] auto scope(std::string tag) { return inner_->scope(std::move(tag)); }
  decltype(auto) stats() noexcept { return inner_->stats(); }
  decltype(auto) pair_prg() noexcept { return inner_->pair_prg(); }
  std::uint64_t new_handle() noexcept { return inner_->new_handle(); }
  void add_truncation_risk(double expected_failures) { inner_->add_truncation_risk(expected_failures); }

  /// Completes the ride: opens its words in a round of their own if no exchange carried them.
  void finish() {
    if (!done_) {
      done_ = true;
      const std::size_t nx = ride_->size();
      std::vector<word_type> mine(nx), theirs(nx);
      ride_->fill(mine.data());
      inner_->exchange_words(std::span<const word_type>(mine), std::span<word_type>(theirs));
      ride_->take(theirs.data());
    }
  }

 private:
  Ctx* inner_;
  Ride* ride_;
  bool done_ = false;
};

}  // namespace secformer::detail
