// bench/protocols.cpp: micro-benchmarks of every protocol policy in the paper's configurations.
// All three roles run in this process over real loopback TCP (run_loopback). The dealer material of
// each run is planned and fetched first (offline) and the input shared; the operation's online phase
// alone is timed, as the median of --runs runs (default 9) after one uncounted warm-up run. Errors
// are measured against double precision (mean, p99, max). The speedups of the first (SecFormer) row
// of each operation and shape over the others are printed at the end.
//
//   bench_protocols [--runs N] [--quick] [--only OP] [--json FILE] [--svg FILE]
//     --only OP: only the rows of one operation (gelu, softmax, layernorm, reciprocal, rsqrt).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <secformer/net.hpp>
#include <secformer/secformer.hpp>

#include "../tests/support/test_data.hpp"

namespace sf = secformer;

namespace {
struct Row {
  std::string op, policy, shape, reference;
  std::size_t elements = 0;
  double seconds = 0, rounds = 0, bytes_per_element = 0, dealer_bytes_per_element = 0;
  sf::test::ErrorStats err;
};

struct Options {
  int runs = 9;
  bool quick = false;
  std::string json = "bench_protocols.json", svg = "bench_protocols.svg";
  std::string only;
};

/// One row being measured: its runs' times so far and how to do one more run.
struct Job {
  Row row;
  std::vector<double> times;
  xt::xarray<double> out;
  std::function<void(Job&, int)> run_once;     ///< run < 0: the uncounted warm-up
  std::function<xt::xarray<double>()> reference;
};

/// Adds a row: op(x_shared, ctx) under the two parties (x must outlive run_group).
template <class Op>
void add(std::vector<Job>& group, const Options& o, const std::string& op_name, const std::string& policy, const xt::xarray<double>& x,
         const std::function<xt::xarray<double>(const xt::xarray<double>&)>& reference, const std::string& ref_name, Op op) {
  if (!o.only.empty() && o.only != op_name) return;
  Job j;
  j.row.op = op_name, j.row.policy = policy, j.row.reference = ref_name, j.row.elements = x.size();
  for (std::size_t i = 0; i < x.dimension(); ++i) j.row.shape += (i ? "x" : "") + std::to_string(x.shape()[i]);
  const xt::xarray<double>* xp = &x;
  auto program = [xp, op](auto& ctx) { return op(ctx.input(sf::party<0>, *xp), ctx); };
  j.reference = [xp, reference] { return reference(*xp); };
  j.run_once = [xp, op, plan = sf::plan_material(program)](Job& job, int run) {
    double t = 0;
    sf::Cost online;
    auto stats = sf::run_loopback(sf::RunOptions{static_cast<std::uint64_t>(run + 2)}, [&](auto& ctx) {
      ctx.preprocess(plan);
      auto sx = ctx.input(sf::party<0>, *xp);  // shared before the clock starts: only the operation is timed
      (void)ctx.open(ctx.input(sf::party<0>, xt::xarray<double>{0.0}));  // both parties start together
      const auto before = ctx.stats().total();
      const auto t0 = std::chrono::steady_clock::now();
      auto y = op(std::move(sx), ctx);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto cost = ctx.stats().total() - before;
      auto v = ctx.reveal(y);
      if constexpr (std::remove_cvref_t<decltype(ctx)>::id == 0) {
        t = dt;
        online = cost;
        job.out = v;
      }
    });
    if (run < 0) return;
    job.times.push_back(t);
    const double n = static_cast<double>(xp->size());
    job.row.rounds = static_cast<double>(online.rounds);
    job.row.bytes_per_element = static_cast<double>(online.bytes_sent) / n;
    job.row.dealer_bytes_per_element = static_cast<double>(stats[1]["offline"].dealer_bytes) / n;
  };
  group.push_back(std::move(j));
}

/// Measures a group of rows with their runs interleaved (warm-up of every row, then run 1 of every
/// row, run 2, ...), so that drift of the machine during the group (the allocator, caches, other
/// load) reaches every row alike; each row's time is the median of its runs.
void run_group(const Options& o, std::vector<Job>& group, std::vector<Row>& rows) {
  for (int run = -1; run < o.runs; ++run)
    for (auto& j : group) j.run_once(j, run);
  for (auto& j : group) {
    Row& r = j.row;
    std::sort(j.times.begin(), j.times.end());
    r.seconds = j.times[j.times.size() / 2];
    r.err = sf::test::abs_error(j.out, j.reference());
    std::printf("%-10s %-26s %-12s %9.4f s %5.0f rounds %9.1f B/elem %9.1f dealer B/elem  err mean %.2e p99 %.2e max %.2e (vs %s)\n",
                r.op.c_str(), r.policy.c_str(), r.shape.c_str(), r.seconds, r.rounds, r.bytes_per_element, r.dealer_bytes_per_element,
                r.err.mean, r.err.p99, r.err.max, r.reference.c_str());
    rows.push_back(r);
  }
  std::fflush(stdout);
  group.clear();
}

xt::xarray<double> map(const xt::xarray<double>& x, double (*f)(double)) {
  xt::xarray<double> y(x.shape());
  for (std::size_t i = 0; i < x.size(); ++i) y.flat(i) = f(x.flat(i));
  return y;
}
double gelu_exact(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

xt::xarray<double> softmax_exact(const xt::xarray<double>& x) {
  xt::xarray<double> y = x;
  const std::size_t n = x.shape().back(), rows = x.size() / n;
  for (std::size_t r = 0; r < rows; ++r) {
    double m = -1e300, s = 0;
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, x.flat(r * n + j));
    for (std::size_t j = 0; j < n; ++j) s += std::exp(x.flat(r * n + j) - m);
    for (std::size_t j = 0; j < n; ++j) y.flat(r * n + j) = std::exp(x.flat(r * n + j) - m) / s;
  }
  return y;
}
xt::xarray<double> quad2_exact(const xt::xarray<double>& x) {
  xt::xarray<double> y = x;
  const std::size_t n = x.shape().back(), rows = x.size() / n;
  for (std::size_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::size_t j = 0; j < n; ++j) s += (x.flat(r * n + j) + 5) * (x.flat(r * n + j) + 5);
    for (std::size_t j = 0; j < n; ++j) y.flat(r * n + j) = (x.flat(r * n + j) + 5) * (x.flat(r * n + j) + 5) / s;
  }
  return y;
}
xt::xarray<double> layernorm_exact(const xt::xarray<double>& x) {
  xt::xarray<double> y = x;
  const std::size_t n = x.shape().back(), rows = x.size() / n;
  for (std::size_t r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (std::size_t j = 0; j < n; ++j) mu += x.flat(r * n + j);
    mu /= static_cast<double>(n);
    for (std::size_t j = 0; j < n; ++j) var += (x.flat(r * n + j) - mu) * (x.flat(r * n + j) - mu);
    var /= static_cast<double>(n);
    for (std::size_t j = 0; j < n; ++j) y.flat(r * n + j) = (x.flat(r * n + j) - mu) / std::sqrt(var + 1e-12);
  }
  return y;
}

/// Rows of a (rows x n) matrix with variances spread log-uniformly over [1e-3, 1e4].
xt::xarray<double> spread_rows(std::size_t rows, std::size_t n, sf::test::TestData& d) {
  xt::xarray<double> x = d.normal_array({rows, n}, 1.0);
  for (std::size_t r = 0; r < rows; ++r) {
    const double sd = std::sqrt(std::pow(10.0, -3.0 + 7.0 * static_cast<double>(r) / static_cast<double>(rows - 1)));
    const double shift = d.uniform(-1, 1);
    for (std::size_t j = 0; j < n; ++j) x(r, j) = shift + sd * x(r, j);
  }
  return x;
}

void write_json(const std::vector<Row>& rows, const std::string& path) {
  std::ofstream f(path);
  f << "[\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    f << "  {\"op\": \"" << r.op << "\", \"policy\": \"" << r.policy << "\", \"shape\": \"" << r.shape
      << "\", \"elements\": " << r.elements << ", \"online_seconds\": " << r.seconds << ", \"rounds\": " << r.rounds
      << ", \"online_bytes_per_element_per_party\": " << r.bytes_per_element
      << ", \"dealer_bytes_per_element\": " << r.dealer_bytes_per_element << ", \"error_reference\": \"" << r.reference
      << "\", \"error_mean\": " << r.err.mean << ", \"error_p99\": " << r.err.p99 << ", \"error_max\": " << r.err.max << "}"
      << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  f << "]\n";
}

std::string xml_escape(const std::string& t) {
  std::string o;
  for (char ch : t) o += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  return o;
}

/// Two horizontal bar charts (online seconds and bytes per element, log scale), one bar per row.
void write_svg(const std::vector<Row>& rows, const std::string& path) {
  const double bar_h = 14, gap = 4, left = 330, width = 360, top = 40;
  const double h = top + static_cast<double>(rows.size()) * (bar_h + gap) + 40;
  std::ofstream f(path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << left + 2 * width + 80 << "' height='" << h
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  auto chart = [&](double x0, const char* title, auto value, double lo, double hi) {
    f << "<text x='" << x0 << "' y='20' font-size='13' font-weight='bold'>" << title << "</text>\n";
    for (double t = lo; t <= hi * 1.0001; t *= 10) {
      const double px = x0 + width * (std::log10(t) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
      f << "<line x1='" << px << "' y1='" << top - 5 << "' x2='" << px << "' y2='" << h - 30 << "' stroke='#ddd'/>"
        << "<text x='" << px << "' y='" << h - 15 << "' text-anchor='middle'>" << t << "</text>\n";
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const double v = std::max(value(rows[i]), lo);
      const double w = width * (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
      const bool ours = rows[i].policy.find("SecFormer") != std::string::npos || rows[i].policy.find("Goldschmidt") != std::string::npos;
      f << "<rect x='" << x0 << "' y='" << top + static_cast<double>(i) * (bar_h + gap) << "' width='" << std::max(w, 1.0)
        << "' height='" << bar_h << "' fill='" << (ours ? "#d62728" : "#1f77b4") << "'/>\n";
    }
  };
  for (std::size_t i = 0; i < rows.size(); ++i)
    f << "<text x='" << left - 8 << "' y='" << top + static_cast<double>(i) * (bar_h + gap) + 11 << "' text-anchor='end'>"
      << xml_escape(rows[i].op + " " + rows[i].shape + " " + rows[i].policy) << "</text>\n";
  chart(left, "online seconds (log)", [](const Row& r) { return r.seconds; }, 1e-4, 1e2);
  chart(left + width + 60, "online bytes per element per party (log)", [](const Row& r) { return r.bytes_per_element; }, 1, 1e5);
  f << "</svg>\n";
}
}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") o.quick = true;
    else if (a == "--runs" && i + 1 < argc) o.runs = std::stoi(argv[++i]);
    else if (a == "--json" && i + 1 < argc) o.json = argv[++i];
    else if (a == "--svg" && i + 1 < argc) o.svg = argv[++i];
    else if (a == "--only" && i + 1 < argc) o.only = argv[++i];
    else {
      std::cerr << "usage: bench_protocols [--runs N] [--quick] [--only OP] [--json FILE] [--svg FILE]\n";
      return 2;
    }
  }
  if (o.quick) o.runs = 1;
  sf::keep_large_buffers();
  sf::test::TestData d(2024);
  std::vector<Row> rows;
  std::vector<Job> g;  // the rows of one operation and shape, measured together (run_group)
  auto gelu_ref = [](const xt::xarray<double>& v) { return map(v, gelu_exact); };

  // GeLU on N(0, 4) inputs, the paper's 100x100 and BERT-base's 128x3072.
  for (auto shape : {std::vector<std::size_t>{100, 100}, std::vector<std::size_t>{128, 3072}}) {
    const auto x = d.normal_array(shape, 2.0);
    add(g, o, "gelu", "SecFormerGelu", x, gelu_ref, "exact GeLU", [](auto s, auto& c) { return sf::gelu<sf::SecFormerGelu>(s, c); });
    add(g, o, "gelu", "SecFormerGelu(paper beta)", x, gelu_ref, "exact GeLU",
        [](auto s, auto& c) { return sf::gelu<sf::BasicSecFormerGelu<sf::PaperErf<1700>>>(s, c); });
    add(g, o, "gelu", "PumaGelu", x, gelu_ref, "exact GeLU", [](auto s, auto& c) { return sf::gelu<sf::PumaGelu>(s, c); });
    add(g, o, "gelu", "QuadGelu(MPCFormer)", x, [](const xt::xarray<double>& v) { return map(v, [](double t) { return sf::QuadGelu::approx(t); }); },
        "its own quadratic", [](auto s, auto& c) { return sf::gelu<sf::QuadGelu>(s, c); });
    add(g, o, "gelu", "CrypTenGelu", x, gelu_ref, "exact GeLU", [](auto s, auto& c) { return sf::gelu<sf::CrypTenGelu>(s, c); });
    run_group(o, g, rows);
  }

  // Softmax on attention-like scores: 12 heads x 128 x 128 and 128 x 128.
  for (auto shape : {std::vector<std::size_t>{12, 128, 128}, std::vector<std::size_t>{128, 128}}) {
    const auto x = d.normal_array(shape, 2.0);
    add(g, o, "softmax", "Quad2Softmax(SecFormer)", x, quad2_exact, "exact 2Quad", [](auto s, auto& c) { return sf::softmax<sf::Quad2Softmax>(s, c); });
    add(g, o, "softmax", "MPCFormerSoftmax", x, quad2_exact, "exact 2Quad", [](auto s, auto& c) { return sf::softmax<sf::MPCFormerSoftmax>(s, c); });
    add(g, o, "softmax", "CrypTenSoftmax", x, softmax_exact, "exact softmax", [](auto s, auto& c) { return sf::softmax<sf::CrypTenSoftmax>(s, c); });
    run_group(o, g, rows);
    if (o.quick) break;
  }

  // LayerNorm: the paper's 1280x768, and 128x768 with variances from 1e-3 to 1e4 (gamma 1, beta 0).
  {
    const auto x1 = d.normal_array({1280, 768}, 1.0);
    const auto x2 = spread_rows(128, 768, d);
    for (const auto* x : {&x1, &x2}) {
      auto ln = [&]<class Policy>(Policy, const char* name) {
        const std::size_t n = x->shape()[1];
        add(g, o, "layernorm", name, *x, layernorm_exact, "exact LayerNorm", [n](auto s, auto& c) {
          auto gamma = c.input(sf::party<0>, xt::xarray<double>(xt::ones<double>({n})));
          auto beta = c.input(sf::party<0>, xt::xarray<double>(xt::zeros<double>({n})));
          return sf::layernorm<Policy>(s, gamma, beta, c);
        });
      };
      ln(sf::SecFormerLayerNorm{}, "SecFormerLayerNorm");
      ln(sf::PumaLayerNorm{}, "PumaLayerNorm");
      ln(sf::CrypTenLayerNorm{}, "CrypTenLayerNorm");
      run_group(o, g, rows);
    }
  }

  // Division (reciprocal) and inverse square root on n x n for n = 100 .. 1000.
  const std::vector<std::size_t> sizes =
      o.quick ? std::vector<std::size_t>{100} : std::vector<std::size_t>{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000};
  for (std::size_t n : sizes) {
    const auto den = d.uniform_array({n, n}, 1.0, 100.0);
    auto recip = [](const xt::xarray<double>& v) { return xt::xarray<double>(1.0 / v); };
    auto rsq = [](const xt::xarray<double>& v) { return xt::xarray<double>(1.0 / xt::sqrt(v)); };
    add(g, o, "reciprocal", "GoldschmidtReciprocal", den, recip, "exact 1/x", [](auto s, auto& c) { return sf::reciprocal<sf::GoldschmidtReciprocal<>>(s, c); });
    add(g, o, "reciprocal", "NewtonReciprocal(CrypTen)", den, recip, "exact 1/x", [](auto s, auto& c) { return sf::reciprocal<sf::NewtonReciprocal<>>(s, c); });
    // Element-wise rsqrt on [0.1, 2.5], the range of the paper's Goldschmidt start (eta = 1, 7 steps).
    // The default bracket start (variances 2^-10 .. 2^14) is made for one value per row (LayerNorm):
    // its dealer table costs about 19 KB per value, so it is benchmarked inside LayerNorm above.
    const auto var = d.uniform_array({n, n}, 0.1, 2.5);
    add(g, o, "rsqrt", "GoldschmidtRsqrt<Eta>", var, rsq, "exact 1/sqrt(x)", [](auto s, auto& c) { return sf::rsqrt<sf::GoldschmidtRsqrt<sf::EtaStart<0>, 7>>(s, c); });
    add(g, o, "rsqrt", "NewtonRsqrt(PUMA)", var, rsq, "exact 1/sqrt(x)", [](auto s, auto& c) { return sf::rsqrt<sf::NewtonRsqrt<>>(s, c); });
    run_group(o, g, rows);
  }

  // Speedups in this run: the first row of each operation and shape (the SecFormer policy) over the rest.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0 && rows[i - 1].op == rows[i].op && rows[i - 1].shape == rows[i].shape) continue;
    for (std::size_t j = i + 1; j < rows.size() && rows[j].op == rows[i].op && rows[j].shape == rows[i].shape; ++j)
      std::printf("speedup %-10s %-12s %s over %s: %.2fx\n", rows[i].op.c_str(), rows[i].shape.c_str(), rows[i].policy.c_str(), rows[j].policy.c_str(),
                  rows[j].seconds / rows[i].seconds);
  }
  write_json(rows, o.json);
  write_svg(rows, o.svg);
  std::cout << "wrote " << o.json << " and " << o.svg << "\n";
}
