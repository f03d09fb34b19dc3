// Party 0's share plus party 1's share must not compile; the twin adds two shares of one party.
#include <secformer/core/share.hpp>
namespace sf = secformer;
int main() {
  sf::Shared<sf::Fixed<16>, sf::Z2k<64>, sf::Party<0>> a(xt::xarray<std::uint64_t>{1, 2});
#ifdef SECFORMER_SHOULD_FAIL
  sf::Shared<sf::Fixed<16>, sf::Z2k<64>, sf::Party<1>> b(xt::xarray<std::uint64_t>{3, 4});
#else
  sf::Shared<sf::Fixed<16>, sf::Z2k<64>, sf::Party<0>> b(xt::xarray<std::uint64_t>{3, 4});
#endif
  auto c = a + b;
  return c.share()(0) == 4 ? 0 : 1;
}
