"""GRIM-style counts, numbers in quotes and quotes in sources."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metablina.extract.consistency import (
    closest_count,
    consistent_counts,
    number_in_quotes,
    printed_percent,
    quote_in_source,
)


# METHODS.md §4.1, reference table of reported percentages and the counts consistent with them.
@pytest.mark.parametrize(
    ("percent", "total", "count"),
    [
        ("96.0", 202, 194),
        ("95.2", 21, 20),
        ("4.5", 202, 9),
        ("63.6", 11, 7),
        ("97", 100, 97),
        ("0.5", 202, 1),
    ],
)
def test_counts_from_reported_percentages(percent: str, total: int, count: int) -> None:
    found, candidates = closest_count(percent, total)
    assert (found, list(candidates)) == (count, [count])


def test_inconsistent_percentage_has_no_count() -> None:
    # 95.3% of 21 fits no count under half-up, half-even or truncation (ceiling would accept 20).
    assert list(consistent_counts("95.3", 21)) == []
    assert closest_count("95.3", 21)[0] is None


def test_several_counts_fit_only_beyond_the_precision() -> None:
    count, candidates = closest_count("50", 1001)
    assert len(candidates) > 1
    assert count == 500 and count in candidates


def test_truncation_and_half_even_are_accepted() -> None:
    assert 2 in consistent_counts("66.6", 3)  # 66.666… truncated
    assert 1 in consistent_counts("12", 8)  # 12.5 rounded half to even
    assert 1 in consistent_counts("13", 8)  # 12.5 rounded half up


@given(st.integers(1, 2000), st.data(), st.integers(0, 2))
def test_every_honestly_rounded_percentage_recovers_its_count(
    total: int, data: st.DataObject, d: int
) -> None:
    x = data.draw(st.integers(0, total))
    printed = str((Decimal(100 * x) / Decimal(total)).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP))
    assert x in consistent_counts(printed, total)


def test_percentages_as_printed() -> None:
    assert [printed_percent(t) for t in ("95.0", "97", "4.55", "100", "0.5")] == [
        (950, 1),
        (97, 0),
        (455, 2),
        (100, 0),
        (5, 1),
    ]
    # not as a source prints a percentage: exponents, YAML's other ways to write an int, 7 decimals
    for text in ("0.0e-999999999", "1e1", "0x1F", "1:30", "1_0", "017", "1.0000001", "1000"):
        assert printed_percent(text) is None, text
        assert not consistent_counts(text, 100)


@contextmanager
def _within(seconds: float) -> Iterator[None]:
    """Interrupt the block if it runs longer than ``seconds`` (a loop over the counts would run for days)."""

    def _stop(signum: int, frame: object) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_counts_of_a_huge_total_are_found_at_once() -> None:
    # "50" fits 100·x/n in [49.5, 51): 1.5·10^10 counts of 10^12, none of them listed or tried
    with _within(1.0):
        count, candidates = closest_count("50", 10**12)
        assert count == 5 * 10**11 and len(candidates) == 15 * 10**9
        assert (candidates.first, candidates.last) == (495 * 10**9, 510 * 10**9 - 1)
        assert str(candidates) == "[495000000000, 495000000001, …, 509999999999]"
        assert 495 * 10**9 - 1 not in candidates and 510 * 10**9 not in candidates


def test_closest_count_prefers_the_lower_of_two_equally_close() -> None:
    count, candidates = closest_count("50", 1001)  # 500.5 patients: 500 and 501 are equally close
    assert count == 500 and 501 in candidates


@pytest.mark.parametrize(
    ("value", "quote", "expected"),
    [
        (192, "MRD negativity was achieved in 95.0% (192/202) by MFC", True),
        (95.0, "MRD negativity was achieved in 95.0% (192/202) by MFC", True),
        (95.1, "MRD negativity was achieved in 95.0% (192/202) by MFC", False),
        (15.7, "(median age: 5.8 years; range: 1.1–15.7; 51.5% female)", True),
        (0, "with no severe CRS events", True),
        (2, "the other 2 patients", True),
        (49, "Forty-nine (86%) patients randomized", True),
        (40, "Forty-nine (86%) patients randomized", False),
        (4, "respiratory infections (4 patients)", True),
        (1, "BCR::ABL1 fusion", False),  # digits inside a gene name are not numbers
        (2.2, "97.8% ± 2.2%", True),
    ],
)
def test_number_in_quote(value: float, quote: str, expected: bool) -> None:
    assert number_in_quotes(value, [quote]) is expected


def test_all_stands_for_events_equal_to_total() -> None:
    assert number_in_quotes(11, ["All patients achieved bone marrow complete remission"], equals_total=True)
    assert not number_in_quotes(11, ["All patients achieved bone marrow complete remission"])


def test_quote_matches_source_up_to_white_space_and_dashes() -> None:
    source = "median age: 5.8 years;\n range: 1.1\u201315.7; 51.5% female"
    assert quote_in_source("median age: 5.8 years; range: 1.1-15.7", source)
    assert not quote_in_source("median age: 5.9 years", source)


@given(st.integers(1, 3000), st.integers(0, 100_000), st.integers(0, 2))
def test_counts_are_exactly_those_of_the_definition(total: int, raw: int, d: int) -> None:
    # the search is confined to a window around p·n/100; checking every count must find the same ones
    from fractions import Fraction
    from math import floor

    goal = raw % (100 * 10**d + 1)
    printed = str(Decimal(goal).scaleb(-d))
    every = []
    for x in range(total + 1):
        v = Fraction(100 * 10**d * x, total)
        half_even = round(v)  # Python rounds a Fraction half to even
        if goal in (floor(v + Fraction(1, 2)), half_even, floor(v)):
            every.append(x)
    assert list(consistent_counts(printed, total)) == every
