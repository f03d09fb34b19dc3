// A fixed-point product carries a doubled scale until it is truncated: using it as an operand of
// mul() must not compile; the twin truncates first.
#include <secformer/secformer.hpp>
namespace sf = secformer;
int main() {
  double r = 0;
  sf::run_solo(1, [&](auto& ctx) {
    auto x = ctx.input(sf::party<0>, xt::xarray<double>{1.0, 2.0});
#ifdef SECFORMER_SHOULD_FAIL
    auto y = sf::mul(x * 0.5, x, ctx);
#else
    auto y = sf::mul(sf::truncate(x * 0.5, ctx), x, ctx);
#endif
    r = ctx.reveal(y)(1);
  });
  return r == 2.0 ? 0 : 1;
}
