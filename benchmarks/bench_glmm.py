"""Benchmark: metablina's stacked binomial-normal GLMM against metafor's rma.glmm in a loop.

m analyses of k = 5 proportions (random, fixed seed) are fitted at once by
``metablina.stats.glmm.glmm_proportion`` and one by one by ``metafor::rma.glmm(measure="PLO")`` (nAGQ = 7)
inside a single Rscript call (package loading excluded from R's time). Prints the time per fit of each, the
ratio, and the largest difference in the estimates as a sanity check.

    .venv/bin/python benchmarks/bench_glmm.py [m]      # default m = 200
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from metablina.stats.glmm import glmm_proportion

R_SCRIPT = r"""
suppressMessages(library(metafor))
d <- read.csv(commandArgs(TRUE)[1])
k <- ncol(d) / 2
x <- as.matrix(d[, 1:k]); n <- as.matrix(d[, (k + 1):(2 * k)])
est <- tau2 <- rep(NA_real_, nrow(x))
invisible(rma.glmm(measure = "PLO", xi = x[1, ], ni = n[1, ]))  # warm-up
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(nrow(x))) {
  r <- tryCatch(suppressWarnings(rma.glmm(measure = "PLO", xi = x[i, ], ni = n[i, ])),
                error = function(e) NULL)
  if (!is.null(r)) { est[i] <- r$beta[1]; tau2[i] <- r$tau2 }
}
cat(proc.time()[["elapsed"]] - t0, "\n")
write.csv(data.frame(est = est, tau2 = tau2), commandArgs(TRUE)[2], row.names = FALSE)
"""


def make_data(m: int, k: int = 5, seed: int = 20240601) -> tuple[np.ndarray, np.ndarray]:
    """Proportions from a binomial-normal model; analyses the GLMM cannot fit (all 0/n or n/n) are redrawn."""
    rng = np.random.default_rng(seed)
    x = np.zeros((m, k), int)
    n = np.ones((m, k), int)
    todo = np.arange(m)
    while todo.size:
        nn = rng.integers(10, 300, size=(todo.size, k))
        mu = rng.uniform(-4.0, 1.0, size=(todo.size, 1))
        tau = rng.uniform(0.0, 1.5, size=(todo.size, 1))
        p = 1.0 / (1.0 + np.exp(-(mu + tau * rng.standard_normal((todo.size, k)))))
        x[todo], n[todo] = rng.binomial(nn, p), nn
        todo = todo[~((x[todo] > 0) & (x[todo] < n[todo])).any(-1)]
    return x, n


def main(m: int = 200) -> None:
    x, n = make_data(m)
    glmm_proportion(x[:2], n[:2])  # warm-up (imports, caches)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = glmm_proportion(x, n)
        times.append(time.perf_counter() - t0)
    ours = min(times) / m
    print(f"metablina glmm_proportion: {m} analyses of k = {x.shape[1]} in {min(times):.3f} s "
          f"= {ours * 1e3:.3f} ms per fit (best of 3)")
    if shutil.which("Rscript") is None:
        print("Rscript not found: metafor's rma.glmm was not timed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data, out, script = Path(tmp, "data.csv"), Path(tmp, "out.csv"), Path(tmp, "bench.R")
        header = ",".join([f"x{i}" for i in range(x.shape[1])] + [f"n{i}" for i in range(x.shape[1])])
        np.savetxt(data, np.hstack([x, n]), fmt="%d", delimiter=",", header=header, comments="")
        script.write_text(R_SCRIPT)
        proc = subprocess.run(["Rscript", str(script), str(data), str(out)], capture_output=True, text=True,
                              check=True)
        r_total = float(proc.stdout.split()[0])
        r_est = np.genfromtxt(out, delimiter=",", skip_header=1)
    theirs = r_total / m
    print(f"metafor rma.glmm (loop):   {m} analyses in {r_total:.3f} s = {theirs * 1e3:.3f} ms per fit")
    print(f"speed-up: {theirs / ours:.0f}x per fit")
    ok = np.isfinite(r_est[:, 0]) & res.converged
    d_est = np.abs(res.estimate[ok] - r_est[ok, 0]) / np.maximum(1.0, np.abs(r_est[ok, 0]))
    d_tau2 = np.abs(res.tau2[ok] - r_est[ok, 1]) / np.maximum(1.0, r_est[ok, 1])
    print(f"agreement over {int(ok.sum())} fits both converged (lme4 default tolerances): "
          f"max |d estimate|/max(1, |estimate|) = {d_est.max():.1e}, "
          f"max |d tau2|/max(1, tau2) = {d_tau2.max():.1e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
