"""Sensitivity analyses by deleting and adding studies: metafor's ``leave1out``, ``cumul`` and ``influence``.

* :func:`leave_one_out` — the model refitted with each study omitted in turn (one stacked :func:`rma` call
  on the (k, k − 1) stack of subsets).
* :func:`cumulative` — the model refitted as studies are added in a given order (Lau et al. 1992).
* :func:`influence` — case-deletion diagnostics of Viechtbauer & Cheung 2010 (RSM 1:112): externally
  studentized residuals, DFFITS, Cook's distance, COVRATIO, the leave-one-out τ² and Q_E, hat values, weights
  and DFBETAS, with metafor's flag for influential studies.

Every refit uses the same τ² estimator, test and metafor settings as the full model (so the iterative τ² of
the deleted fits carry metafor's own tolerance). A refit on a single study is done as metafor does it: the
study itself, τ² = 0 (or the fixed τ²) and a z test, whatever the requested test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import chdtr, ndtr, ndtri

from metablina.stats.errors import InputError
from metablina.stats.plain import plain
from metablina.stats.rma import TESTS, RMAResult, rma
from metablina.stats.tau2 import EVTOL, Projection, check_data, check_X, normalise_method, stack_message

__all__ = [
    "CumulativeResult",
    "InfluenceResult",
    "LeaveOneOutResult",
    "cumulative",
    "influence",
    "leave_one_out",
]

_TEST_ALIASES = {"hksj": "knha", "hk": "knha", "wald": "z"}
_EPS = np.finfo(float).eps


# ------------------------------------------------------------------------------------------------------------
# shared helpers
# ------------------------------------------------------------------------------------------------------------
def _options(method: str, test: str, level: float) -> tuple[str, str]:
    """Validate method / test / level the way :func:`rma` does (needed where no rma call is made)."""
    method = normalise_method(method)
    if not isinstance(test, str) or _TEST_ALIASES.get(test.lower(), test.lower()) not in TESTS:
        raise InputError(f"test: expected one of z, knha, adhoc, got {test!r}")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"level: expected a confidence level in (0, 1), got {level!r}")
    return method, _TEST_ALIASES.get(test.lower(), test.lower())


def _fixed_tau2(tau2, method: str, lead: tuple[int, ...]) -> np.ndarray | None:
    """A user-fixed τ² as one value per analysis (m,), or None."""
    if tau2 is None:
        return None
    if method == "FE":
        raise InputError("tau2: a fixed tau^2 cannot be combined with method='FE'")
    try:
        fixed = np.broadcast_to(np.asarray(tau2, dtype=float), lead).reshape(-1).copy()
    except ValueError:
        raise InputError(f"tau2: expected a scalar or one value per analysis {lead}") from None
    if not (np.isfinite(fixed) & (fixed >= 0)).all():
        raise InputError("tau2: a fixed tau^2 must be finite and >= 0")
    return fixed


def _drop_index(k: int) -> np.ndarray:
    """(k, k − 1) indices: row i lists every study but i, in order."""
    return np.array([np.r_[0:i, i + 1 : k] for i in range(k)], dtype=int).reshape(k, k - 1)


def _index(lead: tuple[int, ...], k: int, name: str):
    """Row index of a summary table: study, or (analysis, study) for a stack."""
    import pandas as pd

    if not lead:
        return pd.Index(range(k), name=name)
    pos = [str(p[0]) if len(p) == 1 else str(p) for p in np.ndindex(*lead)]
    return pd.MultiIndex.from_product([pos, range(k)], names=["analysis", name])


def _where(mask: np.ndarray, lead: tuple[int, ...], what: str) -> str:
    """'omitting study 3' / 'analysis 2, omitting studies 0, 5' for a (m, k) mask."""
    parts = []
    for a in np.flatnonzero(mask.any(-1)):
        studies = np.flatnonzero(mask[a])
        lab = f"{what} stud{'y' if studies.size == 1 else 'ies'} " + ", ".join(str(s) for s in studies)
        if lead:
            pos = tuple(int(j) for j in np.unravel_index(a, lead))
            lab = f"analysis {pos[0] if len(pos) == 1 else pos}, {lab}"
        parts.append(lab)
    more = f"; ... ({len(parts)} analyses in total)" if len(parts) > 5 else ""
    return "; ".join(parts[:5]) + more


def _deletion_warnings(
    r: RMAResult, m: int, k: int, lead: tuple[int, ...], what: str, rows: np.ndarray | None = None
) -> list[str]:
    """An rma warning on the (m·k)-stack of deletion fits, restated with the studies it concerns."""
    out = []
    for msg, mk in r.warning_masks:
        full = np.zeros(m * k, dtype=bool)
        if rows is None:
            full[:] = mk
        else:
            full[rows] = mk
        out.append(f"{_where(full.reshape(m, k), lead, what)}: {msg}")
    return out


@dataclass
class _Fits:
    """Per-fit summaries, each of shape (n,)."""

    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    q: np.ndarray
    q_p: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray


def _from_rma(r: RMAResult) -> _Fits:
    def a(x):
        return np.asarray(x, dtype=float).reshape(-1)

    return _Fits(
        a(r.estimate),
        a(r.se),
        a(r.stat),
        a(r.p_value),
        a(r.ci_low),
        a(r.ci_high),
        a(r.q),
        a(r.q_p),
        a(r.tau2),
        a(r.i2),
        a(r.h2),
    )


def _single(y: np.ndarray, v: np.ndarray, level: float, fixed: np.ndarray | None) -> _Fits:
    """metafor's fit of one study: the study itself, τ² = 0 (or fixed), z test, Q = 0, I² = 0, H² = 1."""
    t2 = np.zeros_like(y) if fixed is None else fixed
    se = np.sqrt(v + t2)
    z = y / se
    crit = ndtri(1 - (1 - level) / 2)
    n = y.shape[0]
    return _Fits(
        y.copy(),
        se,
        z,
        2 * ndtr(-np.abs(z)),
        y - crit * se,
        y + crit * se,
        np.zeros(n),
        np.ones(n),
        t2.copy(),
        np.zeros(n),
        np.ones(n),
    )


@dataclass(frozen=True)
class _SequenceBase:
    """Common fields of leave-one-out and cumulative results: one row per refit (last axis)."""

    k: int
    method: str
    ci_method: str
    level: float
    stat_name: str  # "z" or "t" (a single-study refit is always z, as in metafor)
    df: tuple[int | None, ...]  # t degrees of freedom per row, None for z
    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    q: np.ndarray
    q_df: tuple[int, ...]
    q_p: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray

    _COLUMNS = (
        ("estimate", "estimate"),
        ("se", "se"),
        ("stat", None),
        ("p_value", "pval"),
        ("ci_low", "ci.lb"),
        ("ci_high", "ci.ub"),
        ("q", "Q"),
        ("q_p", "Qp"),
        ("tau2", "tau2"),
        ("i2", "I2"),
        ("h2", "H2"),
    )

    def _dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "k": self.k,
            "method": self.method,
            "ci_method": self.ci_method,
            "level": self.level,
            "stat_name": self.stat_name,
            "df": list(self.df),
        }
        for f, _ in self._COLUMNS:
            d[f] = plain(getattr(self, f))
        d["q_df"] = list(self.q_df)
        return d

    def _table(self, name: str):
        import pandas as pd

        lead = np.shape(self.estimate)[:-1]
        cols = {}
        for f, lab in self._COLUMNS:
            cols[lab or f"{self.stat_name}val"] = np.asarray(getattr(self, f), dtype=float).reshape(-1)
        if self.method == "FE":
            del cols["tau2"]
        return pd.DataFrame(cols, index=_index(lead, self.k, name))


@dataclass(frozen=True)
class LeaveOneOutResult(_SequenceBase):
    """:func:`leave_one_out`: row i of every array (last axis) is the fit without study i."""

    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d = self._dict()
        d["warnings"] = list(self.warnings)
        return d

    def summary(self):
        """metafor's ``leave1out`` table: one row per omitted study."""
        return self._table("omitted")


@dataclass(frozen=True)
class CumulativeResult(_SequenceBase):
    """:func:`cumulative`: row j is the fit of the first j + 1 studies in ``studies`` order."""

    studies: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # 0-based, order added
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d = self._dict()
        d["studies"] = plain(self.studies)
        d["warnings"] = list(self.warnings)
        return d

    def summary(self):
        """metafor's ``cumul`` table: one row per added study (``added`` = its 0-based input position)."""
        t = self._table("step")
        t.insert(0, "added", np.asarray(self.studies).reshape(-1))
        return t


# ------------------------------------------------------------------------------------------------------------
# leave-one-out
# ------------------------------------------------------------------------------------------------------------
def leave_one_out(
    yi, vi, *, method: str = "REML", test: str = "z", level: float = 0.95, tau2=None
) -> LeaveOneOutResult:
    """Refit the random-effects (or common-effect) model without each study in turn (metafor ``leave1out``).

    The k subsets are fitted in one stacked :func:`rma` call, so a stack of m analyses costs one call on
    m·k analyses of k − 1 studies. With k = 2 each refit is a single study (τ² = 0, z test), as in metafor.
    ``tau2`` fixes τ² in every refit (metafor: a model fitted with ``tau2=``).
    """
    method, test = _options(method, test, level)
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    if k < 2:
        raise InputError("yi: leave-one-out needs at least 2 studies, got k = 1")
    fixed = _fixed_tau2(tau2, method, lead)
    idx = _drop_index(k)
    ys = y[:, idx].reshape(m * k, k - 1)
    vs = v[:, idx].reshape(m * k, k - 1)
    fx = None if fixed is None else np.repeat(fixed, k)
    warns: list[str] = []
    if k - 1 >= 2:
        r = rma(ys, vs, method=method, test=test, level=level, tau2=fx)
        fits = _from_rma(r)
        df = r.df
        stat_name = r.stat_name
        warns += _deletion_warnings(r, m, k, lead, "omitting")
    else:
        fits = _single(ys[:, 0], vs[:, 0], level, fx)
        df = None
        stat_name = "z"
        warns.append(
            "k = 2: each leave-one-out fit is a single study (tau^2 = 0 or fixed, z test), as in metafor"
        )

    def sh(a):
        return a.reshape((*lead, k))

    return LeaveOneOutResult(
        k=k,
        method=method,
        ci_method=test,
        level=float(level),
        stat_name=stat_name,
        df=(df,) * k,
        estimate=sh(fits.estimate),
        se=sh(fits.se),
        stat=sh(fits.stat),
        p_value=sh(fits.p_value),
        ci_low=sh(fits.ci_low),
        ci_high=sh(fits.ci_high),
        q=sh(fits.q),
        q_df=(k - 2,) * k,
        q_p=sh(fits.q_p),
        tau2=sh(fits.tau2),
        i2=sh(fits.i2),
        h2=sh(fits.h2),
        warnings=tuple(warns),
    )


# ------------------------------------------------------------------------------------------------------------
# cumulative
# ------------------------------------------------------------------------------------------------------------
def cumulative(
    yi, vi, order=None, *, method: str = "REML", test: str = "z", level: float = 0.95, tau2=None
) -> CumulativeResult:
    """Cumulative meta-analysis (Lau et al. 1992; metafor ``cumul``): fit the first 1, 2, …, k studies.

    ``order`` is a sort key with one value per study (e.g. the year of publication), as metafor ≥ 3.0's
    ``cumul(order=)``: studies are added in increasing order of the key, ties in their input order (R's
    ``order()`` is stable). None adds them in input order. A key of shape (..., k) gives each analysis of a
    stack its own order. The fit of step j is one :func:`rma` call on the whole stack; step 1 is the first
    study alone (τ² = 0, z test), as in metafor.
    """
    method, test = _options(method, test, level)
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    fixed = _fixed_tau2(tau2, method, lead)
    if order is None:
        perm = np.broadcast_to(np.arange(k), (m, k))
    else:
        key = np.asarray(order)
        if key.shape not in ((k,), (*lead, k)):
            raise InputError(
                f"order: expected {k} values (one per study) or shape {(*lead, k)}, got {key.shape}"
            )
        if key.dtype.kind in "fc" and not np.isfinite(key).all():
            i = int(np.flatnonzero(~np.isfinite(key.reshape(-1)))[0]) % k
            raise InputError(f"order: study {i} has a missing or non-finite sort key")
        if key.dtype.kind == "O":
            raise InputError("order: expected numbers or strings, got Python objects")
        perm = np.broadcast_to(np.argsort(key, axis=-1, kind="stable").reshape(-1, k), (m, k))
    ys = np.take_along_axis(y, perm, axis=-1)
    vs = np.take_along_axis(v, perm, axis=-1)
    fits: list[_Fits] = [_single(ys[:, 0], vs[:, 0], level, fixed)]
    dfs: list[int | None] = [None]
    stat_name = "z"
    warns: list[str] = []
    for n in range(2, k + 1):
        r = rma(ys[:, :n], vs[:, :n], method=method, test=test, level=level, tau2=fixed)
        fits.append(_from_rma(r))
        dfs.append(r.df)
        stat_name = r.stat_name
        warns += [stack_message(mk, f"first {n} studies: {msg}", lead) for msg, mk in r.warning_masks]
    if k >= 2 and test != "z":
        warns.append("step 1 (a single study) uses a z test, as in metafor")

    def col(f: str) -> np.ndarray:
        return np.stack([getattr(fi, f) for fi in fits], axis=-1).reshape((*lead, k))

    return CumulativeResult(
        k=k,
        method=method,
        ci_method=test,
        level=float(level),
        stat_name=stat_name,
        df=tuple(dfs),
        estimate=col("estimate"),
        se=col("se"),
        stat=col("stat"),
        p_value=col("p_value"),
        ci_low=col("ci_low"),
        ci_high=col("ci_high"),
        q=col("q"),
        q_df=tuple(range(k)),
        q_p=col("q_p"),
        tau2=col("tau2"),
        i2=col("i2"),
        h2=col("h2"),
        studies=np.array(perm).reshape((*lead, k)),
        warnings=tuple(warns),
    )


# ------------------------------------------------------------------------------------------------------------
# influence diagnostics
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InfluenceResult:
    """:func:`influence`; every array has the studies on its last axis (``dfbetas``: (..., k, p)).

    ``inf`` marks influential studies by metafor's rule (any of |DFFITS| > 3√(p/(k − p)),
    P(χ²_p ≤ Cook's D) > 0.5, hat > 3p/k, any |DFBETAS| > 1).
    """

    k: int
    p: int
    method: str
    ci_method: str
    coef_names: tuple[str, ...]
    rstudent: np.ndarray  # externally studentized residual resid / se_resid
    resid: np.ndarray  # y_i − x_i'β̂_(−i)
    se_resid: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    qe_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray  # percent
    dfbetas: np.ndarray
    inf: np.ndarray  # bool
    tau2: np.ndarray | float  # of the full model
    qe: np.ndarray | float
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "k": self.k,
            "p": self.p,
            "method": self.method,
            "ci_method": self.ci_method,
            "coef_names": list(self.coef_names),
        }
        for f in (
            "rstudent",
            "resid",
            "se_resid",
            "dffits",
            "cook_d",
            "cov_r",
            "tau2_del",
            "qe_del",
            "hat",
            "weight",
            "dfbetas",
            "inf",
            "tau2",
            "qe",
        ):
            d[f] = plain(getattr(self, f))
        d["warnings"] = list(self.warnings)
        return d

    def summary(self):
        """metafor's ``print(influence(fit))``: one row per study; ``inf`` is "*" for influential ones."""
        import pandas as pd

        lead = np.shape(self.rstudent)[:-1]
        cols: dict[str, Any] = {}
        for f, lab in (
            ("rstudent", "rstudent"),
            ("dffits", "dffits"),
            ("cook_d", "cook.d"),
            ("cov_r", "cov.r"),
            ("tau2_del", "tau2.del"),
            ("qe_del", "QE.del"),
            ("hat", "hat"),
            ("weight", "weight"),
        ):
            cols[lab] = np.asarray(getattr(self, f), dtype=float).reshape(-1)
        dfb = np.asarray(self.dfbetas, dtype=float).reshape(-1, self.p)
        for j, nm in enumerate(self.coef_names):
            cols["dfbs" if self.p == 1 else f"dfbs.{nm}"] = dfb[:, j]
        cols["inf"] = np.where(np.asarray(self.inf).reshape(-1), "*", "")
        return pd.DataFrame(cols, index=_index(lead, self.k, "study"))


def influence(
    yi,
    vi,
    *,
    method: str = "REML",
    test: str = "z",
    X=None,
    tau2=None,
    coef_names: tuple[str, ...] | list[str] | None = None,
) -> InfluenceResult:
    """Case-deletion diagnostics (Viechtbauer & Cheung 2010; metafor ``influence.rma.uni``), also for X.

    For each study i the model is refitted without it (one stacked :func:`rma` call), giving τ²_(−i),
    Q_E(−i), β̂_(−i) and Var(β̂_(−i)) (including the Knapp-Hartung factor s²_(−i)); then, with h_i the hat
    value and ŷ_i = x_i'β̂ of the full model:

    * rstudent_i = (y_i − x_i'β̂_(−i)) / √(s²_(−i)(v_i + τ²_(−i)) + x_i'Var(β̂_(−i))x_i);
    * DFFITS_i = (ŷ_i − x_i'β̂_(−i)) / √(s²_(−i) h_i (τ²_(−i) + v_i));
    * Cook's D_i = (β̂ − β̂_(−i))' Var(β̂)⁻¹ (β̂ − β̂_(−i));
    * COVRATIO_i = det Var(β̂_(−i)) / det Var(β̂);
    * DFBETAS_ij = (β̂_j − β̂_(−i)j) / √(s²_(−i) [(X'W_(−i)X)⁻¹]_jj), W_(−i) = diag 1/(v + τ²_(−i)) over all k.

    A refit that cannot be done (too few studies left, or X loses full rank without study i) gives NaN,
    like metafor's NA.
    """
    method, test = _options(method, test, 0.95)
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    if k < 2:
        raise InputError("yi: influence diagnostics need at least 2 studies, got k = 1")
    Xc = check_X(X, k, m)
    p = 1 if Xc is None else Xc.shape[-1]
    full = rma(
        y.reshape((*lead, k)),
        v.reshape((*lead, k)),
        method=method,
        test=test,
        X=Xc,
        tau2=tau2,
        coef_names=coef_names,
    )
    fixed = _fixed_tau2(tau2, method, lead)

    t2 = np.asarray(full.tau2, dtype=float).reshape(m)
    s2w = np.asarray(full.s2w, dtype=float).reshape(m)
    b = np.asarray(full.b, dtype=float).reshape(m, p)
    ok_full = np.isfinite(t2)
    w = 1.0 / (v + np.where(ok_full, t2, 0.0)[:, None])
    prf = Projection(w, Xc)
    vb = prf.Ainv * s2w[:, None, None]  # (m, p, p)
    if Xc is None:
        hat = w / w.sum(-1, keepdims=True)
        pred = np.repeat(b, k, axis=1)
    else:
        hat = prf.h
        pred = np.einsum("kp,mp->mk" if Xc.ndim == 2 else "mkp,mp->mk", Xc, b)

    # --- deletion fits: study i omitted, flattened as row a·k + i ------------------------------------------
    idx = _drop_index(k)
    n = m * k
    yd = y[:, idx].reshape(n, k - 1)
    vd = v[:, idx].reshape(n, k - 1)
    Xd = None
    if Xc is not None:
        Xd = np.broadcast_to(Xc, (m, k, p))[:, idx].reshape(n, k - 1, p)  # row a·k + i: analysis a without i
    fx = None if fixed is None else np.repeat(fixed, k)
    tau2_del = np.full(n, np.nan)
    qe_del = np.full(n, np.nan)
    b_del = np.full((n, p), np.nan)
    vb_del = np.full((n, p, p), np.nan)
    s2w_del = np.full(n, np.nan)
    warns = [f"full model: {w_}" for w_ in full.warnings]
    need = p if (method == "FE" or fixed is not None) else p + 1
    rows = np.repeat(ok_full, k)
    if Xd is not None and k - 1 >= 1:
        ev = np.linalg.eigvalsh(np.swapaxes(Xd, -1, -2) @ Xd)
        rank_ok = (ev > EVTOL).all(-1)
        if (~rank_ok & rows).any():
            warns.append(
                f"{_where((~rank_ok & rows).reshape(m, k), lead, 'omitting')}: the design matrix is "
                "not of full rank without the study; its diagnostics are NaN (metafor: NA)"
            )
        rows &= rank_ok
    sel = np.flatnonzero(rows)
    if k - 1 >= need and k - 1 >= 2 and sel.size:
        Xs = None if Xd is None else Xd[sel]
        r = rma(yd[sel], vd[sel], method=method, test=test, X=Xs, tau2=None if fx is None else fx[sel])
        tau2_del[sel] = np.asarray(r.tau2, dtype=float).reshape(-1)
        qe_del[sel] = np.asarray(r.q, dtype=float).reshape(-1)
        b_del[sel] = np.asarray(r.b, dtype=float).reshape(-1, p)
        s2w_del[sel] = np.asarray(r.s2w, dtype=float).reshape(-1)
        good = np.isfinite(tau2_del[sel])
        tp = np.where(good, tau2_del[sel], 0.0)
        ainv = Projection(1.0 / (vd[sel] + tp[:, None]), Xs).Ainv
        vb_del[sel] = np.where(good[:, None, None], ainv * s2w_del[sel][:, None, None], np.nan)
        warns += _deletion_warnings(r, m, k, lead, "omitting", rows=sel)
    elif k - 1 == 1 and p == 1 and sel.size:  # metafor fits one study: itself, tau^2 = 0 (or fixed), z
        t1 = np.zeros(sel.size) if fx is None else fx[sel]
        tau2_del[sel] = t1
        qe_del[sel] = 0.0
        b_del[sel, 0] = yd[sel, 0]
        s2w_del[sel] = 1.0
        vb_del[sel, 0, 0] = vd[sel, 0] + t1
        warns.append("k = 2: each deletion fit is a single study (tau^2 = 0 or fixed, z test), as in metafor")
    elif sel.size:
        warns.append(
            f"k - 1 = {k - 1} studies cannot estimate {p} coefficient{'s' * (p > 1)}"
            f"{' and tau^2' if need > p else ''}: every diagnostic but hat and weight is NaN"
        )

    # --- diagnostics, in (m, k) layout --------------------------------------------------------------------
    tau2_del = tau2_del.reshape(m, k)
    s2w_d = s2w_del.reshape(m, k)
    b_del = b_del.reshape(m, k, p)
    vb_del = vb_del.reshape(m, k, p, p)
    xi = np.ones((m, k, p)) if Xc is None else np.broadcast_to(Xc, (m, k, p))
    delpred = np.einsum("mkp,mkp->mk", xi, b_del)
    vdelpred = np.einsum("mkp,mkpq,mkq->mk", xi, vb_del, xi)
    with np.errstate(divide="ignore", invalid="ignore"):
        dffits = (pred - delpred) / np.sqrt(s2w_d * hat * (tau2_del + v))
        # Var of beta with all k studies at tau2_(-i), for DFBETAS
        tp = np.where(np.isfinite(tau2_del), tau2_del, 0.0)
        wd = (1.0 / (v[:, None, :] + tp[:, :, None])).reshape(n, k)
        Xall = None if Xc is None else (np.broadcast_to(Xc, (m, k, p)) if Xc.ndim == 2 else Xc)
        Xall = None if Xall is None else np.repeat(Xall, k, axis=0)
        ainv_all = Projection(wd, Xall).Ainv.reshape(m, k, p, p)
        dfb = b[:, None, :] - b_del
        dfbetas = dfb / np.sqrt(s2w_d[..., None] * np.diagonal(ainv_all, axis1=-2, axis2=-1))
        fin = np.isfinite(dfb).all(-1)
        cook = np.full((m, k), np.nan)
        cov_r = np.full((m, k), np.nan)
        ok_vb = np.isfinite(vb).all((-1, -2)) & (np.linalg.det(np.where(np.isfinite(vb), vb, 1.0)) > 0)
        sel2 = fin & ok_vb[:, None]
        if sel2.any():
            vbb = np.broadcast_to(vb[:, None], (m, k, p, p))[sel2]
            sol = np.linalg.solve(vbb, dfb[sel2][..., None])[..., 0]
            cook[sel2] = np.einsum("np,np->n", dfb[sel2], sol)
            cov_r[sel2] = np.linalg.det(vb_del[sel2]) / np.linalg.det(vbb)
        resid = y - delpred
        resid = np.where(np.abs(resid) < 100 * _EPS, 0.0, resid)
        se_resid = np.sqrt(v * s2w_d + vdelpred + tau2_del * s2w_d)
        rstudent = resid / se_resid
        cut = np.inf if k == p else 3 * np.sqrt(p / (k - p))
        inf = (
            (np.abs(dffits) > cut)
            | (chdtr(p, cook) > 0.5)
            | (hat > 3 * p / k)
            | (np.abs(dfbetas) > 1).any(-1)
        )
    weight = np.asarray(full.weights, dtype=float).reshape(m, k)

    def sh(a):  # (m, k, ...) -> lead + (k, ...)
        return np.asarray(a).reshape(lead + np.shape(a)[1:])

    def one(a):
        a = np.asarray(a, dtype=float).reshape(m)
        return a.reshape(lead) if lead else float(a[0])

    return InfluenceResult(
        k=k,
        p=p,
        method=method,
        ci_method=test,
        coef_names=full.coef_names,
        rstudent=sh(rstudent),
        resid=sh(resid),
        se_resid=sh(se_resid),
        dffits=sh(dffits),
        cook_d=sh(cook),
        cov_r=sh(cov_r),
        tau2_del=sh(tau2_del),
        qe_del=sh(qe_del.reshape(m, k)),
        hat=sh(hat),
        weight=sh(weight),
        dfbetas=sh(dfbetas),
        inf=sh(inf),
        tau2=one(t2),
        qe=one(full.q),
        warnings=tuple(warns),
    )
