"""The report draws forest plots straight into Skia (marks.SkiaPainter); the public draw_forest draws them
as matplotlib artists through SkiaRenderer. Both must give the same files, byte for byte, for every kind
of mark: squares of one and of many sizes, open circles, arrows, diamonds open and filled, prediction
bars, null and dashed reference lines, favours labels, notes, log and linear axes."""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metablina.render.draw import file_style
from metablina.render.forest import ForestData, ForestStyle, Group, Pooled, StudyRow, draw_forest
from metablina.render.forestlayout import cumulative_data, leave_one_out_data
from metablina.render.marks import forest_drawing
from metablina.render.plots import cumulative_plot, leave_one_out_plot
from metablina.render.skiafig import write_drawing
from metablina.render.skiarender import record
from tests.render.test_forest import efs_strata, one_row, thirty_rows, three_rows

ROOT = Path(__file__).resolve().parents[2]


def arrows_and_open_circles() -> ForestData:
    rows = [
        StudyRow("wide", "", 1.5, 0.05, 40.0, weight=50.0),
        StudyRow("inside", "", 1.0, 0.5, 2.0, weight=30.0),
        StudyRow("right only", "", 2.0, 0.5, 12.0, weight=20.0),
        StudyRow("median only", "", 1.2, math.nan, math.nan, unweighted=True, note="reported as a median"),
    ]
    overall = [Pooled("Random effects", 1.3, 0.08, 14.0, pi_low=0.02, pi_high=60.0)]
    return ForestData(
        "t", "HR", "ratio", [Group(None, rows)], overall=overall, xlim=(0.1, 10), null_value=1.0
    )


def one_weighted_study() -> ForestData:
    """One square: matplotlib stamps a collection of one size as a marker, not a path per square."""
    rows = [StudyRow("Alone 2020", "3/40", 0.075, 0.016, 0.2, weight=100.0)]
    return ForestData("One", "Proportion", "proportion", [Group(None, rows)], null_value=0.1)


def missing_and_infinite_limits() -> ForestData:
    """A pooled estimate without a CI (its diamond has NaN corners, which a path drops) and a study CI
    running to infinity (it ends in an arrow)."""
    rows = [
        StudyRow("open-ended", "", 1.2, 0.0, math.inf, weight=50.0),
        StudyRow("closed", "", 0.9, 0.5, 1.5, weight=50.0),
    ]
    return ForestData(
        "t", "RR", "ratio", [Group(None, rows)], overall=[Pooled("RE", 1.0, math.nan, math.nan)]
    )


@st.composite
def forest_data(draw) -> ForestData:
    """Any forest plot: a scale, 1-6 studies per group in 1-2 groups, estimates anywhere (off the axis,
    at a limit, not estimable), weights or none, unweighted rows, pooled rows with and without CI and
    prediction interval, favours, notes."""
    scale = draw(st.sampled_from(["ratio", "proportion", "difference"]))
    value = {
        "ratio": st.floats(0.005, 300.0),
        "proportion": st.floats(0.0, 1.0),
        "difference": st.floats(-3.0, 3.0),
    }[scale]

    def interval():
        a, b, c = sorted(draw(st.lists(value, min_size=3, max_size=3)))
        return b, a, c

    groups = []
    for g in range(draw(st.integers(1, 2))):
        rows = []
        for i in range(draw(st.integers(1, 6))):
            est, lo, hi = interval()
            kind = draw(st.sampled_from(["weighted", "plain", "unweighted", "not estimable"]))
            if kind == "unweighted":
                rows.append(StudyRow(f"S{g}{i}", "", est, math.nan, math.nan, unweighted=True, note="no SE"))
            elif kind == "not estimable":
                rows.append(StudyRow(f"S{g}{i}", "0/0", math.nan, math.nan, math.nan))
            else:
                weight = draw(st.floats(0.5, 60.0)) if kind == "weighted" else None
                rows.append(StudyRow(f"Study {g}.{i}", "3/40", est, lo, hi, weight=weight))
        groups.append(Group(f"Group {g}" if g else None, rows))
    overall = []
    if draw(st.booleans()):
        est, lo, hi = interval()
        if draw(st.booleans()):
            lo = hi = math.nan
        pi = sorted([lo, hi, *draw(st.lists(value, min_size=2, max_size=2))])
        with_pi = draw(st.booleans()) and not math.isnan(lo)
        overall.append(
            Pooled(
                "Random effects",
                est,
                lo,
                hi,
                pi_low=pi[0] if with_pi else None,
                pi_high=pi[-1] if with_pi else None,
                kind=draw(st.sampled_from(["frequentist", "bayes"])),
            )
        )
    null = {"ratio": 1.0, "proportion": draw(st.sampled_from([None, 0.1, 0.5])), "difference": 0.0}[scale]
    favours = ("Favours A", "Favours B") if scale != "proportion" and draw(st.booleans()) else None
    return ForestData(
        "Random forest",
        "Measure",
        scale,
        groups,
        overall=overall,
        null_value=null,
        favours=favours,
        notes=["A note."] if draw(st.booleans()) else [],
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=forest_data())
def test_marks_and_artists_agree_on_any_forest_plot(data):
    with tempfile.TemporaryDirectory() as folder:
        assert_same_files(
            draw_forest(data, style=file_style()), forest_drawing(data, file_style()), Path(folder)
        )


def test_a_font_without_line_metrics_is_placed_as_matplotlib_places_it(tmp_path, monkeypatch):
    """Where a font has neither an OS/2 nor an hhea table, matplotlib's text layout takes the extent of
    "lp" as the least line height; the marks do the same."""
    import matplotlib.text

    from metablina.render import marks, tabletext

    class NoTables:
        def get_sfnt_table(self, name):
            return None

    monkeypatch.setattr(matplotlib.text, "get_font", lambda *a, **k: NoTables())
    monkeypatch.setattr(tabletext, "font_extent", lambda prop, dpi: None)
    monkeypatch.setattr(marks, "font_extent", lambda prop, dpi: None)
    assert_same_files(
        draw_forest(three_rows(), style=file_style()), forest_drawing(three_rows(), file_style()), tmp_path
    )


SERIES = {
    "labels": ["A 2019", "B 2020", "C 2021", "D 2022"],
    "estimate": [0.2, 0.25, 0.22, 0.3],
    "ci_low": [0.1, 0.15, 0.14, 0.2],
    "ci_high": [0.35, 0.38, 0.33, 0.42],
    "scale": "proportion",
    "measure_label": "Proportion (%)",
}


def files(drawing, folder: Path, name: str) -> dict[str, bytes]:
    paths = write_drawing(drawing, folder / name, ("png", "svg", "pdf"))
    return {p.suffix: p.read_bytes() for p in paths}


def assert_same_files(ax, drawing, tmp_path: Path) -> None:
    expected = files(record(ax.figure), tmp_path, "artists")
    got = files(drawing, tmp_path, "marks")
    assert [fmt for fmt in expected if expected[fmt] != got[fmt]] == []


@pytest.mark.parametrize(
    "make",
    [
        one_row,
        three_rows,
        thirty_rows,
        efs_strata,
        arrows_and_open_circles,
        one_weighted_study,
        missing_and_infinite_limits,
    ],
)
@pytest.mark.parametrize("style", [file_style(), ForestStyle(fontsize=9.5, font=("DejaVu Sans",))])
def test_marks_draw_the_files_the_artists_draw(make, style, tmp_path):
    assert_same_files(draw_forest(make(), style=style), forest_drawing(make(), style), tmp_path)


def test_leave_one_out_and_cumulative_marks_draw_the_files_the_plots_draw(tmp_path):
    style = file_style()
    full = (0.24, 0.17, 0.33)
    loo = leave_one_out_plot(**SERIES, full=full, style=style)
    assert_same_files(
        loo,
        forest_drawing(leave_one_out_data(**SERIES, full=full), style, reference=0.24, marker="point"),
        tmp_path,
    )
    cum = cumulative_plot(**SERIES, style=style)
    data = cumulative_data(**SERIES)
    assert_same_files(cum, forest_drawing(data, style, reference=0.3, marker="point"), tmp_path)


def test_the_shipped_reviews_forest_plots_are_the_same_either_way(tmp_path):
    """Every forest job of the shipped report (study forests and the two-arm comparison forest)."""
    from metablina.report import build_model, run_plan

    jobs: list = []
    build_model(ROOT / "studies", tmp_path / "out", run_plan(ROOT / "studies"), on_figure=jobs.append)
    forests = [job for job in jobs if job.kind == "forest"]
    assert len(forests) >= 20
    for job in forests:
        assert_same_files(
            draw_forest(job.payload, style=file_style()), forest_drawing(job.payload, file_style()), tmp_path
        )


def test_drawing_report_figures_imports_no_matplotlib_figure_machinery(tmp_path):
    """A forest plot, then a specification curve, drawn as the report draws them."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from metablina.render.draw import FigureJob, draw_figure\n"
        "from metablina.render.forestmodel import ForestData, Group, Pooled, StudyRow\n"
        "rows = [StudyRow('a', '', 1.5, 0.05, 40.0, weight=60.0), StudyRow('b', '', 1.0, 0.5, 2.0, weight=40.0)]\n"
        "data = ForestData('t', 'HR', 'ratio', [Group(None, rows)], overall=[Pooled('RE', 1.2, 0.6, 2.4)])\n"
        f"draw_figure(FigureJob('f', 'forest', data, ('png', 'svg', 'pdf')), Path({str(tmp_path)!r}))\n"
        "print(sorted(m for m in ('matplotlib.figure', 'matplotlib.axes', 'matplotlib.backend_bases') "
        "if m in sys.modules))\n"
    )
    code += (
        "curve = {'estimate': (0.2, 0.3), 'ci_low': (0.1, 0.2), 'ci_high': (0.3, 0.4), 'choices': {'m': ('a', 'b')},"
        " 'primary': 0, 'threshold': 0.25, 'scale': 'proportion', 'measure_label': 'P', 'title': 'T', 'note': ''}\n"
        f"draw_figure(FigureJob('s', 'speccurve', curve, ('svg',)), Path({str(tmp_path)!r}))\n"
        "print(sorted(m for m in ('matplotlib.figure', 'matplotlib.axes', 'matplotlib.backend_bases') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "[]"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "f.svg", "s.svg"]


# ---- the specification curve

CURVES = {
    "threshold and primary": dict(
        estimate=(0.08, 0.03, 0.05, 0.12),
        ci_low=(0.06, 0.01, 0.02, 0.07),
        ci_high=(0.10, 0.04, 0.09, 0.95),
        choices={"measure": ("PLO", "PFT", "PLO", "PAS"), "model": ("GLMM", "REML", "REML", "DL")},
        primary=0,
        threshold=0.05,
        note="A note under the panel.",
    ),
    "ratio, no threshold, no title": dict(
        estimate=(0.5, 0.8, 1.3),
        ci_low=(0.3, 0.4, 0.9),
        ci_high=(0.9, 1.6, 2.0),
        choices={"model": ("REML", "DL", "PM")},
        scale="ratio",
        title="",
        measure_label="Risk ratio",
    ),
    "one specification": dict(
        estimate=(0.2,), ci_low=(0.1,), ci_high=(0.3,), choices={"model": ("GLMM",)}, primary=0
    ),
    "many specifications": dict(
        estimate=tuple(0.1 + 0.001 * i for i in range(240)),
        ci_low=tuple(0.05 + 0.001 * i for i in range(240)),
        ci_high=tuple(0.2 + 0.001 * i for i in range(240)),
        choices={"leave out": tuple(f"study {i % 12}" for i in range(240))},
        primary=17,
        threshold=0.2,
        scale="difference",
    ),
}


@pytest.mark.parametrize("case", sorted(CURVES))
def test_spec_curve_marks_draw_the_files_the_artists_draw(case, tmp_path):
    from metablina.render.marks import spec_curve_drawing
    from metablina.render.speccurve import spec_curve

    style = file_style()
    assert_same_files(
        spec_curve(**CURVES[case], style=style), spec_curve_drawing(**CURVES[case], style=style), tmp_path
    )


def test_the_shipped_reviews_spec_curves_are_the_same_either_way(tmp_path):
    from metablina.render.marks import spec_curve_drawing
    from metablina.render.speccurve import spec_curve
    from metablina.report import build_model, run_plan

    jobs: list = []
    build_model(ROOT / "studies", tmp_path / "out", run_plan(ROOT / "studies"), on_figure=jobs.append)
    curves = [job.payload for job in jobs if job.kind == "speccurve"]
    assert len(curves) >= 5
    for p in curves:
        args = [p[key] for key in ("estimate", "ci_low", "ci_high", "choices")]
        rest = {key: v for key, v in p.items() if key not in ("estimate", "ci_low", "ci_high", "choices")}
        ax = spec_curve(*args, **rest, style=file_style())
        assert_same_files(ax, spec_curve_drawing(*args, style=file_style(), **rest), tmp_path)


def test_spec_curve_y_axis_labels_its_ticks_and_clears_them():
    """The y axis is drawn as marks of its own: a tick and a label at each tick inside the limits, and the
    measure's label rotated beside them, left of the widest tick label and inside the figure."""
    from metablina.render.speccurve import spec_curve

    ax = spec_curve(**CURVES["threshold and primary"], measure_label="Proportion", style=file_style())
    renderer = ax.figure.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_gid() == "spec-y-tick-label"]
    (ticks,) = [line for line in ax.lines if line.get_gid() == "y-ticks"]
    lo, hi = ax.get_ylim()
    shown = [float(t.get_text().removesuffix("%")) / 100 for t in labels]
    np.testing.assert_allclose(shown, ticks.get_ydata(), rtol=1e-12)
    assert all(lo <= v <= hi for v in ticks.get_ydata()) and len(labels) >= 3
    (name,) = [t for t in ax.texts if t.get_gid() == "spec-y-label"]
    box = name.get_window_extent(renderer)
    assert name.get_rotation() == 90 and box.height > box.width
    assert box.x1 < min(t.get_window_extent(renderer).x0 for t in labels) and box.x0 > 0


def test_a_collection_is_drawn_under_one_clip(tmp_path):
    """Every interval of a forest plot shares the plot panel's clip: the SVG holds one clip path for the
    whole collection, not one per study (200 of them made a 200-study plot's SVG a third slower)."""
    from metablina.render.figures import save_figure

    data = thirty_rows()
    studies = sum(len(g.rows) for g in data.groups)
    (svg,) = save_figure(draw_forest(data, style=file_style()), tmp_path / "f", ("svg",))
    text = svg.read_text()
    assert text.count('stroke-width="0.8"') >= studies  # every study's interval is drawn
    # one for the 30 intervals; one each for the 4 diamonds, the 4 prediction bars and the null line's pieces
    assert text.count("<clipPath") < studies // 2


@st.composite
def spec_curves(draw) -> dict:
    """Any specification curve: 1-60 specifications, intervals possibly missing or reversed, 1-3 choices
    of 1-4 levels, a primary or none, a threshold or none, any scale."""
    n = draw(st.integers(1, 60))
    scale = draw(st.sampled_from(["ratio", "proportion", "difference"]))
    value = {
        "ratio": st.floats(0.01, 50.0),
        "proportion": st.floats(0.0, 1.0),
        "difference": st.floats(-2, 2),
    }
    points = draw(st.lists(st.tuples(value[scale], value[scale], value[scale]), min_size=n, max_size=n))
    lows = [lo if draw(st.booleans()) or i else math.nan for i, (_e, lo, _h) in enumerate(points)]
    choices = {
        f"choice {c}": tuple(
            draw(st.sampled_from(["a", "bb", "ccc", "dddd"][: draw(st.integers(1, 4))])) for _ in range(n)
        )
        for c in range(draw(st.integers(1, 3)))
    }
    return {
        "estimate": [e for e, _lo, _hi in points],
        "ci_low": lows,
        "ci_high": [hi for _e, _lo, hi in points],
        "choices": choices,
        "primary": draw(st.none() | st.integers(0, n - 1)),
        "threshold": draw(st.none() | value[scale]),
        "scale": scale,
        "title": draw(st.sampled_from(["", "A curve"])),
        "note": draw(st.sampled_from(["", "A note."])),
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(curve=spec_curves())
def test_marks_and_artists_agree_on_any_spec_curve(curve):
    from metablina.render.marks import spec_curve_drawing
    from metablina.render.speccurve import spec_curve

    style = file_style()
    with tempfile.TemporaryDirectory() as folder:
        assert_same_files(
            spec_curve(**curve, style=style), spec_curve_drawing(**curve, style=style), Path(folder)
        )
