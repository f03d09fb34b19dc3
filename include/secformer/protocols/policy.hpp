// secformer/protocols/policy.hpp: how a protocol call finds its policy.
//
//   Basic<Encoding, Ring>      the smallest suite: an encoding and a ring, no policies (every
//                              protocol then uses its library default); Suite (suite.hpp) adds them
//   detail::pick_policy_t<Policy, Ctx, Member, Default>
//                              the explicit Policy if it is not void, else Member<suite> when the
//                              context's suite has that member, else Default; Member is one of
//                              suite_gelu_t, suite_softmax_t, suite_layernorm_t, suite_compare_t
//
// Every protocol function with a policy parameter (sf::gelu<Policy = void>, sf::softmax, sf::ltz,
// ...) and every nn layer (nn::Activation<Policy = void>, ...) resolves it here: void means "the
// suite's, else the library's default".
#pragma once

#include <type_traits>

#include "../core/fixed_point.hpp"
#include "../core/ring.hpp"

namespace secformer {

/// A minimal configuration: encoding and ring. Protocol suites (protocols/suite.hpp) extend it.
template <class Encoding = Fixed<16>, class Ring = Z2k<64>>
struct Basic {
  using encoding = Encoding;
  using ring = Ring;
};

namespace detail {
/// The policy a protocol call uses: the explicit one if given (not void), else the suite's member
/// (Member<Suite>, when the suite has it), else Default.
template <class Policy, class Suite, template <class> class Member, class Default, class = void>
struct pick_policy {
  using type = std::conditional_t<std::is_void_v<Policy>, Default, Policy>;
};
template <class Policy, class Suite, template <class> class Member, class Default>
struct pick_policy<Policy, Suite, Member, Default, std::void_t<Member<Suite>>> {
  using type = std::conditional_t<std::is_void_v<Policy>, Member<Suite>, Policy>;
};
template <class Policy, class Ctx, template <class> class Member, class Default>
using pick_policy_t = typename pick_policy<Policy, typename std::remove_cvref_t<Ctx>::suite, Member, Default>::type;

template <class S> using suite_gelu_t = typename S::gelu;
template <class S> using suite_softmax_t = typename S::softmax;
template <class S> using suite_layernorm_t = typename S::layernorm;
template <class S> using suite_compare_t = typename S::compare;
}  // namespace detail

}  // namespace secformer
