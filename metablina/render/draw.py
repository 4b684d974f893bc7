"""One figure job drawn and saved, in whichever process draws it (a worker forked from the figure server).

A :class:`FigureJob` is plain data (a name, a kind, the plot data and the formats), so it crosses to a
worker process by pickling; this module imports the plotting modules only inside :func:`draw_figure`,
so that the process that makes the jobs never imports matplotlib.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: ``kind`` forest, funnel, leave-one-out or cumulative; ``name`` the file stem."""

    name: str
    kind: str
    payload: Any
    formats: tuple[str, ...]
    caption: str = ""


def file_style() -> Any:
    """The figure style for files only: the report's figures are never shown in a window, and files are
    drawn unhinted, so the text is measured unhinted only (no ``dpi``: no hinted screen measurement,
    which would double the cost of the layout)."""
    from metablina.render.forestmodel import ForestStyle

    return ForestStyle(dpi=None)  # type: ignore[arg-type]


@contextlib.contextmanager
def collected_after() -> Iterator[None]:
    """No automatic garbage collection while a figure is made and saved, one young collection after.

    A figure is a burst of container objects (a 200-row forest plot: about 2,000 labels, each a dozen
    objects) that live together and die together in reference cycles. Automatic collections would walk
    them again and again while they are alive: a quarter of the drawing time of a 200-study report's
    figures. Left in the youngest generation until the figure is saved, they are walked once, by the
    collection that frees them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if enabled:
            gc.enable()


def draw_figure(job: FigureJob, folder: Path) -> list[Path]:
    """Draw one figure and save it in each of its formats from the same drawing."""
    with collected_after():
        return _draw(job, folder)


def _draw(job: FigureJob, folder: Path) -> list[Path]:
    p = job.payload
    style = file_style()
    if job.kind in ("forest", "leave-one-out", "cumulative"):
        return _write(_forest_family(job.kind, p, style), folder / job.name, job.formats)
    if job.kind == "speccurve":
        from metablina.render.marks import spec_curve_drawing

        curve = ("estimate", "ci_low", "ci_high", "choices")
        rest = {key: v for key, v in p.items() if key not in curve}
        return _write(
            spec_curve_drawing(*(p[key] for key in curve), style=style, **rest),
            folder / job.name,
            job.formats,
        )
    if job.kind == "funnel":
        from metablina.render import figures
        from metablina.render.plots import funnel_plot

        ax = funnel_plot(
            p["yi"],
            p["sei"],
            estimate=p["estimate"],
            xlabel=p["xlabel"],
            exp=p["exp"],
            title=p["title"],
            style=style,
        )
        return figures.save_figure(ax.figure, folder / job.name, job.formats)
    raise ValueError(f"unknown figure kind {job.kind!r}")


def _forest_family(kind: str, p: Any, style: Any) -> Any:
    """A forest, leave-one-out or cumulative plot drawn straight into Skia (:mod:`metablina.render.marks`:
    the picture the matplotlib artists of ``draw_forest`` and the plots module would give)."""
    from metablina.render.forestlayout import cumulative_data, leave_one_out_data
    from metablina.render.marks import forest_drawing

    if kind == "forest":
        return forest_drawing(p, style)
    common = {
        "scale": p["scale"],
        "measure_label": p["measure_label"],
        "title": p["title"],
        "detail": p["detail"],
        "detail_label": p["detail_label"],
        "notes": p["notes"],
    }
    args = (p["labels"], p["estimate"], p["ci_low"], p["ci_high"])
    if kind == "leave-one-out":
        data = leave_one_out_data(*args, full=p["full"], **common)
        return forest_drawing(data, style, reference=float(p["full"][0]), marker="point")
    data = cumulative_data(*args, **common)
    return forest_drawing(data, style, reference=data.groups[0].rows[-1].estimate, marker="point")


def _write(drawing: Any, base: Path, formats: tuple[str, ...]) -> list[Path]:
    from metablina.render.skiafig import write_drawing

    base.parent.mkdir(parents=True, exist_ok=True)
    return write_drawing(drawing, base, formats)


def warm_up() -> None:
    """Draw a small forest plot and a specification curve, in every format, into a temporary folder that
    is then removed. A process that will fork figure workers (the figure server) pays here, once, what
    each worker would otherwise pay in its first figures: fonts loaded into Skia, text layout and glyph
    caches, the first call of each writer. In the shipped review's report that was about 0.1 s of its
    1.6 s."""
    from metablina.render.forestmodel import ForestData, Group, Pooled, StudyRow

    rows = (
        StudyRow("Study 2020", "3/40", 0.075, 0.016, 0.2, 60.0, note="graded by CTCAE"),
        StudyRow("Study 2021", "5/50", 0.1, 0.033, 0.218, 40.0),
    )
    forest = ForestData(
        "Outcome",
        "Proportion",
        "proportion",
        (Group("Setting", rows),),
        overall=(Pooled("Random effects", 0.09, 0.04, 0.18),),
        heterogeneity="I² = 0%",
        notes=("Study 95% CIs: Clopper–Pearson.",),
    )
    curve = {
        "estimate": (0.08, 0.03),
        "ci_low": (0.06, 0.01),
        "ci_high": (0.1, 0.04),
        "choices": {"model": ("GLMM", "REML")},
        "primary": 0,
        "threshold": 0.05,
        "scale": "proportion",
        "measure_label": "Proportion",
        "title": "Specification curve",
        "note": "a note",
    }
    with tempfile.TemporaryDirectory() as folder:
        draw_figure(FigureJob("forest", "forest", forest, ("png", "svg", "pdf")), Path(folder))
        draw_figure(FigureJob("speccurve", "speccurve", curve, ("svg",)), Path(folder))
