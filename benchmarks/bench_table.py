"""Benchmark: ``metablina pool --table`` on a table of k = 100,000 studies, stage by stage.

Writes a CSV of k generic effects (study, yi, vi; fixed seed) and times, in this process and repeated,
the stages the command runs: reading the table (metablina.tableio.read_table), the REML fit
(metablina.analyze.pool), ``PoolResult.to_dict`` and the JSON text (metablina.render.text.pool_json); then
the whole command (``python -m metablina pool --table ... --format json``) in a fresh process, start-up
included, alternating with ``--format table`` so that load on the machine affects both alike. Prints the
best time of each and each stage's share; no assertion (timings are not tests). Target: the whole
command under 0.5 s.

Run: .venv/bin/python benchmarks/bench_table.py [--k 100000] [--repeat 5] [--measure GEN|PLO]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_table(path: Path, k: int, measure: str, seed: int = 1) -> None:
    """Generic effects (yi, vi) with τ² = 0.05, or proportions (xi, ni) around 20 %."""
    rng = np.random.default_rng(seed)
    labels = [f"s{i}" for i in range(k)]
    if measure == "PLO":
        ni = rng.integers(20, 400, k)
        xi = rng.binomial(ni, 0.2)
        lines = ["study,xi,ni"] + [f"{s},{x},{n}" for s, x, n in zip(labels, xi, ni, strict=True)]
    else:
        vi = rng.uniform(0.01, 0.3, k)
        yi = rng.normal(0.2, np.sqrt(vi + 0.05))
        rows = zip(labels, yi.tolist(), vi.tolist(), strict=True)
        lines = ["study,yi,vi"] + [f"{s},{y!r},{v!r}" for s, y, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _tiny(measure: str) -> tuple[dict[str, np.ndarray], list[str]]:
    if measure == "PLO":
        return {"xi": np.array([3.0, 5.0, 4.0]), "ni": np.full(3, 20.0)}, ["a", "b", "c"]
    return {"yi": np.array([0.1, 0.3, 0.2]), "vi": np.full(3, 0.1)}, ["a", "b", "c"]


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--measure", choices=["GEN", "PLO"], default="GEN")
    a = ap.parse_args(argv)

    from metablina.analyze import pool
    from metablina.render.text import pool_json
    from metablina.tableio import check_counts, read_table

    method = "REML"
    pool(a.measure, method, None, *_tiny(a.measure))  # warm-up: imports and first-call costs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        write_table(path, a.k, a.measure)
        t_read, table = best(lambda: read_table(path, a.measure), a.repeat)
        check_counts(table)
        t_fit, result = best(lambda: pool(a.measure, method, None, table.columns, table.labels), a.repeat)
        t_dict, _ = best(result.to_dict, a.repeat)
        t_json, text = best(lambda: pool_json(result), a.repeat)
        stages = {
            "read table": t_read,
            "fit": t_fit,
            "to_dict": t_dict,
            "JSON text (to_dict included)": t_json,
        }
        total = t_read + t_fit + t_json
        print(f"pool --table, k = {a.k:,} ({a.measure}, {method}); best of {a.repeat}, in this process:")
        for name, t in stages.items():
            print(f"  {name:30s} {t:7.3f} s  ({100 * t / total:4.1f} % of read + fit + JSON)")
        print(f"  JSON output: {len(text) / 1e6:.1f} MB")

        cmd = [sys.executable, "-m", "metablina", "pool", "--table", str(path), "--measure", a.measure]
        runs: dict[str, list[float]] = {"json": [], "table": []}
        for _ in range(a.repeat):
            for fmt in runs:
                t0 = time.perf_counter()
                proc = subprocess.run([*cmd, "--format", fmt], capture_output=True, text=True)
                runs[fmt].append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
        print("whole command in a fresh process (start-up included), best of alternating runs:")
        for fmt, ts in runs.items():
            print(f"  --format {fmt:5s} {min(ts):7.3f} s  (target 0.5 s: {min(ts) / 0.5:.2f}x of it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
