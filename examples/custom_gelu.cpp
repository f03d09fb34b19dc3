// A GeLU policy written outside the library (docs/writing-a-protocol.md walks through it):
// a ReLU-clipped quadratic,
//     g(x) = 0 (x < -1.9),   (x + 1.9)(x + 0.1) / 4 (-1.9 <= x < 1.9),   x (x >= 1.9),
// continuous at both cuts, within 0.055 of exact GeLU. It reuses the library's comparison, square
// and multiplication, so the dealer already serves all of its material. The program checks the
// policy against doubles and its measured costs against its traits, in the simulation and with two
// parties, swapped into SecFormerSuite and into the suite with exact truncation; it prints one
// "... OK" line per check and exits non-zero when one fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <secformer/secformer.hpp>
namespace sf = secformer;

// ---- the policy --------------------------------------------------------------------------------
struct ClippedQuadGelu {
  using compare = sf::MaskedCompare<>;  // exact on the whole ring
  static constexpr double cut = 1.9;

  /// The same approximation in double precision.
  static double approx(double x) noexcept {
    if (x < -cut) return 0.0;
    if (x < cut) return (x + 1.9) * (x + 0.1) / 4;
    return x;
  }

  /// Online rounds: the comparisons, the square, the two bit products (one round); trunc::Dealer
  /// adds the round of the square's truncation.
  template <class E = sf::Fixed<16>, class Ring = sf::Z2k<64>>
  static constexpr int rounds_for =
      compare::online_rounds<Ring> + 1 + 1 + (std::is_same_v<typename E::trunc_policy, sf::trunc::Dealer> ? 1 : 0);
  static constexpr int online_rounds = rounds_for<>;

  /// Bytes each party sends (and receives) for n elements: 2n comparisons, 1 word per element for
  /// the square, 4 for the two products; trunc::Dealer: 1 more for the truncation.
  template <class E = sf::Fixed<16>, class Ring = sf::Z2k<64>>
  static constexpr std::uint64_t bytes_sent(std::size_t n) {
    const std::uint64_t words = 5 + (std::is_same_v<typename E::trunc_policy, sf::trunc::Dealer> ? 1 : 0);
    return compare::bytes_sent<Ring>(2 * n) + words * n * sizeof(typename Ring::word_type);
  }

  /// Dealer bytes to party 1 for n elements (party 0 expands its own from a key): the comparisons'
  /// material, 1 word per element for the square pair, 2 for the two triples; trunc::Dealer: 2 more.
  template <class E = sf::Fixed<16>, class Ring = sf::Z2k<64>>
  static constexpr std::uint64_t dealer_bytes(std::size_t n) {
    const std::uint64_t words = 3 + (std::is_same_v<typename E::trunc_policy, sf::trunc::Dealer> ? 2 : 0);
    return compare::dealer_bytes<Ring>(2 * n) + words * n * sizeof(typename Ring::word_type);
  }

  /// The protocol. Input range: (|x| + 1)^2 2^(2F) must stay below 2^(l-2) (|x| < 2^15 - 1 for
  /// Fixed<16> in Z2k<64>); not checked here.
  template <class T, class Ring, class P, class C, class Ctx>
  static sf::Shared<T, Ring, P, C> eval(const sf::Shared<T, Ring, P, C>& x, Ctx& ctx) {
    using S = sf::Shared<T, Ring, P, C>;
    using Bits = sf::Shared<sf::Int, Ring, P, C>;
    auto tag = ctx.scope("gelu");
    // b[0] = [x < -1.9], b[1] = [x < 1.9]: one run of the comparison on 2n elements.
    const auto b = sf::ltz_many<compare>(std::vector<S>{x + cut, x - cut}, ctx);
    // q = ((x + 1)^2 - 0.81) / 4: a raw square (scale 2F), truncated by F + 2 bits.
    const S q = sf::truncate_by<T, typename T::trunc_policy>(sf::square_raw(x + 1.0, ctx) - 0.81, T::frac_bits + 2, ctx);
    // g = x + b[1] (q - x) - b[0] q: two products of a bit with a value, in one round, exact (no
    // truncation: a bit is an Int share, and Int products keep the scale).
    const auto p = sf::mul_many_raw(std::vector<std::pair<Bits, Bits>>{{b[1], (q - x).template reinterpret<sf::Int>()},
                                                                       {b[0], q.template reinterpret<sf::Int>()}},
                                    ctx);
    return x + p[0].template reinterpret<T>() - p[1].template reinterpret<T>();
  }
};

// The traits are constants: a design can be compared before anything runs.
static_assert(ClippedQuadGelu::online_rounds == 6);
static_assert(ClippedQuadGelu::rounds_for<sf::Fixed<16, sf::trunc::Dealer>> == 7);

// ---- checks ------------------------------------------------------------------------------------
namespace {
/// Prints one line per check and counts the failures.
struct Checks {
  int failures = 0;
  void operator()(bool ok, const std::string& what) {
    std::cout << what << (ok ? " OK" : " FAILED") << '\n';
    if (!ok) ++failures;
  }
};

/// The input as the protocol sees it: rounded to Fixed<16>.
double encoded(double v) { return std::nearbyint(std::ldexp(v, 16)) / 65536.0; }

/// f applied to every element.
template <class F>
xt::xarray<double> apply(const xt::xarray<double>& x, F&& f) {
  xt::xarray<double> y(x.shape());
  for (std::size_t i = 0; i < x.size(); ++i) y.flat(i) = f(x.flat(i));
  return y;
}

/// Largest |y_i - f(x_i)|.
template <class F>
double max_error(const xt::xarray<double>& x, const xt::xarray<double>& y, F&& f) {
  double e = 0;
  for (std::size_t i = 0; i < x.size(); ++i) e = std::max(e, std::abs(y.flat(i) - f(x.flat(i))));
  return e;
}

/// What one party saw: the revealed output and the cost of the GeLU call alone.
struct Seen {
  xt::xarray<double> y;
  sf::Cost cost;
};

/// The program both runs execute: party 1 inputs x, the suite's GeLU, both parties see the result.
template <class Ctx>
Seen program(Ctx& ctx, const xt::xarray<double>& x) {
  auto sx = ctx.input(sf::party<1>, x);
  const sf::Cost before = ctx.stats().total();
  auto sy = sf::gelu(sx, ctx);  // the suite's GeLU: ClippedQuadGelu
  const sf::Cost cost = ctx.stats().total() - before;
  return {ctx.reveal(sy), cost};
}

/// Measured online costs against the traits, for the encoding E of the suite.
template <class E>
void check_costs(Checks& check, const std::string& run, const sf::Cost& c, std::size_t n) {
  using G = ClippedQuadGelu;
  check(c.rounds == G::rounds_for<E>, run + ": " + std::to_string(c.rounds) + " rounds (trait " + std::to_string(G::rounds_for<E>) + ")");
  check(c.bytes_sent == G::bytes_sent<E>(n) && c.bytes_received == G::bytes_sent<E>(n),
        run + ": " + std::to_string(c.bytes_sent) + " bytes sent (trait " + std::to_string(G::bytes_sent<E>(n)) + ")");
}
/// Party 1's dealer bytes against the trait; party 0 receives none.
template <class E>
void check_dealer(Checks& check, const std::string& run, const Seen (&seen)[2], std::size_t n) {
  using G = ClippedQuadGelu;
  check(seen[0].cost.dealer_bytes == 0 && seen[1].cost.dealer_bytes == G::dealer_bytes<E>(n),
        run + ": " + std::to_string(seen[1].cost.dealer_bytes) + " dealer bytes to party 1 (trait " +
            std::to_string(G::dealer_bytes<E>(n)) + "), none to party 0");
}
}  // namespace

int main() {
  using G = ClippedQuadGelu;
  Checks check;
  const xt::xarray<double> x = xt::linspace<double>(-8.0, 8.0, 4001);
  const std::size_t n = x.size();

  // 1. The approximation itself, in doubles, against exact GeLU.
  const double approx_err = max_error(x, apply(x, G::approx), sf::gelu_exact);
  check(approx_err <= 0.055, "approx vs exact GeLU on [-8, 8]: max " + std::to_string(approx_err) + " (bound 0.055)");

  // 2. The simulation, with the policy swapped into SecFormerSuite.
  using Suite = sf::SecFormerSuite::with_gelu<G>;
  Seen solo;
  double forecast = 0;
  sf::run_solo<Suite>(1, [&](auto& ctx) {
    solo = program(ctx, x);
    forecast = ctx.truncation_risk();
  });
  const auto vs_approx = [](double v) { return G::approx(encoded(v)); };
  const double solo_err = max_error(x, solo.y, vs_approx);
  check(solo_err <= 1e-4, "simulation vs approx: max " + std::to_string(solo_err) + " (bound 1e-4)");
  check_costs<Suite::encoding>(check, "simulation", solo.cost, n);
  check(forecast <= 1e-4, "simulation: expected failed local truncations " + std::to_string(forecast) + " (bound 1e-4)");

  // 3. Two parties and the dealer (threads of this process), the same program.
  Seen two[2];
  sf::run_two_party<Suite>(1, [&](auto& ctx) { two[std::remove_cvref_t<decltype(ctx)>::id] = program(ctx, x); });
  const double tp_err = max_error(x, two[0].y, vs_approx);
  check(tp_err <= 1e-4, "two parties vs approx: max " + std::to_string(tp_err) + " (bound 1e-4)");
  const double tp_exact = max_error(x, two[0].y, sf::gelu_exact);
  check(tp_exact <= 0.0551, "two parties vs exact GeLU: max " + std::to_string(tp_exact) + " (bound 0.0551)");
  check(xt::all(xt::equal(two[0].y, two[1].y)), "two parties: both reveal the same result");
  double tp_solo = 0;
  for (std::size_t i = 0; i < n; ++i) tp_solo = std::max(tp_solo, std::abs(two[0].y.flat(i) - solo.y.flat(i)));
  check(tp_solo <= 1e-4, "two parties vs simulation: max " + std::to_string(tp_solo) + " (bound 1e-4)");
  check_costs<Suite::encoding>(check, "two parties", two[0].cost, n);
  check_dealer<Suite::encoding>(check, "two parties", two, n);

  // 4. The suite whose truncations never fail: one more round, as the trait says.
  using Exact = Suite::with_encoding<sf::Fixed<16, sf::trunc::Dealer>>;
  Seen exact[2];
  sf::run_two_party<Exact>(2, [&](auto& ctx) { exact[std::remove_cvref_t<decltype(ctx)>::id] = program(ctx, x); });
  const double ex_err = max_error(x, exact[0].y, vs_approx);
  check(ex_err <= 1e-4, "exact truncation vs approx: max " + std::to_string(ex_err) + " (bound 1e-4)");
  check_costs<Exact::encoding>(check, "exact truncation", exact[0].cost, n);
  check_dealer<Exact::encoding>(check, "exact truncation", exact, n);

  std::cout << (check.failures ? "custom GeLU: " + std::to_string(check.failures) + " check(s) failed"
                               : std::string("custom GeLU: all checks passed"))
            << '\n';
  return check.failures ? 1 : 0;
}
