"""Benchmark: 10,000 REML random-effects fits of k = 10 studies, metablina's stacked rma vs metafor's rma().

The same random data (fixed seed) go to both: ours as one (m, k) stack, metafor as a loop of rma() calls
(benchmarks/bench_stack.R, via Rscript; only the loop is timed, not R's start-up or the CSV reading).
Ours also computes what metafor's rma() does not (Q-profile CI of τ², I², H², prediction intervals), so the
comparison is conservative. Target: ours ≥ 100× faster. Without Rscript, only ours is timed.

Run: .venv/bin/python benchmarks/bench_stack.py [--m 10000] [--k 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from metablina.stats.rma import rma


def simulate(m: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Effects with τ² drawn per analysis from {0, 0.05, 0.3} and sampling variances U(0.01, 0.3)."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.3, (m, k))
    tau2 = rng.choice([0.0, 0.05, 0.3], (m, 1))
    yi = rng.normal(0.2, np.sqrt(vi + tau2))
    return yi, vi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=10_000, help="number of analyses")
    ap.add_argument("--k", type=int, default=10, help="studies per analysis")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    yi, vi = simulate(a.m, a.k, a.seed)

    rma(yi[:10], vi[:10])  # warm-up (imports, first-call overheads)
    t0 = time.perf_counter()
    res = rma(yi, vi, method="REML")
    ours = time.perf_counter() - t0
    print(f"metablina stacked rma (REML, m = {a.m}, k = {a.k}): {ours:.3f} s")

    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: metafor not timed")
        return 0
    script = Path(__file__).with_name("bench_stack.R")
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data.csv", Path(tmp) / "out.csv"
        header = [f"y{j + 1}" for j in range(a.k)] + [f"v{j + 1}" for j in range(a.k)]
        np.savetxt(data, np.hstack([yi, vi]), delimiter=",", header=",".join(header), comments="",
                   fmt="%.17g")
        proc = subprocess.run([rscript, str(script), str(data), str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            print("Rscript failed:", proc.stderr.strip(), file=sys.stderr)
            return 1
        theirs = float(proc.stdout.split("elapsed")[-1])
        with out.open() as fh:
            rows = list(csv.DictReader(fh))
    t2 = np.array([float(r["tau2"]) if r["tau2"] != "NA" else np.nan for r in rows])
    b = np.array([float(r["b"]) if r["b"] != "NA" else np.nan for r in rows])
    ok = ~np.isnan(t2)
    print(f"metafor rma() loop (REML, {a.m} fits):            {theirs:.3f} s")
    print(f"speed-up: {theirs / ours:.0f}x (target >= 100x)")
    print(
        f"agreement on {ok.sum()} fits metafor completed: max |dtau2| = "
        f"{np.nanmax(np.abs(res.tau2[ok] - t2[ok])):.2e}, max |d estimate| = "
        f"{np.nanmax(np.abs(res.estimate[ok] - b[ok])):.2e}; "
        f"metafor failed on {(~ok).sum()}, ours NaN on {np.isnan(res.tau2).sum()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
