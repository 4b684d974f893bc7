"""The Skia figure writer: text layout, the picture against matplotlib's own Agg drawing, the three files."""

from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from PIL import Image

from metablina.render.figures import font_family, new_figure, save_figure
from metablina.render.skiafig import layout

FAMILY = list(font_family())


def prop(size: float = 8.0, weight: str = "normal") -> FontProperties:
    return FontProperties(family=FAMILY, size=size, weight=weight)


def agg_width(text: str, p: FontProperties) -> float:
    """matplotlib's own unhinted width of ``text`` in points (FreeType layout with kerning)."""
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        w, _, _ = RendererAgg(8, 8, 720.0).get_text_width_height_descent(text, p, ismath=False)
    return w / 10.0


@pytest.mark.parametrize(
    "text", ["Study", "cclg-frontline-2025", "97.5% [34.5, 100.0]", "τ² = 1.633; I² = 66%", "AVATAR"]
)
@pytest.mark.parametrize("weight", ["normal", "bold"])
def test_widths_agree_with_matplotlibs_layout(text, weight):
    # matplotlib measures the ink box, the layout the advances: they differ by the side bearings only
    p = prop(8.0, weight)
    assert layout(text, p).width == pytest.approx(agg_width(text, p), abs=0.6)


def test_pair_kerning_is_applied():
    p = prop(10.0)
    assert layout("AV", p).width < layout("A", p).width + layout("V", p).width - 0.3
    assert layout("AV", p).width == pytest.approx(agg_width("AV", p), abs=0.3)


def test_widths_scale_with_size_and_extents_are_positive():
    small, big = layout("Events/N", prop(8.0)), layout("Events/N", prop(16.0))
    assert big.width == pytest.approx(2 * small.width, rel=1e-9)
    assert small.ascent > 0 and small.descent > 0  # "/" goes below the baseline
    # measured on the outlines: round letters overshoot the baseline a little (Liberation Sans: under
    # 0.1 pt at 8 pt, DejaVu Sans 0.11 pt), far less than the font's own descent (about 1.7 pt)
    assert layout("ace", prop(8.0)).descent == pytest.approx(0.0, abs=0.15)


def test_a_glyph_missing_from_the_first_family_comes_from_the_next():
    # Computer Modern ships with matplotlib (so this holds on any machine) and has no ⊕; it has no kern table
    line = layout("a ⊕ b", FontProperties(family=["cmr10", "DejaVu Sans"], size=8.0))
    files = [run[0] for run in line.runs]
    assert len(files) == 3 and files[0] == files[2] != files[1]
    assert files[1].endswith("DejaVuSans.ttf")
    assert all(g > 0 for run in line.runs for g in run[1])  # no missing-glyph boxes


# ------------------------------------------------------------------------------------------ the picture


def scene(colour: str = "black"):
    """Lines (one dashed, one clipped by the axes), a polygon, a rectangle and text, some rotated."""
    fig = new_figure(3.0, 2.0, dpi=100)
    ax = fig.add_axes((0.15, 0.2, 0.7, 0.7))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.add_line(Line2D([1, 12], [2, 2], color=colour, lw=2))  # runs out of the axes: clipped at 10
    ax.add_line(Line2D([1, 9], [5, 5], color="0.4", lw=1, ls="--"))
    ax.add_patch(Polygon([(2, 7), (4, 8), (6, 7), (4, 6)], closed=True, color="black"))
    ax.add_patch(Rectangle((7, 6), 2, 3, facecolor="0.6", edgecolor="black"))
    ax.set_xlabel("Proportion of patients (%)")
    ax.set_ylabel("Standard error")
    ax.set_title("Title")
    return fig


def grey_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float)


def test_png_matches_matplotlibs_own_rendering(tmp_path):
    fig = scene()
    (ours,) = save_figure(fig, tmp_path / "scene", ("png",), dpi=150)
    theirs = io.BytesIO()
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        fig.savefig(theirs, format="png", dpi=150, facecolor="white")
    a, b = grey_pixels(ours.read_bytes()), grey_pixels(theirs.getvalue())
    assert a.shape == b.shape == (300, 450)
    # same picture: anti-aliasing differs at edges (about 2.5 grey levels on average here), while the
    # same drawing shifted by one pixel differs by 6 to 9 and a flipped one by far more
    assert np.abs(a - b).mean() < 3.5
    ink_a, ink_b = a < 128, b < 128
    assert (ink_a & ink_b).sum() / (ink_a | ink_b).sum() > 0.8
    # the clipped line stops at the axes' right edge (x = 0.85 of the width), as in matplotlib's
    row = round(300 - (0.2 + 0.7 * 0.2) * 300)
    dark = np.flatnonzero(a[row - 1 : row + 2].min(axis=0) < 100)
    assert dark.max() == pytest.approx(0.85 * 450, abs=2)


def test_png_is_grey_when_the_figure_is_grey_and_rgb_otherwise(tmp_path):
    (grey,) = save_figure(scene(), tmp_path / "grey", ("png",), dpi=72)
    (red,) = save_figure(scene("red"), tmp_path / "red", ("png",), dpi=72)
    assert Image.open(grey).mode == "L"
    assert Image.open(red).mode == "RGB"
    assert Image.open(grey).info["dpi"] == pytest.approx((72, 72), abs=0.01)


def test_pdf_embeds_its_fonts_and_has_no_date(tmp_path):
    (pdf,) = save_figure(scene(), tmp_path / "scene", ("pdf",))
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"/FontFile2" in data  # TrueType subsets: text stays text
    assert b"CreationDate" not in data and b"ModDate" not in data
    assert re.search(rb"/MediaBox \[0 0 216 144\]", data)  # 3 x 2 in


def test_svg_has_its_print_size_fallback_fonts_and_ids_from_one(tmp_path):
    save_figure(scene(), tmp_path / "first", ("svg",))  # ids must not depend on earlier files
    (svg,) = save_figure(scene(), tmp_path / "scene", ("svg",))
    text = svg.read_text(encoding="utf-8")
    assert re.search(r'<svg [^>]*width="216.00pt" height="144.00pt" viewBox="0 0 216.00 144.00"', text)
    assert "Proportion of patients (%)" in text and "<text" in text
    families = set(re.findall(r'font-family="([^"]*)"', text))
    assert families and all(f.endswith("sans-serif") for f in families)
    ids = re.findall(r'id="cl_([0-9a-f]+)"', text)
    assert ids[0] == "1"
    assert all(f"url(#cl_{i})" in text for i in ids)


def test_hatching_is_refused_not_dropped(tmp_path):
    fig = new_figure(2, 2)
    fig.add_axes((0, 0, 1, 1)).add_patch(Rectangle((0, 0), 0.5, 0.5, hatch="//"))
    with pytest.raises(NotImplementedError, match="hatching"):
        save_figure(fig, tmp_path / "hatched", ("svg",))


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 3), (1, 1)])
def test_png_writer_round_trips_the_pixels_and_the_dpi(shape):
    """png_bytes (rows unfiltered, deflated by ISA-L) decodes to exactly its pixels, grey or RGB,
    with its resolution; PNG's own checks (chunk CRCs, zlib's Adler-32) pass in Pillow's reader."""
    from metablina.render.skiafig import png_bytes

    pixels = np.random.default_rng(11).integers(0, 256, shape, dtype=np.uint8)
    image = Image.open(io.BytesIO(png_bytes(pixels, 300.0)))
    image.load()
    assert image.mode == ("L" if len(shape) == 2 else "RGB")
    assert np.array_equal(np.asarray(image), pixels)
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_a_figure_font_is_made_once_and_cannot_change():
    """``font`` gives the same object for the same arguments (text layouts are cached by font, and
    hashing a FontProperties costs eight calls); it refuses a change, and its copy is an ordinary
    FontProperties, equal to it, that may change without touching it."""
    from matplotlib.font_manager import FontProperties

    from metablina.render.measure import font

    body = font(["DejaVu Sans"], 8)
    assert font(("DejaVu Sans",), 8.0) is body
    with pytest.raises(AttributeError, match="cannot change"):
        body.set_size(12)
    other = body.copy()
    assert type(other) is FontProperties and other == body and hash(other) == hash(body)
    other.set_size(12)
    assert body.get_size_in_points() == 8.0 and other != body


def test_the_svg_places_what_the_figure_places(tmp_path):
    """The SVG is written from the calls that drew the figure, so it is checked against geometry worked
    out by hand: a 3 x 2 in figure (216 x 144 pt, y down in the file) whose axes fill it, a rectangle
    from (0.25, 0.25) to (0.75, 0.5) in data units, filled half-transparent; a dashed line; a text rotated
    90 degrees about its origin at the centre, with characters XML must escape; the axes' clip around
    the drawing."""
    import xml.etree.ElementTree as ET

    fig = new_figure(3, 2)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.add_patch(Rectangle((0.25, 0.25), 0.5, 0.25, facecolor=(1.0, 0.0, 0.0, 0.5), edgecolor="none"))
    ax.add_line(Line2D([0, 1], [1, 1], color="0.5", linewidth=2, linestyle=(0, (3, 1))))
    ax.text(0.5, 0.5, "a < b & c", rotation=90, rotation_mode="anchor", fontproperties=prop(8.0))
    (svg,) = save_figure(fig, tmp_path / "geometry", ("svg",))
    root = ET.fromstring(svg.read_bytes())  # well formed: every group closed, the text escaped
    ns = "{http://www.w3.org/2000/svg}"
    paths = {p.get("fill"): p for p in root.iter(f"{ns}path")}
    rectangle = paths["#FF0000"]
    assert rectangle.get("fill-opacity") == "0.502"  # 128/255, as Skia stores the colour
    assert rectangle.get("d") == "M54 108L162 108L162 72L54 72Z"
    dashed = next(p for p in root.iter(f"{ns}path") if p.get("stroke") == "#808080")
    assert dashed.get("d") == "M0 0L216 0" and dashed.get("stroke-width") == "2"
    assert dashed.get("stroke-dasharray") == "6 2"  # matplotlib scales dashes by the line width
    (text,) = root.iter(f"{ns}text")
    assert text.text == "a < b & c"
    a, b, c, d, e, f = (float(v) for v in re.findall(r"[-0-9.]+", text.get("transform")))
    assert (a, b, c, d) == (0.0, -1.0, 1.0, 0.0) and (e, f) == (108.0, 72.0)  # turned 90 degrees at the centre
    xs = [float(v) for v in text.get("x").split()]
    assert len(xs) == len("a < b & c") and xs == sorted(xs)
    clip = root.find(f"{ns}clipPath/{ns}rect")
    assert clip is not None and (clip.get("width"), clip.get("height")) == ("216", "144")
