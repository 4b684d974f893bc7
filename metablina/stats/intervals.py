"""Study-level confidence intervals for a single proportion x/n.

Clopper–Pearson (1934) "exact" intervals are meta's default for single proportions; Wilson's (1927) score
interval is shorter and still behaves at 0/n and n/n (Newcombe 1998, Stat Med 17:857, who compares seven
methods). The Wald interval p ± z·√(p(1−p)/n) is here only for completeness: it has zero width at 0/n and
n/n, can leave [0, 1], and under-covers near the boundaries, so do not use it for this data.

Quantiles come from ``scipy.special`` (``betaincinv``, ``ndtri``) so that importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.special as sc

from metablina.stats.errors import InputError

__all__ = ["METHODS", "ProportionCI", "clopper_pearson", "proportion_ci", "wald", "wilson"]

METHODS = ("clopper-pearson", "wilson", "wald")
_ALIASES = {
    "clopper-pearson": "clopper-pearson",
    "cp": "clopper-pearson",
    "exact": "clopper-pearson",
    "wilson": "wilson",
    "wilson-score": "wilson",
    "ws": "wilson",
    "wald": "wald",
}


@dataclass(frozen=True, eq=False)
class ProportionCI:
    """Per-study proportion ``estimate = xi/ni`` with its ``ci_low``/``ci_high`` (last axis = studies)."""

    method: str
    level: float
    xi: np.ndarray
    ni: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """Plain Python values (nested lists for arrays)."""
        return {
            "method": self.method,
            "level": float(self.level),
            "xi": self.xi.tolist(),
            "ni": self.ni.tolist(),
            "estimate": self.estimate.tolist(),
            "ci_low": self.ci_low.tolist(),
            "ci_high": self.ci_high.tolist(),
            "warnings": list(self.warnings),
        }

    def summary(self):
        """One row per study (and per analysis for a stack)."""
        import pandas as pd

        shape = self.estimate.shape
        idx = np.indices(shape).reshape(len(shape), -1)
        cols: dict = {}
        if len(shape) > 1:
            cols["analysis"] = np.ravel_multi_index(tuple(idx[:-1]), shape[:-1])
        cols["study"] = idx[-1]
        for name in ("xi", "ni", "estimate", "ci_low", "ci_high"):
            cols[name] = np.broadcast_to(getattr(self, name), shape).ravel()
        return pd.DataFrame(cols)


def _validate(xi, ni, level) -> tuple[np.ndarray, np.ndarray, float]:
    try:
        x = np.array(xi, dtype=float)  # copies: the results are made read-only
        n = np.array(ni, dtype=float)
    except (TypeError, ValueError):
        raise InputError("xi, ni: must be numeric") from None
    try:
        x, n = np.broadcast_arrays(x, n)
    except ValueError:
        raise InputError(f"xi, ni: incompatible shapes {x.shape} and {n.shape}") from None
    x, n = np.atleast_1d(x), np.atleast_1d(n)
    for name, arr in (("xi", x), ("ni", n)):
        _check(name, ~np.isfinite(arr), "is NaN or infinite")
        _check(name, arr < 0, "negative count")
        _check(name, arr != np.floor(arr), "count is not a whole number")
    _check("ni", n < 1, "n < 1")
    _check("xi", x > n, "events > total ni")
    if not (np.isscalar(level) and 0 < level < 1):
        raise InputError(f"level: must be a number strictly between 0 and 1, not {level!r}")
    return x, n, float(level)


def _check(name, bad, what):
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"study {first[0]}" if len(first) == 1 else f"study {first[-1]} of analysis {first[:-1]}"
        raise InputError(f"{name}: {what} ({where})")


def _z(level: float) -> float:
    return float(sc.ndtri(1 - (1 - level) / 2))


def clopper_pearson(xi, ni, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper & Pearson (1934) interval from beta quantiles, as R's ``binom.test``.

    Lower = B⁻¹(α/2; x, n−x+1), exactly 0 when x = 0; upper = B⁻¹(1−α/2; x+1, n−x), exactly 1 when x = n.
    """
    x, n, level = _validate(xi, ni, level)
    alpha = 1 - level
    lo_x = np.where(x == 0, 1.0, x)  # placeholders keep betaincinv's parameters valid
    hi_b = np.where(x == n, 1.0, n - x)
    low = np.where(x == 0, 0.0, sc.betaincinv(lo_x, n - x + 1, alpha / 2))
    high = np.where(x == n, 1.0, sc.betaincinv(x + 1, hi_b, 1 - alpha / 2))
    return low, high


def wilson(xi, ni, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval without continuity correction (R ``prop.test(correct = FALSE)``).

    Bounds are set to exactly 0 at x = 0 and 1 at x = n, as ``prop.test`` does.
    """
    x, n, level = _validate(xi, ni, level)
    z = _z(level)
    p = x / n
    z2n = z * z / (2 * n)
    centre = p + z2n
    half = z * np.sqrt(p * (1 - p) / n + z2n / (2 * n))
    denom = 1 + 2 * z2n
    low = np.where(x == 0, 0.0, (centre - half) / denom)
    high = np.where(x == n, 1.0, (centre + half) / denom)
    return low, high


def wald(xi, ni, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wald interval p ± z√(p(1−p)/n), not clipped. For completeness only: degenerate at 0/n and n/n."""
    x, n, level = _validate(xi, ni, level)
    z = _z(level)
    p = x / n
    half = z * np.sqrt(p * (1 - p) / n)
    return p - half, p + half


def proportion_ci(xi, ni, *, method: str = "clopper-pearson", level: float = 0.95) -> ProportionCI:
    """Confidence interval for each study's proportion xi/ni.

    ``method``: ``"clopper-pearson"`` (default, as meta's ``metaprop``), ``"wilson"``, or ``"wald"``.
    """
    key = _ALIASES.get(method.lower() if isinstance(method, str) else method)
    if key is None:
        raise InputError(f"method: unknown CI method {method!r}; use one of {', '.join(METHODS)}")
    x, n, level = _validate(xi, ni, level)
    func = {"clopper-pearson": clopper_pearson, "wilson": wilson, "wald": wald}[key]
    low, high = func(x, n, level)
    warns: list[str] = []
    if key == "wald":
        edge = (x == 0) | (x == n)
        if np.any(edge):
            warns.append(
                "Wald interval has zero width for studies with 0 or n events; use Clopper–Pearson or Wilson"
            )
        if np.any((low < 0) | (high > 1)):
            warns.append("Wald interval extends beyond [0, 1] for some studies")
    for a in (x, n, low, high):
        a.setflags(write=False)
    est = x / n
    est.setflags(write=False)
    return ProportionCI(
        method=key, level=level, xi=x, ni=n, estimate=est, ci_low=low, ci_high=high, warnings=tuple(warns)
    )
