"""to_json lays out long lists of numbers at C speed exactly as json's indenting encoder does."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metablina.render.text import to_json

NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**20), 10**20), st.none()
)
LEAF = st.one_of(NUMBER, st.text(max_size=8), st.booleans(), st.lists(NUMBER, min_size=60, max_size=90))
DOC = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(doc=DOC)
def test_to_json_equals_the_indenting_encoder(doc) -> None:
    assert to_json(doc) == json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def test_a_long_list_is_laid_out_one_number_a_line_and_text_cannot_forge_a_slot() -> None:
    doc = {"yi": [0.5] * 100, "label": '"{token}-0"', "nested": [{"vi": list(range(70))}]}
    text = to_json(doc)
    assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert json.loads(text) == doc


def test_non_finite_numbers_are_still_refused() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        to_json({"yi": [float("nan")] * 100})
