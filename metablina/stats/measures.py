"""Study-level effect sizes (metafor's ``escalc``) and their back-transformations.

Every formula follows metafor 3.8 ``escalc()`` (Viechtbauer 2010, J Stat Softw 36(3)) so that ``yi``/``vi``
agree with R to rounding. Inputs may carry leading stack axes: an array of shape ``(m, k)`` gives ``m``
independent sets of ``k`` studies, computed in one vectorised pass.

Deliberate differences from metafor's defaults (each is a keyword away from metafor's behaviour):

* ``drop00``: metafor's default is ``FALSE``. Here a study with no events (or only events) in both groups
  is dropped (``yi = vi = NaN`` plus a warning) for the ratio measures RR, OR and PETO, because it carries
  no information on a ratio and a continuity correction would invent some. For RD such a study estimates
  RD = 0 and is kept (as meta's ``metabin`` does), unless ``drop00=True`` is passed.
* Bad input (negative or non-integer counts, events > total, sd <= 0, NaN) raises ``InputError`` instead
  of being turned into ``NA`` silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.special as sc

from metablina.stats.errors import InputError

__all__ = [
    "LOG_MEASURES",
    "MEASURES",
    "EffectSizes",
    "back_transform",
    "back_transform_warnings",
    "escalc",
    "harmonic_mean_n",
    "hedges_cm",
    "iarcsin",
    "ilogit",
    "ipft",
    "ipft_hm",
    "pft",
]

ONE_GROUP = ("PLO", "PFT", "PAS", "PR")
TWO_BY_TWO = ("RR", "OR", "RD", "PETO")
MEAN_DIFF = ("MD", "SMD")
MEASURES = (*ONE_GROUP, *TWO_BY_TWO, *MEAN_DIFF, "GEN")
#: measures analysed on the log scale (back-transformed with exp); HR is not an escalc measure but is
#: pooled as a generic log ratio, so it is listed for :func:`back_transform`.
LOG_MEASURES = ("RR", "OR", "PETO", "HR", "IRR", "ROM", "PLN", "IRLN", "MNLN", "CVR", "VR")
IDENTITY_MEASURES = ("PR", "RD", "MD", "SMD", "GEN")

_NEEDS = {
    **dict.fromkeys(ONE_GROUP, ("xi", "ni")),
    **dict.fromkeys(TWO_BY_TWO, ("ai", "n1i", "ci", "n2i")),
    **dict.fromkeys(MEAN_DIFF, ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")),
}
_VTYPES = {
    "PLO": ("LS",),
    "PR": ("LS", "UB"),
    "RD": ("LS", "UB"),
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "UB", "LS2"),
}
_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True, eq=False)
class EffectSizes:
    """Per-study effect sizes ``yi`` with sampling variances ``vi`` (last axis = studies).

    ``cc`` marks studies whose cells received the continuity correction ``add``; ``dropped`` marks
    double-zero studies removed under ``drop00`` (their ``yi``/``vi`` are NaN). ``ni`` is the total
    (uncorrected) sample size per study where it is defined (metafor's ``attr(yi, "ni")``); the inverse
    Freeman–Tukey transformation needs it.
    """

    measure: str
    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray | None = None
    cc: np.ndarray | None = None
    dropped: np.ndarray | None = None
    add: float = 0.0
    to: str = "none"
    vtype: str = "LS"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sei(self) -> np.ndarray:
        """Standard errors, ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    @property
    def k(self) -> int:
        """Number of studies (length of the last axis)."""
        return int(self.yi.shape[-1])

    def to_dict(self) -> dict:
        """Plain Python values: nested lists for arrays, ``None`` for NaN or a field that does not apply."""
        return {
            "measure": self.measure,
            "yi": _tolist(self.yi),
            "vi": _tolist(self.vi),
            "sei": _tolist(self.sei),
            "ni": _tolist(self.ni),
            "cc": None if self.cc is None else self.cc.tolist(),
            "dropped": None if self.dropped is None else self.dropped.tolist(),
            "add": float(self.add),
            "to": self.to,
            "vtype": self.vtype,
            "warnings": list(self.warnings),
        }

    def summary(self):
        """One row per study (and per analysis for a stack): yi, vi, sei, ni, cc, dropped."""
        import pandas as pd

        shape = self.yi.shape
        idx = np.indices(shape).reshape(len(shape), -1)
        cols: dict = {}
        if len(shape) > 1:
            cols["analysis"] = np.ravel_multi_index(tuple(idx[:-1]), shape[:-1])
        cols["study"] = idx[-1]
        cols["yi"] = self.yi.ravel()
        cols["vi"] = self.vi.ravel()
        cols["sei"] = self.sei.ravel()
        if self.ni is not None:
            cols["ni"] = np.broadcast_to(self.ni, shape).ravel()
        if self.cc is not None:
            cols["cc"] = self.cc.ravel()
        if self.dropped is not None:
            cols["dropped"] = self.dropped.ravel()
        return pd.DataFrame(cols)


def escalc(
    measure: str,
    *,
    xi=None,
    ni=None,
    ai=None,
    n1i=None,
    ci=None,
    n2i=None,
    m1i=None,
    sd1i=None,
    m2i=None,
    sd2i=None,
    yi=None,
    vi=None,
    sei=None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool | None = None,
    vtype: str = "LS",
) -> EffectSizes:
    """Compute study effect sizes as metafor's ``escalc`` does.

    Measures: one group ``PLO`` (logit), ``PFT`` (Freeman & Tukey 1950 double arcsine with metafor's ½),
    ``PAS`` (arcsine), ``PR`` (raw proportion); two-group binary ``RR``, ``OR``, ``RD``, ``PETO`` (Peto's
    one-step log OR per study, Yusuf et al. 1985); means ``MD`` (vi = sd1²/n1 + sd2²/n2) and ``SMD``
    (Hedges' g with the exact gamma-function bias correction, Hedges 1981); ``GEN`` (``yi`` with ``vi`` or
    ``sei``). Any measure may also be given precomputed as ``yi`` with ``vi``/``sei`` (the label is kept,
    so the right back-transformation is used later).

    ``add``: continuity correction, ``None`` = metafor's default (½, but 0 for PAS and PFT, which are
    defined at 0/n). ``to``: which studies get it: ``"only0"`` (studies with a zero cell), ``"all"``,
    ``"if0all"`` (all studies if any has a zero cell), ``"none"``. ``drop00``: ``None`` = drop double-zero
    studies for RR/OR/PETO but not RD (see the module docstring). ``vtype``: metafor's variance type
    (PR/RD: LS, UB; MD: LS, UB, HO; SMD: LS, UB, LS2).
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        raise InputError(f"measure: unknown measure {measure!r}; use one of {', '.join(MEASURES)}")
    measure = measure.upper()
    if to not in _TO:
        raise InputError(f"to: must be one of {', '.join(_TO)}, not {to!r}")
    args = {
        "xi": xi,
        "ni": ni,
        "ai": ai,
        "n1i": n1i,
        "ci": ci,
        "n2i": n2i,
        "m1i": m1i,
        "sd1i": sd1i,
        "m2i": m2i,
        "sd2i": sd2i,
        "yi": yi,
        "vi": vi,
        "sei": sei,
    }
    given = {name for name, value in args.items() if value is not None}

    if yi is not None or measure == "GEN":
        return _generic(measure, args, given)

    needed = _NEEDS[measure]
    missing = [name for name in needed if name not in given]
    if missing:
        raise InputError(f"measure {measure} needs {', '.join(needed)} (missing: {', '.join(missing)})")
    extra = sorted(given - set(needed))
    if extra:
        raise InputError(f"measure {measure} does not use {', '.join(extra)}")
    allowed = _VTYPES.get(measure, ("LS",))
    if vtype not in allowed:
        raise InputError(f"vtype: measure {measure} supports {', '.join(allowed)}, not {vtype!r}")
    if add is not None and (not np.isscalar(add) or not np.isfinite(add) or add < 0):
        raise InputError(f"add: must be a finite number >= 0, not {add!r}")

    arrays = _arrays(needed, args)
    if measure in ONE_GROUP:
        return _one_group(measure, arrays, add, to, vtype)
    if measure in TWO_BY_TWO:
        return _two_by_two(measure, arrays, add, to, drop00, vtype)
    return _means(measure, arrays, vtype)


# --------------------------------------------------------------------------------------------------------
# input handling


def _arrays(names, args) -> dict[str, np.ndarray]:
    """Float arrays, broadcast to one shape with at least one axis, checked for NaN/inf."""
    raw = {}
    for name in names:
        try:
            raw[name] = np.array(args[name], dtype=float)  # a copy: results are made read-only
        except (TypeError, ValueError):
            raise InputError(f"{name}: must be numeric") from None
    try:
        shaped = np.broadcast_arrays(*raw.values())
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in raw.items())
        raise InputError(f"arguments have incompatible shapes: {shapes}") from None
    out = {}
    for name, arr in zip(raw, shaped, strict=True):
        arr = np.atleast_1d(arr)
        if arr.shape[-1] == 0:
            raise InputError(f"{name}: no studies given")
        _check(name, ~np.isfinite(arr), "is NaN or infinite")
        out[name] = arr
    return out


def _where(mask: np.ndarray) -> str:
    """'study j' (0-based, last axis) for the first True entry, with the analysis index for a stack."""
    first = tuple(int(i) for i in np.argwhere(mask)[0])
    if len(first) == 1:
        return f"study {first[0]}"
    analysis = first[0] if len(first) == 2 else first[:-1]
    return f"study {first[-1]} of analysis {analysis}"


def _check(name: str, bad: np.ndarray, what: str) -> None:
    if np.any(bad):
        raise InputError(f"{name}: {what} ({_where(bad)})")


def _check_counts(name: str, x: np.ndarray) -> None:
    _check(name, x < 0, "negative count")
    _check(name, x != np.floor(x), "count is not a whole number")


def _studies(mask: np.ndarray) -> str:
    """Name the studies flagged in ``mask``: 'studies 0, 3' or, for a stack, how many analyses each."""
    if mask.ndim == 1:
        idx = np.flatnonzero(mask)
        return ("study " if idx.size == 1 else "studies ") + ", ".join(str(i) for i in idx)
    flat = mask.reshape(-1, mask.shape[-1])
    counts = flat.sum(axis=0)
    parts = [f"study {j} (in {c} of {flat.shape[0]} analyses)" for j, c in enumerate(counts) if c]
    return "; ".join(parts)


def _readonly(*arrays):
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)


def _finalise(measure, yi, vi, warns, **kw) -> EffectSizes:
    """metafor's last step: infinite or undefined yi/vi become NaN (with a warning naming the studies)."""
    dropped = kw.get("dropped")
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(yi) & np.isfinite(vi))
        if dropped is not None:
            bad &= ~dropped
        bad |= vi < 0
    if np.any(bad):
        warns.append(
            f"{_studies(bad)}: yi or vi infinite or undefined (a zero cell without continuity "
            f"correction?); set to NaN"
        )
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    zero = vi == 0
    if np.any(zero):
        warns.append(
            f"{_studies(zero)}: vi = 0 (0 or n events without continuity correction); "
            f"inverse-variance weights are infinite"
        )
    result = EffectSizes(measure=measure, yi=yi, vi=vi, warnings=tuple(warns), **kw)
    _readonly(result.yi, result.vi, result.ni, result.cc, result.dropped)
    return result


def _cc_warning(warns, cc, add, to):
    if np.any(cc):
        warns.append(f"continuity correction {add:g} added to every cell of {_studies(cc)} (to={to!r})")


def _zero_cc(has_zero: np.ndarray, add: float, to: str) -> np.ndarray:
    """Which studies get the continuity correction (metafor's ``to`` rules)."""
    if add == 0 or to == "none":
        return np.zeros(has_zero.shape, dtype=bool)
    if to == "all":
        return np.ones(has_zero.shape, dtype=bool)
    if to == "only0":
        return has_zero.copy()
    return np.broadcast_to(np.any(has_zero, axis=-1, keepdims=True), has_zero.shape).copy()  # if0all


# --------------------------------------------------------------------------------------------------------
# measures


def _one_group(measure, a, add, to, vtype) -> EffectSizes:
    xi, ni = a["xi"], a["ni"]
    _check_counts("xi", xi)
    _check_counts("ni", ni)
    _check("ni", ni < 1, "n < 1")
    _check("xi", xi > ni, "events > total ni")
    if add is None:  # metafor: no correction by default for the arcsine-type transforms
        add = 0.0 if measure in ("PAS", "PFT") else 0.5
    add = float(add)
    mi = ni - xi
    cc = _zero_cc((xi == 0) | (mi == 0), add, to)
    x = xi + cc * add
    m = mi + cc * add
    n = x + m
    p = x / n
    warns: list[str] = []
    _cc_warning(warns, cc, add, to)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PLO":
            yi = np.log(p / (1 - p))
            vi = 1 / x + 1 / m
        elif measure == "PR":
            yi = p
            vi = p * (1 - p) / (n if vtype == "LS" else n - 1)
        elif measure == "PAS":
            yi = np.arcsin(np.sqrt(p))
            vi = 1 / (4 * n)
        else:  # PFT
            yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
            vi = 1 / (4 * n + 2)
    return _finalise(measure, yi, vi, warns, ni=ni, cc=cc, add=add, to=to, vtype=vtype)


def _two_by_two(measure, a, add, to, drop00, vtype) -> EffectSizes:
    ai, n1i, ci, n2i = a["ai"], a["n1i"], a["ci"], a["n2i"]
    for name in ("ai", "n1i", "ci", "n2i"):
        _check_counts(name, a[name])
    _check("n1i", n1i < 1, "n < 1")
    _check("n2i", n2i < 1, "n < 1")
    _check("ai", ai > n1i, "events > group size n1i")
    _check("ci", ci > n2i, "events > group size n2i")
    add = 0.5 if add is None else float(add)
    if drop00 is None:
        drop00 = measure != "RD"
    bi, di = n1i - ai, n2i - ci
    warns: list[str] = []
    double = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
    dropped = double if drop00 else np.zeros(double.shape, dtype=bool)
    if np.any(dropped):
        warns.append(
            f"{_studies(dropped)}: no events (or only events) in both groups; dropped for "
            f"{measure} (drop00=True), yi and vi are NaN"
        )
    has_zero = ((ai == 0) | (ci == 0) | (bi == 0) | (di == 0)) & ~dropped
    cc = _zero_cc(has_zero, add, to) & ~dropped
    _cc_warning(warns, cc, add, to)
    a1, b1, c1, d1 = (cell + cc * add for cell in (ai, bi, ci, di))
    m1, m2 = a1 + b1, c1 + d1
    p1, p2 = a1 / m1, c1 / m2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a1 - 1 / m1 + 1 / c1 - 1 / m2
        elif measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a1 + 1 / b1 + 1 / c1 + 1 / d1
        elif measure == "RD":
            yi = p1 - p2
            if vtype == "LS":
                vi = p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2
            else:
                vi = p1 * (1 - p1) / (m1 - 1) + p2 * (1 - p2) / (m2 - 1)
        else:  # PETO: observed minus expected over the hypergeometric variance
            n = m1 + m2
            events, nonevents = a1 + c1, b1 + d1
            expected = events * m1 / n
            var = events * nonevents * (m1 / n) * (m2 / n) / (n - 1)
            yi = (a1 - expected) / var
            vi = 1 / var
    yi = np.where(dropped, np.nan, yi)
    vi = np.where(dropped, np.nan, vi)
    return _finalise(
        measure, yi, vi, warns, ni=n1i + n2i, cc=cc, dropped=dropped, add=add, to=to, vtype=vtype
    )


def hedges_cm(m: np.ndarray) -> np.ndarray:
    """Exact bias correction c(m) = Γ(m/2) / (√(m/2) Γ((m−1)/2)) of Hedges (1981); NaN for m <= 1."""
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.exp(sc.gammaln(m / 2) - 0.5 * np.log(m / 2) - sc.gammaln((m - 1) / 2))
    return np.where(m > 1, c, np.nan)


def _means(measure, a, vtype) -> EffectSizes:
    m1i, sd1i, n1i, m2i, sd2i, n2i = (a[k] for k in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"))
    for name in ("sd1i", "sd2i"):
        _check(name, a[name] <= 0, "standard deviation <= 0")
    for name in ("n1i", "n2i"):
        _check(name, a[name] < 1, "n < 1")
    ni = n1i + n2i
    if measure == "SMD" or vtype == "HO":
        _check(
            "n1i",
            ni < 4 if measure == "SMD" else ni < 3,
            f"n1i + n2i too small for {measure} (needs {4 if measure == 'SMD' else 3} or more)",
        )
    mi = ni - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sdp = np.sqrt(((n1i - 1) * sd1i**2 + (n2i - 1) * sd2i**2) / mi)
        if measure == "MD":
            yi = m1i - m2i
            vi = sd1i**2 / n1i + sd2i**2 / n2i if vtype in ("LS", "UB") else sdp**2 * (1 / n1i + 1 / n2i)
        else:
            di = (m1i - m2i) / sdp
            cm = hedges_cm(mi)
            yi = cm * di
            if vtype == "LS":
                vi = 1 / n1i + 1 / n2i + yi**2 / (2 * ni)
            elif vtype == "UB":
                vi = 1 / n1i + 1 / n2i + (1 - (mi - 2) / (mi * cm**2)) * yi**2
            else:  # LS2
                vi = cm**2 * (1 / n1i + 1 / n2i + di**2 / (2 * ni))
    return _finalise(measure, yi, vi, [], ni=ni, vtype=vtype)


def _generic(measure, args, given) -> EffectSizes:
    if "yi" not in given:
        raise InputError(f"measure {measure} needs yi and vi (or sei)")
    if ("vi" in given) == ("sei" in given):
        raise InputError(f"measure {measure} with yi needs exactly one of vi or sei")
    extra = sorted(given - {"yi", "vi", "sei", "ni"})
    if extra:
        raise InputError(f"yi with vi/sei cannot be combined with {', '.join(extra)}")
    names = ["yi", "vi" if "vi" in given else "sei"] + (["ni"] if "ni" in given else [])
    a = _arrays(names, args)
    if "vi" in a:
        _check("vi", a["vi"] <= 0, "vi <= 0")
        vi = a["vi"]
    else:
        _check("sei", a["sei"] <= 0, "sei <= 0")
        vi = a["sei"] ** 2
    ni = a.get("ni")
    if ni is not None:
        _check_counts("ni", ni)
        _check("ni", ni < 1, "n < 1")
    return _finalise(measure, a["yi"].copy(), vi.copy(), [], ni=ni)


# --------------------------------------------------------------------------------------------------------
# back-transformations


def ilogit(x):
    """Inverse logit (metafor ``transf.ilogit``)."""
    return sc.expit(np.asarray(x, dtype=float))


def iarcsin(x):
    """Inverse arcsine-square-root sin²(x), clipped to 0 below 0 and to 1 above π/2 (``transf.iarcsin``)."""
    x = np.asarray(x, dtype=float)
    z = np.sin(x) ** 2
    z = np.where(x < 0, 0.0, z)
    return np.where(x > np.arcsin(1.0), 1.0, z)


def pft(p, n):
    """Freeman–Tukey double arcsine of a proportion p for sample size n (metafor ``transf.pft``, ½ scale)."""
    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(x, n):
    """Inverse Freeman–Tukey transformation for sample size n (Miller 1978; metafor ``transf.ipft``).

    Values below ``pft(0, n)`` map to 0 and above ``pft(1, n)`` to 1; where the formula is undefined inside
    that range the result is NaN, as in metafor.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(2 * x)
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
        z = np.where(x > pft(1.0, n), 1.0, z)
        return np.where(x < pft(0.0, n), 0.0, z)


def harmonic_mean_n(ni) -> np.ndarray:
    """Harmonic mean of the study sizes over the last axis (NaN ignored), as ``transf.ipft.hm`` uses."""
    ni = np.asarray(ni, dtype=float)
    if ni.ndim == 0:
        return ni
    return 1 / np.nanmean(1 / ni, axis=-1)


def ipft_hm(x, ni):
    """Inverse Freeman–Tukey with the harmonic mean of ``ni`` (Miller 1978; metafor ``transf.ipft.hm``).

    ``ni`` has studies on its last axis. If ``x`` has as many axes as ``ni``, its last axis holds several
    values per analysis (e.g. estimate and CI bounds); otherwise ``x`` has one value per analysis.
    See :func:`back_transform_warnings`: this back-transformation can seriously mislead.
    """
    x = np.asarray(x, dtype=float)
    ni = np.asarray(ni, dtype=float)
    nhm = harmonic_mean_n(ni)
    if ni.ndim and x.ndim == ni.ndim:
        nhm = nhm[..., None]
    return ipft(x, nhm)


def back_transform(measure: str, x, ni=None) -> np.ndarray:
    """Map ``x`` from the analysis scale of ``measure`` to the natural scale.

    exp for log measures (RR, OR, PETO, HR, ...), inverse logit for PLO, clipped sin² for PAS, inverse
    Freeman–Tukey with the harmonic mean of ``ni`` for PFT (needs ``ni``), identity for PR, RD, MD, SMD
    and GEN.
    """
    m = measure.upper() if isinstance(measure, str) else measure
    x = np.asarray(x, dtype=float)
    if m in LOG_MEASURES:
        return np.exp(x)
    if m == "PLO":
        return ilogit(x)
    if m == "PAS":
        return iarcsin(x)
    if m == "PFT":
        if ni is None:
            raise InputError("ni: the PFT back-transformation needs the study sample sizes ni")
        n = np.asarray(ni, dtype=float)
        if np.any(~np.isfinite(n) | (n < 1)):
            raise InputError("ni: sample sizes must be finite and >= 1")
        return ipft_hm(x, n)
    if m in IDENTITY_MEASURES:
        return x.copy()
    raise InputError(f"measure: no back-transformation known for {measure!r}")


def back_transform_warnings(measure: str) -> tuple[str, ...]:
    """Caveats a reader of a back-transformed pooled value must see."""
    m = measure.upper() if isinstance(measure, str) else measure
    if m == "PFT":
        return (
            "Freeman–Tukey back-transformation with the harmonic mean of ni (Miller 1978) can give "
            "seriously misleading pooled proportions when the ni differ (Schwarzer et al. 2019); "
            "the transform is not invertible in general (Röver & Friede 2022)",
        )
    if m == "PAS":
        return (
            "arcsine back-transformation clips at 0 and 1; the pooled value has no direct "
            "proportion interpretation near the boundaries",
        )
    return ()


def _tolist(a):
    """Nested lists of floats with None for NaN (a scalar for a 0-d array)."""
    if a is None:
        return None
    arr = np.asarray(a, dtype=float)
    return np.where(np.isnan(arr), None, arr.astype(object)).tolist()
