"""The forest plot's layout, drawn through a :class:`Painter`: one layout for every forest plot
(studies, comparisons, leave-one-out and cumulative), whichever way it is drawn.

:func:`paint_forest` measures the text columns, stacks the rows, fits the axis and then hands every mark
to a painter in the plot's own terms (a tick at x, a label at an inch from the left on a row, a diamond
in data units). :class:`metablina.render.forest.AxesPainter` makes matplotlib artists of them (the
public ``draw_forest`` returns that Axes); :class:`metablina.render.marks.SkiaPainter` draws them straight
into a Skia picture, which is how the report draws its figures: the same picture, without building and
then walking thousands of artists, and without importing matplotlib's figure machinery at all.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator

from metablina.render.forestmodel import ForestData, ForestStyle, Group, Pooled, Scale, StudyRow
from metablina.render.measure import TextMeasure, font, font_family

Unit = Literal["data", "axes", "inch", "figure"]


class Painter(Protocol):
    """Where a forest plot's marks go. Positions are (value, unit): ``data`` (the axis value, or the row
    position downwards from the top row), ``axes`` (0-1 across the plot panel), ``inch`` (from the
    figure's left edge) or ``figure`` (0-1 across the figure); ``dy`` moves a mark down or up in points.
    Colours are matplotlib colour specs."""

    measure_dpi: float | None  # the dpi text is measured at besides the files' own layout (None: files only)
    region: tuple[float, float, float, float] | None  # a given Axes' box in points, or None: a new figure

    def new_figure(self, width_in: float, height_in: float, dpi: float) -> None: ...

    def figure_size_pt(self) -> tuple[float, float]: ...

    def panel(
        self,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        log: bool,
        color: str,
    ) -> None: ...

    def tick_marks(self, ticks: Sequence[float], length: float, color: str) -> None: ...

    def text(
        self,
        x: tuple[float, Unit],
        y: tuple[float, Unit],
        text: str,
        prop: FontProperties,
        color: str,
        *,
        ha: str,
        va: str,
        dy: float = 0.0,
        gid: str | None = None,
    ) -> None: ...

    def note(
        self, xy_in: tuple[float, float], dy: float, text: str, prop: FontProperties, color: str, ha: str
    ) -> None: ...

    def rule(self, x_in: tuple[float, float], y: float, color: str, lw: float, gid: str) -> None: ...

    def arrow(self, x: float, y: float, direction: int, color: str, gid: str) -> None: ...

    def intervals(
        self, segments: list[tuple[tuple[float, float], tuple[float, float]]], color: str, lw: float
    ) -> None: ...

    def estimates(
        self, xs: list[float], ys: list[float], sizes: list[float], marker: str, color: str
    ) -> None: ...

    def unweighted(self, xs: list[float], ys: list[float], size: float, edge: str, lw: float) -> None: ...

    def diamond(
        self, corners: list[tuple[float, float]], face: str, edge: str, lw: float, gid: str, label: str
    ) -> None: ...

    def bar(
        self, xy: tuple[float, float], width: float, height: float, color: str, gid: str, label: str
    ) -> None: ...

    def vline(
        self,
        x: float,
        span: tuple[float, float],
        color: str,
        lw: float,
        dashes: tuple[float, float] | None,
        gid: str,
    ) -> None: ...


# ------------------------------------------------------------------------------------------------- numbers


def _fmt(x: float, scale: str, digits: int) -> str:
    """A number as printed in the table: fixed decimals so that right-aligned columns align on the decimal
    point (0/11 prints 0.0% [0.0, 28.5]), "<0.1" for a non-zero value below the last decimal (never
    e-notation), a true minus."""
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    v = 100.0 * x if scale == "proportion" else x
    smallest = 10.0**-digits
    if v != 0 and abs(v) < 0.5 * smallest:
        return f"<{smallest:.{digits}f}" if v > 0 else f">−{smallest:.{digits}f}"
    s = f"{v:.{digits}f}"
    if float(s) == 0:
        s = s.lstrip("-")
    return s.replace("-", "−")


def tick_label(x: float, scale: str) -> str:
    if scale == "proportion":
        return f"{round(100 * x, 6):g}%"
    return f"{round(x, 10):g}".replace("-", "−")


# Ratio-axis ticks by priority: powers of ten, then 2- and 4-fold steps near 1 and 2-, 5-fold steps in
# other decades, then 0.75 and 1.5 for narrow (at most 4-fold) ranges. The finest set that fits is used.
_RATIO_TICKS = (
    (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0),
    (0.002, 0.005, 0.02, 0.05, 0.25, 0.5, 2.0, 4.0, 20.0, 50.0, 200.0, 500.0),
    (0.75, 1.5),
)


def _ticks_fit(
    ticks: Sequence[float],
    lim: tuple[float, float],
    scale: str,
    width_pt: float,
    measure: TextMeasure,
    prop: FontProperties,
) -> bool:
    """True when the tick labels leave at least 0.6 em between neighbours inside the plot width."""
    if len(ticks) < 2 or len(ticks) > 8:
        return False
    if scale == "ratio":
        pos = [math.log(t / lim[0]) / math.log(lim[1] / lim[0]) * width_pt for t in ticks]
    else:
        pos = [(t - lim[0]) / (lim[1] - lim[0]) * width_pt for t in ticks]
    widths = [measure.width(tick_label(t, scale), prop) for t in ticks]
    gap = 0.6 * prop.get_size_in_points()
    return all(pos[i + 1] - pos[i] >= (widths[i] + widths[i + 1]) / 2 + gap for i in range(len(ticks) - 1))


def ratio_ticks(
    lo: float, hi: float, snap: bool, width_pt: float, measure: TextMeasure, prop: FontProperties
) -> tuple[tuple[float, float], list[float]]:
    """Ticks for a log (ratio) axis: the finest of the tick sets whose labels fit ``width_pt`` points;
    with ``snap`` the limits move outward to the nearest ticks of that set."""
    for level in (2, 1, 0):
        cands = sorted(t for lv in _RATIO_TICKS[: level + 1] for t in lv)
        if snap:
            lo_s = max((t for t in cands if t <= lo * (1 + 1e-9)), default=cands[0])
            hi_s = min((t for t in cands if t >= hi * (1 - 1e-9)), default=cands[-1])
        else:
            lo_s, hi_s = lo, hi
        ticks = [t for t in cands if lo_s * (1 - 1e-9) <= t <= hi_s * (1 + 1e-9)]
        if level == 2 and hi_s / lo_s > 4.01:
            continue  # 0.75 and 1.5 only on narrow axes, never between 0.25 and 4
        if _ticks_fit(ticks, (lo_s, hi_s), "ratio", width_pt, measure, prop):
            break
    return (lo_s, hi_s), ticks


def _axis_values(data: ForestData) -> np.ndarray:
    """The values the x axis must show: every study's estimate and CI, every pooled estimate, and the
    pooled intervals except those flagged as uninformative (``Pooled.caution``), which end in arrows."""
    vals = [v for g in data.groups for r in g.rows for v in (r.estimate, r.ci_low, r.ci_high)]
    for p in data.pooled:
        vals.append(p.estimate)
        if not p.caution:
            vals += [v for v in (p.ci_low, p.ci_high, p.pi_low, p.pi_high) if v is not None]
    return np.array([v for v in vals if math.isfinite(v)], dtype=float)


# Room left beyond the outermost interval on a proportion axis, as a fraction of the data's range, before
# the limits are rounded outward to the next tick.
PROPORTION_PAD = 0.04


def _axis(
    data: ForestData, width_pt: float, measure: TextMeasure, prop: FontProperties
) -> tuple[tuple[float, float], list[float]]:
    """x limits and ticks: the given xlim, or one fitted to the intervals and the null or threshold line
    (ratio axes capped at 0.01-100, beyond which CIs end in arrows), snapped outward to tick values.

    A proportion axis spans the data, not 0-100%: rare events (0-13%) get an axis of 0-15%, with the
    plan's threshold line always inside it."""
    arr = _axis_values(data)
    null = data.null
    if data.scale == "ratio":
        arr = arr[arr > 0]
        lo = float(np.min(arr, initial=null or 1.0))
        hi = float(np.max(arr, initial=null or 1.0))
        if null is not None:
            lo, hi = min(lo, null), max(hi, null)
        lo, hi = max(lo, 0.01), min(hi, 100.0)
        if hi < lo * 1.5:  # a single value (or none): a 4-fold window around it
            lo, hi = lo / 2, hi * 2
        if (data.symmetric or data.favours) and null is not None:  # room for a label on either side
            reach = max(null / lo, hi / null)
            lo, hi = null / reach, null * reach
        if data.xlim is not None:
            lo, hi = data.xlim
        return ratio_ticks(lo, hi, data.xlim is None, width_pt, measure, prop)
    if data.scale == "proportion":
        if null is not None:
            arr = np.append(arr, null)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        pad = PROPORTION_PAD * max(hi - lo, 0.05)
        lo, hi = max(lo - pad, 0.0), min(hi + pad, 1.0)
    else:
        lo = float(np.min(arr, initial=null or 0.0))
        hi = float(np.max(arr, initial=null or 0.0))
        if null is not None:
            lo, hi = min(lo, null), max(hi, null)
        if (data.symmetric or data.favours) and null is not None:  # room for a label on either side
            reach = max(null - lo, hi - null)
            lo, hi = null - reach, null + reach
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
    if data.xlim is not None:
        lo, hi = data.xlim
    for nbins in (8, 6, 5, 4, 3, 2, 1):
        locator = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10])
        raw = [float(t) for t in locator.tick_values(lo, hi)]
        lim = (min(raw[0], lo), max(raw[-1], hi)) if data.xlim is None else (lo, hi)
        if data.scale == "proportion":
            lim = (max(lim[0], 0.0), min(lim[1], 1.0))
        ticks = [t for t in raw if lim[0] - 1e-12 <= t <= lim[1] + 1e-12]
        if _ticks_fit(ticks, lim, data.scale, width_pt, measure, prop):
            return lim, ticks
    return lim, ticks


# --------------------------------------------------------------------------------------------- row model


@dataclass
class _Row:
    kind: str  # title, header-group, header, group, study, pooled, pi, text, sub (a label's next line), gap
    height: float = 1.0
    label: str = ""
    font: str = "body"
    indent: bool = False
    details: tuple[str, ...] = ()
    cells: tuple[str, str] = ("", "")
    weight: str = ""
    note: str = ""
    item: StudyRow | Pooled | None = None
    color: str | None = None
    top: float = 0.0

    @property
    def centre(self) -> float:
        return self.top + self.height / 2

    @property
    def spanning(self) -> bool:
        return self.kind in ("title", "text", "group")


def _rows(data: ForestData, digits: int) -> list[_Row]:
    def f(x: float) -> str:
        return _fmt(x, data.scale, digits)

    pct = "%" if data.scale == "proportion" else ""

    def cells(est: float, lo: float, hi: float) -> tuple[str, str]:
        """The estimate, and the CI as one text: right-aligned in tabular figures, the closing brackets
        and the upper limits line up with no padding inside the brackets."""
        if math.isnan(est):
            return "NA", ""
        if math.isnan(lo) or math.isnan(hi):
            return f(est) + pct, ""
        return f(est) + pct, f"[{f(lo)}, {f(hi)}]"

    def pooled(p: Pooled, indent: bool, overall: bool) -> list[_Row]:
        out = [
            _Row(
                "pooled",
                label=p.label,
                font="bold" if overall else "body",
                indent=indent,
                details=tuple(p.cells),
                cells=cells(p.estimate, p.ci_low, p.ci_high),
                item=p,
                weight="" if p.weight is None else f"{p.weight:.1f}%",
                note=p.caution or "",
            )
        ]
        if p.has_pi:
            out.append(
                _Row(
                    "pi",
                    label="Prediction interval",
                    indent=indent,
                    item=p,
                    cells=("", f"[{f(p.pi_low)}, {f(p.pi_high)}]"),
                )
            )  # type: ignore[arg-type]
        return out

    rows: list[_Row] = []
    if data.title:
        rows.append(_Row("title", label=data.title, font="title", height=1.35))
        rows.append(_Row("gap", height=0.3))
    if any(c.group for c in data.columns):
        rows.append(_Row("header-group", height=1.1))
    rows.append(_Row("header", height=1.2))
    rows.append(_Row("gap", height=0.35))
    indent = any(g.label for g in data.groups)
    for i, g in enumerate(data.groups):
        if i > 0:
            rows.append(_Row("gap", height=0.6))
        if g.label:
            rows.append(_Row("group", label=g.label, font="bold"))
        for r in g.rows:
            rows.append(
                _Row(
                    "study",
                    label=f"{r.label} {r.mark}" if r.mark else r.label,
                    indent=indent,
                    details=tuple(r.cells) if data.columns else (r.detail,),
                    item=r,
                    cells=cells(r.estimate, r.ci_low, r.ci_high),
                    note=r.note or "",
                    weight="" if r.weight is None else f"{r.weight:.1f}%",
                )
            )
        for p in g.subtotals:
            rows += pooled(p, indent, overall=False)
        if g.refusal:
            rows.append(
                _Row("text", label=f"Not pooled: {g.refusal}", font="italic", indent=indent, height=0.95)
            )
        if g.heterogeneity:
            rows.append(_Row("text", label=g.heterogeneity, font="stat", indent=indent, height=0.95))
    tail = [t for t in (data.heterogeneity, data.overall_test, data.model, data.subgroup_test) if t]
    if data.overall or tail:
        rows.append(_Row("gap", height=0.6))
        for p in data.overall:
            rows += pooled(p, indent=False, overall=True)
        rows += [_Row("text", label=t, font="stat", height=0.95) for t in tail]
    rows.append(_Row("gap", height=0.3))  # air between the last line of text and the x axis
    return rows


# ------------------------------------------------------------------------------------------------ drawing

LABEL_EM = 27.0  # widest label column (in font sizes) before a study's label wraps
NOTE_EM = 18.0  # a label column may widen up to this for the notes under the labels
UNWEIGHTED_NOTE = (
    "Open circle: a result reported without an SE or CI, shown as reported; no weight, in no pooled estimate."
)
SUB_HEIGHT = 0.8  # height (rows) of a note line under a label (a label's own next line: 0.9)


def _column_groups(data: ForestData) -> list[tuple[str, int, int]]:
    """(header, first, last column index) of each run of neighbouring columns with one group name."""
    out: list[tuple[str, int, int]] = []
    for j, c in enumerate(data.columns):
        if c.group and out and out[-1][0] == c.group and out[-1][2] == j - 1:
            out[-1] = (c.group, out[-1][1], j)
        elif c.group:
            out.append((c.group, j, j))
    return out


def arrow_path(direction: int) -> MplPath:
    """A triangle whose tip is at the origin, pointing right (+1) or left (-1): the arrow head of an
    interval that leaves the axis."""
    verts = [(0.0, 0.0), (-direction * 1.0, 0.55), (-direction * 1.0, -0.55), (0.0, 0.0)]
    codes = [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY]
    return MplPath(verts, codes)


def paint_forest(
    data: ForestData,
    painter: Painter,
    style: ForestStyle,
    *,
    reference: float | None = None,
    marker: Literal["square", "point"] = "square",
) -> None:
    """Lay ``data`` out and hand every mark to ``painter``."""
    fs = style.fontsize
    family = style.font or font_family()
    fonts = {
        "body": font(family, fs),
        "bold": font(family, fs, weight="bold"),
        "title": font(family, fs + 1.5, weight="bold"),
        "stat": font(family, fs - 0.5),
        "italic": font(family, fs - 0.5, style="italic"),
        "note": font(family, fs - 0.5),
        "tick": font(family, fs - 0.5),
    }
    measure = TextMeasure(dpi=painter.measure_dpi)

    def wd(text: str, key: str) -> float:
        return measure.width(text, fonts[key])

    digits = data.digits if data.digits is not None else (1 if data.scale == "proportion" else 2)
    rows = _rows(data, digits)
    has_weight = any(r.weight is not None for g in data.groups for r in g.rows)

    # ---- columns (points from the left edge of the drawing region)
    margin, gap, plot_gap = 6.0, fs * 1.1, fs * 1.2
    indent = fs
    space = wd("0 0", "body") - wd("00", "body")

    def colmax(items: Iterable[tuple[str, str, float]]) -> float:
        """The widest of (text, font key, x offset) items, measured per font and offset."""
        by: dict[tuple[str, float], list[str]] = {}
        for text, key, offset in items:
            by.setdefault((key, offset), []).append(text)
        return max((off + measure.max_width(t, fonts[key]) for (key, off), t in by.items()), default=0.0)

    def lead(r: _Row) -> float:
        return indent if r.indent else 0.0

    studies = [r for r in rows if r.kind == "study"]
    # The label column: as wide as the longest label up to LABEL_EM (longer labels wrap), and wide enough
    # for notes up to NOTE_EM; notes go on lines of their own under the label, so a figure stays about
    # the width of a journal page (and of the report's column) whatever the studies are called.
    cap = LABEL_EM * fs
    study_w = max(
        colmax([(data.study_label, "bold", 0.0)]),
        min(colmax((r.label, r.font, lead(r)) for r in studies), cap),
        min(
            max(
                (lead(r) + wd(r.note, "note") for r in rows if r.note and r.kind in ("study", "pooled")),
                default=0.0,
            ),
            NOTE_EM * fs,
        ),
        max((lead(r) + measure.max_width(r.label.split(" "), fonts[r.font]) for r in studies), default=0.0),
    )
    # text columns between the labels and the plot: the given columns, or the one detail column
    headers = [c.header for c in data.columns] or (
        [data.detail_label] if any(r.details[0] for r in studies if r.details) else []
    )
    col_w = [
        colmax(
            [(h, "bold", 0.0)]
            + [(r.details[j], r.font, 0.0) for r in rows if r.kind in ("study", "pooled") and r.details]
        )
        for j, h in enumerate(headers)
    ]
    spans_of = _column_groups(data)
    for name, first, last in spans_of:  # a group header wider than its columns widens them evenly
        extra = wd(name, "bold") - (sum(col_w[first : last + 1]) + gap * (last - first))
        for j in range(first, last + 1):
            col_w[j] += max(extra, 0.0) / (last - first + 1)
    detail_w = sum(col_w) + gap * (len(col_w) - 1) if col_w else 0.0
    pooled_w = colmax((r.label, r.font, lead(r)) for r in rows if r.kind in ("pooled", "pi"))
    pooled_cells = any(r.details for r in rows if r.kind == "pooled")
    label_w = max(study_w, pooled_w - (gap + detail_w if detail_w and not pooled_cells else 0.0))
    cell_w = [colmax((r.cells[i], r.font, 0.0) for r in rows) for i in range(2)]
    est_header_w = wd(data.estimate_header, "bold")
    est_total = cell_w[0] + cell_w[1] + space
    if est_header_w > est_total:
        cell_w[0] += est_header_w - est_total
    weight_w = (
        colmax([("Weight", "bold", 0.0)] + [(r.weight, r.font, 0.0) for r in rows]) if has_weight else 0.0
    )

    x_label = margin
    x_cols = []  # right edge of each text column
    for w in col_w:
        x_cols.append((x_cols[-1] if x_cols else x_label + label_w) + gap + w)
    x_detail = x_cols[-1] if x_cols else x_label + label_w  # right edge of the columns
    x_plot0 = x_detail + plot_gap
    table_right = plot_gap + cell_w[0] + cell_w[1] + space + (gap + weight_w if has_weight else 0)
    given = painter.region
    if given is None:
        plot_w = style.plot_width * 72.0
        region = (0.0, 0.0, x_plot0 + plot_w + table_right + margin, 0.0)
    else:
        region = given
        plot_w = region[2] - x_plot0 - table_right - margin
        if plot_w < 72.0:
            raise ValueError(
                f"ax: {region[2] / 72:.2f} in wide; the table needs "
                f"{(x_plot0 + table_right + margin) / 72:.2f} in plus at least 1 in for the plot"
            )
    x_plot1 = x_plot0 + plot_w
    x_e = [x_plot1 + plot_gap + cell_w[0]]
    x_e.append(x_e[0] + space + cell_w[1])
    x_weight = x_e[1] + gap + weight_w
    width = region[2]

    # ---- wrap spanning rows to the drawing width, then stack the rows
    # study labels longer than the label column and every note continue on "sub" lines under their row
    pooled_span = label_w + (gap + detail_w if detail_w and not pooled_cells else 0.0)
    laid: list[_Row] = []
    for r in rows:
        if r.spanning:
            avail = width - 2 * margin - (indent if r.indent else 0)
            for line in measure.wrap(r.label, fonts[r.font], avail):
                laid.append(_Row(r.kind, height=r.height, label=line, font=r.font, indent=r.indent))
        elif r.kind in ("study", "pooled"):
            span = (label_w if r.kind == "study" else pooled_span) - lead(r)
            lines = measure.wrap(r.label, fonts[r.font], span) if r.kind == "study" else [r.label]
            r.label, note = lines[0], r.note
            r.note = ""
            laid.append(r)
            for line in lines[1:]:
                laid.append(_Row("sub", height=SUB_HEIGHT + 0.1, label=line, font=r.font, indent=r.indent))
            # a note line has no cells, so it may run under the text columns up to the plot
            note_span = label_w + (gap + detail_w if detail_w else 0.0) - lead(r)
            for line in measure.wrap(note, fonts["note"], max(span, note_span)) if note else []:
                laid.append(
                    _Row(
                        "sub",
                        height=SUB_HEIGHT,
                        label=line,
                        font="note",
                        indent=r.indent,
                        color=style.note_color,
                    )
                )
        else:
            laid.append(r)
    top = 0.0
    for r in laid:
        r.top = top
        top += r.height
    total = top

    # ---- vertical budget (points): top margin, rows, then x axis, favours, axis label and notes
    tick_h = measure.extent("0123456789%", fonts["tick"])[1]
    line_h = measure.extent("Ag", fonts["body"])[1]
    tick_len, tick_pad = 3.0, 2.5
    y_fav = tick_len + tick_pad + tick_h + 5.0
    y_label = y_fav + (line_h + 2.0 if data.favours else 0.0) + 1.5
    legend = [UNWEIGHTED_NOTE] if any(r.unweighted for g in data.groups for r in g.rows) else []
    notes = [
        line for n in (*data.notes, *legend) for line in measure.wrap(n, fonts["note"], width - 2 * margin)
    ]
    note_h = 1.3 * (fs - 1)
    y_notes = y_label + (line_h if data.measure_label else 0.0) + 7.0
    bottom = (y_notes + note_h * len(notes) if notes else y_label + line_h) + margin
    top_margin = margin
    if given is None:
        unit = style.row_height * fs
        height = top_margin + total * unit + bottom
        painter.new_figure(width / 72.0, height / 72.0, style.dpi)
        region = (0.0, 0.0, width, height)
    else:
        unit = (region[3] - top_margin - bottom) / total
        if unit < 1.15 * fs:
            warnings.warn(
                f"ax: {region[3] / 72:.2f} in is too short for {len(laid)} rows; text will overlap",
                stacklevel=3,
            )
    fw, fh = painter.figure_size_pt()
    lim, ticks = _axis(data, plot_w, measure, fonts["tick"])
    painter.panel(
        ((region[0] + x_plot0) / fw, (region[1] + bottom) / fh, plot_w / fw, total * unit / fh),
        lim,
        (total, 0.0),
        log=data.scale == "ratio",
        color=style.ink,
    )

    # ---- axis: tick marks, tick labels and the axis label are marks of their own (a matplotlib Axis
    # would rebuild a Tick of five artists per tick at every draw, most of the cost of saving a forest
    # plot); the bottom spine is the axis line
    painter.tick_marks(ticks, tick_len, style.ink)
    for t in ticks:
        painter.text(
            (t, "data"),
            (0.0, "axes"),
            tick_label(t, data.scale),
            fonts["tick"],
            style.ink,
            ha="center",
            va="top",
            dy=-(tick_len + tick_pad),
            gid="x-tick-label",
        )

    # ---- text
    def put(x_pt: float, y: float, text: str, key: str, ha: str = "left", color: str | None = None) -> None:
        if text:
            painter.text(
                ((region[0] + x_pt) / 72.0, "inch"),
                (y, "data"),
                text,
                fonts[key],
                color or style.ink,
                ha=ha,
                va="center_baseline",
            )

    spans: list[tuple[_Row, float, float]] = []  # spanning text rows and their x extent (points)
    for r in laid:
        y = r.centre
        x0 = x_label + (indent if r.indent else 0.0)
        if r.kind == "header-group":
            for name, first, last in spans_of:
                left, right = x_cols[first] - col_w[first], x_cols[last]
                put((left + right) / 2, y, name, "bold", "center")
                painter.rule(
                    ((region[0] + left) / 72, (region[0] + right) / 72),
                    r.top + r.height,
                    style.ink,
                    0.5,
                    "column-group-rule",
                )
            continue
        if r.kind == "header":
            put(x_label, y, data.study_label, "bold")
            for j, h in enumerate(headers):
                put(x_cols[j], y, h, "bold", "right")
            put(x_e[1], y, data.estimate_header, "bold", "right")
            if has_weight:
                put(x_weight, y, "Weight", "bold", "right")
            painter.rule(
                ((region[0] + x_label) / 72, (region[0] + width - margin) / 72),
                r.top + r.height + 0.1,
                style.ink,
                0.6,
                "header-rule",
            )
            continue
        colour = r.color or {"stat": style.stat_color, "italic": style.stat_color}.get(r.font)
        put(x0, y, r.label, r.font, color=colour)
        if r.spanning:
            spans.append((r, x0, x0 + wd(r.label, r.font)))
        for j, text in enumerate(r.details[: len(headers)]):
            put(x_cols[j], y, text, r.font if r.kind == "pooled" else "body", "right")
        for i in range(2):
            put(x_e[i], y, r.cells[i], r.font, "right")
        put(x_weight, y, r.weight, r.font, "right")

    # ---- glyphs
    lo_x, hi_x = lim
    pt_per_unit = unit

    def arrows(y: float, lo: float, hi: float) -> None:
        """Arrow heads at the axis limits for an interval that leaves the axis."""
        for beyond, x, direction, side in ((lo < lo_x, lo_x, -1, "left"), (hi > hi_x, hi_x, 1, "right")):
            if beyond:
                painter.arrow(x, y, direction, style.ink, f"ci-arrow-{side}")

    intervals: list[tuple[tuple[float, float], tuple[float, float]]] = []

    def ci_line(y: float, lo: float, hi: float) -> None:
        if math.isnan(lo) or math.isnan(hi):
            return
        a, b = max(lo, lo_x), min(hi, hi_x)
        if a < b:
            intervals.append(((a, y), (b, y)))
        arrows(y, lo, hi)

    studies = [r for r in laid if r.kind == "study"]
    weights = [r.item.weight for r in studies]  # type: ignore[union-attr]
    w_max = max((w for w in weights if w is not None), default=0.0)
    side_max = 0.78 * pt_per_unit
    xs, ys, sizes = [], [], []
    open_x, open_y = [], []
    for r in studies:
        s: StudyRow = r.item  # type: ignore[assignment]
        ci_line(r.centre, s.ci_low, s.ci_high)
        if not lo_x <= s.estimate <= hi_x:  # NaN (not estimable) or off the axis: no square
            continue
        if s.unweighted:
            open_x.append(s.estimate)
            open_y.append(r.centre)
            continue
        if marker == "point":
            size = (0.42 * pt_per_unit) ** 2
        elif w_max > 0 and s.weight is not None:
            size = side_max**2 * s.weight / w_max
        else:
            size = (0.5 * pt_per_unit) ** 2
        xs.append(s.estimate)
        ys.append(r.centre)
        sizes.append(size)
    if intervals:
        painter.intervals(intervals, style.ink, 0.8)
    if xs:  # whole squares at 0% / 100%
        painter.estimates(xs, ys, sizes, "s" if marker == "square" else "o", style.square_color)
    if open_x:  # not pooled, no interval: an open circle, no weight
        painter.unweighted(open_x, open_y, (0.42 * pt_per_unit) ** 2, style.ink, 0.8)
    half = 0.32
    for r in laid:
        if r.kind not in ("pooled", "pi"):
            continue
        p: Pooled = r.item  # type: ignore[assignment]
        y = r.centre
        if r.kind == "pooled":
            bayes = p.kind == "bayes"
            # an interval beyond the axis: the diamond ends at the axis limit, and an arrow goes on
            a, b = max(p.ci_low, lo_x), min(p.ci_high, hi_x)
            painter.diamond(
                [(a, y), (p.estimate, y - half), (b, y), (p.estimate, y + half)],
                "white" if bayes else style.ink,
                style.ink,
                0.8 if bayes else 0.5,
                f"diamond-{p.kind}",
                p.label,
            )
            arrows(y, p.ci_low, p.ci_high)
        else:
            a, b = max(p.pi_low, lo_x), min(p.pi_high, hi_x)  # type: ignore[type-var]
            painter.bar((a, y - 0.11), b - a, 0.22, style.pi_color, "prediction-interval", p.label)
            arrows(y, p.pi_low, p.pi_high)  # type: ignore[arg-type]

    # ---- null and reference lines, broken where a line of text crosses them
    glyph_rows = [r for r in laid if r.kind in ("study", "pooled", "pi")]
    first = min((r.top for r in glyph_rows), default=0.0)
    last = max((r.top + r.height for r in glyph_rows), default=0.0)

    def x_pt_of(x: float) -> float:
        """Points from the region's left edge of the data value ``x``."""
        if data.scale == "ratio":
            frac = math.log(x / lo_x) / math.log(hi_x / lo_x)
        else:
            frac = (x - lo_x) / (hi_x - lo_x)
        return x_plot0 + frac * plot_w

    def vline(x: float, gid: str, color: str, lw: float, dashes: tuple[float, float] | None = None) -> None:
        if not lo_x <= x <= hi_x:
            return
        x_pt = x_pt_of(x)
        blocked = {id(row) for row, a, b in spans if a - 3 < x_pt < b + 3}
        segments, start = [], None
        for r in laid:
            if not first <= r.top < last:
                continue
            if id(r) in blocked:
                if start is not None:
                    segments.append((start, r.top))
                start = None
            elif start is None:
                start = r.top
        if start is not None:
            segments.append((start, last))
        for a, b in segments:
            painter.vline(x, (a, b), color, lw, dashes, gid)

    if data.null is not None:
        vline(data.null, "null-line", style.ink, 0.6)
    if reference is not None:
        vline(reference, "reference-line", style.reference_color, 0.7, (3, 2))

    # ---- below the axis: favours labels, axis label, notes
    if data.favours:
        # Either side of the null (or of the middle); kept inside the figure when a label is long.
        null = data.null
        mid = x_pt_of(null) if null is not None and lo_x < null < hi_x else x_plot0 + plot_w / 2
        left, right = data.favours
        w_left, w_right = wd(left, "stat"), wd(right, "stat")
        at_left = (mid - 4, "right") if mid - 4 - w_left >= margin else (margin, "left")
        at_right = (mid + 4, "left") if mid + 4 + w_right <= width - margin else (width - margin, "right")
        for text, (x_pt, ha) in ((left, at_left), (right, at_right)):
            painter.note(((region[0] + x_pt) / 72.0, 0), -y_fav, text, fonts["stat"], style.stat_color, ha)
    if data.measure_label:
        painter.text(
            (0.5, "axes"),
            (0.0, "axes"),
            data.measure_label,
            fonts["body"],
            style.ink,
            ha="center",
            va="top",
            dy=-y_label,
            gid="x-label",
        )
    for i, line in enumerate(notes):
        painter.note(
            ((region[0] + margin) / 72.0, 0),
            -(y_notes + i * note_h),
            line,
            fonts["note"],
            style.note_color,
            "left",
        )


# ---------------------------------------------------------------------------------- leave-one-out, cumulative


def float_arrays(**named: Sequence[float]) -> list[np.ndarray]:
    out = [np.asarray(v, dtype=float) for v in named.values()]
    k = len(out[0])
    for name, arr in zip(named, out, strict=True):
        if arr.ndim != 1 or len(arr) != k:
            raise ValueError(f"{name}: expected {k} values in one dimension, got shape {arr.shape}")
    return out


def _labels(labels: Sequence[str], k: int) -> list[str]:
    if len(labels) != k:
        raise ValueError(f"labels: expected {k} labels, got {len(labels)}")
    return [str(x) for x in labels]


def _pooled_rows(
    kind: str,
    labels: Sequence[str],
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    detail: Sequence[str] | None,
) -> list[StudyRow]:
    est, lo, hi = float_arrays(estimate=estimate, ci_low=ci_low, ci_high=ci_high)
    names = _labels(labels, len(est))
    if detail is not None and len(detail) != len(est):
        raise ValueError(f"detail: expected {len(est)} entries, got {len(detail)}")
    if kind == "cumulative":
        names = [n if i == 0 else f"+ {n}" for i, n in enumerate(names)]
        detail = detail if detail is not None else [f"k = {i + 1}" for i in range(len(est))]
    details = list(detail) if detail is not None else [""] * len(est)
    return [StudyRow(n, d, e, a, b) for n, d, e, a, b in zip(names, details, est, lo, hi, strict=True)]


def leave_one_out_data(
    labels: Sequence[str],
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    *,
    full: tuple[float, float, float],
    scale: Scale,
    measure_label: str,
    title: str = "Leave-one-out analysis",
    detail: Sequence[str] | None = None,
    detail_label: str = "",
    estimate_header: str = "Estimate [95% CI]",
    null_value: float | None = None,
    xlim: tuple[float, float] | None = None,
    notes: Sequence[str] = (),
) -> ForestData:
    """The rows of a leave-one-out plot (see :func:`metablina.render.plots.leave_one_out_plot`)."""
    rows = _pooled_rows("loo", labels, estimate, ci_low, ci_high, detail)
    return ForestData(
        title=title,
        measure_label=measure_label,
        scale=scale,
        groups=[Group(None, rows)],
        overall=[Pooled("All studies", *full)],
        notes=notes,
        null_value=null_value,
        xlim=xlim,
        detail_label=detail_label,
        study_label="Omitted study",
        estimate_header=estimate_header,
    )


def cumulative_data(
    labels: Sequence[str],
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    *,
    scale: Scale,
    measure_label: str,
    title: str = "Cumulative meta-analysis",
    detail: Sequence[str] | None = None,
    detail_label: str = "",
    estimate_header: str = "Estimate [95% CI]",
    null_value: float | None = None,
    xlim: tuple[float, float] | None = None,
    notes: Sequence[str] = (),
) -> ForestData:
    """The rows of a cumulative plot (see :func:`metablina.render.plots.cumulative_plot`)."""
    rows = _pooled_rows("cumulative", labels, estimate, ci_low, ci_high, detail)
    return ForestData(
        title=title,
        measure_label=measure_label,
        scale=scale,
        groups=[Group(None, rows)],
        notes=notes,
        null_value=null_value,
        xlim=xlim,
        detail_label=detail_label,
        study_label="Study added",
        estimate_header=estimate_header,
    )
