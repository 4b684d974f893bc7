"""Checks that a number in an extract is what its source says: GRIM-style counts, quotes, sources.

These are pure functions on strings and numbers; :mod:`metablina.extract.validate` applies them to
studies and turns failures into located problems.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
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


def decimals_of(text: str) -> int:
    """How many decimals a number was printed with: ``"95.0"`` -> 1, ``"97"`` -> 0."""
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except InvalidOperation:
        return 0
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _round_half_up(x: Fraction) -> int:
    return floor(x + Fraction(1, 2))


def _round_half_even(x: Fraction) -> int:
    lower = floor(x)
    diff = x - lower
    if diff > Fraction(1, 2) or (diff == Fraction(1, 2) and lower % 2 == 1):
        return lower + 1
    return lower


def consistent_counts(percent_text: str, total: int) -> list[int]:
    """Every count x in 0..total whose 100·x/total prints as ``percent_text`` (Brown & Heathers 2017).

    Rounding half-up, half-even and truncation are all accepted (authors use each); ceiling is not,
    since it would make 95.3% of 21 look consistent. Exact rational arithmetic, so no float edge cases.
    """
    d = decimals_of(percent_text)
    target = Fraction(Decimal(percent_text.strip())) * 10**d
    if target.denominator != 1:
        return []
    goal = target.numerator
    scale = 100 * 10**d
    # every accepted rounding of v = scale·x/total equals goal only if goal − 1/2 ≤ v < goal + 1, so
    # only the counts with x in [(goal − 1)·total/scale, (goal + 1)·total/scale] need checking
    first = max(0, (goal - 1) * total // scale)
    last = min(total, -(-(goal + 1) * total // scale))
    out = []
    for x in range(first, last + 1):
        value = Fraction(scale * x, total)
        if goal in (_round_half_up(value), _round_half_even(value), floor(value)):
            out.append(x)
    return out


def closest_count(percent_text: str, total: int) -> tuple[int | None, list[int]]:
    """The count to use for a percentage of ``total`` and all consistent candidates.

    None when no count fits (an error to query, not to round away); the closest to p·n/100 when
    several fit, which happens only when total exceeds 10^(decimals+2).
    """
    candidates = consistent_counts(percent_text, total)
    if not candidates:
        return None, candidates
    exact = Fraction(Decimal(percent_text.strip())) * total / 100
    return min(candidates, key=lambda x: (abs(x - exact), x)), candidates


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
