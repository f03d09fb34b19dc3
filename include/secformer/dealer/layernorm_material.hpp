// secformer/dealer/layernorm_material.hpp: dealer material for the inverse square root and the
// LayerNorm (protocols/rsqrt.hpp, protocols/layernorm.hpp), and the public plan both the dealer and
// the parties follow.
//
// RsqrtBracketMaterial (id 600), params (shape {m}, L, f): the "bracket" of m values. The parties
// open c = V + 2^62 + r (r uniform over Z_2^64, perfectly hiding) and evaluate L approximate
// comparisons LT~(p) = [r_hi < p_hi] (x_hi = x >> 25: the top 39 bits, three 13-bit chunks) at public
// points p, by table look-ups and one round of products (see rsqrt.hpp); in that round they also
// open X - s (X the bracketed value at its working scale) to get the products of X with the results:
//   R = { r: {m},  s: {m},  seed: {B} }       B = ceil(5 m L / 64): the mask bits' source
//   D = { rho:    {B}               xor       the mask bits, bit-packed (bit 5 (e L + l) + k masks
//                                             variable k of point l of value e): rho = seed
//         tables: {m, 3, 128}       xor       bit u of chunk i: [u == chunk_i(r_hi)] (one-hot, 8192 bits)
//         prods:  {m, L, 10}        additive  the products of the mask bits that the monomials need
//         prods_s: {m, L, 10}       additive  the same products times s
//         hi:     {m}, msb: {m}     additive  (only when f > 0) (r mod 2^63) >> f and msb(r), for the
//                                             exact truncation of the opened value (as trunc::Dealer) }
//   Dealer -> party 1: B + m (384 + 20 L (+ 2)) words; party 0: nothing.
// SquareColTriple (id 601), params (rows, cols): a square pair and a column-broadcast triple that
//   share the mask of the tensor, for d^2 and gamma * d with one opening of d - A:
//   R = { A: {rows, cols}, b: {cols} },  D = { A*A: {rows, cols}, A*b: {rows, cols} }.
//   Dealer -> party 1: 2 words per element.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "material.hpp"

namespace secformer::material {

namespace bracket {

inline constexpr unsigned chunks = 3;
inline constexpr unsigned chunk_bits = 13;
inline constexpr unsigned dropped_bits = 64 - chunks * chunk_bits;  ///< 25 low bits of the mask are ignored
inline constexpr unsigned table_words = (1u << chunk_bits) / 64;  ///< 128 words per chunk table
/// Masked variables per comparison: L_2, E_2, L_1, E_1, L_0 (variable 2 (chunks - 1 - i) is L_i,
/// the next one E_i; E_0 is not needed).
inline constexpr unsigned vars = 2 * chunks - 1;

/// LT~ = L_2 + E_2 L_1 + E_2 E_1 L_0: monomial i holds the E of the chunks above chunk chunks-1-i
/// and the L of that chunk.
inline constexpr std::array<unsigned, chunks> make_monomials() {
  std::array<unsigned, chunks> m{};
  for (unsigned i = 0; i < chunks; ++i) {
    unsigned mask = 1u << (2 * i);                         // L of chunk chunks-1-i
    for (unsigned a = 0; a < i; ++a) mask |= 1u << (2 * a + 1);  // E of the chunks above
    m[i] = mask;
  }
  return m;
}
inline constexpr auto monomials = make_monomials();

struct Subsets {
  std::array<unsigned, 32> mask{};
  std::array<int, (1u << vars)> index{};
  unsigned count = 0;
};
inline constexpr Subsets make_subsets() {
  Subsets s;
  for (auto& i : s.index) i = -1;
  for (unsigned t = 1; t < (1u << vars); ++t) {
    bool needed = false;
    for (unsigned m : monomials) needed = needed || (t & m) == t;
    if (needed) {
      s.index[t] = static_cast<int>(s.count);
      s.mask[s.count++] = t;
    }
  }
  return s;
}
/// The nonempty subsets T of the monomials' variables: the dealer gives [prod_{k in T} rho_k].
inline constexpr Subsets subsets = make_subsets();
inline constexpr unsigned products = subsets.count;
static_assert(products == 10);

/// Words of the bit-packed mask bits of m values with L points each.
inline constexpr std::size_t mask_words(std::size_t m, std::size_t L) { return (m * L * vars + 63) / 64; }

/// Chunk i (0 = lowest) of the top 39 bits of a 64-bit word.
inline constexpr unsigned chunk(std::uint64_t x, unsigned i) noexcept {
  return static_cast<unsigned>((x >> (dropped_bits + chunk_bits * i)) & ((1u << chunk_bits) - 1));
}

}  // namespace bracket

struct RsqrtBracketMaterial {
  static constexpr std::uint32_t id = 600;
  static constexpr std::string_view name = "rsqrt bracket";

  /// The layout of the parts, defined here only: randoms r (the mask of V), s (the mask of X), the
  /// xor-shared source of the packed mask bits; derived rho (this party's share of those bits), the
  /// chunk tables, the products of mask bits and those products times s, and with a truncation
  /// (f > 0) the high part and the top bit of r. Positions in the randoms and derived lists.
  struct Index {
    static constexpr std::size_t r = 0, s = 1, rho_source = 2, randoms = 3;
    static constexpr std::size_t rho = 0, tables = 1, products = 2, products_s = 3, r_high = 4, r_msb = 5;
  };
  /// Named access to the parts a client received (randoms then derived).
  template <class W>
  struct View {
    Parts<W>& parts;
    const W* at(std::size_t derived) const noexcept { return parts[Index::randoms + derived].data(); }
    const W* r() const noexcept { return parts[Index::r].data(); }
    const W* s() const noexcept { return parts[Index::s].data(); }
    const W* rho() const noexcept { return at(Index::rho); }
    const W* tables() const noexcept { return at(Index::tables); }
    const W* products() const noexcept { return at(Index::products); }
    const W* products_s() const noexcept { return at(Index::products_s); }
    const W* r_high() const noexcept { return at(Index::r_high); }
    const W* r_msb() const noexcept { return at(Index::r_msb); }
  };

  static Layout layout(std::span<const std::uint64_t> p) {
    Reader rd(p);
    const Shape s = rd.shape();
    const std::size_t m = elements(s);
    const std::size_t L = static_cast<std::size_t>(rd.value());
    const auto f = rd.value();
    if (L < 1 || L > 4096 || f > 62) throw usage_error("secformer: malformed rsqrt bracket request");
    const std::size_t B = bracket::mask_words(m, L);
    Layout lay{{{m}, {m}, {B}},
               {{B}, {m, bracket::chunks, bracket::table_words}, {m, L, bracket::products}, {m, L, bracket::products}},
               {true, true, false, false}};
    if (f > 0) {
      lay.derived.push_back({m});
      lay.derived.push_back({m});
      lay.derived_xor.push_back(false);
      lay.derived_xor.push_back(false);
    }
    return lay;
  }

  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    if constexpr (sizeof(W) != 8) {
      throw usage_error("secformer: the rsqrt bracket needs Z2k<64>");
    } else {
      Reader rd(p);
      const std::size_t m = elements(rd.shape());
      const std::size_t L = static_cast<std::size_t>(rd.value());
      const auto f = static_cast<unsigned>(rd.value());
      const W* rv = r[Index::r].data();
      const W* sv = r[Index::s].data();
      const W* rho = r[Index::rho_source].data();
      std::copy(r[Index::rho_source].begin(), r[Index::rho_source].end(), d[Index::rho].begin());
      W* tab = d[Index::tables].data();
      W* prod = d[Index::products].data();
      W* prod_s = d[Index::products_s].data();
      for (std::size_t i = 0; i < d[Index::tables].size(); ++i) tab[i] = 0;
      for (std::size_t e = 0; e < m; ++e) {
        for (unsigned c = 0; c < bracket::chunks; ++c) {
          const unsigned u = bracket::chunk(rv[e], c);
          tab[(e * bracket::chunks + c) * bracket::table_words + u / 64] |= W(1) << (u % 64);
        }
        for (std::size_t l = 0; l < L; ++l) {
          unsigned bits = 0;
          for (unsigned k = 0; k < bracket::vars; ++k) {
            const std::size_t at = (e * L + l) * bracket::vars + k;
            bits |= static_cast<unsigned>((rho[at / 64] >> (at % 64)) & 1u) << k;
          }
          W* out = prod + (e * L + l) * bracket::products;
          W* out_s = prod_s + (e * L + l) * bracket::products;
          for (unsigned j = 0; j < bracket::products; ++j) {
            out[j] = (bits & bracket::subsets.mask[j]) == bracket::subsets.mask[j] ? 1 : 0;
            out_s[j] = out[j] * sv[e];
          }
        }
      }
      if (f > 0) {
        const W low = (W(1) << 63) - 1;
        for (std::size_t e = 0; e < m; ++e) {
          d[Index::r_high].data()[e] = (rv[e] & low) >> f;
          d[Index::r_msb].data()[e] = rv[e] >> 63;
        }
      }
    }
  }
};

struct SquareColTriple {
  static constexpr std::uint32_t id = 601;
  static constexpr std::string_view name = "square and column triple";

  static Layout layout(std::span<const std::uint64_t> p) {
    Reader rd(p);
    const std::size_t rows = static_cast<std::size_t>(rd.value()), cols = static_cast<std::size_t>(rd.value());
    if (rows == 0 || cols == 0 || rows * cols > (std::size_t(1) << 33)) throw usage_error("secformer: malformed square/column triple request");
    return {{{rows, cols}, {cols}}, {{rows, cols}, {rows, cols}}, {}};
  }

  template <class W>
  static void derive(std::span<const std::uint64_t> p, const Parts<W>& r, Parts<W>& d, State&) {
    Reader rd(p);
    const std::size_t rows = static_cast<std::size_t>(rd.value()), cols = static_cast<std::size_t>(rd.value());
    const W* a = r[0].data();
    const W* b = r[1].data();
    W* aa = d[0].data();
    W* ab = d[1].data();
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) {
        const W v = a[i * cols + j];
        aa[i * cols + j] = static_cast<W>(v * v);
        ab[i * cols + j] = static_cast<W>(v * b[j]);
      }
  }
};

}  // namespace secformer::material
