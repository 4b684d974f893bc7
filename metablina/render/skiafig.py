"""Figure files through Skia: a figure is drawn once and written as PNG, PDF and SVG.

matplotlib's own file backends draw the whole artist tree once per format and lay every string out again
each time (FreeType in Python-driven loops; fontTools subsetting for each PDF). Here a figure is drawn a
single time into a Skia picture, through the primitives of :class:`SkiaCanvas`: by matplotlib's artists
(:mod:`metablina.render.skiarender`) or by the report's own marks (:mod:`metablina.render.marks`). The
picture is then played into a raster surface (PNG) and a PDF document (TrueType subsets embedded by
Skia: real, selectable text). Skia is C++, so each costs a few milliseconds. The SVG is written here from
the same primitive calls, kept as the figure is drawn (``<text>`` with an absolute x for every glyph, so
the layout holds in any metric-compatible font): Skia's SVG canvas spent 35 µs on each line of text.

Text is laid out here as well: glyphs from the font files matplotlib's font manager picks for a
``FontProperties`` (the first family that has a glyph for a character, so a symbol missing in the first
family comes from the next), advances unhinted at any size, and pair kerning from the fonts' ``kern``
table (as matplotlib's FreeType layout does). :class:`metablina.render.figures.TextMeasure` measures with
the same layout, so what the forest plot lays out is what is drawn.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import skia
from isal import isal_zlib
from matplotlib.font_manager import FontProperties, findfont, fontManager, get_font

# A font manager with no system fonts: typefaces come only from the files matplotlib picks, so the
# output does not depend on fontconfig (and fontconfig's warnings about its own configuration stay out).
_FONTS = skia.FontMgr.New_Custom_Empty()

# Fonts named in SVG files: the family drawn with, then metric-compatible ones (Liberation Sans is
# metric-compatible with Arial and Helvetica, so glyph positions hold where it is not installed).
SVG_FALLBACKS = {"Liberation Sans": "Arial, Helvetica, sans-serif", "DejaVu Sans": "Verdana, sans-serif"}


@functools.cache
def _typeface(path: str) -> skia.Typeface:
    face = _FONTS.makeFromFile(path, 0)
    if face is None:
        raise OSError(f"Skia cannot read the font file {path}")
    return face


def _font_files(prop: FontProperties) -> tuple[str, ...]:
    """The font file of each installed family of ``prop`` (weight and style matched by matplotlib), in
    order, then matplotlib's default font (DejaVu Sans, always there) for anything still missing."""
    return _files_of(
        tuple(prop.get_family()), prop.get_weight(), prop.get_style(), prop.get_stretch(), prop.get_variant()
    )


@functools.cache
def _files_of(
    families: tuple[str, ...], weight: object, style: str, stretch: object, variant: str
) -> tuple[str, ...]:
    """Cached without the size, which picks no other file (matplotlib's own cache has it in its key, so
    every size of a font would be looked up again)."""
    installed = {f.name for f in fontManager.ttflist}
    files: list[str] = []
    for family in [*families, "DejaVu Sans"]:
        if family not in installed:
            continue
        one = FontProperties(family=family, weight=weight, style=style, stretch=stretch, variant=variant)
        path = str(findfont(one, fallback_to_default=False))
        if path not in files:
            files.append(path)
    if not files:
        files.append(str(findfont(FontProperties(family=list(families), weight=weight, style=style))))
    return tuple(files)


@functools.cache
def _font(path: str, size: float) -> skia.Font:
    font = skia.Font(_typeface(path), size)
    font.setSubpixel(True)
    font.setLinearMetrics(True)
    font.setHinting(skia.FontHinting.kNone)
    font.setEdging(skia.Font.Edging.kAntiAlias)
    return font


@functools.cache
def _glyph_box(path: str, glyph: int) -> tuple[float, float] | None:
    """Top and bottom of a glyph's outline per point of font size (y down), None for a blank glyph.
    From the outline itself: Skia's glyph bounds are rounded to 1/64 em or, at text sizes, to whole
    units."""
    font = skia.Font(_typeface(path), 1024.0)
    box = font.getPath(glyph).computeTightBounds() if glyph else skia.Rect.MakeEmpty()
    return None if box.isEmpty() else (box.top() / 1024.0, box.bottom() / 1024.0)


@dataclass(frozen=True)
class TextLayout:
    """A laid-out line of text: runs of (font file, glyph ids, x of each glyph), all in points from the
    origin of the line on its baseline; ``ascent`` and ``descent`` are the ink extents above and below
    the baseline (both ≥ 0), ``width`` the advance of the whole line."""

    runs: tuple[tuple[str, tuple[int, ...], tuple[float, ...]], ...]
    width: float
    ascent: float
    descent: float


@functools.lru_cache(maxsize=8192)
def layout(text: str, prop: FontProperties) -> TextLayout:
    """Lay out one line of ``text`` in ``prop`` (cached: figures repeat their strings)."""
    size = float(prop.get_size_in_points())
    files = _font_files(prop)
    runs: list[tuple[str, list[int]]] = []
    for ch in text:
        code = ord(ch)
        path, glyph = files[0], 0
        for candidate in files:
            glyph = _typeface(candidate).unicharToGlyph(code)
            if glyph:
                path = candidate
                break
        if not runs or runs[-1][0] != path:
            runs.append((path, []))
        runs[-1][1].append(glyph)
    x, top, bottom = 0.0, 0.0, 0.0
    out = []
    for path, glyphs in runs:
        font, face = _font(path, size), _typeface(path)
        # None where the font has no kern table (Computer Modern, for one)
        kern = (face.getKerningPairAdjustments(glyphs) if len(glyphs) > 1 else None) or []
        per_unit = size / face.getUnitsPerEm()
        xs = []
        for i, advance in enumerate(font.getWidths(glyphs)):
            xs.append(x)
            x += advance + (kern[i] * per_unit if i < len(kern) else 0.0)
        for glyph in glyphs:
            box = _glyph_box(path, glyph)
            if box is not None:
                top, bottom = min(top, box[0] * size), max(bottom, box[1] * size)
        out.append((path, tuple(glyphs), tuple(xs)))
    return TextLayout(tuple(out), x, -top, bottom)


@functools.lru_cache(maxsize=256)
def font_extent(prop: FontProperties, dpi: float) -> tuple[float, float] | None:
    """The font's own ascent and descent in pixels (OS/2 typographic metrics, else hhea), which
    matplotlib uses as the least height of a line of text; None when the font has neither table."""
    font = get_font(findfont(prop))
    for table_name, ascent_key, descent_key in (
        ("OS/2", "sTypoAscender", "sTypoDescender"),
        ("hhea", "ascent", "descent"),
    ):
        table = font.get_sfnt_table(table_name)
        if table is not None:
            scale = prop.get_size_in_points() * dpi / 72 / font.get_sfnt_table("head")["unitsPerEm"]
            return table[ascent_key] * scale, -table[descent_key] * scale
    return None


def line_box(height: float, descent: float, extent: tuple[float, float]) -> tuple[float, float]:
    """The ascent and descent matplotlib gives one line of text of this ``height`` and ``descent``: at
    least the font's own (``extent``, from :func:`font_extent`), as ``Text._get_layout`` does."""
    return max(height - descent, extent[0]), max(descent, extent[1])


def aligned(
    x: float, y: float, width: float, ascent: float, descent: float, ha: str, va: str
) -> tuple[float, float]:
    """The origin (left end of the baseline) of an unrotated line anchored at ``x``, ``y`` (y upwards)
    with matplotlib's alignment ``ha`` and ``va``."""
    x -= {"left": 0.0, "center": width / 2, "right": width}[ha]
    y += {
        "baseline": 0.0,
        "top": -ascent,
        "bottom": descent,
        "center": (descent - ascent) / 2,
        "center_baseline": -ascent / 2,
    }[va]
    return x, y


_CAPS = {"butt": skia.Paint.kButt_Cap, "round": skia.Paint.kRound_Cap, "projecting": skia.Paint.kSquare_Cap}
_JOINS = {"miter": skia.Paint.kMiter_Join, "round": skia.Paint.kRound_Join, "bevel": skia.Paint.kBevel_Join}

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class Pen:
    """How a line is stroked: colour, width in points, matplotlib's cap and join names, and dashes (an
    offset and on-off lengths in points, or None for a solid line)."""

    color: RGBA
    width: float
    cap: str = "butt"
    join: str = "round"
    dashes: tuple[float, tuple[float, ...] | None] = (0.0, None)


@dataclass(frozen=True, eq=False)
class Shape:
    """A path in Skia's y-down points: the Skia path that is drawn, and the points and matplotlib path
    codes it was made from, which the SVG writer writes as path data."""

    path: skia.Path
    xy: np.ndarray
    codes: np.ndarray | None = None
    closed: bool = False


class SkiaCanvas:
    """A Skia canvas in points, y downwards, with the primitives both figure routes draw with (matplotlib
    artists through :class:`metablina.render.skiarender.SkiaRenderer`, and marks drawn directly): the
    same call gives the same picture whichever route makes it.

    Every call is also kept, in order, in ``ops``: the SVG writer (:func:`write_svg`) writes the figure
    from them, since Skia's own SVG canvas spent 35 µs on each line of text (most of a 200-row forest
    plot's writing time)."""

    def __init__(self, canvas: skia.Canvas, width: float, height: float) -> None:
        self.canvas = canvas
        self.width, self.height = width, height
        self.grey = True  # no colour but greys drawn so far
        self.ops: list[tuple] = []

    def colour(self, rgba: tuple[float, ...], alpha: float | None = None) -> int:
        """A Skia colour; ``alpha`` (when given) replaces the colour's own."""
        r, g, b, *rest = rgba
        a = alpha if alpha is not None else (rest[0] if rest else 1.0)
        self.grey = self.grey and r == g == b
        return skia.Color4f(r, g, b, a).toColor()

    def save(self) -> None:
        self.canvas.save()
        self.ops.append(("save",))

    def restore(self) -> None:
        self.canvas.restore()
        self.ops.append(("restore",))

    def translate(self, x: float, y: float) -> None:
        """Move the origin to ``x``, ``y`` (Skia's y-down points)."""
        self.canvas.translate(x, y)
        self.ops.append(("translate", x, y))

    def rotate(self, degrees: float) -> None:
        """Turn the axes clockwise on the page (y is downwards) by ``degrees``."""
        self.canvas.rotate(degrees)
        self.ops.append(("rotate", degrees))

    def clip_rect(self, x0: float, y0: float, width: float, height: float) -> None:
        """Clip to a rectangle given as matplotlib gives it (y upwards from the bottom)."""
        top = self.height - y0 - height
        self.canvas.clipRect(skia.Rect.MakeXYWH(x0, top, width, height), skia.ClipOp.kIntersect, True)
        self.ops.append(("clip_rect", x0, top, width, height))

    def clip_path(self, shape: Shape) -> None:
        self.canvas.clipPath(shape.path, skia.ClipOp.kIntersect, True)
        self.ops.append(("clip_path", shape))

    def paint(
        self, shape: Shape, face: tuple[float, ...] | None, pen: Pen | None, alpha: float | None = None
    ) -> None:
        """Fill ``shape`` with ``face`` (if any), then stroke it with ``pen`` (if any)."""
        fill = None
        if face is not None:
            fill = self.colour(face, alpha)
            self.canvas.drawPath(shape.path, skia.Paint(AntiAlias=True, Color=fill))
        stroke = None
        if pen is not None and pen.width > 0 and pen.color[3] > 0:
            stroke = self.colour(pen.color, alpha)
            paint = skia.Paint(
                AntiAlias=True,
                Color=stroke,
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=pen.width,
                StrokeCap=_CAPS[pen.cap],
                StrokeJoin=_JOINS[pen.join],
            )
            offset, dashes = pen.dashes
            if dashes:
                paint.setPathEffect(skia.DashPathEffect.Make(list(dashes), offset or 0.0))
            self.canvas.drawPath(shape.path, paint)
        if fill is not None or stroke is not None:
            self.ops.append(("paint", shape, fill, stroke, pen))

    def text(self, x: float, y: float, s: str, prop: FontProperties, color: int, angle: float = 0.0) -> None:
        """One line of text with its origin (left end of the baseline) at ``x``, ``y`` (y upwards)."""
        paint = skia.Paint(AntiAlias=True, Color=color)
        size = float(prop.get_size_in_points())
        canvas = self.canvas
        self.translate(x, self.height - y)
        if angle:
            self.rotate(-angle)
        for path, glyphs, xs in layout(s, prop).runs:
            blob = skia.TextBlob.MakeFromPosTextH(
                np.asarray(glyphs, np.uint16).tobytes(),
                list(xs),
                0.0,
                _font(path, size),
                skia.TextEncoding.kGlyphID,
            )
            canvas.drawTextBlob(blob, 0.0, 0.0, paint)
        self.ops.append(("text", s, prop, color))


def polyline(xy: np.ndarray, codes: np.ndarray | None = None, *, closed: bool = False) -> Shape:
    """A path through the points ``xy`` (already in Skia's y-down points), with matplotlib's path
    ``codes`` when given (MOVETO 1, LINETO 2, CURVE3 3, CURVE4 4, CLOSEPOLY 79, STOP 0)."""
    out = skia.Path()
    if codes is None:
        if len(xy):
            out.addPoly([skia.Point(x, y) for x, y in xy.tolist()], closed)
        return Shape(out, xy, None, closed)
    pts, i, n = xy.tolist(), 0, len(codes)
    while i < n:
        code = codes[i]
        if code == 1:
            out.moveTo(*pts[i])
            i += 1
        elif code == 2:
            out.lineTo(*pts[i])
            i += 1
        elif code == 3:
            out.quadTo(*pts[i], *pts[i + 1])
            i += 2
        elif code == 4:
            out.cubicTo(*pts[i], *pts[i + 1], *pts[i + 2])
            i += 3
        elif code == 79:
            out.close()
            i += 1
        else:  # STOP
            break
    return Shape(out, xy, codes, closed)


@dataclass(frozen=True)
class Drawing:
    """A figure drawn once: a Skia picture ``width`` × ``height`` points; ``grey`` when every colour
    in it is a grey (its raster is then drawn and saved as 8-bit grey); ``ops``, the calls of
    :class:`SkiaCanvas` that drew it, for the SVG writer."""

    picture: skia.Picture
    width: float
    height: float
    grey: bool
    ops: tuple[tuple, ...] = ()


def write_png(drawing: Drawing, path: str | PathLike[str], dpi: float = 300.0) -> None:
    """Rasterise at ``dpi`` on white: into 8-bit grey when the drawing has only greys (lossless, a
    quarter of the pixels to draw and compress), else RGB.

    A grey drawing is rasterised straight into the PNG's rows (each behind its filter byte, a stride of
    width + 1), so its pixels are never copied: a 200-study forest plot at 300 dpi is 25 MB of them."""
    scale = dpi / 72.0
    width, height = max(1, round(drawing.width * scale)), max(1, round(drawing.height * scale))
    colour = skia.ColorType.kGray_8_ColorType if drawing.grey else skia.ColorType.kRGBA_8888_ColorType
    info = skia.ImageInfo.Make(width, height, colour, skia.AlphaType.kOpaque_AlphaType)
    if drawing.grey:
        buffer = np.zeros(height * (width + 1) + 1, dtype=np.uint8)  # one byte more: pixels start at 1
        rows = buffer[:-1].reshape(height, width + 1)
        surface = skia.Surface.MakeRasterDirect(info, memoryview(buffer)[1:], width + 1)
    else:
        surface = skia.Surface.MakeRaster(info)
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    canvas.scale(scale, scale)
    canvas.drawPicture(drawing.picture)
    if drawing.grey:
        del canvas, surface  # done with the buffer
        Path(path).write_bytes(_png(rows, width, height, 0, dpi))
    else:
        Path(path).write_bytes(png_bytes(surface.toarray()[..., :3], dpi))


def png_bytes(pixels: np.ndarray, dpi: float) -> bytes:
    """A PNG of 8-bit grey (h, w) or RGB (h, w, 3) ``pixels`` with its resolution (pHYs)."""
    height, width = pixels.shape[:2]
    rows = np.zeros((height, 1 + pixels[0].size), dtype=np.uint8)  # filter byte 0 (None) on each row
    # the pixels copied once, straight from the raster (RGB taken out of RGBA), and deflated in place
    into = rows[:, 1:].reshape(pixels.shape)
    assert np.shares_memory(into, rows)  # a view of the rows, not a copy that would be filled in vain
    into[...] = pixels
    return _png(rows, width, height, 0 if pixels.ndim == 2 else 2, dpi)


def _png(rows: np.ndarray, width: int, height: int, colour_type: int, dpi: float) -> bytes:
    """The PNG file of ``rows`` (each a filter byte, 0, then its pixels).

    Every row unfiltered and deflated by ISA-L at its level 1: on a figure's flat runs of white and ink
    its matching finds what zlib's run-length strategy finds, 5% smaller, 8 times as fast (0.6 ms against
    4.9 ms for a forest plot at 300 dpi; 13 ms against 90 ms for a 200-study one). Pillow's PNG, which
    tries five filters on every row, is a few per cent smaller again and takes 17 ms."""
    data = isal_zlib.compress(rows, 1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    per_metre = round(dpi / 0.0254)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)),
            chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            chunk(b"IDAT", data),
            chunk(b"IEND", b""),
        )
    )


def write_pdf(drawing: Drawing, path: str | PathLike[str]) -> None:
    """One page, fonts embedded as TrueType subsets; no creation date (Skia writes none)."""
    stream = skia.DynamicMemoryWStream()
    metadata = skia.PDF.Metadata()
    metadata.fProducer = "metablina (Skia)"
    document = skia.PDF.MakeDocument(stream, metadata)
    with document.page(drawing.width, drawing.height) as canvas:
        canvas.drawPicture(drawing.picture)
    document.close()
    Path(path).write_bytes(stream.detachAsData().bytes())


def _num(v: float) -> str:
    """A coordinate in points to a thousandth (a twentieth of a pixel at 300 dpi), trailing zeros
    dropped."""
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


_SEGMENT = {1: ("M", 1), 2: ("L", 1), 3: ("Q", 2), 4: ("C", 3), 79: ("Z", 0)}


def _path_data(shape: Shape) -> str:
    """SVG path data of ``shape`` (as :func:`polyline` made its Skia path)."""
    pts = shape.xy.tolist()
    if shape.codes is None:
        if not pts:
            return ""
        line = "L".join(f"{_num(x)} {_num(y)}" for x, y in pts)
        return f"M{line}Z" if shape.closed else f"M{line}"
    out, i, codes = [], 0, shape.codes
    while i < len(codes) and codes[i] in _SEGMENT:
        letter, size = _SEGMENT[codes[i]]
        out.append(letter + " ".join(f"{_num(x)} {_num(y)}" for x, y in pts[i : i + size]))
        i += max(size, 1)
    return "".join(out)


def _svg_colour(name: str, colour: int) -> str:
    """``fill`` or ``stroke`` with its opacity where it is not opaque, from a Skia colour."""
    alpha = (colour >> 24) & 0xFF
    out = f' {name}="#{colour & 0xFFFFFF:06X}"'
    return out + (f' {name}-opacity="{_num(alpha / 255)}"' if alpha < 255 else "")


_SVG_CAPS = {"butt": "", "round": ' stroke-linecap="round"', "projecting": ' stroke-linecap="square"'}
_SVG_JOINS = {"miter": "", "round": ' stroke-linejoin="round"', "bevel": ' stroke-linejoin="bevel"'}


def _svg_stroke(colour: int, pen: Pen) -> str:
    out = _svg_colour("stroke", colour) + f' stroke-width="{_num(pen.width)}"'
    out += _SVG_CAPS[pen.cap] + _SVG_JOINS[pen.join]
    offset, dashes = pen.dashes
    if dashes:
        out += f' stroke-dasharray="{" ".join(_num(d) for d in dashes)}"'
        out += f' stroke-dashoffset="{_num(offset)}"' if offset else ""
    return out


@functools.cache
def _svg_font(path: str, size: float) -> str:
    """The font attributes of a run of text in the font file ``path``: its family with metric-compatible
    fallbacks (:data:`SVG_FALLBACKS`), weight and slant."""
    face = _typeface(path)
    name = face.getFamilyName()
    style = face.fontStyle()
    out = f'font-size="{_num(size)}" font-family="{escape(name)}, {SVG_FALLBACKS.get(name, "sans-serif")}"'
    if style.weight() != 400:
        out += f' font-weight="{style.weight()}"'
    if style.slant() != skia.FontStyle.Slant.kUpright_Slant:
        out += ' font-style="italic"'
    return out


@functools.lru_cache(maxsize=8192)
def _svg_runs(text: str, prop: FontProperties) -> tuple[str, ...]:
    """A line of text as ``<text>`` attributes and content, one per run of one font, with an absolute x
    for every glyph (so the layout holds in any metric-compatible font)."""
    size = float(prop.get_size_in_points())
    out, at = [], 0
    for path, glyphs, xs in layout(text, prop).runs:
        chars = text[at : at + len(glyphs)]
        at += len(glyphs)
        out.append(f'{_svg_font(path, size)} x="{" ".join(map(_num, xs))}" y="0">{escape(chars)}</text>')
    return tuple(out)


def _transform(m: tuple[float, ...]) -> str:
    a, b, c, d, e, f = m
    if (a, b, c, d) == (1.0, 0.0, 0.0, 1.0):
        return "" if e == f == 0.0 else f' transform="translate({_num(e)} {_num(f)})"'
    return f' transform="matrix({" ".join(map(_num, (a, b, c, d, e, f)))})"'


class _SvgClips:
    """The clips in force while an SVG is written, per save level: each opens a group, written only
    when something is drawn under it (an artist that draws nothing leaves no empty group), and closed
    when its level is restored."""

    def __init__(self) -> None:
        self.levels: list[list] = [[[], 0]]  # per level: clips not yet written, groups opened
        self.count = 0

    def add(self, element: str) -> None:
        self.levels[-1][0].append(element)

    def open(self) -> str:
        """The groups of the clips not yet written, before something is drawn."""
        out = []
        for level in self.levels:
            for element in level[0]:
                self.count += 1
                out.append(
                    f'<clipPath id="cl_{self.count}">{element}/></clipPath>'
                    f'<g clip-path="url(#cl_{self.count})">\n'
                )
            level[1] += len(level[0])
            level[0] = []
        return "".join(out)

    def save(self) -> None:
        self.levels.append([[], 0])

    def restore(self) -> str:
        return "</g>\n" * self.levels.pop()[1]


def svg_document(drawing: Drawing) -> str:
    """The SVG file of ``drawing``, from the calls that drew it (:attr:`Drawing.ops`): the root sized in
    points with a viewBox, so the figure keeps its print size; one ``<clipPath>`` per clip, numbered
    from 1 in each file; text as ``<text>``."""
    w, h = f"{drawing.width:.2f}", f"{drawing.height:.2f}"
    parts = [
        '<?xml version="1.0" encoding="utf-8" ?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" height="{h}pt" viewBox="0 0 {w} {h}"'
        ' xml:space="preserve">\n',
    ]
    matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    saved: list[tuple[float, ...]] = []
    clips = _SvgClips()
    data: dict[int, str] = {}  # a marker's shape is stamped many times: its path data written once
    for op in drawing.ops:
        kind = op[0]
        if kind == "paint":
            _, shape, fill, stroke, pen = op
            attrs = _svg_colour("fill", fill) if fill is not None else ' fill="none"'
            if stroke is not None:
                attrs += _svg_stroke(stroke, pen)
            if id(shape) not in data:
                data[id(shape)] = _path_data(shape)
            parts.append(f'{clips.open()}<path{attrs}{_transform(matrix)} d="{data[id(shape)]}"/>\n')
        elif kind == "text":
            _, text, prop, colour = op
            head = f"{clips.open()}<text{_transform(matrix)}{_svg_colour('fill', colour)} "
            parts.extend(head + run + "\n" for run in _svg_runs(text, prop))
        elif kind == "save":
            saved.append(matrix)
            clips.save()
        elif kind == "restore":
            parts.append(clips.restore())
            matrix = saved.pop()
        elif kind == "translate":
            a, b, c, d, e, f = matrix
            x, y = op[1], op[2]
            matrix = (a, b, c, d, a * x + c * y + e, b * x + d * y + f)
        elif kind == "rotate":
            a, b, c, d, e, f = matrix
            cos, sin = math.cos(math.radians(op[1])), math.sin(math.radians(op[1]))
            matrix = (a * cos + c * sin, b * cos + d * sin, c * cos - a * sin, d * cos - b * sin, e, f)
        elif kind == "clip_rect":
            box = dict(zip(("x", "y", "width", "height"), map(_num, op[1:]), strict=True))
            clips.add("<rect " + " ".join(f'{k}="{v}"' for k, v in box.items()) + _transform(matrix))
        else:  # clip_path
            clips.add(f'<path d="{_path_data(op[1])}"{_transform(matrix)}')
    parts.append(clips.restore())
    parts.append("</svg>\n")
    return "".join(parts)


def write_svg(drawing: Drawing, path: str | PathLike[str]) -> None:
    Path(path).write_text(svg_document(drawing), encoding="utf-8")


WRITERS = {"png": write_png, "pdf": write_pdf, "svg": write_svg}


def write_drawing(drawing: Drawing, base: Path, formats: Sequence[str], *, dpi: float = 300.0) -> list[Path]:
    """Write ``drawing`` as ``<base>.<format>`` for each format (PNG at ``dpi``); return the paths."""
    paths = []
    for fmt in formats:
        path = base.with_name(f"{base.name}.{fmt}")
        if fmt == "png":
            write_png(drawing, path, dpi=dpi)
        else:
            WRITERS[fmt](drawing, path)
        paths.append(path)
    return paths
