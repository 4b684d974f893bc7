"""Timing of the Bayesian models: one normal–normal fit (k = 4), one binomial–normal fit (k = 5), and a
stack of normal–normal fits. Median wall time over many repeats, in ms.

Run: ``.venv/bin/python benchmarks/bench_bayes.py``
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from metablina.stats.bayes import bayes_bn, bayes_nn


def _median_ms(fn, repeats: int) -> str:
    """Median wall time and median CPU time (the CPU figure is stable on a busy machine)."""
    fn()  # warm-up (imports, cached quadrature rules)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return f"{1000 * statistics.median(wall):9.2f} ms wall, {1000 * statistics.median(cpu):9.2f} ms CPU"


def main() -> None:
    # METHODS §2.5: four log hazard ratios, HN(0.5) on tau, flat mu
    lnhr = [-0.967584, -0.597837, -0.342490, -0.798508]
    se = [0.276369, 0.309680, 0.232616, 0.413117]
    nn = _median_ms(lambda: bayes_nn(lnhr, sei=se, tau_prior="halfnormal:0.5", threshold=0.0), 200)
    print(f"bayes_nn, k = 4:                  {nn} (median of 200)")

    # single proportions near 0: two 0/n studies (exact binomial likelihood, HN(1) on tau)
    x, n = [0, 9, 0, 3, 5], [54, 202, 11, 40, 60]
    bn = _median_ms(lambda: bayes_bn(x, n, tau_prior="halfnormal:1", threshold=-3.0), 30)
    print(f"bayes_bn, k = 5:                  {bn} (median of 30)")

    rng = np.random.default_rng(1)
    y = rng.normal(-0.5, 0.3, (10_000, 5))
    s = rng.uniform(0.1, 0.5, (10_000, 5))
    stack = _median_ms(lambda: bayes_nn(y, sei=s, tau_prior="halfnormal:0.5"), 3)
    print(f"bayes_nn, 10,000 analyses, k = 5: {stack} (median of 3)")


if __name__ == "__main__":
    main()
