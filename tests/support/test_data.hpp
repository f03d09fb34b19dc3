// Test data only (never masks): a small deterministic generator and error statistics.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <xtensor/xarray.hpp>

namespace secformer::test {

/// splitmix64: reproducible test inputs. Not cryptographic; never used for shares or masks.
struct TestData {
  std::uint64_t s;
  explicit TestData(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal(double sd = 1.0) {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  xt::xarray<double> uniform_array(std::vector<std::size_t> shape, double lo, double hi) {
    xt::xarray<double> a(shape);
    for (auto& v : a) v = uniform(lo, hi);
    return a;
  }
  xt::xarray<double> normal_array(std::vector<std::size_t> shape, double sd) {
    xt::xarray<double> a(shape);
    for (auto& v : a) v = normal(sd);
    return a;
  }
};

struct ErrorStats {
  double mean = 0, p99 = 0, max = 0;
};

inline ErrorStats abs_error(const xt::xarray<double>& got, const xt::xarray<double>& want) {
  std::vector<double> e;
  e.reserve(got.size());
  for (std::size_t i = 0; i < got.size(); ++i) e.push_back(std::abs(got.flat(i) - want.flat(i)));
  ErrorStats s;
  if (e.empty()) return s;
  for (double v : e) s.mean += v;
  s.mean /= static_cast<double>(e.size());
  std::sort(e.begin(), e.end());
  s.max = e.back();
  s.p99 = e[static_cast<std::size_t>(0.99 * static_cast<double>(e.size() - 1))];
  return s;
}

}  // namespace secformer::test
