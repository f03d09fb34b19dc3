// secformer/core/ring.hpp: ring policies. Z2k<Bits> is the ring of integers modulo 2^Bits, stored in
// an unsigned word so that C++ unsigned wrap-around is the ring arithmetic. Shares are stored unsigned
// and read as signed only to decode.
#pragma once

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace secformer {

namespace detail {
template <unsigned Bits> struct uint_for;
template <> struct uint_for<32> { using type = std::uint32_t; };
template <> struct uint_for<64> { using type = std::uint64_t; };
template <unsigned Bits> using uint_for_t = typename uint_for<Bits>::type;
}  // namespace detail

/// Z_{2^Bits}. Bits must equal the word width (32 or 64): wrap-around is then free.
template <unsigned Bits, std::unsigned_integral Word = detail::uint_for_t<Bits>>
struct Z2k {
  static_assert(Bits == 8 * sizeof(Word), "secformer: Z2k supports rings as wide as their word (32, 64)");
  using word_type = Word;
  using signed_type = std::make_signed_t<Word>;
  static constexpr unsigned bits = Bits;
  static constexpr Word msb_mask = Word(1) << (Bits - 1);
};

template <class R>
concept ring_like = requires {
  typename R::word_type;
  typename R::signed_type;
  { R::bits } -> std::convertible_to<unsigned>;
} && std::unsigned_integral<typename R::word_type>;

using Z2k64 = Z2k<64>;
using Z2k32 = Z2k<32>;

/// Reads a ring word as a signed (two's complement) integer.
template <std::unsigned_integral W>
constexpr std::make_signed_t<W> as_signed(W w) noexcept {
  return static_cast<std::make_signed_t<W>>(w);
}

}  // namespace secformer
