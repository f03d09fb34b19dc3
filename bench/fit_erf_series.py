#!/usr/bin/python3
"""Fit the 7-term odd sine series of erf (period 20, docs/protocols.md#gelu-pi_gelu) to a segment threshold T.

SecFormer's coefficients (beta in docs/protocols.md#gelu-pi_gelu) are a series of erf over a whole period; inside the
middle segment |u| < T only the series on [-T, T] matters, and a series fitted there is far more
accurate at the same cost (the protocol evaluates any 7 coefficients the same way). For each T this
solves a ridge-regularised least-squares fit of u -> erf(u), weighted by |u| + 0.05 (the GeLU error
is 0.5 x times the erf error), picks the ridge weight that minimises the whole GeLU's max error
against exact GeLU on [-8, 8] among fits with sum |beta| <= 2.3 (SecFormer's series: 2.10; the sum
bounds how much the fixed-point rounding of the sines is amplified), and prints the C++ constants of
include/secformer/protocols/gelu.hpp (FittedErf) with their measured errors.

Usage: /usr/bin/python3 bench/fit_erf_series.py [T ...]     (default: 1.7 2.0 2.3 2.5)
Needs numpy (Debian python3-numpy).
"""
import math
import sys

import numpy as np

PERIOD, TERMS, MAX_SUM = 20.0, 7, 2.3
erf = np.vectorize(math.erf)


def series(u, beta):
    return sum(b * np.sin((j + 1) * 2 * np.pi * u / PERIOD) for j, b in enumerate(beta))


def gelu(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def approx(x, beta, t):
    u = x / math.sqrt(2)
    e = np.where(u < -t, -1.0, np.where(u < t, series(u, beta), 1.0))
    return 0.5 * x * (1 + e)


def fit(t, lam):
    u = np.linspace(-t, t, 40001)
    w = np.abs(u) + 0.05
    a = np.stack([np.sin((j + 1) * 2 * np.pi * u / PERIOD) for j in range(TERMS)], 1) * w[:, None]
    y = erf(u) * w
    return np.linalg.solve(a.T @ a / len(u) + lam * np.eye(TERMS), a.T @ y / len(u))


def main():
    ts = [float(v) for v in sys.argv[1:]] or [1.7, 2.0, 2.3, 2.5]
    xs = np.linspace(-8, 8, 320001)
    exact = gelu(xs)
    normal = np.random.default_rng(20261124).normal(0, 2, 400000)  # N(0, 4)
    exact_n = gelu(normal)
    for t in ts:
        best = None
        for lam in 10.0 ** np.arange(-8, -2.9, 0.25):
            beta = np.round(fit(t, lam), 6)
            if np.abs(beta).sum() > MAX_SUM:
                continue
            err = np.abs(approx(xs, beta, t) - exact).max()
            if best is None or err < best[0] - 1e-6:
                best = (err, lam, beta)
        err, lam, beta = best
        en = np.abs(approx(normal, beta, t) - exact_n)
        x0 = t * math.sqrt(2)
        jump = abs(0.5 * x0 * (1 + series(t, beta)) - x0)
        print(f"// T = {t}: ridge {lam:.2g}, sum |beta| {np.abs(beta).sum():.3f}; GeLU max error {err:.5f} on [-8, 8], "
              f"p99 {np.percentile(en, 99):.5f} and mean {en.mean():.6f} on N(0, 4); jump at +-T sqrt 2: {jump:.5f}")
        print("{" + ", ".join(f"{b:.6f}" for b in beta) + "}")


if __name__ == "__main__":
    main()
