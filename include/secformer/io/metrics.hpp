// secformer/io/metrics.hpp: the evaluation metrics of the GLUE benchmark (glue.hpp names which
// task uses which), over plaintext predictions and gold labels. No dependency beyond the standard
// library.
//
//   double a = metrics::accuracy(gold, predicted);     // label ids (std::size_t)
//   double f = metrics::f1(gold, predicted);           // binary, ids 0 and 1, positive class 1
//   double m = metrics::matthews(gold, predicted);     // any number of classes
//   double r = metrics::pearson(gold, predicted);      // doubles
//   double s = metrics::spearman(gold, predicted);     // doubles, average ranks for ties
//
// Errors (usage_error naming the metric): empty input, gold and predicted of different lengths,
// for f1 a label other than 0 or 1, for pearson and spearman fewer than two pairs or a value that
// is NaN or infinite.
// Degenerate cases, as scikit-learn and SciPy define them:
//   f1: 2 tp / (2 tp + fp + fn), and 0 when no gold and no predicted label is 1 (the denominator is
//       0; scikit-learn's f1_score with its default zero_division returns 0 there too);
//   matthews: 0 when the denominator is 0 (one side puts every example in a single class), as
//       scikit-learn's matthews_corrcoef returns;
//   pearson, spearman: NaN when either side is constant (the correlation is undefined; SciPy's
//       pearsonr and spearmanr return NaN too). Otherwise the result is clamped to [-1, 1].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"

namespace secformer::io::metrics {

namespace detail {

template <class T>
void check_pairs(std::span<const T> gold, std::span<const T> predicted, const char* metric) {
  if (gold.size() != predicted.size())
    throw usage_error(std::string("secformer: ") + metric + ": " + std::to_string(gold.size()) + " gold values but " +
                      std::to_string(predicted.size()) + " predictions");
  if (gold.empty()) throw usage_error(std::string("secformer: ") + metric + ": no examples (empty input)");
}

inline void check_real(std::span<const double> gold, std::span<const double> predicted, const char* metric) {
  check_pairs(gold, predicted, metric);
  if (gold.size() < 2) throw usage_error(std::string("secformer: ") + metric + ": needs at least two pairs, got 1");
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (!std::isfinite(gold[i])) throw usage_error(std::string("secformer: ") + metric + ": gold value " + std::to_string(i) + " is not finite");
    if (!std::isfinite(predicted[i]))
      throw usage_error(std::string("secformer: ") + metric + ": prediction " + std::to_string(i) + " is not finite");
  }
}

/// Pearson's r of checked input: two passes (means, then centred sums), NaN for a constant side.
inline double correlation(std::span<const double> x, std::span<const double> y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp(sxy / (std::sqrt(sxx) * std::sqrt(syy)), -1.0, 1.0);
}

/// Ranks 1..n, ties sharing the average of the ranks they span.
inline std::vector<double> average_ranks(std::span<const double> v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i + 1;
    while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
    const double r = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // mean of ranks i+1..j
    for (std::size_t k = i; k < j; ++k) rank[order[k]] = r;
    i = j;
  }
  return rank;
}

}  // namespace detail

/// The fraction of predictions equal to the gold label.
inline double accuracy(std::span<const std::size_t> gold, std::span<const std::size_t> predicted) {
  detail::check_pairs(gold, predicted, "accuracy");
  std::size_t hit = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) hit += gold[i] == predicted[i];
  return static_cast<double>(hit) / static_cast<double>(gold.size());
}

/// Binary F1 of the positive class 1: 2 tp / (2 tp + fp + fn); 0 when that denominator is 0.
inline double f1(std::span<const std::size_t> gold, std::span<const std::size_t> predicted) {
  detail::check_pairs(gold, predicted, "f1");
  std::size_t tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] > 1) throw usage_error("secformer: f1: gold label " + std::to_string(i) + " is " + std::to_string(gold[i]) + " (binary F1 takes 0 and 1)");
    if (predicted[i] > 1)
      throw usage_error("secformer: f1: prediction " + std::to_string(i) + " is " + std::to_string(predicted[i]) + " (binary F1 takes 0 and 1)");
    tp += gold[i] == 1 && predicted[i] == 1;
    fp += gold[i] == 0 && predicted[i] == 1;
    fn += gold[i] == 1 && predicted[i] == 0;
  }
  const double den = 2.0 * static_cast<double>(tp) + static_cast<double>(fp) + static_cast<double>(fn);
  return den == 0 ? 0.0 : 2.0 * static_cast<double>(tp) / den;
}

/// Matthews correlation coefficient over any number of classes (Gorodkin's R_K, which is the
/// binary MCC for two classes): (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)),
/// c the correct predictions, s the examples, p_k / t_k how often k is predicted / true. 0 when the
/// denominator is 0.
inline double matthews(std::span<const std::size_t> gold, std::span<const std::size_t> predicted) {
  detail::check_pairs(gold, predicted, "matthews");
  // Classes by distinct id (sorted), so that sparse ids allocate nothing large.
  std::vector<std::size_t> ids(gold.begin(), gold.end());
  ids.insert(ids.end(), predicted.begin(), predicted.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const auto class_of = [&](std::size_t id) { return static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), id) - ids.begin()); };
  const std::size_t classes = ids.size();
  std::vector<double> t(classes, 0.0), p(classes, 0.0);
  double c = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    t[class_of(gold[i])] += 1, p[class_of(predicted[i])] += 1;
    c += gold[i] == predicted[i];
  }
  const double s = static_cast<double>(gold.size());
  double pt = 0, pp = 0, tt = 0;
  for (std::size_t k = 0; k < classes; ++k) pt += p[k] * t[k], pp += p[k] * p[k], tt += t[k] * t[k];
  const double den_p = s * s - pp, den_t = s * s - tt;
  if (den_p == 0 || den_t == 0) return 0.0;
  return std::clamp((c * s - pt) / (std::sqrt(den_p) * std::sqrt(den_t)), -1.0, 1.0);
}

/// Pearson's correlation coefficient; NaN when either side is constant.
inline double pearson(std::span<const double> gold, std::span<const double> predicted) {
  detail::check_real(gold, predicted, "pearson");
  return detail::correlation(gold, predicted);
}

/// Spearman's rank correlation: Pearson's r of the ranks, tied values sharing their average rank;
/// NaN when either side is constant.
inline double spearman(std::span<const double> gold, std::span<const double> predicted) {
  detail::check_real(gold, predicted, "spearman");
  const std::vector<double> rg = detail::average_ranks(gold), rp = detail::average_ranks(predicted);
  return detail::correlation(rg, rp);
}

}  // namespace secformer::io::metrics
