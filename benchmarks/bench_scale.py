"""`metablina report` on SYNTHETIC reviews (benchmarks/make_review.py) of 10, 50 and 200 studies.

    .venv/bin/python benchmarks/bench_scale.py                 # 3 alternating rounds, default workers
    .venv/bin/python benchmarks/bench_scale.py --jobs 1 --rounds 5 --refits

Each round runs ``metablina report`` cold (a fresh process, a fresh output folder) on each review, the
order reversed every other round; it prints each time, the medians, the ratio of the largest review's time
to the smallest's and the exponent b of time ~ studies^b. Target (issue 14): 200 studies in under 5 s on a
2-core machine. The 10-study review is there because the multiverse treats small strata more fully
(Bayesian specifications, each study left out), which once made it slower than the 50-study one.
``--refits`` adds, on the 200-study review, the leave-one-out and cumulative refits of every pooled
stratum fitted one subset at a time (``stacked=False``, as the report did) against one ragged batch per
series (as it does now), alternating, with the largest relative difference between the two.
No assertion on time: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_report import timed  # noqa: E402
from make_review import make_review  # noqa: E402


def refits(folder: Path, repeat: int) -> None:
    """Leave-one-out and cumulative refits of every pooled stratum: one at a time vs one batch per series."""
    from metablina.report import _first_study, cumulative, leave_one_out, run_plan

    run = run_plan(folder)
    strata = [(s, r.analysis) for r in run.results for s in r.strata if s.pooled and len(s.rows) >= 3]
    subsets = sum(len(s.rows) + len(s.rows) - 2 for s, _ in strata)

    def fit(stacked: bool) -> list:
        out = []
        for s, a in strata:
            first = _first_study(s, a.measure)
            out += [leave_one_out(s, stacked=stacked), cumulative(s, first, stacked=stacked)]
        return out

    one = batch = math.inf
    for _ in range(repeat):  # alternate, so that load on the machine affects both alike
        t0 = time.perf_counter()
        singles = fit(False)
        one = min(one, time.perf_counter() - t0)
        t0 = time.perf_counter()
        batched = fit(True)
        batch = min(batch, time.perf_counter() - t0)
    worst = 0.0
    for a, b in zip(singles, batched, strict=True):
        for x, y in zip(a.estimate + a.ci_low + a.ci_high, b.estimate + b.ci_low + b.ci_high, strict=True):
            if math.isfinite(x) and math.isfinite(y):
                worst = max(worst, abs(x - y) / max(abs(x), 1e-300))
    print(
        f"refits of {len(strata)} strata ({subsets} subsets): one at a time {one:6.2f} s, "
        f"one batch per series {batch:6.2f} s, ratio {one / batch:4.2f}x, max rel. diff {worst:.1e}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="figure workers (default: metablina's)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--refits", action="store_true", help="also time the refits of the largest review")
    ap.add_argument("--no-report", action="store_true", help="only the refits (with --refits)")
    a = ap.parse_args(argv)
    metablina = str(Path(sys.executable).with_name("metablina"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "metablina")], check=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folders = {n: make_review(tmp / f"review{n}", n) for n in a.sizes}
        times: dict[int, list[float]] = {n: [] for n in a.sizes}
        jobs = [] if a.jobs is None else ["--jobs", str(a.jobs)]
        for i in range(0 if a.no_report else a.rounds):
            order = a.sizes if i % 2 == 0 else a.sizes[::-1]
            for n in order:
                out = tmp / f"out{n}-{i}"
                times[n].append(
                    timed([metablina, "report", "--studies", str(folders[n]), "--out", str(out), *jobs])
                )
            print(f"round {i + 1}: " + "   ".join(f"{n} studies {times[n][-1]:6.2f} s" for n in a.sizes))
        med = {n: statistics.median(times[n]) for n in a.sizes if times[n]}
        if med:
            print("median: " + "   ".join(f"{n} studies {med[n]:6.2f} s" for n in a.sizes))
        lo, hi = min(a.sizes), max(a.sizes)
        if lo != hi and med:
            ratio = med[hi] / med[lo]
            print(f"ratio {hi}/{lo}: {ratio:4.2f}   exponent {math.log(ratio) / math.log(hi / lo):4.2f}")
        if a.refits:
            refits(folders[hi], max(1, a.rounds // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
