#include <iostream>
#include <secformer/secformer.hpp>
namespace sf = secformer;

int main() {
  sf::run_two_party(/*seed=*/42, [](auto& ctx) {            // both parties and the dealer, in-process
    auto x = ctx.input(sf::party<1>, xt::xarray<double>{-2.0, 0.0, 1.5});
    auto w = ctx.input(sf::party<0>, xt::xarray<double>{{1.0, 2.0}, {0.5, -1.0}, {3.0, 0.0}});
    auto y = sf::matmul(x.reshape({1, 3}), w, ctx);         // secret x times secret w: 1 round
    auto z = sf::square(y, ctx);                             // element-wise square: 1 round
    if (auto v = ctx.reveal_to(sf::party<0>, z)) std::cout << *v << '\n';
  });
}
