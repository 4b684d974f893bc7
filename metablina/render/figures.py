"""Figure plumbing shared by the plots: a pyplot-free figure, text measurement, and byte-stable saving.

Figures are ``matplotlib.figure.Figure`` objects with an Agg canvas attached directly (for the screen and
for users' own ``savefig``); pyplot is never imported, so no global figure registry, backend switch or
rcParams change is left behind in the process. Layout is done in points from measured text extents
(``TextMeasure``), never from character counts. ``save_figure`` draws a figure once and writes every
format from that drawing (:mod:`metablina.render.skiafig`).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from metablina.render.measure import PREFERRED_FONTS, TextMeasure, font, font_family
from metablina.render.skiafig import WRITERS, write_drawing
from metablina.render.skiarender import record

__all__ = ["PREFERRED_FONTS", "TextMeasure", "font", "font_family", "new_figure", "save_figure"]


def new_figure(width_in: float, height_in: float, dpi: float = 100.0, layout: str | None = None) -> Figure:
    """A white figure with its own Agg canvas, outside pyplot."""
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor="white", layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(
    fig: Figure | Axes,
    path_without_suffix: str | PathLike[str],
    formats: Sequence[str] = ("png", "svg", "pdf"),
    *,
    dpi: float = 300.0,
) -> list[Path]:
    """Write ``fig`` as ``<path>.<format>`` for each format (PNG at ``dpi``) and return the paths.

    The figure is drawn once and every format is written from that drawing, so the files show the same
    picture; they are byte-identical from one run to the next (no dates, no random ids). The parent
    directory is created if needed.
    """
    figure = fig.figure if isinstance(fig, Axes) else fig
    if not isinstance(figure, Figure):
        raise TypeError(f"fig: expected a matplotlib Figure or Axes, got {type(fig).__name__}")
    wanted = [fmt.lower().lstrip(".") for fmt in formats]
    for fmt in wanted:
        if fmt not in WRITERS:
            raise ValueError(f"formats: {fmt!r} is not one of png, svg, pdf")
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    return write_drawing(record(figure), base, wanted, dpi=dpi)
