// Secret-shares two vectors (one from each party) and prints their secure dot product and its cost.
// Both parties and the dealer run as threads of this process.
#include <iostream>

#include <secformer/secformer.hpp>
namespace sf = secformer;

int main() {
  const xt::xarray<double> a{1.5, -2.0, 0.25, 4.0}, b{2.0, 0.5, -8.0, 1.25};  // party 0's, party 1's
  auto stats = sf::run_two_party(sf::RunOptions{}, [&](auto& ctx) {
    auto x = ctx.input(sf::party<0>, a);       // 0 rounds: masks from the pairwise PRG
    auto y = ctx.input(sf::party<1>, b);
    auto dot = sf::mul(x, y, ctx).sum(0);      // 1 round (Beaver), local truncation and sum
    if (auto v = ctx.reveal_to(sf::party<0>, dot)) std::cout << "secure dot product: " << *v << "\n";
  });
  const auto& c = stats[0].total();
  std::cout << "party 0: " << c.rounds << " rounds, " << c.bytes_sent << " bytes sent, " << c.bytes_received
            << " bytes received; party 1 got " << stats[1].total().dealer_bytes << " bytes from the dealer\n";
}
