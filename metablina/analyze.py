"""One pooled analysis from arrays: effect sizes, the model, the interval, back-transformation.

This is the single place where a measure and a method are turned into calls of :mod:`metablina.stats`,
so that ``metablina pool --table`` and the analyses of a plan give the same numbers and the same JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metablina.options import BAYES_METHODS, CI_METHODS, IV_METHODS, MEASURES, METHODS
from metablina.stats.errors import InputError
from metablina.stats.plain import plain

# Generic estimates pooled by inverse variance with their own back-transformation.
GENERIC_LOG = {"KM": "landmark survival rates on log(-log S)", "HR": "log hazard ratios"}
TEST_OF_CI = {"z": "z", "hksj": "knha", "hksj-adhoc": "adhoc"}
JSON_KEYS = (
    "k",
    "measure",
    "method",
    "ci_method",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "h2",
    "q",
    "q_df",
    "q_p",
    "pi_low",
    "pi_high",
    "pi_hts_low",
    "pi_hts_high",
    "yi",
    "vi",
)
METHOD_NAMES = {
    "FE": "common-effect (inverse variance)",
    "DL": "DerSimonian-Laird",
    "HE": "Hedges",
    "HS": "Hunter-Schmidt",
    "SJ": "Sidik-Jonkman",
    "ML": "maximum likelihood",
    "REML": "restricted maximum likelihood",
    "PM": "Paule-Mandel",
    "EB": "empirical Bayes",
    "GLMM": "binomial-normal GLMM (ML, adaptive Gauss-Hermite, 7 nodes)",
    "MH": "Mantel-Haenszel",
    "PETO": "Peto",
    "BAYES": "Bayesian normal-normal random effects (exact, no MCMC)",
    "BAYES-GLMM": "Bayesian binomial-normal random effects (exact binomial likelihood, no MCMC)",
}
BAYES_KEYS = (
    "estimate",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "tau_median",
    "tau_ci_low",
    "tau_ci_high",
    "pi_low",
    "pi_high",
    "tau_prior",
    "mu_prior",
    "p_below",
)
# Weakly informative half-normal scales on tau (Friede et al. 2017; Röver et al. 2021): 0.5 for log ratios;
# 1.0 for absolute rates on logit or log(-log) scales (our judgement: between-centre variation in absolute
# rates is larger than in relative effects). Other scales have no default: the reviewer
# states one.
DEFAULT_TAU_PRIOR = {
    "RR": "halfnormal:0.5",
    "OR": "halfnormal:0.5",
    "HR": "halfnormal:0.5",
    "PLO": "halfnormal:1",
    "KM": "halfnormal:1",
}
CI_NAMES = {
    "z": "Wald-type (normal quantile)",
    "hksj": "Hartung-Knapp-Sidik-Jonkman (t, k-1 df)",
    "hksj-adhoc": "Hartung-Knapp-Sidik-Jonkman with the ad hoc correction q* = max(1, q) (t, k-1 df)",
    "t": "t quantile with k-1 df",
}


def default_ci(method: str) -> str:
    """Few-study default: the ad hoc Knapp-Hartung interval for inverse-variance random effects, t(k-1)
    for the GLMM, Wald otherwise."""
    if method in BAYES_METHODS:
        return "credible"
    if method == "GLMM":
        return "t"
    return "hksj-adhoc" if method in IV_METHODS and method != "FE" else "z"


def interval_of(measure: str, method: str, ci: str | None) -> str:
    """The interval ``method`` computes when ``ci`` is asked for (None: its default), as results are
    labelled; InputError with the reason when the measure, method and interval do not go together.

    A GLMM has no Knapp-Hartung adjustment: ``hksj`` and ``hksj-adhoc`` ask it for its t(k-1) interval,
    labelled ``t``. A Bayesian model reports a credible interval and takes no other.
    """
    if measure not in (*MEASURES, *GENERIC_LOG):
        raise InputError(f"unknown measure {measure!r}; one of {', '.join(MEASURES)}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if method in BAYES_METHODS:
        if ci not in (None, "credible"):
            raise InputError(f"a Bayesian model reports a central credible interval, not a {ci} interval")
        if method == "BAYES-GLMM" and measure != "PLO":
            raise InputError(
                f"method BAYES-GLMM pools proportions on the logit scale: use measure PLO, not {measure}"
            )
        return "credible"
    ci = ci or default_ci(method)
    if ci not in CI_METHODS:
        raise InputError(f"unknown CI method {ci!r}; one of {', '.join(CI_METHODS)}")
    if measure in GENERIC_LOG and method not in IV_METHODS:
        raise InputError(f"{GENERIC_LOG[measure]} are pooled by inverse variance, not by {method}")
    if method == "GLMM" and measure not in ("PLO", "OR"):
        raise InputError(f"method GLMM pools PLO (proportions) or OR (two-group counts), not {measure}")
    if method == "MH" and measure not in ("OR", "RR", "RD"):
        raise InputError(f"method MH pools OR, RR or RD, not {measure}")
    if method == "PETO" and measure != "OR":
        raise InputError(f"method PETO pools odds ratios: use measure OR, not {measure}")
    if method in ("FE", "MH", "PETO") and ci != "z":
        raise InputError(f"a {METHOD_NAMES[method]} model has no {ci} interval; use the z interval")
    if method == "GLMM":
        return "z" if ci == "z" else "t"
    if ci == "t":
        raise InputError(f"a plain t(k-1) interval is the GLMM's; for {method} use hksj, hksj-adhoc or z")
    return ci


@dataclass(frozen=True)
class PoolResult:
    """A pooled estimate as the CLI prints it, with the fit object for anything further."""

    measure: str
    method: str
    ci_method: str
    labels: tuple[str, ...]
    fit: Any
    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray | None
    columns: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = field(default=())

    @property
    def k(self) -> int:
        return int(self.fit.k)

    def to_dict(self) -> dict[str, Any]:
        """Exactly the documented keys that apply to this model, on the analysis scale, plus ``back``."""
        fit = self.fit.to_dict()
        out: dict[str, Any] = {
            "k": self.k,
            "measure": self.measure,
            "method": self.method,
            "ci_method": self.ci_method,
        }
        if self.method in BAYES_METHODS:
            out.update({key: fit[key] for key in BAYES_KEYS if fit.get(key) is not None})
            if "p_below" in out:  # P(effect < threshold): the threshold as given, on the natural scale
                out["threshold"] = float(back_value(self.measure, fit["threshold"], self.ni))
            out["back"] = self.back()
            return out
        for key in JSON_KEYS[4:-2]:
            value = fit.get(key)
            if key == "q" and value is None:
                value = fit.get("q_wald")
            if key == "q_p" and value is None:
                value = fit.get("q_wald_p")
            if value is not None:
                out[key] = value
        out["yi"] = plain(np.asarray(self.yi, dtype=float))  # at C speed: 10^5 studies in milliseconds
        out["vi"] = plain(np.asarray(self.vi, dtype=float))
        out["back"] = self.back()
        return out

    def back(self) -> dict[str, float | None]:
        """Estimate, CI and PI on the natural scale (exp, inverse logit, sin², inverse Freeman-Tukey,
        exp(−exp(y)) for landmark survival, whose decreasing transform swaps the interval's ends)."""
        fit = self.fit.to_dict()
        values = {key: fit.get(key) for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
        out = {
            key: None if v is None else _num(back_value(self.measure, v, self.ni))
            for key, v in values.items()
        }
        if self.measure == "KM":
            out["ci_low"], out["ci_high"] = out["ci_high"], out["ci_low"]
            out["pi_low"], out["pi_high"] = out["pi_high"], out["pi_low"]
        return {k: v for k, v in out.items() if values[k] is not None}


def back_value(measure: str, x: Any, ni: np.ndarray | None = None) -> Any:
    """One value or array on the analysis scale -> the natural scale of ``measure``."""
    x = np.asarray(x, dtype=float)
    if measure == "KM":
        return np.exp(-np.exp(x))
    if measure == "HR":
        return np.exp(x)
    from metablina.stats.measures import back_transform

    return back_transform(measure, x, ni=ni)


def scaled_prior(spec: str, factor: float) -> str:
    """A prior on tau at ``factor`` times its scale, its first parameter: ``halfnormal:1`` at 0.5 is
    ``halfnormal:0.5``, ``halft:1:3`` at 2 is ``halft:2:3``."""
    kind, scale, *rest = spec.split(":")
    return ":".join([kind, f"{float(scale) * factor:g}", *rest])


def _num(x: Any) -> float | None:
    value = float(np.asarray(x))
    return value if np.isfinite(value) else None


RATE_MEASURES = ("PLO", "PFT", "PAS", "PR", "KM")
RATIO_MEASURES = ("RR", "OR", "HR")


def check_threshold(measure: str, value: float) -> None:
    """InputError unless ``value`` is a threshold on the natural scale of ``measure``: a proportion or
    survival rate strictly between 0 and 1, a ratio above 0, any other measure a finite number."""
    if not math.isfinite(value):
        raise InputError(f"threshold must be a finite number, not {value}")
    if measure in RATE_MEASURES and not 0 < value < 1:
        raise InputError(
            f"threshold for {measure} is a proportion between 0 and 1 (0.05 for 5%), not {value:g}"
        )
    if measure in RATIO_MEASURES and value <= 0:
        raise InputError(f"threshold for {measure} is a ratio above 0, not {value:g}")


def to_analysis_scale(measure: str, value: float, ni: np.ndarray | None = None) -> tuple[float, bool]:
    """A natural-scale threshold on the analysis scale, and whether the transform reverses the order
    (log(-log S) decreases in S, so P(S < c) is P(mu > g(c))). For PFT it is the value that the pooled
    estimate's own back-transformation (the harmonic mean of ``ni``) takes to the threshold."""
    check_threshold(measure, value)
    if measure == "PLO":
        return float(np.log(value / (1 - value))), False
    if measure in ("RR", "OR", "HR"):
        return float(np.log(value)), False
    if measure == "KM":
        return float(np.log(-np.log(value))), True
    if measure == "PAS":
        return float(np.arcsin(np.sqrt(value))), False
    if measure == "PFT":
        if ni is None:
            raise InputError("ni: a threshold on the Freeman-Tukey scale needs the study sample sizes ni")
        lo, hi = 0.0, float(np.pi)  # the back-transformation increases from 0 to 1 over [0, pi]
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if float(back_value("PFT", mid, ni)) < value else (lo, mid)
        return 0.5 * (lo + hi), False
    return float(value), False


def pool(
    measure: str,
    method: str,
    ci: str | None,
    columns: dict[str, np.ndarray],
    labels: list[str] | tuple[str, ...],
    *,
    tau_prior: str | None = None,
    mu_prior: str = "flat",
    threshold: float | None = None,
    shrinkage: bool = True,
) -> PoolResult:
    """Compute effect sizes from metafor-named ``columns`` and pool them; raise InputError on misuse.

    ``tau_prior``, ``mu_prior`` and ``threshold`` apply to the Bayesian methods; ``threshold`` is on the
    natural scale and gives the posterior probability that the pooled effect lies below it;
    ``shrinkage=False`` leaves out a binomial–normal model's shrunken study estimates (the slow part).
    """
    from metablina.stats.measures import escalc

    for name, value in columns.items():  # a 2-D column would be flattened into one analysis of k = m·k
        if np.ndim(value) != 1 or len(value) != len(labels):
            raise InputError(
                f"{name}: expected one value per study ({len(labels)} labels), got shape {np.shape(value)}; "
                "pool several analyses with metablina.stats.batch"
            )
    measure, method = measure.upper(), method.upper()
    interval = interval_of(measure, method, ci)
    if method in BAYES_METHODS:
        return _pool_bayes(measure, method, columns, labels, tau_prior, mu_prior, threshold, shrinkage)

    warnings: list[str] = []
    es = escalc("GEN" if measure in GENERIC_LOG else measure, **columns)
    warnings += es.warnings
    yi, vi = np.asarray(es.yi, dtype=float), np.asarray(es.vi, dtype=float)
    ni = columns.get("ni")
    k = len(labels)
    if k < 2:
        raise InputError("k = 1: a single study cannot be pooled; report the study itself")

    if method in IV_METHODS:
        from metablina.stats.rma import rma

        keep = np.isfinite(yi) & np.isfinite(vi)
        if keep.sum() < k:
            dropped = [labels[i] for i in np.flatnonzero(~keep)]
            warnings.append(f"left out (no estimable effect): {', '.join(dropped)}")
        fit = rma(yi[keep], vi[keep], method=method, test=TEST_OF_CI[interval])
        yi, vi = yi[keep], vi[keep]
    elif method == "GLMM":
        from metablina.stats import glmm

        if ci in ("hksj", "hksj-adhoc"):
            warnings.append(
                f"GLMM: no Knapp-Hartung adjustment exists for a GLMM; the {ci} interval asked for is "
                "t with k-1 df (ci t)"
            )
        if measure == "PLO":
            fit = glmm.glmm_proportion(columns["xi"], columns["ni"], test=interval)
        else:
            fit = glmm.glmm_or_umfs(
                columns["ai"], columns["n1i"], columns["ci"], columns["n2i"], test=interval
            )
    else:
        from metablina.stats import mh

        cells = (columns["ai"], columns["n1i"], columns["ci"], columns["n2i"])
        fit = mh.mantel_haenszel(*cells, measure=measure) if method == "MH" else mh.peto(*cells)
        if method == "PETO":
            peto = escalc("PETO", **columns)
            yi, vi = np.asarray(peto.yi, dtype=float), np.asarray(peto.vi, dtype=float)
    warnings += list(getattr(fit, "warnings", ()))
    return PoolResult(
        measure,
        method,
        interval,
        tuple(labels),
        fit,
        yi,
        vi,
        ni,
        dict(columns),
        tuple(dict.fromkeys(warnings)),
    )


def _pool_bayes(
    measure: str,
    method: str,
    columns: dict[str, np.ndarray],
    labels: list[str] | tuple[str, ...],
    tau_prior: str | None,
    mu_prior: str,
    threshold: float | None,
    shrinkage: bool = True,
) -> PoolResult:
    from metablina.stats import bayes
    from metablina.stats.measures import escalc

    tau_prior = tau_prior or DEFAULT_TAU_PRIOR.get(measure)
    if tau_prior is None:
        raise InputError(
            f"no default prior on tau for measure {measure}: give one, e.g. --tau-prior halfnormal:0.5"
        )
    cut, reverse = (
        (None, False) if threshold is None else to_analysis_scale(measure, threshold, columns.get("ni"))
    )
    warnings: list[str] = []
    if method == "BAYES-GLMM":
        fit = bayes.bayes_bn(
            columns["xi"],
            columns["ni"],
            tau_prior=tau_prior,
            mu_prior=mu_prior,
            threshold=cut,
            shrinkage=shrinkage,
        )
        es = escalc("PLO", xi=columns["xi"], ni=columns["ni"])
    else:
        es = escalc("GEN" if measure in GENERIC_LOG else measure, **columns)
        warnings += es.warnings
        fit = bayes.bayes_nn(es.yi, es.vi, tau_prior=tau_prior, mu_prior=mu_prior, threshold=cut)
    if reverse and fit.p_below is not None:
        import dataclasses

        fit = dataclasses.replace(fit, p_below=1 - fit.p_below)
    warnings += list(fit.warnings)
    return PoolResult(
        measure,
        method,
        "credible",
        tuple(labels),
        fit,
        np.asarray(es.yi, float),
        np.asarray(es.vi, float),
        columns.get("ni"),
        dict(columns),
        tuple(dict.fromkeys(warnings)),
    )
