"""The test for subgroup differences from separately pooled subgroups (Borenstein et al. 2009, ch. 19).

Q_between = Σ w_g (θ_g − θ̄)², w_g = 1/SE_g², θ̄ = Σ w_g θ_g / Σ w_g, referred to χ² on G − 1 df:
the test meta prints under a forest plot for random-effects subgroups ("separate τ²").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc

from metablina.stats.errors import InputError


@dataclass(frozen=True)
class SubgroupTest:
    q: float
    df: int
    p: float

    def to_dict(self) -> dict[str, float | int]:
        return {"q": self.q, "df": self.df, "p": self.p}


def subgroup_test(estimates, ses) -> SubgroupTest:
    """Cochran's Q between G ≥ 2 subgroup estimates with their standard errors."""
    theta = np.asarray(estimates, dtype=float)
    se = np.asarray(ses, dtype=float)
    if theta.ndim != 1 or theta.shape != se.shape:
        raise InputError("estimates and ses must be 1-D arrays of the same length")
    if theta.size < 2:
        raise InputError(f"a test for subgroup differences needs at least 2 subgroups, got {theta.size}")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(se)) and np.all(se > 0)):
        raise InputError("every subgroup needs a finite estimate and a positive standard error")
    w = 1 / se**2
    pooled = np.sum(w * theta) / np.sum(w)
    q = float(np.sum(w * (theta - pooled) ** 2))
    df = theta.size - 1
    return SubgroupTest(q, df, float(chdtrc(df, q)))
