"""Fonts and text measurement for figure layout, in points, from the layout the figure files are drawn
with (:func:`metablina.render.skiafig.layout`). No figure machinery is imported here, so laying a figure
out costs nothing of matplotlib's artists."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from matplotlib.font_manager import FontProperties, fontManager

from metablina.render.skiafig import layout

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


class FixedFont(FontProperties):
    """FontProperties that cannot change after it is made, so its hash is computed once.

    Text layouts are cached by (text, font), and a FontProperties hashes eight of its properties on every
    lookup (and twice more to compare two equal ones): a third of a 200-row forest plot's drawing time.
    :meth:`copy` gives an ordinary FontProperties, which may be changed (matplotlib copies the font of
    every Text it makes, and may set its size later)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        object.__setattr__(self, "_hash", super().__hash__())

    def __setattr__(self, name: str, value: object) -> None:
        if "_hash" in self.__dict__:
            raise AttributeError(f"a FixedFont cannot change ({name}): change a copy()")
        super().__setattr__(name, value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or super().__eq__(other)

    def copy(self) -> FontProperties:
        plain = FontProperties.__new__(FontProperties)
        plain.__dict__.update((k, v) for k, v in self.__dict__.items() if k != "_hash")
        return plain


def font(family: Iterable[str], size: float, weight: str = "normal", style: str = "normal") -> FixedFont:
    """The font of a figure's text: the same :class:`FixedFont` for the same arguments."""
    return _font(tuple(family), float(size), weight, style)


@functools.lru_cache(maxsize=256)
def _font(family: tuple[str, ...], size: float, weight: str, style: str) -> FixedFont:
    return FixedFont(family=list(family), size=size, weight=weight, style=style)


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
        if dpi:
            from matplotlib.backends.backend_agg import RendererAgg  # only to measure for the screen

            self._screen = RendererAgg(8, 8, float(dpi))
        else:
            self._screen = None
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
