"""Time to lay out, draw and save forest plots of 3, 30 and 300 rows (run by hand).

    .venv/bin/python benchmarks/bench_figures.py

"layout" builds the figure (text measured with the Skia layout the files are drawn with), "screen" is one
draw by matplotlib's Agg at the figure's own dpi (what a notebook shows), "save" draws the figure once into a
Skia picture and writes it as PNG (300 dpi), SVG and PDF into a temporary folder.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np

from metablina.render.figures import save_figure
from metablina.render.forest import ForestData, Group, Pooled, StudyRow, draw_forest


def _data(k: int) -> ForestData:
    rng = np.random.default_rng(k)
    y, se = rng.normal(-0.3, 0.4, k), rng.uniform(0.1, 0.8, k)
    w = 100 / se**2 / np.sum(1 / se**2)
    rows = [
        StudyRow(
            f"Study {i + 1} ({2000 + i % 25})",
            str(rng.integers(10, 400)),
            math.exp(y[i]),
            math.exp(y[i] - 1.96 * se[i]),
            math.exp(y[i] + 1.96 * se[i]),
            weight=float(w[i]),
        )
        for i in range(k)
    ]
    groups = [
        Group(f"Subgroup {j + 1}", rows[j::3], [Pooled("Subtotal", 0.8, 0.6, 1.1)]) for j in range(min(3, k))
    ]
    return ForestData(
        f"{k} studies",
        "Odds ratio",
        "ratio",
        groups,
        overall=[Pooled("RE", 0.75, 0.6, 0.95, 0.4, 1.4)],
        heterogeneity="Heterogeneity: τ² = 0.31; I² = 92%; Q = 152.2, df = 29, p < 0.001",
        model="Random effects, REML",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for k in (3, 30, 300):
            data = _data(k)
            t0 = time.perf_counter()
            ax = draw_forest(data)
            t1 = time.perf_counter()
            ax.figure.canvas.draw()
            t2 = time.perf_counter()
            save_figure(ax.figure, Path(tmp) / f"forest{k}")
            t3 = time.perf_counter()
            times = f"layout {t1 - t0:5.2f} s, screen {t2 - t1:5.2f} s, save png+svg+pdf {t3 - t2:5.2f} s"
            print(f"k = {k:3d}: {times}")


if __name__ == "__main__":
    main()
