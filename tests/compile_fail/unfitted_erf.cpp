// FittedErf exists only for the thresholds whose coefficients were fitted (1.7, 2.0, 2.3, 2.5; other
// T: bench/fit_erf_series.py): another T is rejected at compile time, not run with missing
// coefficients; the twin uses T = 2.3.
#include <secformer/protocols/gelu.hpp>
namespace sf = secformer;
int main() {
#ifdef SECFORMER_SHOULD_FAIL
  using G = sf::BasicSecFormerGelu<sf::FittedErf<1800>>;
#else
  using G = sf::BasicSecFormerGelu<sf::FittedErf<2300>>;
#endif
  return G::approx(1.0) > 0.8 ? 0 : 1;
}
