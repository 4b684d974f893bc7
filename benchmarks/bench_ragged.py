"""Benchmark: leave-one-out and cumulative refits of one analysis of K studies, fitted one at a time (as the
report's ``_refit`` does) against one ragged batch (metablina.stats.batch), for the GLMM of proportions
(masked batch) and REML with the Knapp-Hartung interval (grouped batch).

The refits of one analysis are its K leave-one-out subsets (k = K − 1) and its cumulative subsets
k = 2, …, K. Data are random (fixed seed). The two ways alternate, and each is timed best of ``--repeat``;
the script prints both times and their ratio, and the largest relative difference between the two
estimates (they must agree: 1e-10 for REML, the GLMM's tolerance ~1e-8). No assertion on time.

Run: .venv/bin/python benchmarks/bench_ragged.py [--k 10 50 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from metablina.stats import batch, glmm
from metablina.stats.rma import rma


def data(k: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Events and totals with logit p ~ N(logit 0.15, 0.5²)."""
    rng = np.random.default_rng(seed)
    ni = rng.integers(15, 250, k)
    logit = np.log(0.15 / 0.85) + rng.normal(0.0, 0.5, k)
    return rng.binomial(ni, 1.0 / (1.0 + np.exp(-logit))), ni


def subsets(k: int) -> list[np.ndarray]:
    return batch.leave_one_out_subsets(k) + batch.cumulative_subsets(range(k))[1:]


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare(name: str, one_by_one, batched, repeat: int) -> None:
    t_one = t_batch = np.inf
    for _ in range(repeat):  # alternate, so that load on the machine affects both alike
        t, singles = timed(one_by_one, 1)
        t_one = min(t_one, t)
        t, b = timed(batched, 1)
        t_batch = min(t_batch, t)
    est = np.array([s.estimate for s in singles])
    diff = np.nanmax(np.abs(b.estimate - est) / np.maximum(np.abs(est), 1e-12))
    print(
        f"  {name:34s} one at a time {t_one:7.3f} s   batch {t_batch:7.3f} s   "
        f"ratio {t_one / t_batch:5.1f}x   max rel. diff {diff:.1e}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    glmm.glmm_proportion([3, 5, 4], [20, 20, 20])  # warm-up (imports, caches)
    for k in a.k:
        xi, ni = data(k)
        subs = subsets(k)
        xs, ns = [xi[s] for s in subs], [ni[s] for s in subs]
        yi = np.log((xi + 0.5) / (ni - xi + 0.5))
        vi = 1 / (xi + 0.5) + 1 / (ni - xi + 0.5)
        ys, vs = [yi[s] for s in subs], [vi[s] for s in subs]
        print(f"K = {k}: {len(subs)} refits (leave-one-out k = {k - 1}, cumulative k = 2..{k})")
        compare(
            "GLMM (PLO, t interval), masked",
            lambda xs=xs, ns=ns: [glmm.glmm_proportion(x, n, test="t") for x, n in zip(xs, ns, strict=True)],
            lambda xs=xs, ns=ns: batch.glmm_proportion(xs, ns, test="t"),
            a.repeat,
        )
        compare(
            "REML + Knapp-Hartung, grouped",
            lambda ys=ys, vs=vs: [rma(y, v, method="REML", test="knha") for y, v in zip(ys, vs, strict=True)],
            lambda ys=ys, vs=vs: batch.rma(ys, vs, method="REML", test="knha"),
            a.repeat,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
