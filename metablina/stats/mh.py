"""Mantel–Haenszel and Peto common-effect methods for 2×2 tables, as metafor's ``rma.mh`` and ``rma.peto``.

* Mantel & Haenszel (1959) pooled OR, RR and RD. Variances: Robins, Breslow & Greenland (1986) for the
  log OR; Greenland & Robins (1985) for the log RR and the RD (Sato's form for RD, as metafor).
* Peto's one-step log OR (Yusuf et al. 1985): Σ(O − E)/ΣV with hypergeometric E and V.

Zero cells follow metafor's defaults: the pooled estimate uses the raw tables (no continuity correction,
double-zero tables kept — they add nothing to the OR/RR sums but do enter the RD's weights), while the
heterogeneity statistic Q is computed on escalc's study estimates with ½ added to every cell of a table
that has a zero cell, double-zero tables (no events, or only events, in both groups) left out
(``add=c(1/2, 0), to=c("only0", "none"), drop00=c(TRUE, FALSE)``). Q's df is k − 1 over the studies in
Q; I² = max(0, (Q − df)/Q) and H² = Q/df (Higgins & Thompson 2002).

For the OR, the Cochran–Mantel–Haenszel test (with metafor's continuity correction, ``correct=TRUE``),
and the Breslow–Day and Tarone (1985) homogeneity tests are also returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from scipy.special import chdtrc, ndtr, ndtri

from metablina.stats.errors import InputError
from metablina.stats.glmm import _events_and_totals, _shape_out
from metablina.stats.measures import escalc
from metablina.stats.plain import plain

__all__ = ["MHResult", "mantel_haenszel", "peto"]


@dataclass(frozen=True, eq=False)
class MHResult:
    """Common-effect pooled estimate from Mantel–Haenszel or Peto (log scale for OR/RR/PETO, raw for RD).

    ``k``: tables given; ``k_q``: tables in Q (double zeros left out); ``q``/``q_p``/``q_df``: Cochran's
    Q; ``i2`` in percent. OR only (NaN otherwise): ``cmh``/``cmh_p`` the continuity-corrected
    Cochran–Mantel–Haenszel test, ``breslow_day``/``tarone`` (+ ``_p``) homogeneity tests on ``k_pos``
    informative tables. Scalars for one analysis, arrays over the leading axes for a stack.
    """

    method: str
    measure: str
    level: float
    k: int | np.ndarray
    k_q: int | np.ndarray
    estimate: float | np.ndarray
    se: float | np.ndarray
    zval: float | np.ndarray
    pval: float | np.ndarray
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray
    q: float | np.ndarray
    q_p: float | np.ndarray
    q_df: int | np.ndarray
    i2: float | np.ndarray
    h2: float | np.ndarray
    cmh: float | np.ndarray
    cmh_p: float | np.ndarray
    breslow_day: float | np.ndarray
    breslow_day_p: float | np.ndarray
    tarone: float | np.ndarray
    tarone_p: float | np.ndarray
    k_pos: int | np.ndarray
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """Plain Python values: floats (or nested lists for a stack), None for NaN."""

        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    def summary(self):
        """One row per analysis."""
        import pandas as pd

        cols = [
            "k",
            "estimate",
            "se",
            "zval",
            "pval",
            "ci_low",
            "ci_high",
            "q",
            "q_p",
            "q_df",
            "i2",
            "h2",
            "cmh",
            "cmh_p",
            "breslow_day_p",
            "tarone_p",
        ]
        df = pd.DataFrame({c: np.ravel(getattr(self, c)) for c in cols})
        df.insert(0, "method", f"{self.method} ({self.measure})")
        return df


def _tables(ai, n1i, ci, n2i):
    a, n1 = _events_and_totals("ai", ai, "n1i", n1i)
    c, n2 = _events_and_totals("ci", ci, "n2i", n2i)
    try:
        a, n1, c, n2 = np.broadcast_arrays(a, n1, c, n2)
    except ValueError:
        raise InputError(f"ai, ci: shapes {a.shape} and {c.shape} differ") from None
    lead, k = a.shape[:-1], a.shape[-1]
    A, N1, C, N2 = (np.array(v, dtype=float).reshape(-1, k) for v in (a, n1, c, n2))
    return lead, k, A, N1 - A, C, N2 - C


def _q_stats(yi, vi, beta):
    """metafor rma.mh: Q = Σ w (y − β)² over non-NaN studies; I², H² from Q; Q = 0, I² = 0 when k_q = 1."""
    ok = ~np.isnan(yi)
    k_q = ok.sum(-1)
    w = np.where(ok, 1.0 / np.where(ok, vi, 1.0), 0.0)
    q = np.maximum((w * np.where(ok, yi - beta[:, None], 0.0) ** 2).sum(-1), 0.0)
    df = k_q - 1
    multi = k_q > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(multi, q, 0.0)
        q_p = np.where(multi, chdtrc(np.maximum(df, 1), q), 1.0)
        i2 = np.where(multi, np.maximum(0.0, 100.0 * (q - df) / q), 0.0)
        h2 = np.where(multi, q / np.maximum(df, 1), 1.0)
    i2 = np.where(multi & (q == 0), 0.0, i2)  # metafor: max(0, -Inf) = 0
    nan = np.isnan(beta)
    return k_q, *(np.where(nan, np.nan, v) for v in (q, q_p, i2, h2)), df


def _wald(beta, se, level):
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / se
    crit = ndtri(1.0 - (1.0 - level) / 2.0)
    return z, 2.0 * ndtr(-np.abs(z)), beta - crit * se, beta + crit * se


def _check_level(level):
    if not 0 < level < 1:
        raise InputError(f"level: must be in (0, 1), e.g. 0.95, not {level!r}")


def mantel_haenszel(ai, n1i, ci, n2i, *, measure: str = "OR", level: float = 0.95) -> MHResult:
    """Mantel–Haenszel pooled OR, RR or RD (metafor ``rma.mh`` with its defaults).

    ``ai``/``n1i``: events/total in group 1, ``ci``/``n2i`` in group 2; last axis = studies, leading axes a
    stack of analyses. The estimate is the log OR / log RR, or the RD. OR is undefined (NaN, with a
    warning) when Σ ad/N or Σ bc/N is 0; RR when either group has no events at all.
    """
    if not isinstance(measure, str) or measure.upper() not in ("OR", "RR", "RD"):
        raise InputError(f"measure: must be 'OR', 'RR' or 'RD', not {measure!r}")
    measure = measure.upper()
    _check_level(level)
    lead, k, a, b, c, d = _tables(ai, n1i, ci, n2i)
    n1, n2 = a + b, c + d
    N = n1 + n2
    warn = []
    nanv = np.full(a.shape[0], np.nan)
    cmh = cmh_p = bd = bd_p = ta = ta_p = nanv
    k_pos = np.zeros(a.shape[0], int)

    if measure == "OR":
        P, Qv, R, S = (a + d) / N, (b + c) / N, a * d / N, b * c / N
        Rs, Ss = R.sum(-1), S.sum(-1)
        undefined = (Rs == 0) | (Ss == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            psi = Rs / Ss
            beta = np.where(undefined, np.nan, np.log(psi))
            var = 0.5 * (
                (P * R).sum(-1) / Rs**2 + (P * S + Qv * R).sum(-1) / (Rs * Ss) + (Qv * S).sum(-1) / Ss**2
            )
        se = np.where(undefined, np.nan, np.sqrt(var))
        if undefined.any():
            warn.append("MH odds ratio undefined (0 or infinite): sum(ai*di/Ni) or sum(bi*ci/Ni) is 0")
        # Cochran–Mantel–Haenszel test with continuity correction (metafor correct=TRUE)
        xt, yt = a + c, b + d
        no_test = (xt.sum(-1) == 0) | (yt.sum(-1) == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            num = (np.abs((a - n1 / N * xt).sum(-1)) - 0.5) ** 2
            cmh = np.where(no_test, np.nan, num / (n1 / N * (n2 / N) * (xt * (yt / (N - 1)))).sum(-1))
        cmh_p = np.where(no_test, np.nan, chdtrc(1, cmh))
        bd, bd_p, ta, ta_p, k_pos = _breslow_day_tarone(a, n1, n2, xt, yt, N, psi, undefined)
    elif measure == "RR":
        R, S = (a * (n2 / N)).sum(-1), (c * (n1 / N)).sum(-1)
        undefined = (a.sum(-1) == 0) | (c.sum(-1) == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = np.where(undefined, np.nan, np.log(R / S))
            var = ((n1 / N) * (n2 / N) * (a + c) - (a / N) * c).sum(-1) / (R * S)
        se = np.where(undefined, np.nan, np.sqrt(var))
        if undefined.any():
            warn.append("MH risk ratio undefined: one group has no events in any study")
    else:
        W = (n1 * (n2 / N)).sum(-1)
        beta = (a * (n2 / N) - c * (n1 / N)).sum(-1) / W
        var = (
            beta * (c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + (n1 / N) * (n2 / N) * (n2 - n1) / 2).sum(-1)
            + (a * (n2 - c) / N + c * (n1 - a) / N).sum(-1) / 2
        ) / W**2
        se = np.sqrt(np.maximum(var, 0.0))  # analytically >= 0; rounding can leave -1e-17 when it is 0

    zval, pval, lo, hi = _wald(beta, se, level)
    # Q as metafor's rma.mh computes it: escalc's study estimates with add 1/2 to zero-cell tables and
    # double-zero tables dropped (drop00 given explicitly: escalc keeps them for RD by default).
    es = escalc(measure, ai=a, n1i=a + b, ci=c, n2i=c + d, add=0.5, to="only0", drop00=True)
    yi, vi = np.asarray(es.yi, dtype=float), np.asarray(es.vi, dtype=float)
    k_q, q, q_p, i2, h2, q_df = _q_stats(yi, vi, beta)
    n_dz = np.isnan(yi).sum(-1)
    if n_dz.any():
        warn.append(
            f"double-zero tables (no events, or only events, in both groups) left out of Q: {int(n_dz.sum())}"
        )
    out = _shape_out(
        lead,
        k=np.full(a.shape[0], k),
        k_q=k_q,
        estimate=beta,
        se=se,
        zval=zval,
        pval=pval,
        ci_low=lo,
        ci_high=hi,
        q=q,
        q_p=q_p,
        q_df=q_df,
        i2=i2,
        h2=h2,
        cmh=cmh,
        cmh_p=cmh_p,
        breslow_day=bd,
        breslow_day_p=bd_p,
        tarone=ta,
        tarone_p=ta_p,
        k_pos=k_pos,
    )
    return MHResult(method="MH", measure=measure, level=float(level), warnings=tuple(warn), **out)


def _breslow_day_tarone(a, n1, n2, xt, yt, N, psi, undefined):
    """Breslow–Day statistic and Tarone's (1985) correction, as metafor: expected a-cell N11 under the
    MH odds ratio ψ (root of the conditional quadratic), over tables with N11 > 0 and both margins > 0.

    The root is taken as 2 n1 m1 ψ/(A + B), algebraically metafor's (A − B)/(2(ψ − 1)) but without its
    cancellation: metafor's form breaks down when ψ is within rounding of 1 but not exactly 1 (it then
    reports BD = 0 on no tables), this one is exact there and equals n1 m1/N at ψ = 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        psi_ = np.where(undefined, 2.0, psi)[:, None]
        Aq = psi_ * (n1 + xt) + (n2 - xt)
        Bq = np.sqrt(np.maximum(Aq**2 - 4 * n1 * xt * psi_ * (psi_ - 1), 0.0))
        n11 = 2 * n1 * xt * psi_ / (Aq + Bq)
        pos = (n11 > 0) & (xt > 0) & (yt > 0)
        s11 = np.where(pos, n11, 1.0)
        n12, n21 = n1 - s11, xt - s11
        n22 = s11 - n1 - xt + N
        inv_v = 1 / s11 + 1 / n12 + 1 / n21 + 1 / n22
        dev = np.where(pos, a - s11, 0.0)
        bd = np.maximum(0.0, (dev**2 * np.where(pos, inv_v, 0.0)).sum(-1))
        ta = np.maximum(0.0, bd - dev.sum(-1) ** 2 / np.where(pos, 1 / inv_v, 0.0).sum(-1))
    k_pos = pos.sum(-1)
    ok = (k_pos > 1) & ~undefined
    df = np.maximum(k_pos - 1, 1)
    bd_p = np.where(ok, chdtrc(df, bd), np.nan)
    ta_p = np.where(ok, chdtrc(df, ta), np.nan)
    bd = np.where(undefined, np.nan, bd)
    ta = np.where(undefined, np.nan, ta)
    return bd, bd_p, ta, ta_p, np.where(undefined, 0, k_pos)


def peto(ai, n1i, ci, n2i, *, level: float = 0.95) -> MHResult:
    """Peto's one-step pooled log odds ratio (metafor ``rma.peto``; Yusuf et al. 1985).

    β = Σ(a_i − E_i)/ΣV_i, SE = 1/√ΣV_i with E_i = n1_i m1_i/N_i and the hypergeometric variance
    V_i = m1_i m2_i n1_i n2_i/(N_i²(N_i − 1)). Q = Σ(a − E)²/V − (Σ(a − E))²/ΣV over tables with V > 0;
    df = k − 1 over tables that are not double zeros (metafor). Raises if no table has both outcomes.
    """
    _check_level(level)
    lead, k, a, b, c, d = _tables(ai, n1i, ci, n2i)
    n1, n2 = a + b, c + d
    N = n1 + n2
    xt, yt = a + c, b + d
    E = xt * n1 / N
    with np.errstate(divide="ignore", invalid="ignore"):
        V = np.where(N > 1, xt * yt * (n1 / N) * (n2 / N) / (N - 1), 0.0)
    sv = V.sum(-1)
    if (sv == 0).any():
        rows = np.flatnonzero(sv == 0)
        where = f" (analysis {tuple(int(i) for i in np.unravel_index(int(rows[0]), lead))})" if lead else ""
        raise InputError(
            f"ai: one of the two outcomes never occurs in any table{where}; Peto's method cannot be used"
        )
    oe = a - E
    beta = oe.sum(-1) / sv
    se = 1.0 / np.sqrt(sv)
    zval, pval, lo, hi = _wald(beta, se, level)
    pos = V > 0
    q = np.maximum(0.0, np.where(pos, oe**2 / np.where(pos, V, 1.0), 0.0).sum(-1) - oe.sum(-1) ** 2 / sv)
    dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    k_q = (~dz).sum(-1)
    q_df = k_q - 1
    k_pos = pos.sum(-1)
    multi = k_pos > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        q_p = np.where(multi, chdtrc(np.maximum(q_df, 1), q), 1.0)
        i2 = np.where(multi & (q > 0), np.maximum(0.0, 100.0 * (q - q_df) / q), 0.0)
        h2 = np.where(multi, q / np.maximum(q_df, 1), 1.0)
    warn = []
    if dz.any():
        warn.append(
            f"double-zero tables (no events, or only events, in both groups) left out of Q's df: "
            f"{int(dz.sum())}"
        )
    nanv = np.full(a.shape[0], np.nan)
    out = _shape_out(
        lead,
        k=np.full(a.shape[0], k),
        k_q=k_q,
        estimate=beta,
        se=se,
        zval=zval,
        pval=pval,
        ci_low=lo,
        ci_high=hi,
        q=q,
        q_p=q_p,
        q_df=q_df,
        i2=i2,
        h2=h2,
        cmh=nanv,
        cmh_p=nanv,
        breslow_day=nanv,
        breslow_day_p=nanv,
        tarone=nanv,
        tarone_p=nanv,
        k_pos=k_pos,
    )
    return MHResult(method="Peto", measure="PETO", level=float(level), warnings=tuple(warn), **out)
