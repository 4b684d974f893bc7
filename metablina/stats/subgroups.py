"""Subgroup analyses and the test for subgroup differences (Borenstein et al. 2009, ch. 19).

Q_between = Σ w_g (θ_g − θ̄)², w_g = 1/SE_g², θ̄ = Σ w_g θ_g / Σ w_g, referred to χ² on G − 1 df:
the test meta prints under a forest plot for random-effects subgroups ("separate τ²").
:func:`subgroup_analysis` pools every subgroup with :func:`metablina.stats.rma.rma` and reports that test
together with the meta-regression on subgroup dummies (common τ², metafor's QM test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import chdtrc

from metablina.stats.errors import InputError
from metablina.stats.influence import _options, _single
from metablina.stats.plain import plain
from metablina.stats.rma import RMAResult, rma
from metablina.stats.tau2 import check_data, stack_message


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


def _q_between(theta: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q_between and its χ²_{G−1} p-value along the last axis (NaN where a subgroup has no estimate)."""
    w = 1.0 / se**2
    pooled = (w * theta).sum(-1, keepdims=True) / w.sum(-1, keepdims=True)
    q = (w * (theta - pooled) ** 2).sum(-1)
    return q, chdtrc(theta.shape[-1] - 1, q)


# ------------------------------------------------------------------------------------------------------------
# subgroup analysis
# ------------------------------------------------------------------------------------------------------------
_PER_GROUP = (
    "estimate",
    "se",
    "stat",
    "p_value",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "i2",
    "h2",
    "q",
    "q_p",
)


@dataclass(frozen=True)
class SubgroupAnalysis:
    """:func:`subgroup_analysis`. Per-subgroup arrays have the subgroups on the last axis (in the order of
    ``groups``); the between-subgroup tests have the stack's leading shape (scalars for one analysis)."""

    groups: tuple[Any, ...]  # subgroup labels, sorted (R's factor levels)
    k: tuple[int, ...]  # studies per subgroup
    method: str
    ci_method: str
    level: float
    stat_name: tuple[str, ...]  # per subgroup: "z" or "t" (a single-study subgroup is z, as in metafor)
    df: tuple[int | None, ...]
    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray  # metafor predict() interval (NaN for the common-effect model)
    pi_high: np.ndarray
    tau2: np.ndarray  # separate tau^2 per subgroup
    i2: np.ndarray
    h2: np.ndarray
    q: np.ndarray
    q_df: tuple[int, ...]
    q_p: np.ndarray
    q_between: Any  # test for subgroup differences (separate tau^2; Borenstein et al. 2009)
    q_between_df: int
    q_between_p: Any
    regression: RMAResult | None  # mixed-effects meta-regression on subgroup dummies (common tau^2)
    warnings: tuple[str, ...] = field(default=())

    @property
    def qm(self):
        """Omnibus test of the subgroup dummies in the meta-regression (metafor QM; F under knha/adhoc)."""
        return None if self.regression is None else self.regression.qm

    @property
    def qm_p(self):
        return None if self.regression is None else self.regression.qm_p

    @property
    def qm_df(self):
        return None if self.regression is None else self.regression.qm_df

    def to_dict(self) -> dict[str, Any]:
        subs = []
        for j, lab in enumerate(self.groups):
            d = {
                "group": plain(np.asarray(lab)),
                "k": self.k[j],
                "stat_name": self.stat_name[j],
                "df": self.df[j],
                "q_df": self.q_df[j],
            }
            for f in _PER_GROUP:
                d[f] = plain(np.asarray(getattr(self, f))[..., j])
            subs.append(d)
        out: dict[str, Any] = {
            "method": self.method,
            "ci_method": self.ci_method,
            "level": self.level,
            "subgroups": subs,
            "test_between": {
                "q": plain(self.q_between),
                "df": self.q_between_df,
                "p": plain(self.q_between_p),
            },
        }
        r = self.regression
        out["regression"] = (
            None
            if r is None
            else {
                "QM": plain(r.qm),
                "QM_df": list(r.qm_df),
                "QM_p": plain(r.qm_p),
                "stat_name": r.stat_name,
                "QE": plain(r.q),
                "QE_df": r.q_df,
                "QE_p": plain(r.q_p),
                "tau2": plain(r.tau2),
                "I2": plain(r.i2),
                "R2": plain(r.r2),
                "coef_names": list(r.coef_names),
                "b": plain(r.b),
                "se": plain(r.b_se),
                "p": plain(r.b_p),
            }
        )
        out["warnings"] = list(self.warnings)
        return out

    def summary(self):
        """One row per subgroup (per analysis of a stack), then the between-subgroup test and the QM test."""
        import pandas as pd

        lead = np.shape(self.estimate)[:-1]
        pos = [()] if not lead else list(np.ndindex(*lead))
        rows = []
        for a in pos:
            tag = {} if not lead else {"analysis": a[0] if len(a) == 1 else str(a)}
            for j, lab in enumerate(self.groups):
                row = {**tag, "subgroup": str(lab), "k": self.k[j]}
                for f in _PER_GROUP:
                    row[f] = float(np.asarray(getattr(self, f))[(*a, j)])
                row["q_df"] = self.q_df[j]
                rows.append(row)
            rows.append(
                {
                    **tag,
                    "subgroup": "test for subgroup differences",
                    "q": float(np.asarray(self.q_between)[a]),
                    "q_df": self.q_between_df,
                    "q_p": float(np.asarray(self.q_between_p)[a]),
                }
            )
            if self.regression is not None:
                r = self.regression
                rows.append(
                    {
                        **tag,
                        "subgroup": f"meta-regression Q{'M' if r.stat_name == 'z' else 'M (F)'}",
                        "q": float(np.asarray(r.qm)[a]),
                        "q_df": r.qm_df[0],
                        "q_p": float(np.asarray(r.qm_p)[a]),
                    }
                )
        return pd.DataFrame(rows)


def subgroup_analysis(
    yi, vi, groups, *, method: str = "REML", test: str = "z", level: float = 0.95
) -> SubgroupAnalysis:
    """Pool each subgroup separately (own τ²) and test for subgroup differences two ways.

    * Q_between on the subgroup estimates and their SEs (of the chosen ``test``), χ² on G − 1 df: the test
      meta and RevMan print for random-effects subgroups with separate τ² (Borenstein et al. 2009, ch. 19);
      equal to metafor's ``rma(estimates, sei = ses, method = "FE")$QE``.
    * The meta-regression on subgroup dummies with one common τ² (metafor
      ``rma(yi, vi, mods = ~ factor(g))``), whose omnibus QM (F under knha/adhoc) tests the same hypothesis
      (``regression``, ``qm``, ``qm_p``).

    ``groups`` holds one label per study (shared by every analysis of a stack); subgroups are ordered like R's
    factor levels (sorted). Subgroups of equal size are fitted in one stacked :func:`rma` call. A subgroup of
    one study is that study (τ² = 0, z test), as metafor fits it.
    """
    method, test = _options(method, test, level)
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    g = np.asarray(groups)
    if g.shape != (k,):
        raise InputError(f"groups: expected one label per study ({k}), got shape {g.shape}")
    if g.dtype.kind == "f" and not np.isfinite(g).all():
        raise InputError(f"groups: study {int(np.flatnonzero(~np.isfinite(g))[0])} has no subgroup label")
    if g.dtype.kind == "O":
        if any(x is None for x in g):
            raise InputError(f"groups: study {[x is None for x in g].index(True)} has no subgroup label")
        g = g.astype(str)
    labels, inv = np.unique(g, return_inverse=True)
    G = labels.size
    if G < 2:
        raise InputError(f"groups: a subgroup analysis needs at least 2 subgroups, got {G}")
    sizes = np.bincount(inv, minlength=G)
    out = {f: np.full((m, G), np.nan) for f in _PER_GROUP}
    stat_names: list[str] = ["z"] * G
    dfs: list[int | None] = [None] * G
    warns: list[str] = []
    for s in np.unique(sizes):
        members = np.flatnonzero(sizes == s)
        idx = np.stack([np.flatnonzero(inv == j) for j in members])  # (n_s, s), studies in input order
        n_s = members.size
        ys = y[:, idx].reshape(m * n_s, s)
        vs = v[:, idx].reshape(m * n_s, s)
        if s >= 2:
            r = rma(ys, vs, method=method, test=test, level=level)
            for f in _PER_GROUP:
                val = getattr(r, f)
                out[f][:, members] = np.nan if val is None else np.asarray(val, dtype=float).reshape(m, n_s)
            for j in members:
                stat_names[j], dfs[j] = r.stat_name, r.df
            for msg, mk in r.warning_masks:
                mk2 = mk.reshape(m, n_s)
                for jj, j in enumerate(members):
                    if mk2[:, jj].any():
                        warns.append(stack_message(mk2[:, jj], f"subgroup {labels[j]}: {msg}", lead))
        else:
            one = _single(ys[:, 0], vs[:, 0], float(level), None)
            for f in _PER_GROUP:
                if f in ("pi_low", "pi_high"):
                    continue
                out[f][:, members] = getattr(one, f).reshape(m, n_s)
            if method != "FE":
                out["pi_low"][:, members] = out["ci_low"][:, members]
                out["pi_high"][:, members] = out["ci_high"][:, members]
            for j in members:
                warns.append(
                    f"subgroup {labels[j]}: a single study; its estimate is the study itself "
                    f"(tau^2 = 0{', z test' if test != 'z' else ''}), as in metafor"
                )
    qb, qbp = _q_between(out["estimate"], out["se"])

    X = np.column_stack([np.ones(k)] + [(inv == j).astype(float) for j in range(1, G)])
    names = ("intrcpt", *(f"group={lab}" for lab in labels[1:]))
    try:
        reg = rma(
            y.reshape((*lead, k)),
            v.reshape((*lead, k)),
            method=method,
            test=test,
            level=level,
            X=X,
            coef_names=names,
        )
        warns += [f"meta-regression: {w}" for w in reg.warnings]
    except InputError as e:
        reg = None
        warns.append(f"meta-regression on the subgroup dummies not fitted: {e}")

    def sh(a):
        return a.reshape((*lead, G))

    def one_(a):
        return a.reshape(lead) if lead else float(a[0])

    return SubgroupAnalysis(
        groups=tuple(x.item() if hasattr(x, "item") else x for x in labels),
        k=tuple(int(x) for x in sizes),
        method=method,
        ci_method=test,
        level=float(level),
        stat_name=tuple(stat_names),
        df=tuple(dfs),
        **{f: sh(out[f]) for f in _PER_GROUP},
        q_df=tuple(int(x) - 1 for x in sizes),
        q_between=one_(qb),
        q_between_df=G - 1,
        q_between_p=one_(qbp),
        regression=reg,
        warnings=tuple(warns),
    )
