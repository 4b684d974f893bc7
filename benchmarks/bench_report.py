"""`metablina report` against the R yardstick, both cold, side by side (run by hand).

    .venv/bin/python benchmarks/bench_report.py            # 5 alternating rounds
    .venv/bin/python benchmarks/bench_report.py --rounds 9 --phases
    .venv/bin/python benchmarks/bench_report.py --jobs 1     # metablina on one core, as R runs
    .venv/bin/python benchmarks/bench_report.py --jobs 1 --r-rounds 9   # R drawing as many figures

Each round starts a fresh process for each side (so every import and every font cache is paid) and
writes into a fresh folder; the package is byte-compiled once first, as a wheel install does:

* R: ``Rscript benchmarks/bench_report.R`` pools three outcomes (complete remission, CRS grade >= 3,
  HSCT) with metafor's ``rma.glmm`` and draws three forest plots, each as PNG, PDF and SVG;
* metablina: ``metablina report`` runs the whole plan (20 analyses) and its multiverse, draws 27 figures
  (20 forest plots as PNG, SVG and PDF, the cumulative plots and the specification curves), and writes
  the tables, report.html, sof.docx and the R scripts.

``--r-rounds 9`` has R repeat its three fits and plots nine times: 27 forest plots in three formats, as
many figures as the report draws (like for like in figures, though R still pools only 3 analyses).

Wall-clock times are printed per round, then the median and the minimum of each side and their ratio
(metablina / R; below 1 means metablina is faster). The counts R pools are written from the extracts.
``--phases`` adds one in-process run of metablina split into its phases (one worker, so the figure
times add up).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
R_ANALYSES = ("complete-remission", "crs-grade3", "hsct")


def write_counts(path: Path) -> None:
    from metablina.run import run_review

    run = run_review(ROOT / "studies")
    lines = ["analysis,study,xi,ni"]
    for result in run.results:
        if result.analysis.id in R_ANALYSES:  # every stratum's rows: the plan now keeps settings apart
            for r in (r for s in result.strata for r in s.rows):
                lines.append(f"{result.analysis.id},{r.study},{r.events},{r.total}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")
    return elapsed


def phases(tmp: Path) -> None:
    """One in-process run split into phases, figures drawn here one after another."""
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        print(f"  {name:<40} {now - t:6.2f} s")
        t = now

    import metablina.report as report

    lap("import metablina.report")
    run = report.run_plan(ROOT / "studies")
    lap("load, normalise, run the plan")
    jobs: list = []
    model = report.build_model(ROOT / "studies", tmp / "p", run, on_figure=jobs.append)
    lap("forest data, leave-one-out and cumulative fits")
    from metablina.render.draw import draw_figure

    (tmp / "p" / "figures").mkdir(parents=True)
    (tmp / "p" / "tables").mkdir()
    by_kind: dict[str, float] = {}
    for job in jobs:
        t0 = time.perf_counter()
        draw_figure(job, tmp / "p" / "figures")
        by_kind[job.kind] = by_kind.get(job.kind, 0.0) + time.perf_counter() - t0
    lap(f"{len(jobs)} figures, one process")
    for kind, secs in by_kind.items():
        print(f"    {kind:<38} {secs:6.2f} s")
    from metablina.render.report import render_html
    from metablina.render.report_tables import write_tables

    write_tables(model, tmp / "p" / "tables")
    lap("tables")
    render_html(model, tmp / "p" / "figures")
    lap("report.html")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--phases", action="store_true", help="also time metablina's phases in-process")
    parser.add_argument(
        "--jobs", type=int, default=None, help="metablina's figure workers (default: its own); 1 = one core"
    )
    parser.add_argument(
        "--r-rounds",
        type=int,
        default=1,
        help="R repeats its 3 fits and forest plots this often (9: 27 figures, as many as the report draws)",
    )
    args = parser.parse_args()
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: the R side cannot run")
    metablina = str(Path(sys.executable).with_name("metablina"))
    # Byte-compile the package first, as installing it from a wheel does (and as R byte-compiles a
    # package when it installs it): an editable install under PYTHONDONTWRITEBYTECODE would otherwise
    # compile every module again on every run (about 0.1 s), which no installed copy does.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "metablina")], check=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_counts(tmp / "counts.csv")
        r_times, m_times = [], []
        for i in range(args.rounds):
            r_out, m_out = tmp / f"r{i}", tmp / f"m{i}" / "outputs"
            r_cmd = [
                "Rscript",
                str(ROOT / "benchmarks" / "bench_report.R"),
                str(tmp / "counts.csv"),
                str(r_out),
                str(args.r_rounds),
            ]
            m_cmd = [metablina, "report", "--studies", "studies", "--out", str(m_out)]
            m_cmd += [] if args.jobs is None else ["--jobs", str(args.jobs)]
            first, second = (r_cmd, m_cmd) if i % 2 == 0 else (m_cmd, r_cmd)
            a, b = timed(first), timed(second)
            r, m = (a, b) if i % 2 == 0 else (b, a)
            r_times.append(r)
            m_times.append(m)
            print(f"round {i + 1}: R {r:5.2f} s   metablina {m:5.2f} s")
        r_med, m_med = statistics.median(r_times), statistics.median(m_times)
        print(f"median: R {r_med:5.2f} s   metablina {m_med:5.2f} s   ratio {m_med / r_med:4.2f}")
        r_min, m_min = min(r_times), min(m_times)
        print(f"min:    R {r_min:5.2f} s   metablina {m_min:5.2f} s   ratio {m_min / r_min:4.2f}")
        if args.phases:
            print("metablina phases (in-process, one worker):")
            phases(tmp)


if __name__ == "__main__":
    main()
