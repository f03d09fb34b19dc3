// The softmaxes need Z2k<64>: in Z2k<32> with Fixed<12> every product must stay below 2^30 ring
// units, which 2Quad's (x + 5)^2 and the reciprocal's K / S exceed (protocols/softmax.hpp). A
// 32-bit softmax is rejected at compile time with that reason; the twin runs in Z2k<64>.
#include <secformer/protocols/softmax.hpp>
#include <secformer/run.hpp>
namespace sf = secformer;
#ifdef SECFORMER_SHOULD_FAIL
using Suite = sf::Basic<sf::Fixed<12, sf::trunc::Dealer>, sf::Z2k<32>>;
#else
using Suite = sf::Basic<sf::Fixed<16, sf::trunc::Local>, sf::Z2k<64>>;
#endif
int main() {
  const xt::xarray<double> x = {{0.5, -1.0, 2.0, 0.0}};
  xt::xarray<double> p;
  sf::run_solo<Suite>(1, [&](auto& ctx) { p = ctx.reveal(sf::softmax(ctx.input(sf::party<0>, x), ctx)); });
  return p.size() == 4 ? 0 : 1;
}
