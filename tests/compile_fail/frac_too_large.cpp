// 16 fractional bits leave no room for products in a 32-bit ring (2F must stay below 31): rejected
// at compile time; the twin uses 12 fractional bits.
#include <secformer/core/share.hpp>
namespace sf = secformer;
int main() {
#ifdef SECFORMER_SHOULD_FAIL
  sf::Shared<sf::Fixed<16>, sf::Z2k<32>, sf::Party<0>> a(xt::xarray<std::uint32_t>{1, 2});
#else
  sf::Shared<sf::Fixed<12>, sf::Z2k<32>, sf::Party<0>> a(xt::xarray<std::uint32_t>{1, 2});
#endif
  return a.size() == 2 ? 0 : 1;
}
