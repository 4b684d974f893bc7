"""The multiverse's cost, as ratios in alternating runs (run by hand; never a timed test).

    .venv/bin/python benchmarks/bench_multiverse.py                # all three parts, 3 rounds
    .venv/bin/python benchmarks/bench_multiverse.py --part stack --rounds 5

Parts:

* ``stack``: about 10,000 specifications of one SYNTHETIC k = 10 analysis of proportions (the plan's
  records, every study left out, every pair left out, the first 74 sets of seven; times PLO, PFT and PAS,
  the GLMM, the common-effect model and the 8 tau^2 estimators with the Wald, HKSJ and ad hoc HKSJ
  intervals: 77 ways) fitted by :func:`metablina.multiverse.fit` (ragged batches), against the same
  specifications pooled one at a time by :func:`metablina.analyze.pool`. The Bayesian binomial-normal
  specifications are timed apart (``bayes``): their exact posterior costs about 0.1 s per fit at k = 10,
  stacked or not, so 3 prior scales over 130 sets would take the whole budget alone.
* ``metafor``: the inverse-variance specifications of the same sets (each measure, estimator and
  interval: 3 x 25 per set) in one ``Rscript`` loop of ``metafor::rma`` (the R process started once, the
  data written once), against ``fit`` on the same specifications. R's start-up is included; the time R
  prints for its loop alone is shown too.
* ``report``: ``metablina report`` of the shipped review with its multiverse and without it (the same
  command with ``multiverse.enumerate_review`` giving every analysis an empty multiverse), fresh processes,
  alternating; the median difference is what the whole multiverse adds. On a shared machine the wall
  clock of a whole report moves by seconds, so ``cost`` also measures, in one process, the CPU time
  (``time.process_time``) of the two things the multiverse adds to a report: fitting every analysis's
  multiverse (as ``report.build_model`` does, with the plan's own fits reused) and drawing its spec
  curves.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
K = 10
N_SETS = 130


def synthetic() -> tuple[object, list[tuple], list]:
    """A SYNTHETIC k = 10 analysis: the shipped plan's hsct analysis on ten made-up proportion rows."""
    from metablina.run import load_everything

    _, rows, plan = load_everything(ROOT / "studies")
    analysis = next(a for a in plan.analyses if a.id == "hsct")
    base = next(r for r in rows if r.form == "proportion" and r.outcome == "hsct")
    rng = np.random.default_rng(20261206)
    studies = tuple(
        dataclasses.replace(
            base,
            study=f"synthetic-{i:02d}",
            record="r",
            label=f"SYNTHETIC {i}",
            events=int(rng.integers(3, 30)),
            total=int(rng.integers(40, 120)),
        )
        for i in range(K)
    )
    sets = [tuple(range(K))]
    sets += [c for r in (K - 1, K - 2, K - 3) for c in itertools.combinations(range(K), r)]
    return analysis, [tuple(studies[j] for j in s) for s in sets[:N_SETS]], list(studies)


def specs(analysis, sets, bayes: bool):
    from metablina import multiverse as M

    hows = [h for h in M.how_choices(analysis) if (h.prior is not None) == bayes]
    spec = tuple(
        M.Specification(f"set {i}", "synthetic", h, rows, i == 0 and j == 0)
        for i, rows in enumerate(sets)
        for j, h in enumerate(hows)
    )
    return M.StratumMultiverse(analysis, "", spec)


def one_by_one(mv) -> None:
    from metablina.analyze import pool
    from metablina.run import columns_of
    from metablina.stats.errors import InputError

    for s in mv.specs:
        ci = None if s.how.interval == "credible" else s.how.interval
        with contextlib.suppress(InputError):
            pool(
                s.how.measure,
                s.how.method,
                ci,
                columns_of(s.rows),
                [r.label for r in s.rows],
                tau_prior=s.how.prior,
                shrinkage=False,
            )


def clock(f, *args) -> float:
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


def part_stack(rounds: int) -> None:
    from metablina import multiverse as M

    analysis, sets, _ = synthetic()
    mv = specs(analysis, sets, bayes=False)
    M.fit([M.StratumMultiverse(analysis, "", mv.specs[:100])])  # warm-up: imports, first calls
    batch, single = [], []
    for _ in range(rounds):
        batch.append(clock(M.fit, [mv]))
        single.append(clock(one_by_one, mv))
    b, s = statistics.median(batch), statistics.median(single)
    print(f"stack: {len(mv.specs)} specifications of a k = {K} analysis ({len(sets)} sets x 77 ways)")
    print(f"  ragged batches  median {b:.2f} s  (min {min(batch):.2f})")
    print(f"  one at a time   median {s:.2f} s  (min {min(single):.2f})")
    print(f"  one at a time / batches = {s / b:.1f}x")
    few = sets[:11]  # the plan and each study left out: what the tool enumerates for k = 10
    bayes = specs(analysis, few, bayes=True)
    t = clock(M.fit, [bayes])
    print(f"bayes: {len(bayes.specs)} Bayesian binomial-normal specifications (11 sets x 3 prior scales)")
    print(f"  {t:.2f} s, {t / len(bayes.specs) * 1000:.0f} ms per fit")


R_LOOP = r"""
suppressMessages(library(metafor))
d <- read.csv(commandArgs(TRUE)[1])
t0 <- proc.time()[["elapsed"]]
out <- 0
for (s in unique(d$set)) {
  x <- d[d$set == s, ]
  for (m in c("PLO", "PFT", "PAS")) {
    es <- escalc(m, xi = x$xi, ni = x$ni)
    for (method in c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM", "EB")) {
      tests <- if (method == "EE") "z" else c("z", "knha", "adhoc")
      for (tst in tests) {
        fit <- rma(yi, vi, data = es, method = method, test = tst)
        out <- out + 1
      }
    }
  }
}
cat(sprintf("R loop %.3f s for %d fits\n", proc.time()[["elapsed"]] - t0, out))
"""


def part_metafor(rounds: int) -> None:
    from metablina import multiverse as M

    if shutil.which("Rscript") is None:
        print("metafor: Rscript not found; skipped")
        return
    analysis, sets, _ = synthetic()
    mv = specs(analysis, sets, bayes=False)
    iv = M.StratumMultiverse(analysis, "", tuple(s for s in mv.specs if s.how.method != "GLMM"))
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "sets.csv", Path(tmp) / "loop.R"
        lines = ["set,xi,ni"] + [f"{i},{r.events},{r.total}" for i, rows in enumerate(sets) for r in rows]
        data.write_text("\n".join(lines) + "\n")
        script.write_text(R_LOOP)
        M.fit([M.StratumMultiverse(analysis, "", iv.specs[:100])])
        ours, theirs, inner = [], [], []
        for _ in range(rounds):
            ours.append(clock(M.fit, [iv]))
            t = time.perf_counter()
            done = subprocess.run(["Rscript", str(script), str(data)], capture_output=True, text=True)
            theirs.append(time.perf_counter() - t)
            if done.returncode != 0:
                sys.exit(done.stderr)
            inner.append(float(done.stdout.split()[2]))
    o, r = statistics.median(ours), statistics.median(theirs)
    print(f"metafor: {len(iv.specs)} inverse-variance specifications ({len(sets)} sets x 75 ways)")
    print(f"  metablina batches          median {o:.2f} s")
    print(f"  Rscript metafor loop       median {r:.2f} s (its loop alone {statistics.median(inner):.2f} s)")
    print(f"  metafor / metablina = {r / o:.1f}x (loop alone {statistics.median(inner) / o:.1f}x)")


def part_report(rounds: int) -> None:
    python = sys.executable
    subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "metablina")], check=True)
    base = (
        "import sys; from metablina.cli import main; sys.argv = ['metablina', 'report', '--out', sys.argv[1]]"
    )
    # without: every analysis's multiverse empty (no specification fitted, no curve drawn); the assert
    # keeps the patch from missing a renamed function, which would time the multiverse on both sides
    off = (
        "import metablina.multiverse as m; assert callable(m.enumerate_review); "
        "m.enumerate_review = lambda rows, analyses: {a.id: [] for a in analyses}; " + base
    )
    with_mv, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            for name, code, into in (("with", base, with_mv), ("without", off, without)):
                out = Path(tmp) / f"{name}-{i}"
                t = time.perf_counter()
                done = subprocess.run(
                    [python, "-c", code + "; main()", str(out)], cwd=ROOT, capture_output=True, text=True
                )
                into.append(time.perf_counter() - t)
                if done.returncode != 0:
                    sys.exit(done.stderr)
            print(f"  round {i + 1}: with {with_mv[-1]:.2f} s, without {without[-1]:.2f} s")
    w, wo = statistics.median(with_mv), statistics.median(without)
    diffs = [a - b for a, b in zip(with_mv, without, strict=True)]
    print(f"report: with the multiverse median {w:.2f} s, without {wo:.2f} s, ratio {w / wo:.2f}")
    print(f"  added by the whole multiverse: median {statistics.median(diffs):.2f} s per report")


def part_cost(rounds: int) -> None:
    import tempfile

    from metablina import multiverse as M
    from metablina.render.draw import draw_figure
    from metablina.report import run_plan

    run = run_plan(ROOT / "studies")
    fits, draws = [], []
    for _ in range(rounds + 1):
        t = time.process_time()
        mvs = M.review_multiverse(run.rows, run.plan.analyses, M.known_fits(run.results))
        fits.append(time.process_time() - t)
        jobs = [
            j for r in run.results for j in M.figure_jobs(r.analysis, mvs[r.analysis.id], len(r.strata) > 1)
        ]
        with tempfile.TemporaryDirectory() as tmp:
            t = time.process_time()
            for job in jobs:
                draw_figure(job, Path(tmp))
            draws.append(time.process_time() - t)
    fits, draws = fits[1:], draws[1:]  # the first round pays the imports
    n = sum(len(m.fits) for v in mvs.values() for m in v)
    print(f"cost: the shipped review's multiverse, {n} specifications in {len(jobs)} pooled strata")
    print(f"  fitting (CPU)          median {statistics.median(fits):.3f} s")
    print(f"  drawing {len(jobs)} curves (CPU)  median {statistics.median(draws):.3f} s")
    print(
        f"  together               median {statistics.median(fits) + statistics.median(draws):.3f} s of CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("stack", "metafor", "report", "cost", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parts = (("stack", part_stack), ("metafor", part_metafor), ("report", part_report), ("cost", part_cost))
    for name, part in parts:
        if args.part in (name, "all"):
            part(args.rounds)


if __name__ == "__main__":
    main()
