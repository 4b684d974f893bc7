"""Figure plumbing shared by the plots: a pyplot-free figure, text measurement, and byte-stable saving.

Figures are ``matplotlib.figure.Figure`` objects with an Agg canvas attached directly (for the screen and
for users' own ``savefig``); pyplot is never imported, so no global figure registry, backend switch or
rcParams change is left behind in the process. Layout is done in points from measured text extents
(``TextMeasure``), never from character counts. ``save_figure`` draws a figure once and writes every
format from that drawing (:mod:`metablina.render.skiafig`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager

from metablina.render.skiafig import WRITERS, layout
from metablina.render.skiarender import record

# Helvetica/Arial metrics first (journal figures), then matplotlib's bundled DejaVu Sans, which is always
# there and also serves as the per-glyph fallback (τ, ², ≥, −). Pass ``font=("DejaVu Sans",)`` for identical
# files on every machine.
PREFERRED_FONTS: tuple[str, ...] = ("Liberation Sans", "Arial", "Helvetica", "DejaVu Sans")


@functools.cache
def font_family(preferred: tuple[str, ...] = PREFERRED_FONTS) -> tuple[str, ...]:
    """The first installed family of ``preferred``, then DejaVu Sans for missing glyphs (quietly)."""
    installed = {f.name for f in fontManager.ttflist}
    first = next((name for name in preferred if name in installed), "DejaVu Sans")
    return (first,) if first == "DejaVu Sans" else (first, "DejaVu Sans")


def font(
    family: tuple[str, ...], size: float, weight: str = "normal", style: str = "normal"
) -> FontProperties:
    return FontProperties(family=list(family), size=size, weight=weight, style=style)


class TextMeasure:
    """Width, height and descent of strings in points, from the layout the figure files are drawn with.

    Files are drawn by :mod:`metablina.render.skiafig` with unhinted glyph advances, which is what
    :func:`~metablina.render.skiafig.layout` returns. A figure shown on screen is drawn by matplotlib's
    Agg, hinted at its own dpi, and FreeType's hinting moves glyph advances by whole pixels (a line of
    text at 100 dpi can be 8% wider); with ``dpi`` given, the extent is the larger of the two, so a layout
    built on it holds for both.
    """

    # Hinted widths stay within ±8% of unhinted ones (Liberation Sans and DejaVu Sans, 7-9 pt, 72-600 dpi).
    _SPREAD = 1.12

    def __init__(self, dpi: float | None = None) -> None:
        self._screen = RendererAgg(8, 8, float(dpi)) if dpi else None
        self._hinted: dict[tuple[str, FontProperties], tuple[float, float, float]] = {}

    @staticmethod
    def _plain_extent(text: str, prop: FontProperties) -> tuple[float, float, float]:
        line = layout(text, prop)
        return line.width, line.ascent + line.descent, line.descent

    def extent(self, text: str, prop: FontProperties) -> tuple[float, float, float]:
        if not text:
            return 0.0, 0.0, 0.0
        plain = self._plain_extent(text, prop)
        if self._screen is None:
            return plain
        key = (text, prop)
        if key not in self._hinted:
            scale = self._screen.dpi / 72.0
            w, h, d = self._screen.get_text_width_height_descent(text, prop, ismath=False)
            self._hinted[key] = (w / scale, h / scale, d / scale)
        return tuple(max(a, b) for a, b in zip(plain, self._hinted[key], strict=True))  # type: ignore[return-value]

    def width(self, text: str, prop: FontProperties) -> float:
        return self.extent(text, prop)[0]

    def max_width(self, texts: Iterable[str], prop: FontProperties) -> float:
        """Width of the widest of ``texts``; the hinted width is measured only for the strings that
        could be the widest once hinted (FreeType layout costs about a millisecond per string)."""
        plain = {t: self._plain_extent(t, prop)[0] for t in set(texts) if t}
        if not plain:
            return 0.0
        widest = max(plain.values())
        return max(self.width(t, prop) for t, w in plain.items() if w * self._SPREAD >= widest)

    def wrap(self, text: str, prop: FontProperties, width: float) -> list[str]:
        """Greedy word wrap to ``width`` points (a word longer than the width stays on its own line).

        A paragraph that fits is measured once; one that does not is filled from the widths of its words
        (cached across figures) and each line is then measured whole and shortened if kerning made it wider,
        so no line exceeds ``width`` while FreeType lays out a handful of strings instead of every prefix.
        """
        lines: list[str] = []
        space = self.width("x x", prop) - self.width("xx", prop)
        for paragraph in text.split("\n"):
            if self.width(paragraph, prop) <= width:
                lines.append(paragraph)
                continue
            words = paragraph.split(" ")
            sizes = [self.width(word, prop) for word in words]
            start = 0
            while start < len(words):
                end, total = start + 1, sizes[start]
                while end < len(words) and total + space + sizes[end] <= width:
                    total += space + sizes[end]
                    end += 1
                while end - start > 1 and self.width(" ".join(words[start:end]), prop) > width:
                    end -= 1
                lines.append(" ".join(words[start:end]))
                start = end
        return lines


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
    drawing = record(figure)
    paths = []
    for fmt in wanted:
        path = base.with_name(f"{base.name}.{fmt}")
        if fmt == "png":
            WRITERS[fmt](drawing, path, dpi=dpi)
        else:
            WRITERS[fmt](drawing, path)
        paths.append(path)
    return paths
