// LayerNorm needs Z2k<64>: its variance range 1e-3..1e4 needs products of about 2^60 ring units
// at 2F bits (protocols/layernorm.hpp). In Z2k<32> it is rejected at compile time with that reason;
// the twin runs in Z2k<64>.
#include <secformer/protocols/layernorm.hpp>
#include <secformer/run.hpp>
namespace sf = secformer;
#ifdef SECFORMER_SHOULD_FAIL
using Suite = sf::Basic<sf::Fixed<12, sf::trunc::Dealer>, sf::Z2k<32>>;
#else
using Suite = sf::Basic<sf::Fixed<16, sf::trunc::Local>, sf::Z2k<64>>;
#endif
int main() {
  const xt::xarray<double> x = {{0.5, -1.0, 2.0, 0.0}};
  const xt::xarray<double> gamma = xt::ones<double>({std::size_t(4)}), beta = xt::zeros<double>({std::size_t(4)});
  xt::xarray<double> y;
  sf::run_solo<Suite>(1, [&](auto& ctx) { y = ctx.reveal(sf::layernorm(ctx.input(sf::party<0>, x), gamma, beta, ctx)); });
  return y.size() == 4 ? 0 : 1;
}
