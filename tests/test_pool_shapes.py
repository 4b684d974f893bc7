"""analyze.pool takes one analysis: a column of another shape is refused in one line, never flattened."""

from __future__ import annotations

import numpy as np
import pytest

from metablina.analyze import pool
from metablina.stats.errors import InputError


@pytest.mark.parametrize(
    ("columns", "shape"),
    [
        ({"yi": np.full((3, 5), 0.2), "vi": np.full((3, 5), 0.1)}, "(3, 5)"),  # was pooled as k = 15
        ({"yi": np.full(5, 0.2), "vi": np.full(5, 0.1)}, "(5,)"),  # 5 values for 3 labelled studies
        ({"yi": 0.2, "vi": 0.1}, "()"),
    ],
)
def test_pool_refuses_columns_that_are_not_one_value_per_study(columns, shape):
    with pytest.raises(InputError) as err:
        pool("GEN", "REML", None, columns, ["a", "b", "c"])
    message = str(err.value)
    assert message.startswith("yi: expected one value per study (3 labels), got shape " + shape)
    assert "\n" not in message


def test_pool_refuses_a_stack_for_every_model():
    counts = {"xi": np.array([[3, 4, 5], [1, 2, 3]]), "ni": np.full((2, 3), 20)}
    for method in ("GLMM", "REML", "BAYES-GLMM"):
        with pytest.raises(InputError, match=r"^xi: expected one value per study"):
            pool("PLO", method, None, counts, ["a", "b", "c"])
