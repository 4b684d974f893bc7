"""Forest plots: glyph geometry read back from the drawn artists, layout without overlaps, stable files."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from metablina.render.figures import new_figure, save_figure
from metablina.render.forest import ForestData, Group, Pooled, StudyRow, draw_forest

# ------------------------------------------------------------------------------------------------ builders


def ratio_rows(k: int, seed: int = 1, weights: bool = True, prefix: str = "Study") -> list[StudyRow]:
    rng = np.random.default_rng(seed)
    y, se = rng.normal(-0.3, 0.4, k), rng.uniform(0.1, 0.8, k)
    w = 1 / se**2
    w = 100 * w / w.sum()
    return [
        StudyRow(
            f"{prefix} {i + 1} ({2000 + i})",
            f"{rng.integers(10, 400)}",
            math.exp(y[i]),
            math.exp(y[i] - 1.96 * se[i]),
            math.exp(y[i] + 1.96 * se[i]),
            weight=w[i] if weights else None,
        )
        for i in range(k)
    ]


POOLED = Pooled("Random effects (REML)", 0.7, 0.55, 0.9, pi_low=0.35, pi_high=1.4)
HET = "Heterogeneity: τ² = 0.31 [0.12, 1.11]; I² = 92%; Q = 152.2, df = 12, p < 0.001"


def one_row() -> ForestData:
    return ForestData(
        "One study",
        "Proportion (%)",
        "proportion",
        [Group(None, [StudyRow("Locatelli 2021", "31/54", 31 / 54, 0.432, 0.708)])],
        detail_label="Events/N",
        notes=["One study: nothing is pooled."],
    )


def three_rows() -> ForestData:
    rows = [
        StudyRow("Brown 2021", "0/54", 0.0, 0.0, 0.066),
        StudyRow("Locatelli 2021", "9/202", 9 / 202, 0.0206, 0.0829),
        StudyRow("Gupta 2023", "0/11", 0.0, 0.0, 0.285, note="no events"),
    ]
    return ForestData(
        "Grade ≥3 CRS",
        "Grade ≥3 CRS (%)",
        "proportion",
        [Group(None, rows)],
        overall=[
            Pooled("Random effects, GLMM", 0.021, 0.005, 0.084, pi_low=0.001, pi_high=0.34),
            Pooled("Bayesian, half-normal prior", 0.025, 0.006, 0.09, kind="bayes"),
        ],
        heterogeneity=HET,
        model="Random effects, GLMM (ML), 95% CI with t(k−1)",
        detail_label="Events/N",
        notes=["Study CIs are exact (Clopper–Pearson)."],
    )


def thirty_rows() -> ForestData:
    groups = [
        Group(
            f"Subgroup {name}",
            ratio_rows(k, seed=k, prefix=f"Trial {name}"),
            [Pooled("Subtotal (RE)", 0.8, 0.6, 1.05, pi_low=0.4, pi_high=1.6)],
            heterogeneity=HET,
        )
        for name, k in (("A", 12), ("B", 10), ("C", 8))
    ]
    return ForestData(
        "Thirty studies in three subgroups",
        "Odds ratio",
        "ratio",
        groups,
        overall=[POOLED],
        heterogeneity=HET,
        model="Random effects, REML, 95% CI with t(k−1)",
        xlim=(0.1, 10),
        subgroup_test="Test for subgroup differences: Q = 6.41, df = 2, p = 0.041",
        favours=("Favours treatment", "Favours control"),
        detail_label="N",
        notes=[
            "A long note that has to wrap onto a second line because it is longer than the figure is wide, "
            "which the layout must handle by measuring the text rather than guessing its width."
        ],
    )


def efs_strata() -> ForestData:
    row = StudyRow("Locatelli 2021", "68.0", 0.68, 0.559, 0.776)
    return ForestData(
        "EFS at landmarks",
        "Event-free survival (%)",
        "proportion",
        [
            Group(
                "12 months",
                [StudyRow("Brown 2021", "81.2", 0.812, 0.719, 0.876), row],
                [Pooled("Random effects", 0.75, 0.62, 0.85)],
            ),
            Group("60 months", [row], refusal="one study reports 60-month EFS"),
        ],
        notes=["Landmarks are not pooled with one another: the same patients contribute to every landmark."],
    )


# ------------------------------------------------------------------------------------------------ helpers


def patches(ax, gid: str) -> list:
    return [p for p in ax.patches if p.get_gid() == gid]


def lines(ax, gid: str) -> list:
    return [ln for ln in ax.lines if ln.get_gid() == gid]


def intervals(ax) -> np.ndarray:
    """The study intervals (one LineCollection): rows of x low, x high, y, checked horizontal."""
    found = [c for c in ax.collections if c.get_gid() == "ci"]
    if not found:
        return np.empty((0, 3))
    (collection,) = found
    segments = np.array(collection.get_segments())
    assert np.all(segments[:, 0, 1] == segments[:, 1, 1])
    return np.column_stack([segments[:, 0, 0], segments[:, 1, 0], segments[:, 0, 1]])


def drawn_data_xy(ax, patch) -> np.ndarray:
    """The vertices of a patch as drawn (display), mapped back to data coordinates.

    (Patch.get_verts applies only the affine part of a log axis' transform, hence the explicit transform.)
    """
    display = patch.get_transform().transform(patch.get_path().vertices)
    return ax.transData.inverted().transform(display)


def squares(ax):
    (coll,) = [c for c in ax.collections if c.get_gid() == "study-squares"]
    return coll


def texts(ax) -> list:
    fig = ax.figure
    fig.canvas.draw()
    return [
        t
        for t in [*ax.texts, ax.xaxis.label, *ax.get_xticklabels()]
        if t.get_visible() and t.get_text().strip()
    ]


def text_boxes(ax) -> list[tuple[str, Bbox]]:
    renderer = ax.figure.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts(ax)]


def overlaps(a: np.ndarray, b: np.ndarray, tol: float = 0.5) -> np.ndarray:
    """Pairwise overlap (more than ``tol`` pixels both ways) of boxes a (n, 4) and b (m, 4): x0, y0, x1, y1."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return (w > tol) & (h > tol)


def glyph_boxes(ax) -> np.ndarray:
    """Display boxes of diamonds, prediction bars and study squares."""
    boxes = [p.get_window_extent().extents for p in ax.patches]
    for coll in [c for c in ax.collections if c.get_gid() in ("study-squares", "unweighted-studies")]:
        px = ax.figure.dpi / 72
        centres = ax.transData.transform(coll.get_offsets())
        half = np.sqrt(coll.get_sizes()) * px / 2
        boxes += list(np.column_stack([centres - half[:, None], centres + half[:, None]]))
    return np.array(boxes).reshape(-1, 4)


def assert_clean_layout(ax) -> None:
    """No two texts overlap, no text covers a glyph or a null-line segment, all texts are in the figure."""
    named = text_boxes(ax)
    names = [t for t, _ in named]
    boxes = np.array([b.extents for _, b in named])
    clash = np.triu(overlaps(boxes, boxes), k=1)
    assert not clash.any(), [(names[i], names[j]) for i, j in zip(*np.nonzero(clash), strict=True)]
    fig = ax.figure.bbox
    outside = (boxes[:, 0] < fig.x0 - 0.5) | (boxes[:, 2] > fig.x1 + 0.5)
    outside |= (boxes[:, 1] < fig.y0 - 0.5) | (boxes[:, 3] > fig.y1 + 0.5)
    assert not outside.any(), f"cut off: {[n for n, o in zip(names, outside, strict=True) if o]}"
    covered = overlaps(boxes, glyph_boxes(ax)).any(axis=1)
    assert not covered.any(), f"text over a glyph: {[n for n, c in zip(names, covered, strict=True) if c]}"
    vertical = [ln for gid in ("null-line", "reference-line") for ln in lines(ax, gid)]
    null = np.array([ln.get_window_extent().extents for ln in vertical]).reshape(-1, 4)
    crossed = overlaps(boxes, null, tol=0.1).any(axis=1)
    assert not crossed.any(), (
        f"text across the null or threshold line: {[n for n, c in zip(names, crossed, strict=True) if c]}"
    )


# ------------------------------------------------------------------------------------------------ glyphs


@pytest.mark.parametrize("scale", ["ratio", "proportion", "difference"])
def test_diamond_centre_and_ends_are_the_pooled_estimate_and_ci(scale):
    p = {
        "ratio": Pooled("RE", 0.62, 0.41, 0.95),
        "proportion": Pooled("RE", 0.3, 0.21, 0.41),
        "difference": Pooled("RE", -1.2, -2.5, 0.3),
    }[scale]
    row = StudyRow("A", "", p.estimate, p.ci_low * 0.9 if scale != "difference" else -3, p.ci_high)
    ax = draw_forest(ForestData("t", "m", scale, [Group(None, [row])], overall=[p]))
    (diamond,) = patches(ax, "diamond-frequentist")
    xy = drawn_data_xy(ax, diamond)
    np.testing.assert_allclose(xy[:, 0].min(), p.ci_low, rtol=1e-9)
    np.testing.assert_allclose(xy[:, 0].max(), p.ci_high, rtol=1e-9)
    tips = xy[np.argsort(xy[:-1, 1])[[0, -1]]]  # top and bottom vertices
    np.testing.assert_allclose(tips[:, 0], p.estimate, rtol=1e-9)
    left = xy[np.argmin(xy[:, 0])]
    np.testing.assert_allclose(left[1], tips[:, 1].mean(), rtol=1e-9)  # ends at the vertical centre


def test_bayes_diamond_is_open_and_prediction_interval_is_a_bar():
    ax = draw_forest(three_rows())
    (freq,) = patches(ax, "diamond-frequentist")
    (bayes,) = patches(ax, "diamond-bayes")
    assert tuple(freq.get_facecolor()[:3]) == (0, 0, 0)
    assert tuple(bayes.get_facecolor()[:3]) == (1, 1, 1) and tuple(bayes.get_edgecolor()[:3]) == (0, 0, 0)
    np.testing.assert_allclose(drawn_data_xy(ax, bayes)[:, 0].min(), 0.006)
    (bar,) = patches(ax, "prediction-interval")
    assert isinstance(bar, Rectangle)
    xy = drawn_data_xy(ax, bar)
    np.testing.assert_allclose([xy[:, 0].min(), xy[:, 0].max()], [0.001, 0.34], rtol=1e-9)
    # the bar sits on the row beneath its diamond
    assert drawn_data_xy(ax, bar)[:, 1].mean() > drawn_data_xy(ax, freq)[:, 1].mean()


def test_square_areas_are_proportional_to_weights():
    rows = ratio_rows(7)
    ax = draw_forest(ForestData("t", "OR", "ratio", [Group(None, rows)], overall=[POOLED], xlim=(0.01, 100)))
    coll = squares(ax)
    path = coll.get_paths()[0].vertices
    np.testing.assert_allclose(np.ptp(path, axis=0), [1, 1])  # unit square: area (pt²) == size
    sizes, w = coll.get_sizes(), np.array([r.weight for r in rows])
    np.testing.assert_allclose(sizes / w, sizes[0] / w[0], rtol=1e-12)
    np.testing.assert_allclose(coll.get_offsets()[:, 0], [r.estimate for r in rows])
    # the biggest square fits inside its row
    row_pt = abs(np.diff(ax.transData.transform([(1, 0), (1, 1)])[:, 1])[0]) * 72 / ax.figure.dpi
    assert math.sqrt(sizes.max()) < row_pt


def test_squares_are_uniform_without_weights():
    ax = draw_forest(ForestData("t", "OR", "ratio", [Group(None, ratio_rows(5, weights=False))]))
    sizes = squares(ax).get_sizes()
    assert np.all(sizes == sizes[0]) and sizes[0] > 0
    assert not any(t.get_text() == "Weight" for t in ax.texts)  # no weight column


def test_ci_beyond_xlim_ends_in_arrows_at_the_limits():
    rows = [
        StudyRow("wide", "", 1.5, 0.05, 40.0),
        StudyRow("inside", "", 1.0, 0.5, 2.0),
        StudyRow("right only", "", 2.0, 0.5, 12.0),
    ]
    ax = draw_forest(ForestData("t", "HR", "ratio", [Group(None, rows)], xlim=(0.1, 10)))
    left, right = lines(ax, "ci-arrow-left"), lines(ax, "ci-arrow-right")
    assert len(left) == 1 and len(right) == 2
    assert all(ln.get_xdata()[0] == 0.1 for ln in left) and all(ln.get_xdata()[0] == 10 for ln in right)
    cis = intervals(ax)
    assert cis[:, :2].min() == 0.1 and cis[:, :2].max() == 10
    np.testing.assert_array_equal(cis[:, 2], squares(ax).get_offsets()[:, 1])  # each on its square's row
    # inside the limits: no arrow on that row
    y_inside = squares(ax).get_offsets()[1, 1]
    assert all(ln.get_ydata()[0] != y_inside for ln in left + right)


def tick_labels(ax) -> list[str]:
    """The x tick labels, checked to sit under the tick marks drawn at their values, left to right."""
    (marks,) = lines(ax, "x-ticks")
    texts = [t for t in ax.texts if t.get_gid() == "x-tick-label"]
    np.testing.assert_allclose([t.get_position()[0] for t in texts], marks.get_xdata())
    assert list(marks.get_xdata()) == sorted(marks.get_xdata())
    lo, hi = ax.get_xlim()
    assert all(lo <= x <= hi for x in marks.get_xdata())
    return [t.get_text() for t in texts]


def test_ratio_axis_is_log_with_ratio_ticks_and_a_null_line():
    ax = draw_forest(ForestData("t", "HR", "ratio", [Group(None, ratio_rows(4))], overall=[POOLED]))
    assert ax.get_xscale() == "log"
    ax.figure.canvas.draw()
    assert not [t for t in ax.get_xticklabels(minor=True) if t.get_text()]  # no log-scale minor labels
    labels = tick_labels(ax)
    assert "1" in labels and all(float(x) > 0 for x in labels)
    assert set(labels) <= {
        "0.01",
        "0.02",
        "0.05",
        "0.1",
        "0.25",
        "0.5",
        "0.75",
        "1",
        "1.5",
        "2",
        "4",
        "10",
        "20",
    }
    null = lines(ax, "null-line")
    assert null and all(list(ln.get_xdata()) == [1.0, 1.0] for ln in null)


def test_proportion_axis_is_linear_in_percent_and_prints_the_given_exact_ci():
    lo = 0.025 ** (1 / 11)  # Clopper–Pearson lower limit for 11/11, closed form
    data = ForestData(
        "t",
        "MRD negativity (%)",
        "proportion",
        [
            Group(
                None,
                [StudyRow("Keating 2019", "11/11", 1.0, lo, 1.0), StudyRow("B", "0/11", 0.0, 0.0, 0.285)],
            )
        ],
    )
    ax = draw_forest(data)
    assert ax.get_xscale() == "linear" and ax.get_xlim() == (0.0, 1.0)
    ax.figure.canvas.draw()
    assert tick_labels(ax)[-1] == "100%" and tick_labels(ax)[0] == "0%"
    shown = {t.get_text() for t in ax.texts}
    assert {"100.0%", "[71.5, 100.0]", "0.0%", "[0.0, 28.5]"} <= shown
    assert not lines(ax, "null-line")  # no null for proportions by default
    # a 100% estimate draws a whole square at the axis end
    assert squares(ax).get_clip_on() is False and squares(ax).get_offsets()[0, 0] == 1.0


# ------------------------------------------------------------------------------------------------ layout


@pytest.mark.parametrize("make", [one_row, three_rows, thirty_rows, efs_strata], ids=lambda f: f.__name__)
def test_no_text_overlaps_and_no_wasted_space(make):
    ax = draw_forest(make())
    assert_clean_layout(ax)
    fig = ax.figure
    tight = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    w, h = fig.get_size_inches()
    margins_pt = 72 * np.array([tight.x0, tight.y0, w - tight.x1, h - tight.y1])
    assert np.all(margins_pt > -0.5) and np.all(margins_pt < 12), margins_pt


def test_figure_height_grows_with_the_rows_and_width_follows_the_labels():
    def fig_size(rows):
        return draw_forest(ForestData("t", "OR", "ratio", [Group(None, rows)])).figure.get_size_inches()

    h3, h30 = fig_size(ratio_rows(3))[1], fig_size(ratio_rows(30))[1]
    np.testing.assert_allclose((h30 - h3) * 72, 27 * 1.5 * 8.0, rtol=1e-9)  # 27 rows of 1.5 em at 8 pt
    short = fig_size(ratio_rows(3))[0]
    long = fig_size(
        [StudyRow("A much, much longer study label than the others", "", 1, 0.5, 2), *ratio_rows(2)]
    )[0]
    assert long > short + 1.0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=st.lists(
        st.text(alphabet="abcdefghij KLMNOP()-0123456789", min_size=1, max_size=40).filter(str.strip),
        min_size=1,
        max_size=8,
    ),
    het=st.text(alphabet="abcdefg τ²=;.,0123456789", min_size=0, max_size=160),
    seed=st.integers(0, 1000),
)
def test_layout_is_clean_for_arbitrary_labels(labels, het, seed):
    rows = [
        StudyRow(lab, d.detail, d.estimate, d.ci_low, d.ci_high, d.weight)
        for lab, d in zip(labels, ratio_rows(len(labels), seed), strict=True)
    ]
    data = ForestData(
        "Title " + labels[0],
        "Risk ratio",
        "ratio",
        [Group(labels[-1], rows, [POOLED], heterogeneity=het or None)],
        overall=[POOLED],
        heterogeneity=het or None,
        model="model",
        notes=[het] if het else [],
        favours=("Favours A", "Favours B"),
    )
    assert_clean_layout(draw_forest(data))


def test_subgroups_have_headers_subtotals_heterogeneity_and_the_subgroup_test():
    data = thirty_rows()
    ax = draw_forest(data)
    shown = [t.get_text() for t in ax.texts]
    for g in data.groups:
        assert g.label in shown
    assert len(patches(ax, "diamond-frequentist")) == 4  # three subtotals and the overall estimate
    assert len(patches(ax, "prediction-interval")) == 4
    assert shown.count(HET) == 4 and data.subgroup_test in shown and data.model in shown
    assert [t.get_text() for t in ax.texts if t.get_gid() == "x-label"] == ["Odds ratio"]
    # the null line is interrupted where a heterogeneity line crosses it
    assert len(lines(ax, "null-line")) == 4
    # header rows: bold column titles, one rule under them
    assert {"Study", "N", "Estimate [95% CI]", "Weight"} <= set(shown)
    assert len(lines(ax, "header-rule")) == 1


def test_refused_stratum_has_no_diamond_and_its_reason_is_printed():
    data = efs_strata()
    ax = draw_forest(data)
    diamonds = patches(ax, "diamond-frequentist")
    assert len(diamonds) == 1 and diamonds[0].get_label() == "Random effects"
    shown = [t.get_text() for t in ax.texts]
    assert "Not pooled: one study reports 60-month EFS" in shown
    assert data.notes[0] in shown
    # the refusal line sits below the 60-month study, after the only diamond
    y_refusal = next(t.get_position()[1] for t in ax.texts if t.get_text().startswith("Not pooled"))
    assert y_refusal > max(drawn_data_xy(ax, diamonds[0])[:, 1])
    assert squares(ax).get_offsets()[:, 1].max() < y_refusal


def test_refusal_and_subtotal_are_exclusive_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="refused stratum"):
        Group("x", [], [POOLED], refusal="k = 1")
    with pytest.raises(ValueError, match="does not contain"):
        StudyRow("A", "", 0.5, 0.6, 0.9)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        ForestData("t", "m", "proportion", [Group(None, [StudyRow("A", "", 45.0, 30.0, 60.0)])])
    with pytest.raises(ValueError, match="scale"):
        ForestData("t", "m", "odds", [Group(None, ratio_rows(2))])
    with pytest.raises(ValueError, match="pi_low"):
        Pooled("p", 1, 0.5, 2, pi_low=0.2)


def test_drawing_into_a_given_axes_fits_the_table_in_its_box():
    fig = new_figure(8, 6)
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.9))
    out = draw_forest(three_rows(), ax=ax)
    assert out is ax and ax.figure is fig
    box = ax.get_position()
    assert box.x0 > 0.05 and box.x1 < 0.95 and box.y0 >= 0.05 and box.y1 <= 0.95 + 1e-9
    assert_clean_layout(ax)
    narrow = new_figure(2, 6).add_axes((0.1, 0.1, 0.8, 0.8))
    with pytest.raises(ValueError, match=r"in wide; the table needs"):
        draw_forest(three_rows(), ax=narrow)


# ------------------------------------------------------------------------------------------------ files


def test_saves_are_byte_identical(tmp_path):
    a = save_figure(draw_forest(three_rows()).figure, tmp_path / "a" / "forest")
    b = save_figure(draw_forest(three_rows()), tmp_path / "b" / "forest")  # an Axes works too
    assert [p.suffix for p in a] == [".png", ".svg", ".pdf"]
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    assert b"<dc:date>" not in a[1].read_bytes()
    assert b"CreationDate" not in a[2].read_bytes()


def test_drawing_leaves_no_global_state():
    """No pyplot import, and the rcParams that saving sets are restored (read key by key: reading
    rcParams["backend"] would itself import pyplot)."""
    code = (
        "import sys, matplotlib\n"
        "keys = ['text.hinting', 'svg.hashsalt', 'svg.fonttype', 'pdf.fonttype', 'ps.fonttype',\n"
        "        'pdf.compression', 'font.family', 'font.size', 'axes.linewidth']\n"
        "before = [matplotlib.rcParams[k] for k in keys]\n"
        "from tests.render.test_forest import thirty_rows\n"
        "from metablina.render.forest import draw_forest\n"
        "from metablina.render.figures import save_figure\n"
        "import tempfile, os\n"
        "save_figure(draw_forest(thirty_rows()), os.path.join(tempfile.mkdtemp(), 'f'), formats=('svg',))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert [matplotlib.rcParams[k] for k in keys] == before, 'rcParams changed'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/tests/", 1)[0])


def test_not_estimable_zero_and_infinite_limits():
    rows = [
        StudyRow("not estimable", "0/0", math.nan, math.nan, math.nan),
        StudyRow("zero cell", "0/10 vs 3/12", 0.15, 0.0, math.inf),
        StudyRow("no CI reported", "", 2.0, math.nan, math.nan),
    ]
    ax = draw_forest(ForestData("t", "OR", "ratio", [Group(None, rows)]))
    shown = [t.get_text() for t in ax.texts]
    assert "NA" in shown and "[0.00, ∞]" in shown
    np.testing.assert_allclose(squares(ax).get_offsets()[:, 0], [0.15, 2.0])  # no square for NA
    assert len(lines(ax, "ci-arrow-left")) == 1 and len(lines(ax, "ci-arrow-right")) == 1
    assert len(intervals(ax)) == 1  # only the zero-cell study has an interval to draw
    assert_clean_layout(ax)


def test_tiny_values_print_below_the_last_decimal_not_in_e_notation() -> None:
    from metablina.render.forestlayout import _fmt

    assert [
        _fmt(7.5e-9, "proportion", 1),
        _fmt(0.0, "proportion", 1),
        _fmt(0.00012, "ratio", 2),
        _fmt(-0.001, "difference", 2),
        _fmt(-0.0, "difference", 2),
    ] == ["<0.1", "0.0", "<0.01", ">−0.01", "0.00"]


# ------------------------------------------------------------------------------- axis fitted to the data


def rare_events(threshold: float | None = 0.05, k2: bool = False) -> ForestData:
    """CRS-like rates of 0-13%: three studies, a subtotal, a plan threshold at 5% (issue 13)."""
    rows = [
        StudyRow("Alpha 2021", "0/54", 0.0, 0.0, 0.066),
        StudyRow("Beta 2023", "9/202", 9 / 202, 0.0206, 0.0829),
        StudyRow("Gamma 2024", "2/40", 0.05, 0.0061, 0.1329),
    ]
    caution = "k = 2: random-effects interval uninformative" if k2 else None
    sub = Pooled(
        "Subtotal",
        0.03,
        0.001,
        0.97 if k2 else 0.09,
        pi_low=0.0005 if k2 else None,
        pi_high=0.99 if k2 else None,
        caution=caution,
    )
    return ForestData(
        "Grade ≥3 CRS",
        "Proportion of patients (%)",
        "proportion",
        [
            Group(
                "frontline",
                rows,
                [sub],
                heterogeneity="Heterogeneity: τ² = 0.12; I² = 8%; Q = 2.2, df = 2, p = 0.33",
            )
        ],
        null_value=threshold,
        detail_label="Events/N",
    )


def test_rare_events_get_an_axis_fitted_to_their_intervals_not_0_to_100() -> None:
    ax = draw_forest(rare_events())
    lo, hi = ax.get_xlim()
    assert lo == 0.0 and 0.1329 <= hi <= 0.15  # the widest CI (13.3%) plus a little, rounded to a tick
    labels = tick_labels(ax)
    assert labels[0] == "0%" and labels[-1] == f"{round(100 * hi):g}%"
    assert len(lines(ax, "null-line")) >= 1  # the 5% threshold is inside the axis
    assert_clean_layout(ax)


def test_the_threshold_line_is_always_inside_the_axis() -> None:
    ax = draw_forest(rare_events(threshold=0.3))
    lo, hi = ax.get_xlim()
    assert lo <= 0.3 <= hi and hi <= 0.35 + 1e-9
    (x,) = {ln.get_xdata()[0] for ln in lines(ax, "null-line")}
    assert x == 0.3


def test_high_rates_do_not_start_the_axis_at_zero() -> None:
    rows = [StudyRow("A", "40/50", 0.8, 0.663, 0.9), StudyRow("B", "58/60", 58 / 60, 0.885, 0.996)]
    ax = draw_forest(ForestData("t", "MRD negativity (%)", "proportion", [Group(None, rows)]))
    lo, hi = ax.get_xlim()
    assert 0.6 <= lo <= 0.663 - 0.04 * (0.996 - 0.663) + 1e-9 and hi == 1.0


def test_uninformative_k2_interval_is_flagged_and_does_not_stretch_the_axis() -> None:
    data = rare_events(k2=True)
    ax = draw_forest(data)
    assert ax.get_xlim()[1] <= 0.15  # fitted to the studies, as without the k = 2 interval
    shown = [t.get_text() for t in ax.texts]
    assert "k = 2: random-effects interval uninformative" in shown
    # the diamond ends at the axis limit, and arrows say that the interval and the PI go on
    (diamond,) = patches(ax, "diamond-frequentist")
    assert drawn_data_xy(ax, diamond)[:, 0].max() == pytest.approx(ax.get_xlim()[1])
    assert len(lines(ax, "ci-arrow-right")) == 2
    assert_clean_layout(ax)


def test_uninformative_flag_is_for_random_effects_with_two_studies_only() -> None:
    from metablina.render.forestmodel import uninformative

    assert uninformative(2, "REML") and uninformative(2, "GLMM")
    assert uninformative(3, "REML") is None and uninformative(1, "REML") is None
    assert uninformative(2, "FE") is None and uninformative(2, "BAYES-GLMM") is None


def test_ci_is_one_text_with_no_padding_inside_the_brackets() -> None:
    ax = draw_forest(rare_events())
    shown = {t.get_text() for t in ax.texts}
    assert {"[0.0, 6.6]", "[2.1, 8.3]", "[0.6, 13.3]"} <= shown
    cis = [t for t in ax.texts if t.get_text().startswith("[")]
    assert all("  " not in t.get_text() for t in cis)
    # right-aligned at one x: the closing brackets line up
    assert len({t.get_position()[0] for t in cis}) == 1 and all(t.get_ha() == "right" for t in cis)


def test_unweighted_study_is_an_open_circle_with_its_reason_and_no_interval() -> None:
    reason = "no SE or CI reported: not pooled"
    rows = [
        StudyRow("Alpha 2021", "31/54", 31 / 54, 0.432, 0.708, weight=100.0),
        StudyRow("Delta 2024", "97.8%", 0.978, math.nan, math.nan, note=reason, unweighted=True),
    ]
    ax = draw_forest(ForestData("t", "EFS (%)", "proportion", [Group(None, rows)]))
    (circles,) = [c for c in ax.collections if c.get_gid() == "unweighted-studies"]
    np.testing.assert_allclose(circles.get_offsets()[:, 0], [0.978])
    assert len(squares(ax).get_offsets()) == 1 and len(intervals(ax)) == 1
    shown = [t.get_text() for t in ax.texts]
    assert reason in shown and "97.8%" in shown
    assert any(t.startswith("Open circle: a result reported without an SE or CI") for t in shown)
    assert_clean_layout(ax)
    with pytest.raises(ValueError, match="unweighted row"):
        StudyRow("x", "", 0.5, math.nan, math.nan, unweighted=True)


def test_long_labels_and_notes_wrap_under_the_label_and_keep_the_figure_narrow() -> None:
    label = "multicentre-preemptive-2025 · CR-MRDneg in the 1-year survival analysis (size not reported)"
    note = "from 81.8%; graded by CTCAE v4.0; final analysis, cut 2022-11-21; conference abstract"
    rows = [
        StudyRow(label, "9/11", 9 / 11, 0.482, 0.977, note=note),
        StudyRow("B", "5/9", 5 / 9, 0.212, 0.863),
    ]
    ax = draw_forest(
        ForestData("", "Proportion (%)", "proportion", [Group(None, rows)], detail_label="Events/N")
    )
    width_pt = ax.figure.get_size_inches()[0] * 72
    assert width_pt < 560  # a journal page (and the report's column at 900 px) holds it at full size
    shown = [t.get_text() for t in ax.texts]
    assert label not in shown and note not in shown  # both wrapped
    assert " ".join(t for t in shown if t in label) == label
    assert_clean_layout(ax)


def test_threshold_line_is_broken_where_text_between_the_rows_would_cross_it() -> None:
    """Heterogeneity lines, refusals and group headers between glyph rows are wider than the label
    column; the threshold line stops above each and starts again below it."""
    one = rare_events()
    het = "Heterogeneity: τ² = 0.123; I² = 8%; Wald Q = 2.20, df = 2, p = 0.33; LRT = 2.07, p = 0.35 " * 2
    groups = [
        Group(f"setting {i}", g.rows, g.subtotals, heterogeneity=het) for i in (1, 2) for g in one.groups
    ]
    groups.append(
        Group("relapse, a stratum with a very long name that runs across the plot panel", refusal="k = 1")
    )
    ax = draw_forest(ForestData("t", "Proportion (%)", "proportion", groups, null_value=0.05))
    assert len(lines(ax, "null-line")) == 2  # broken at the first group's heterogeneity line
    assert_clean_layout(ax)


def test_every_shipped_forest_plot_is_clean_narrow_and_fitted_to_its_data() -> None:
    """The shipped review's plots: no text crosses a line or another text, each fits the report's column
    at 900 px at full size (< 560 pt), and a proportion axis reaches no further than its data and
    threshold need (the pooled intervals flagged as uninformative excepted)."""
    from pathlib import Path

    from metablina.render.compareforest import analysis_forest_data, is_comparative
    from metablina.render.forestdata import forest_data
    from metablina.render.forestlayout import PROPORTION_PAD, _axis_values
    from metablina.report import run_plan

    run = run_plan(Path(__file__).resolve().parents[2] / "studies")
    for result in run.results:
        data = analysis_forest_data(result) if is_comparative(result) else forest_data(result)
        ax = draw_forest(data)
        assert ax.figure.get_size_inches()[0] * 72 < 560, result.analysis.id
        assert_clean_layout(ax)
        if data.scale == "proportion":
            values = np.append(_axis_values(data), [] if data.null is None else [data.null])
            lo, hi = ax.get_xlim()
            step = np.diff(tick_labels_values(ax)).max()
            pad = PROPORTION_PAD * max(values.max() - values.min(), 0.05)
            assert lo <= values.min() and hi >= values.max(), result.analysis.id
            assert lo >= values.min() - pad - step and hi <= values.max() + pad + step, result.analysis.id
        ax.figure.clear()


def tick_labels_values(ax) -> np.ndarray:
    (marks,) = lines(ax, "x-ticks")
    return np.asarray(marks.get_xdata(), dtype=float)


@pytest.mark.parametrize("scale", ["ratio", "difference"])
def test_favours_labels_sit_either_side_of_a_null_inside_the_axis(scale: str) -> None:
    """Every interval below the null (the OS hazard ratio 0.34 [0.17, 0.67]): the axis still reaches
    past the null, the left label ends left of it and the right label starts right of it."""
    ratio = scale == "ratio"
    rows = (
        [StudyRow("Locatelli 2021", "", 0.34, 0.17, 0.67)] if ratio else [StudyRow("A", "", -0.2, -0.3, -0.1)]
    )
    left, right = "Favours blinatumomab", "Favours chemotherapy"
    data = ForestData(
        "", "Hazard ratio" if ratio else "Risk difference", scale, [Group(None, rows)], favours=(left, right)
    )
    ax = draw_forest(data)
    null = 1.0 if ratio else 0.0
    lo, hi = ax.get_xlim()
    assert lo < null < hi
    if ratio:
        assert hi / null >= 1.4 and null / lo >= 1.4
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    box = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts if t.get_text() in (left, right)}
    x_null = ax.transData.transform((null, 0))[0]
    assert box[left].x1 <= x_null <= box[right].x0
    assert_clean_layout(ax)
