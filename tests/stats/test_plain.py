"""plain(): numpy values to JSON-ready Python values, non-finite numbers as None, at C speed for arrays."""

from __future__ import annotations

import numpy as np

from metablina.stats.plain import plain


def test_arrays_become_nested_lists_with_none_for_non_finite() -> None:
    out = plain(np.array([[1.5, np.nan], [np.inf, -np.inf]]))
    assert out == [[1.5, None], [None, None]]
    assert type(out[0][0]) is float


def test_integers_flags_scalars_and_tuples() -> None:
    assert plain(np.array([1, 2])) == [1, 2] and type(plain(np.array([1]))[0]) is int
    assert plain(np.array([True, False])) == [True, False]
    assert plain(np.float64("nan")) is None and plain(np.float64(2.5)) == 2.5
    assert plain((1.0, np.array([np.nan]), None, "x")) == [1.0, [None], None, "x"]
    assert plain(np.array([None, 1.0], dtype=object)) == [None, 1.0]
