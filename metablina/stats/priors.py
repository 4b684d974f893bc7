"""Prior distributions for the Bayesian random-effects models in :mod:`metablina.stats.bayes`.

Heterogeneity τ (Friede et al. 2017, Röver et al. 2021): half-normal, half-Cauchy and half-Student-t
with a scale on the effect's own scale (HN(0.5) or HN(1) for log-OR / log-HR), and the uniform prior,
which bayesmeta (Röver 2020) offers but warns against for small k. Overall effect μ: flat (improper)
or normal(mean, sd) — the two choices for which μ can be integrated out in closed form in the
normal–normal model.

Each prior is a small frozen dataclass with a ``label`` for reports, ``logpdf`` (normalised), a
``median`` used to scale integration grids, and ``tail`` — the exponent a in p(τ) ~ τ^(−a) as τ → ∞
(∞ for light tails or bounded support), from which :mod:`bayes` decides which posterior moments exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ndtri, stdtrit

from metablina.stats.errors import InputError

__all__ = [
    "FlatMu",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "MuPrior",
    "NormalMu",
    "TauPrior",
    "Uniform",
    "parse_mu_prior",
    "parse_tau_prior",
]


def _positive(name: str, value, *, allow_inf: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a positive number, got {value!r}") from None
    if not (v > 0) or (math.isinf(v) and not allow_inf) or math.isnan(v):
        raise InputError(f"{name}: expected a positive{'' if allow_inf else ' finite'} number, got {value!r}")
    return v


@dataclass(frozen=True)
class HalfNormal:
    """τ ~ |N(0, scale²)|."""

    scale: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("tau_prior scale", self.scale))

    @property
    def label(self) -> str:
        return f"half-normal({self.scale:g}) on tau"

    proper = True
    tail = math.inf

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        s = self.scale
        out = 0.5 * math.log(2.0 / math.pi) - math.log(s) - 0.5 * (tau / s) ** 2
        return np.where(tau >= 0, out, -np.inf)

    @property
    def median(self) -> float:
        return self.scale * float(ndtri(0.75))


@dataclass(frozen=True)
class HalfStudentT:
    """τ ~ |t_df| · scale (half-Student-t); heavier-tailed than the half-normal for small df."""

    scale: float
    df: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("tau_prior scale", self.scale))
        object.__setattr__(self, "df", _positive("tau_prior df", self.df))

    @property
    def label(self) -> str:
        return f"half-Student-t({self.scale:g}, df={self.df:g}) on tau"

    proper = True

    @property
    def tail(self) -> float:
        return self.df + 1.0

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        s, nu = self.scale, self.df
        c = (
            math.log(2.0)
            + gammaln((nu + 1) / 2)
            - gammaln(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(s)
        )
        out = c - 0.5 * (nu + 1) * np.log1p((tau / s) ** 2 / nu)
        return np.where(tau >= 0, out, -np.inf)

    @property
    def median(self) -> float:
        return self.scale * float(stdtrit(self.df, 0.75))


@dataclass(frozen=True)
class HalfCauchy:
    """τ ~ |Cauchy(0, scale)| (half-t with 1 df); its mean is infinite."""

    scale: float

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("tau_prior scale", self.scale))

    @property
    def label(self) -> str:
        return f"half-Cauchy({self.scale:g}) on tau"

    proper = True
    tail = 2.0

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        s = self.scale
        out = math.log(2.0 / (math.pi * s)) - np.log1p((tau / s) ** 2)
        return np.where(tau >= 0, out, -np.inf)

    @property
    def median(self) -> float:
        return self.scale


@dataclass(frozen=True)
class Uniform:
    """τ ~ U(0, upper); ``upper = inf`` is bayesmeta's improper default (``tau.prior="uniform"``)."""

    upper: float = math.inf

    def __post_init__(self):
        object.__setattr__(self, "upper", _positive("tau_prior upper", self.upper, allow_inf=True))

    @property
    def label(self) -> str:
        if math.isinf(self.upper):
            return "uniform(0, inf) on tau (improper)"
        return f"uniform(0, {self.upper:g}) on tau"

    @property
    def proper(self) -> bool:
        return math.isfinite(self.upper)

    @property
    def tail(self) -> float:
        return math.inf if self.proper else 0.0

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        inside = (tau >= 0) & (tau <= self.upper)
        val = 0.0 if math.isinf(self.upper) else -math.log(self.upper)
        return np.where(inside, val, -np.inf)

    @property
    def median(self) -> float:
        return math.nan if math.isinf(self.upper) else 0.5 * self.upper


TauPrior = HalfNormal | HalfStudentT | HalfCauchy | Uniform


@dataclass(frozen=True)
class FlatMu:
    """Improper uniform prior on μ over the real line."""

    @property
    def label(self) -> str:
        return "flat on mu"

    proper = False


@dataclass(frozen=True)
class NormalMu:
    """μ ~ N(mean, sd²); enters the normal–normal model as a pseudo-study (Röver 2020, §2)."""

    mean: float
    sd: float

    def __post_init__(self):
        try:
            m = float(self.mean)
        except (TypeError, ValueError):
            raise InputError(f"mu_prior mean: expected a number, got {self.mean!r}") from None
        if not math.isfinite(m):
            raise InputError(f"mu_prior mean: expected a finite number, got {self.mean!r}")
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "sd", _positive("mu_prior sd", self.sd))

    @property
    def label(self) -> str:
        return f"normal({self.mean:g}, {self.sd:g}) on mu"

    proper = True

    def logpdf(self, mu):
        z = (np.asarray(mu, dtype=float) - self.mean) / self.sd
        return -0.5 * z * z - math.log(self.sd) - 0.5 * math.log(2 * math.pi)


MuPrior = FlatMu | NormalMu

_TAU_FORMS = "'halfnormal:S', 'halfcauchy:S', 'halft:S:DF' or 'uniform:U' (U may be 'inf')"


def parse_tau_prior(spec: str | TauPrior) -> TauPrior:
    """'halfnormal:0.5' -> HalfNormal(0.5); also 'halfcauchy:S', 'halft:S:DF', 'uniform:U'."""
    if isinstance(spec, HalfNormal | HalfStudentT | HalfCauchy | Uniform):
        return spec
    if not isinstance(spec, str):
        raise InputError(f"tau_prior: expected a prior or a string such as {_TAU_FORMS}, got {spec!r}")
    parts = [p.strip() for p in spec.strip().split(":")]
    name = parts[0].lower().replace("-", "").replace("_", "")
    args = parts[1:]
    shapes = {
        "halfnormal": (HalfNormal, 1),
        "hn": (HalfNormal, 1),
        "halfcauchy": (HalfCauchy, 1),
        "hc": (HalfCauchy, 1),
        "halft": (HalfStudentT, 2),
        "halfstudentt": (HalfStudentT, 2),
        "uniform": (Uniform, 1),
    }
    if name not in shapes:
        raise InputError(f"tau_prior: unknown prior {spec!r}; use {_TAU_FORMS}")
    cls, nargs = shapes[name]
    if len(args) != nargs or any(a == "" for a in args):
        raise InputError(f"tau_prior: {spec!r} needs {nargs} parameter(s); use {_TAU_FORMS}")
    try:
        values = [float(a) for a in args]
    except ValueError:
        raise InputError(f"tau_prior: parameters of {spec!r} must be numbers; use {_TAU_FORMS}") from None
    return cls(*values)


def parse_mu_prior(spec: str | MuPrior) -> MuPrior:
    """'flat' -> FlatMu(); 'normal:M:S' -> NormalMu(M, S)."""
    if isinstance(spec, FlatMu | NormalMu):
        return spec
    if not isinstance(spec, str):
        raise InputError(f"mu_prior: expected 'flat' or 'normal:M:S', got {spec!r}")
    parts = [p.strip() for p in spec.strip().split(":")]
    name = parts[0].lower()
    if name in ("flat", "uniform") and len(parts) == 1:
        return FlatMu()
    if name == "normal" and len(parts) == 3:
        try:
            m, s = float(parts[1]), float(parts[2])
        except ValueError:
            raise InputError(f"mu_prior: mean and sd of {spec!r} must be numbers ('normal:M:S')") from None
        return NormalMu(m, s)
    raise InputError(f"mu_prior: cannot read {spec!r}; use 'flat' or 'normal:M:S' (e.g. 'normal:0:10')")
