// The bracket rsqrt (the default) needs Z2k<64>: it works on 62-bit values, and a 32-bit ring holds
// neither its input range nor the products of that range (protocols/rsqrt.hpp). In Z2k<32> it is
// rejected at compile time with that reason; the twin runs in Z2k<64>.
#include <secformer/protocols/rsqrt.hpp>
#include <secformer/run.hpp>
namespace sf = secformer;
#ifdef SECFORMER_SHOULD_FAIL
using Suite = sf::Basic<sf::Fixed<12, sf::trunc::Dealer>, sf::Z2k<32>>;
#else
using Suite = sf::Basic<sf::Fixed<16, sf::trunc::Local>, sf::Z2k<64>>;
#endif
int main() {
  const xt::xarray<double> x = {0.5, 1.0, 2.0, 4.0};
  xt::xarray<double> y;
  sf::run_solo<Suite>(1, [&](auto& ctx) { y = ctx.reveal(sf::rsqrt(ctx.input(sf::party<0>, x), ctx)); });
  return y.size() == 4 ? 0 : 1;
}
