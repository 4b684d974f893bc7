"""Wall time of `metablina pool --format json` on dat.bcg against Rscript running metafor's rma() on it.

Both are started as fresh processes, alternately, several times; the medians and their ratio are
printed. The issue's target: metablina at most half of Rscript's time. Run: python benchmarks/bench_pool.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "bcg.csv"
R_CODE = (
    "suppressMessages(library(metafor)); d <- read.csv('{table}'); "
    "es <- escalc('RR', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=d); "
    "r <- rma(yi, vi, data=es, method='REML'); cat(r$beta, r$se, r$tau2, '\\n')"
)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(repeats: int = 7) -> None:
    exe = Path(sys.executable).parent / "metablina"
    ours = [
        str(exe),
        "pool",
        "--table",
        str(TABLE),
        "--measure",
        "RR",
        "--method",
        "REML",
        "--ci",
        "z",
        "--format",
        "json",
    ]
    rscript = shutil.which("Rscript")
    theirs = [rscript, "-e", R_CODE.format(table=TABLE)] if rscript else None
    timed(ours)  # warm the file cache for both before measuring
    if theirs:
        timed(theirs)
    t_ours, t_r = [], []
    for _ in range(repeats):
        t_ours.append(timed(ours))
        if theirs:
            t_r.append(timed(theirs))
    m_ours = statistics.median(t_ours)
    print(f"metablina pool --format json: median {m_ours:.3f} s over {repeats} runs")
    if not theirs:
        print("Rscript not found: metafor side not measured")
        return
    m_r = statistics.median(t_r)
    print(f"Rscript + metafor rma():      median {m_r:.3f} s over {repeats} runs")
    print(f"ratio metablina / R = {m_ours / m_r:.2f} (target <= 0.50)")


if __name__ == "__main__":
    main()
