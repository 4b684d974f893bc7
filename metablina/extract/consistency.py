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
from math import floor, sqrt

from scipy.special import betaincinv, ndtri

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
# A number as printed: "12", "12.5", or with a leading dot, ".03" (as p-values often are).
_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)")
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
    """All numbers written in ``text``, in digits or as simple words ("no", "two", "all" excluded).

    A number after a minus sign is found both ways ("0.2-0.84" is a range, "O-E -4.1" a negative number).
    """
    found: set[Fraction] = set()
    plain = normalise_text(text)
    for m in _NUMBER.finditer(plain):
        value = Fraction(Decimal(m.group()))
        found.add(value)
        if m.start() > 0 and plain[m.start() - 1] == "-":
            found.add(-value)
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


def decimals(text: str) -> int:
    """How many decimals a number is printed with: ``"93.3"`` -> 1, ``"30"`` -> 0."""
    text = text.strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


def half_unit(text: str) -> float:
    """Half a unit of the last printed decimal: the rounding a printed number may hide."""
    return 0.5 * 10.0 ** -decimals(text)


def binomial_cis(events: int, total: int, level: float) -> dict[str, tuple[float, float]]:
    """The usual CIs of a proportion, in percent: Clopper-Pearson (exact), Wilson (score) and Wald.

    Clopper & Pearson, Biometrika 1934;26:404; Wilson, JASA 1927;22:209; Newcombe, Stat Med
    1998;17:857 compares them. Wald's bounds are cut at 0 and 100, as programs print them.
    """
    alpha = 1 - level / 100
    z = float(ndtri(1 - alpha / 2))
    p = events / total
    cp_low = 0.0 if events == 0 else float(betaincinv(events, total - events + 1, alpha / 2))
    cp_high = 1.0 if events == total else float(betaincinv(events + 1, total - events, 1 - alpha / 2))
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    spread = z / (1 + z * z / total) * sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    wald = z * sqrt(p * (1 - p) / total)
    out = {
        "Clopper-Pearson": (cp_low, cp_high),
        "Wilson": (centre - spread, centre + spread),
        "Wald": (max(0.0, p - wald), min(1.0, p + wald)),
    }
    return {name: (100 * low, 100 * high) for name, (low, high) in out.items()}


def prints_as(value: float, text: str) -> bool:
    """Whether ``value`` prints as ``text`` at its decimals, rounded (either way at a half) or truncated."""
    printed, unit = float(text), 10.0 ** -decimals(text)
    return printed - unit / 2 - 1e-9 <= value < printed + unit + 1e-9


def ci_methods(events: int, total: int, level: float, low_text: str, high_text: str) -> list[str]:
    """The CI methods whose interval for ``events``/``total`` prints as the printed bounds."""
    return [
        name
        for name, (low, high) in binomial_cis(events, total, level).items()
        if prints_as(low, low_text) and prints_as(high, high_text)
    ]


def km_unachievable(percent_text: str, n: int, kind: str) -> str | None:
    """Why a Kaplan-Meier rate cannot come from ``n`` patients, or None when it can.

    With n patients at the start, the first event lowers a survival curve by at least 1/n, so a rate
    below 100% is at most 100(1 - 1/n); a cumulative incidence above 0 is at least 100/n. The printed
    rate is given the benefit of its rounding (half a unit of its last decimal).
    """
    percent = float(percent_text)
    share = 100 - percent if kind == "survival" else percent  # the part that events took away
    if share <= 0 or share >= 100:
        return None
    if share + half_unit(percent_text) + 1e-9 >= 100 / n:
        return None
    if kind == "survival":
        return f"a Kaplan-Meier rate below 100% cannot exceed {100 * (1 - 1 / n):.1f}% (1 - 1/{n})"
    return f"a cumulative incidence above 0% cannot be below {100 / n:.1f}% (1/{n})"


def greenwood_n(percent_text: str, se_text: str, per_se: float = 1.0) -> float | None:
    """The smallest effective sample size S(1 - S)/SE^2 that the printed rate and SE allow.

    Without censoring Greenwood's variance is the binomial S(1 - S)/n; censoring only widens it, so
    the effective n cannot exceed the patients at the start (Greenwood 1926; Peto et al., Br J Cancer
    1977;35:1). The rate is moved within half a unit of its last decimal away from 50%, and the SE up
    by half a unit, so that rounding never raises a false alarm; ``per_se`` turns the printed value into
    an SE (1/1.96 for a 95% half-width). None when no SE can be read.
    """
    s, se = float(percent_text), (float(se_text) + half_unit(se_text)) * per_se
    if not 0 < s < 100 or se <= 0:
        return None
    step = half_unit(percent_text)
    s = max(0.0, s - step) if s < 50 else min(100.0, s + step)
    return s * (100 - s) / (se * se)
