"""numpy results -> plain Python values for ``to_dict()``: the one conversion every result shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def plain(x: Any) -> Any:
    """Nested lists of Python numbers; NaN and ±inf become None (valid JSON); tuples become lists.

    Numeric arrays convert at C speed (``tolist``), so that a result with 10⁵ studies per array takes
    milliseconds, not a second: only the non-finite entries are replaced one by one.
    """
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, tuple | list):
        return [plain(v) for v in x]
    a = np.asarray(x)
    if a.ndim == 0:
        v = a.item()
        return None if isinstance(v, float) and not math.isfinite(v) else v
    if a.dtype.kind in "biu":
        return a.tolist()
    if a.dtype.kind != "f":
        return [plain(r) for r in a]
    bad = ~np.isfinite(a)
    if not bad.any():
        return a.tolist()
    b = a.astype(object)
    b[bad] = None
    return b.tolist()
