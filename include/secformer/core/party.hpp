// secformer/core/party.hpp: party tags. A share's party is part of its type, so that two parties'
// shares cannot be mixed by accident. Solo is the plaintext simulation: one "party" holding whole
// values, a peer whose share is always zero, and a dealer that hands it whole material.
#pragma once

#include <concepts>

namespace secformer {

template <int I>
struct Party {
  static_assert(I == 0 || I == 1, "secformer: two-party protocols have parties 0 and 1");
  static constexpr int id = I;
  static constexpr bool is_solo = false;
};

/// The plaintext fixed-point simulation: behaves as party 0 whose peer holds zero shares.
struct Solo {
  static constexpr int id = 0;
  static constexpr bool is_solo = true;
};

template <class P>
concept party_tag = requires {
  { P::id } -> std::convertible_to<int>;
  { P::is_solo } -> std::convertible_to<bool>;
};

template <int I> inline constexpr Party<I> party{};
inline constexpr Solo solo{};

}  // namespace secformer
