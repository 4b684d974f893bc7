"""to_json (orjson) reads back exactly what it was given, laid out as json's indenting encoder lays it out."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from metablina.render.text import to_json

# what the outputs hold: finite floats, counts within 64 bits, text, booleans, None
NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1), st.none()
)
LEAF = st.one_of(NUMBER, st.text(max_size=8), st.booleans(), st.lists(NUMBER, min_size=60, max_size=90))
DOC = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(doc=DOC)
def test_round_trip_and_the_indenting_layout(doc) -> None:
    """Every float reads back bit for bit (shortest round-trip digits), keys keep their order, and the text
    has the lines of ``json.dumps(indent=2)``: one value a line (only a number's spelling may differ,
    e.g. 0.00001 for 1e-05)."""
    text = to_json(doc)
    back = json.loads(text)
    assert back == doc
    assert json.dumps(back) == json.dumps(doc)  # key order, and -0.0 stays -0.0
    reference = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert text.count("\n") == reference.count("\n")
    assert [len(line) - len(line.lstrip()) for line in text.splitlines()] == [
        len(line) - len(line.lstrip()) for line in reference.splitlines()
    ]


def test_a_long_list_one_number_a_line_text_as_is() -> None:
    doc = {"yi": [0.5] * 100, "label": "Müller ≥ 3", "nested": [{"vi": list(range(70))}]}
    text = to_json(doc)
    assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def test_non_finite_numbers_are_null() -> None:
    """JSON has no NaN or infinity: they are written as null, as the outputs' own to_dict writes them."""
    text = to_json({"yi": [math.nan, math.inf, -math.inf, 1.0]})
    assert json.loads(text) == {"yi": [None, None, None, 1.0]}
