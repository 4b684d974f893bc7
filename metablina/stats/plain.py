"""numpy results -> plain Python values for ``to_dict()``: the one conversion every result shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def plain(x: Any) -> Any:
    """Nested lists of Python numbers; NaN and ±inf become None (valid JSON); tuples become lists."""
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, tuple | list):
        return [plain(v) for v in x]
    a = np.asarray(x)
    if a.ndim == 0:
        v = a.item()
        return None if isinstance(v, float) and not math.isfinite(v) else v
    return [plain(r) for r in a]
