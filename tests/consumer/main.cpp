#include <iostream>
#include <secformer/secformer.hpp>
namespace sf = secformer;
int main() {
  double result = 0;
  sf::run_two_party(7, [&](auto& ctx) {
    auto x = ctx.input(sf::party<0>, xt::xarray<double>{1.5, 2.0});
    auto y = ctx.input(sf::party<1>, xt::xarray<double>{1.0, 1.5});
    auto d = ctx.reveal(sf::mul(x, y, ctx).sum(0));
    if (ctx.id == 0) result = d();
  });
  std::cout << "consumer ok: " << result << "\n";
  return result > 4.49 && result < 4.51 ? 0 : 1;
}
