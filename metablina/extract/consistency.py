"""Checks that a number in an extract is what its source says: GRIM-style counts, quotes, sources.

These are pure functions on strings and numbers; :mod:`metablina.extract.validate` applies them to
studies and turns failures into located problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import floor

NUMBER_WORDS = {
    "no": 0,
    "none": 0,
    "zero": 0,
    "neither": 0,
    "one": 1,
    "single": 1,
    "two": 2,
    "both": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?")


# A percentage as a source prints it: 0 to 100 in digits, with at most six decimals. Anything else
# ("0.0e-999999999", YAML's "0x1F" or "1:30") is no printed precision to check counts against.
MAX_DECIMALS = 6
_PRINTED_PERCENT = re.compile(rf"\s*(0|[1-9]\d{{0,2}})(?:\.(\d{{1,{MAX_DECIMALS}}}))?\s*")


def printed_percent(text: str) -> tuple[int, int] | None:
    """``"95.0"`` -> ``(950, 1)``: its digits as one integer and its decimals; None if not so printed."""
    m = _PRINTED_PERCENT.fullmatch(text)
    if m is None:
        return None
    decimals = m.group(2) or ""
    return int(m.group(1) + decimals), len(decimals)


@dataclass(frozen=True)
class Counts:
    """The counts ``first`` to ``last`` (both included; none when ``first > last``), without listing them."""

    first: int
    last: int

    def __contains__(self, count: object) -> bool:
        return isinstance(count, int) and self.first <= count <= self.last

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))

    def __str__(self) -> str:
        return str(list(self)) if len(self) <= 4 else f"[{self.first}, {self.first + 1}, …, {self.last}]"


NO_COUNTS = Counts(1, 0)


def consistent_counts(percent_text: str, total: int) -> Counts:
    """Every count x in 0..total whose 100·x/total prints as ``percent_text`` (Brown & Heathers 2017).

    Rounding half-up, half-even and truncation are all accepted (authors use each); ceiling is not,
    since it would make 95.3% of 21 look consistent. With v = 100·x/total in units of the last printed
    decimal and g the printed digits, half-up gives g for v in [g − 1/2, g + 1/2), truncation for v in
    [g, g + 1), half-even only for values inside the first of these and g + 1/2: so the counts are those
    with v in [g − 1/2, g + 1), found in constant time by exact integer arithmetic.
    """
    printed = printed_percent(percent_text)
    if printed is None:
        return NO_COUNTS
    goal, decimals = printed
    scale = 100 * 10**decimals
    first = max(0, -(-(2 * goal - 1) * total // (2 * scale)))  # ceil((g − 1/2)·total/scale)
    last = min(total, -(-(goal + 1) * total // scale) - 1)  # the last x with x < (g + 1)·total/scale
    return Counts(first, last)


def closest_count(percent_text: str, total: int) -> tuple[int | None, Counts]:
    """The count to use for a percentage of ``total`` and all consistent candidates.

    None when no count fits (an error to query, not to round away); the closest to p·n/100 when
    several fit (the lower of two equally close), which happens only when total exceeds 10^(decimals+2).
    """
    candidates = consistent_counts(percent_text, total)
    if not candidates:
        return None, candidates
    exact = Fraction(Decimal(percent_text.strip())) * total / 100  # a printed percentage: few digits
    nearest = floor(exact) + (exact - floor(exact) > Fraction(1, 2))
    return min(max(nearest, candidates.first), candidates.last), candidates


def normalise_text(text: str) -> str:
    """Fold white space and typographic variants so a quote matches its source as printed."""
    table = str.maketrans(
        {
            "\u2212": "-",
            "\u2013": "-",
            "\u2014": "-",
            "\u00a0": " ",
            "\u2009": " ",
            "\u2018": "'",
            "\u2019": "'",
            "\u201c": '"',
            "\u201d": '"',
        }
    )
    return " ".join(text.translate(table).split())


def numbers_in(text: str) -> set[Fraction]:
    """All numbers written in ``text``, in digits or as simple words ("no", "two", "all" excluded)."""
    found = {Fraction(Decimal(m.group())) for m in _NUMBER.finditer(normalise_text(text))}
    for word in _WORD.findall(text):
        parts = word.lower().split("-")
        if len(parts) == 2 and NUMBER_WORDS.get(parts[0], 0) >= 20 and 0 < NUMBER_WORDS.get(parts[1], 0) < 10:
            found.add(Fraction(NUMBER_WORDS[parts[0]] + NUMBER_WORDS[parts[1]]))  # "Forty-nine" is 49 only
            continue
        found.update(Fraction(NUMBER_WORDS[p]) for p in parts if p in NUMBER_WORDS)
    return found


def says_all(text: str) -> bool:
    """Whether the quote says 'all' of a group, which stands for a count equal to the total."""
    return re.search(r"\b(all|every|each)\b", text, flags=re.IGNORECASE) is not None


def number_in_quotes(value: float | int, quotes: list[str], *, equals_total: bool = False) -> bool:
    """Whether ``value`` is written in one of the quotes (or 'all' stands for it)."""
    wanted = Fraction(Decimal(repr(float(value)))) if isinstance(value, float) else Fraction(value)
    return any(wanted in numbers_in(quote) or (equals_total and says_all(quote)) for quote in quotes)


@lru_cache(maxsize=64)
def _normalised(text: str) -> str:
    return normalise_text(text)


def quote_in_source(quote: str, source_text: str) -> bool:
    """Whether the quote stands verbatim in the source, up to white space and dash/quote variants."""
    return normalise_text(quote) in _normalised(source_text)
