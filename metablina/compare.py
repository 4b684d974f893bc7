"""Comparative effects: arm records of one trial paired into comparisons, pooled as RR, OR, RD or HR,
and turned into absolute effects per 1,000 patients.

* Pairing: arm rows (events of total) of one study with the same outcome and estimand (timepoint,
  grade, sub-population, baseline MRD, MRD method, denominator, data cut, definition, grading) become
  one comparison of the intervention arm(s) against the comparator arm(s), the roles as the extract
  gives them, or the arms the plan names. A multi-arm trial follows the Cochrane Handbook (version 6.4,
  2023, section 23.3.4) option "combine groups to create a single pair-wise comparison": its
  intervention arms (and its control arms) are summed, so a control arm is never counted twice in one
  pool. A historical or external control arm is compared only where the plan says
  ``comparison: non-randomised``.
* Hazard ratios: a reported HR is used as it is; without one, an HR from the log-rank O−E and V
  (ln HR = (O−E)/V, SE = 1/√V), else one derived from the two arms' Kaplan–Meier rates at the same
  landmark under proportional hazards: ln HR = ln(−ln S₁) − ln(−ln S₀), its variance the sum of the two
  arms' variances on log(−log S) (Tierney et al., Trials 2007;8:16).
* Absolute effects as GRADE Summary of Findings tables give them: an assumed comparator risk (ACR; the
  plan's baseline, else the one trial's control risk, else the control arms pooled by the binomial-normal
  GLMM), the intervention risk ACR·RR, OR·ACR/(1 − ACR + OR·ACR), ACR + RD or 1 − (1 − ACR)^HR, and
  the difference per 1,000, each with the interval of the relative effect at a fixed ACR.

Every pairing choice is a logged Decision naming both arms and the rule.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from metablina.analyze import METHOD_NAMES, PoolResult, back_value, interval_of, pool
from metablina.normalize import EffectRow
from metablina.options import IV_METHODS
from metablina.stats.conversions import Z975
from metablina.stats.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from metablina.plan import Analysis, Decision

PAIR_MEASURES = ("RR", "OR", "RD")
COMPARISON_MEASURES = (*PAIR_MEASURES, "HR")
HANDBOOK = (
    'Cochrane Handbook (version 6.4, 2023) section 23.3.4, option "combine groups to create a single '
    'pair-wise comparison"'
)
TIERNEY = "Tierney et al., Trials 2007;8:16"
RANDOMISED_ROLES = ("intervention", "comparator")
EXTERNAL_ROLES = ("historical control", "external control")
LOGRANK_MARK = "log-rank O"  # how normalize names an HR made from a reported O−E and V
# What makes two arm records halves of one comparison: the same estimand in the same patients.
PAIR_KEY = (
    "outcome",
    "form",
    "subpopulation",
    "timepoint",
    "grade",
    "unit",
    "baseline_mrd",
    "mrd_method",
    "mrd_sensitivity",
    "denominator",
    "landmark_months",
    "km_kind",
    "data_cut",
    "definition",
    "grading",
    "mrd_threshold",
    "exposure",
)
DIRECTNESS = {None: 0, "log-rank": 1, "km": 2}  # reported HR first (Tierney 2007)


@dataclass(frozen=True)
class ComparisonRow(EffectRow):
    """One comparison of one study. ``form`` is ``pair`` (``events``/``total`` of the intervention side,
    ``control_events``/``control_total`` of the control side) or ``hr`` (``yi`` = ln HR, ``sei``).
    ``control_km_yi``/``control_km_sei``: the control arm's landmark rate on log(−log S) at the plan's
    landmark, for the absolute effect of an HR; ``control_km_data_cut`` the data cut it was read at (an HR
    of an earlier cut applied to it assumes the HR holds to the landmark)."""

    intervention_arms: tuple[str, ...] = ()
    control_arms: tuple[str, ...] = ()
    intervention_label: str = ""
    control_label: str = ""
    control_events: int | None = None
    control_total: int | None = None
    derived: str | None = None
    derivation_kind: str | None = None  # None (as reported) | "log-rank" | "km"
    records: tuple[str, ...] = ()
    control_km_yi: float | None = None
    control_km_sei: float | None = None
    control_km_kind: str | None = None
    control_km_data_cut: str | None = None


# ------------------------------------------------------------------------------------------ formulas


def log_hr_from_landmarks(yi1: float, sei1: float, yi0: float, sei0: float) -> tuple[float, float]:
    """ln HR and its SE from two arms' landmark rates already on log(−log S) with their SEs, under
    proportional hazards: ln HR = ln(−ln S₁) − ln(−ln S₀), var = sei1² + sei0² (Tierney 2007)."""
    values = (yi1, sei1, yi0, sei0)
    if not all(math.isfinite(v) for v in values) or sei1 <= 0 or sei0 <= 0:
        raise InputError("a derived HR needs both arms' rates with a positive SE on log(-log S)")
    return yi1 - yi0, math.hypot(sei1, sei0)


def intervention_risk(measure: str, acr: float, effect: float) -> float:
    """The intervention risk at comparator risk ``acr`` for a relative effect on its natural scale."""
    if measure == "RR":
        return acr * effect
    if measure == "OR":
        return effect * acr / (1 - acr + effect * acr)
    if measure == "RD":
        return acr + effect
    if measure == "HR":
        return 1 - (1 - acr) ** effect
    raise InputError(f"no absolute effect for measure {measure}")


@dataclass(frozen=True)
class Absolute:
    """Absolute effect per 1,000 at an assumed comparator risk held fixed (GRADE SoF practice)."""

    acr: float
    acr_source: str
    based_on: str
    landmark_months: float | None
    control_per_1000: float
    intervention_per_1000: float
    intervention_low: float | None
    intervention_high: float | None
    difference_per_1000: float
    difference_low: float | None
    difference_high: float | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def absolute_effect(
    measure: str,
    acr: float,
    estimate: float,
    low: float | None,
    high: float | None,
    *,
    acr_source: str,
    based_on: str,
    landmark_months: float | None = None,
) -> Absolute:
    """Intervention risk and difference per 1,000 from a relative effect and its CI (natural scale).
    A risk cannot leave 0-1,000: an RR (or RD) that would take it there is capped, with a note."""
    if not 0 <= acr <= 1:
        raise InputError(f"a comparator risk lies between 0 and 1, not {acr}")
    capped = []

    def per_1000(x: float | None) -> float | None:
        if x is None:
            return None
        risk = 1000 * intervention_risk(measure, acr, x)
        if not 0 <= risk <= 1000:
            capped.append(risk)
        return min(max(risk, 0.0), 1000.0)

    ir, ir_low, ir_high = per_1000(estimate), per_1000(low), per_1000(high)
    assert ir is not None
    base = 1000 * acr
    return Absolute(
        acr=acr,
        acr_source=acr_source,
        based_on=based_on,
        landmark_months=landmark_months,
        control_per_1000=base,
        intervention_per_1000=ir,
        intervention_low=ir_low,
        intervention_high=ir_high,
        difference_per_1000=ir - base,
        difference_low=None if ir_low is None else ir_low - base,
        difference_high=None if ir_high is None else ir_high - base,
        note=None
        if not capped
        else f"{measure} x comparator risk gives {', '.join(f'{c:.0f}' for c in capped)} per 1,000: capped "
        "at 0-1,000 (a ratio held constant across risks cannot hold at this comparator risk)",
    )


# ------------------------------------------------------------------------------------------ pairing


def _key(row: EffectRow) -> tuple:
    return (row.study, *(getattr(row, k) for k in PAIR_KEY))


def _fill(**values: Any) -> dict[str, Any]:
    """Every EffectRow field: the given values, else None for a required field (the Python API has no
    extract behind its rows)."""
    out = {}
    for f in fields(EffectRow):
        if f.name in values:
            out[f.name] = values[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:
            out[f.name] = None
    return out


def _as_comparison(row: EffectRow, **extra: Any) -> ComparisonRow:
    base = {f.name: getattr(row, f.name) for f in fields(EffectRow)}
    return ComparisonRow(**{**base, **extra})


def _names(ids: list[str] | tuple[str, ...]) -> str:
    return " + ".join(ids)


def comparison_rows(rows: list[EffectRow], analysis: Analysis, decisions: list[Decision]) -> list[EffectRow]:
    """The rows an RR/OR/RD/HR analysis selects from: ``rows`` plus one comparison per study and estimand
    made from the arm rows of the analysis's outcomes (HR: reported and log-rank HRs with their control
    risk, plus HRs derived from landmark KM pairs, one per study and estimand, the most direct kept)."""
    from metablina.plan import Decision

    wanted = [r for r in rows if r.outcome in analysis.outcome]
    other = [r for r in rows if r.outcome not in analysis.outcome]
    if analysis.measure in PAIR_MEASURES:
        pairs = _pair_arms([r for r in wanted if r.form == "proportion"], analysis, decisions)
        return [*rows, *pairs]
    landmark = analysis.landmark
    km = [r for r in wanted if r.form == "km"]
    # the control arm's landmark rate, for the absolute effect: a randomised comparator over another control
    roles = ("comparator",) if analysis.comparison == "randomised" else (*EXTERNAL_ROLES, "comparator")
    controls = {
        (r.study, r.outcome, r.subpopulation, r.baseline_mrd): r
        for role in roles
        for r in km
        if r.arm_role == role and r.landmark_months == landmark and r.yi is not None
    }
    hrs: list[ComparisonRow] = []
    for r in wanted:
        if r.form != "hr":
            continue
        control = controls.get((r.study, r.outcome, r.subpopulation, r.baseline_mrd))
        exp, _, ctl = (r.arm or " vs ").partition(" vs ")
        logrank = any(LOGRANK_MARK in d for d in r.derivations)
        hrs.append(
            _as_comparison(
                r,
                intervention_arms=(exp,),
                control_arms=(ctl,),
                intervention_label=exp,
                control_label=ctl,
                comparison=r.comparison,
                derived="HR from log-rank O-E/V" if logrank else None,
                derivation_kind="log-rank" if logrank else None,
                records=(r.record,),
                control_km_yi=control.yi if control else None,
                control_km_sei=control.sei if control else None,
                control_km_kind=control.km_kind if control else None,
                control_km_data_cut=control.data_cut if control else None,
            )
        )
    derived = [
        _with_control(d, controls)
        for d in _pair_arms([r for r in km if r.km_kind == "survival"], analysis, decisions, hr=True)
    ]
    kept = _most_direct([*hrs, *derived], landmark, decisions)
    if analysis.comparison == "randomised":
        for r in [r for r in kept if r.comparison == "non-randomised"]:
            decisions.append(
                Decision(
                    "excluded",
                    r.key,
                    f"non-randomised comparison ({r.intervention_label} vs {r.control_label}): only in an "
                    "analysis with comparison: non-randomised",
                )
            )
        kept = [r for r in kept if r.comparison != "non-randomised"]
    return [*other, *(r for r in wanted if r.form not in ("hr",)), *kept]


def _with_control(row: ComparisonRow, controls: dict[tuple, EffectRow]) -> ComparisonRow:
    control = controls.get((row.study, row.outcome, row.subpopulation, row.baseline_mrd))
    if control is None:
        return row
    return replace(
        row,
        control_km_yi=control.yi,
        control_km_sei=control.sei,
        control_km_kind=control.km_kind,
        control_km_data_cut=control.data_cut,
    )


def _most_direct(
    rows: list[ComparisonRow], landmark: float | None, decisions: list[Decision]
) -> list[ComparisonRow]:
    """One HR per study and estimand: reported, else from log-rank, else derived from KM (the plan's
    landmark first, then the latest landmark); the others are logged."""
    from metablina.plan import Decision

    groups: dict[tuple, list[ComparisonRow]] = defaultdict(list)
    for r in rows:
        groups[(r.study, r.outcome, r.subpopulation, r.baseline_mrd, r.grade, r.unit)].append(r)
    out = []
    for group in groups.values():
        ranked = sorted(
            group,
            key=lambda r: (
                DIRECTNESS[r.derivation_kind],
                r.derivation_kind == "km" and r.landmark_months != landmark,
                -(r.landmark_months or 0),
                r.record,
            ),
        )
        best = ranked[0]
        out.append(best)
        for r in ranked[1:]:
            decisions.append(
                Decision(
                    "excluded",
                    r.key,
                    f"{r.derived or 'reported HR'}: {best.key} ({best.derived or 'reported HR'}) is used - "
                    f"rule: a reported HR over one from log-rank O-E/V over one derived from KM rates "
                    f"({TIERNEY})",
                )
            )
    return out


def _pair_arms(
    rows: list[EffectRow], analysis: Analysis, decisions: list[Decision], *, hr: bool = False
) -> list[ComparisonRow]:
    """Arm rows -> comparisons, one per study and estimand (see the module docstring)."""
    from metablina.plan import Decision

    groups: dict[tuple, list[EffectRow]] = defaultdict(list)
    for r in rows:
        if r.arm is not None and r.arm_role is not None:
            groups[_key(r)].append(r)
    out = []
    for group in groups.values():
        study = group[0].study
        by_arm: dict[str, list[EffectRow]] = defaultdict(list)
        for r in group:
            by_arm[r.arm].append(r)  # type: ignore[index]
        twice = [g for g in by_arm.values() if len(g) > 1]
        if twice:
            a, b = twice[0][:2]
            decisions.append(
                Decision(
                    "excluded",
                    f"{a.key} and {b.key}",
                    f"two records of arm {a.arm} for the same estimand: no comparison is formed; the plan "
                    "must choose one (select)",
                )
            )
            continue
        arms = {arm: g[0] for arm, g in by_arm.items()}
        chosen = _choose_arms(study, arms, analysis, decisions)
        if chosen is None:
            continue
        i_arms, c_arms, rule = chosen
        rows_i, rows_c = [arms[a] for a in i_arms], [arms[a] for a in c_arms]
        randomised = all(r.arm_role == "intervention" for r in rows_i) and all(
            r.arm_role == "comparator" for r in rows_c
        )
        if hr:
            pair = _derived_hr(rows_i, rows_c, randomised, decisions)
        else:
            pair = _binary_pair(rows_i, rows_c, randomised, analysis.measure)
        if pair is None:
            continue
        combined = len(i_arms) > 1 or len(c_arms) > 1
        decisions.append(
            Decision(
                "note",
                pair.key,
                f"{_names(i_arms)} (intervention) vs {_names(c_arms)} (control), by {rule}"
                + (
                    f"; combined into one comparison: {HANDBOOK}; each control arm counts once"
                    if combined
                    else ""
                ),
            )
        )
        out.append(pair)
    return out


def _only_non_randomised(
    subject: str, arms: dict[str, EffectRow], external: str, i_arms: list[str]
) -> Decision:
    """The Decision refusing a historical or external control in an analysis that is not labelled
    non-randomised."""
    from metablina.plan import Decision

    return Decision(
        "excluded",
        subject,
        f"{arms[external].arm_role} arm {external} vs {_names(i_arms) or 'none'}: only in "
        "an analysis with comparison: non-randomised",
    )


def _choose_arms(
    study: str, arms: dict[str, EffectRow], analysis: Analysis, decisions: list[Decision]
) -> tuple[list[str], list[str], str] | None:
    """The intervention and control arms of one group: the plan's choice, else by role. None (with a
    Decision naming both sides) when no comparison can be formed."""
    from metablina.plan import Decision

    subject = f"{study} ({', '.join(sorted(arms))})"
    named = analysis.arms.get(study)
    if named is not None:
        i_arms = [a for a in named.intervention if a in arms]
        c_arms = [a for a in named.control if a in arms]
        left = sorted(set(arms) - set(i_arms) - set(c_arms))
        if left:
            decisions.append(
                Decision("note", subject, f"arm(s) {_names(left)} not in the comparison the plan names")
            )
        external = [a for a in c_arms if arms[a].arm_role in EXTERNAL_ROLES]
        if external and analysis.comparison == "randomised":
            decisions.append(_only_non_randomised(subject, arms, external[0], i_arms))
            return None
        rule = "the arms the plan names (arms)"
    else:
        i_arms = sorted(a for a, r in arms.items() if r.arm_role == "intervention")
        c_arms = sorted(a for a, r in arms.items() if r.arm_role == "comparator")
        external = sorted(a for a, r in arms.items() if r.arm_role in EXTERNAL_ROLES)
        rule = "the roles in the extract"
        if external and c_arms:
            decisions.append(
                Decision(
                    "excluded",
                    f"{study}: {_names(external)}",
                    f"{arms[external[0]].arm_role} arm left out: {_names(i_arms)} is compared with the "
                    f"randomised comparator {_names(c_arms)}",
                )
            )
        elif external and analysis.comparison == "non-randomised":
            c_arms, rule = external, f"the {arms[external[0]].arm_role} arm (comparison: non-randomised)"
        elif external:
            decisions.append(_only_non_randomised(subject, arms, external[0], i_arms))
            return None
    if not i_arms or not c_arms:
        if any(d.subject == subject and d.reason.startswith("no comparison") for d in decisions):
            return None  # said once per study
        have = ", ".join(f"{a} ({r.arm_role})" for a, r in sorted(arms.items()))
        missing = "an intervention" if not i_arms else "a control"
        decisions.append(
            Decision("excluded", subject, f"no comparison: {missing} arm is missing among {have} ({rule})")
        )
        return None
    return i_arms, c_arms, rule


def _binary_pair(
    rows_i: list[EffectRow], rows_c: list[EffectRow], randomised: bool, measure: str
) -> ComparisonRow:
    """One comparison row; ``yi``/``sei`` are the study's effect on ``measure``'s scale as the table mode
    computes it (None where not estimable), for readers of single rows."""
    from metablina.stats.measures import escalc

    first = rows_i[0]
    i_ids = tuple(r.arm or "" for r in rows_i)
    c_ids = tuple(r.arm or "" for r in rows_c)
    events = sum(r.events or 0 for r in rows_i)
    total = sum(r.total or 0 for r in rows_i)
    c_events = sum(r.events or 0 for r in rows_c)
    c_total = sum(r.total or 0 for r in rows_c)
    records = tuple(r.record for r in (*rows_i, *rows_c))
    es = escalc(measure, ai=[events], n1i=[total], ci=[c_events], n2i=[c_total])
    yi, vi = float(es.yi[0]), float(es.vi[0])
    return _as_comparison(
        first,
        record=" vs ".join(("+".join(r.record for r in rows_i), "+".join(r.record for r in rows_c))),
        form="pair",
        label=_study_label(first),
        arm=f"{_names(i_ids)} vs {_names(c_ids)}",
        arm_role=None,
        events=events,
        total=total,
        yi=yi if math.isfinite(yi) else None,
        sei=math.sqrt(vi) if math.isfinite(vi) else None,
        scale="identity" if measure == "RD" else "log",
        estimate=None,
        reported=f"{events}/{total} vs {c_events}/{c_total}",
        derivations=tuple(d for r in (*rows_i, *rows_c) for d in r.derivations),
        quotes=tuple(dict.fromkeys(q for r in (*rows_i, *rows_c) for q in r.quotes)),
        intervention_arms=i_ids,
        control_arms=c_ids,
        intervention_label=_names(i_ids),
        control_label=_names(c_ids),
        control_events=c_events,
        control_total=c_total,
        comparison="randomised" if randomised else "non-randomised",
        records=records,
    )


def _derived_hr(
    rows_i: list[EffectRow], rows_c: list[EffectRow], randomised: bool, decisions: list[Decision]
) -> ComparisonRow | None:
    from metablina.plan import Decision

    if len(rows_i) > 1 or len(rows_c) > 1:
        decisions.append(
            Decision(
                "excluded",
                " and ".join(r.key for r in (*rows_i, *rows_c)),
                "an HR is derived from one arm against one arm; KM rates of several arms are not "
                "combined (the plan can name the two arms)",
            )
        )
        return None
    i, c = rows_i[0], rows_c[0]
    if i.yi is None or i.sei is None or c.yi is None or c.sei is None:
        decisions.append(
            Decision(
                "excluded",
                f"{i.key} and {c.key}",
                "no HR derived from these KM rates: each needs an SE or CI (" + TIERNEY + ")",
            )
        )
        return None
    yi, sei = log_hr_from_landmarks(i.yi, i.sei, c.yi, c.sei)
    how = f"HR derived from the {i.landmark_months:g}-month KM rates under proportional hazards ({TIERNEY})"
    return _as_comparison(
        i,
        record=f"{i.record} vs {c.record}",
        form="hr",
        label=_study_label(i),
        arm=f"{i.arm} vs {c.arm}",
        arm_role=None,
        landmark_months=None,  # an HR is no landmark estimate: it pools with reported HRs
        km_kind=None,
        yi=yi,
        sei=sei,
        scale="log",
        estimate=math.exp(yi),
        ci_low=math.exp(yi - Z975 * sei),
        ci_high=math.exp(yi + Z975 * sei),
        reported=f"{i.reported} vs {c.reported}",
        derivations=(*i.derivations, *c.derivations, f"ln HR = {yi:.6f}, SE = {sei:.6f}: {how}"),
        quotes=tuple(dict.fromkeys((*i.quotes, *c.quotes))),
        intervention_arms=(i.arm or "",),
        control_arms=(c.arm or "",),
        intervention_label=i.arm or "",
        control_label=c.arm or "",
        comparison="randomised" if randomised else "non-randomised",
        derived=how,
        derivation_kind="km",
        records=(i.record, c.record),
    )


def _study_label(row: EffectRow) -> str:
    return f"{row.study} · {row.subpopulation_label}" if row.subpopulation_label else row.study


def pair_columns(rows: tuple[EffectRow, ...] | list[EffectRow]) -> dict[str, np.ndarray]:
    """metafor's ai, n1i, ci, n2i of comparison rows (intervention = group 1)."""
    pairs = [r for r in rows if isinstance(r, ComparisonRow)]
    return {
        "ai": np.array([r.events for r in pairs], float),
        "n1i": np.array([r.total for r in pairs], float),
        "ci": np.array([r.control_events for r in pairs], float),
        "n2i": np.array([r.control_total for r in pairs], float),
    }


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class StudyComparison:
    """One study's comparison as a table or forest plot shows it (natural scale: ratio or difference)."""

    key: str
    study: str
    label: str
    intervention_label: str
    control_label: str
    intervention_events: int | None
    intervention_total: int | None
    control_events: int | None
    control_total: int | None
    yi: float | None
    vi: float | None
    weight: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    derived: str | None
    note: str | None
    left_out: bool

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Comparison:
    """A comparative analysis (one stratum): study rows, the pooled estimate or why there is none, the
    absolute effect, and the methods text."""

    measure: str
    method: str
    ci_method: str
    comparison: str
    rows: tuple[StudyComparison, ...]
    pooled: dict[str, Any] | None
    not_pooled: str | None
    absolute: Absolute | None
    absolute_note: str | None
    methods: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def scale(self) -> str:
        return "difference" if self.measure == "RD" else "ratio"

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "method": self.method,
            "ci_method": self.ci_method,
            "scale": self.scale,
            "comparison": self.comparison,
            "rows": [r.to_dict() for r in self.rows],
            "pooled": self.pooled,
            "not_pooled": self.not_pooled,
            "absolute": None if self.absolute is None else self.absolute.to_dict(),
            "absolute_note": self.absolute_note,
            "methods": self.methods,
            "warnings": list(self.warnings),
        }

    def summary(self) -> pd.DataFrame:
        """One row per study and one for the pooled estimate (natural scale), as a pandas table."""
        import pandas as pd

        table = pd.DataFrame([r.to_dict() for r in self.rows])
        if self.pooled is not None:
            pooled = {
                "study": "pooled",
                "label": f"{METHOD_NAMES.get(self.method, self.method)} ({self.ci_method})",
                **{k: self.pooled.get(k) for k in ("estimate", "ci_low", "ci_high")},
            }
            table = pd.concat([table, pd.DataFrame([pooled])], ignore_index=True)
        return table


def _num(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def study_effects(
    measure: str, method: str, rows: list[ComparisonRow]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """yi, vi and a note per row, as the table mode computes them (escalc defaults: ½ added to every
    cell of a table with a zero cell; double-zero tables left out of RR and OR; Peto's own estimate
    for PETO)."""
    from metablina.stats.measures import escalc

    if measure == "HR":
        yi = np.array([r.yi for r in rows], float)
        return yi, np.array([r.sei for r in rows], float) ** 2, ["" for _ in rows]
    cols = pair_columns(rows)
    es = escalc("PETO" if method == "PETO" else measure, **cols)
    notes = []
    for j in range(len(rows)):
        if es.dropped is not None and es.dropped[j]:
            notes.append("no events (or only events) in both arms: no information on a ratio, left out")
        elif es.cc is not None and es.cc[j]:
            notes.append(f"continuity correction {es.add:g} added to every cell (zero cell)")
        else:
            notes.append("")
    return np.asarray(es.yi, float), np.asarray(es.vi, float), notes


def study_weights(
    measure: str, method: str, rows: list[ComparisonRow], result: PoolResult | None
) -> list[float | None]:
    """Per-study weights in percent as metafor's ``weights()`` gives them; None for a GLMM."""
    if result is None or method == "GLMM":
        return [None] * len(rows)
    if method in IV_METHODS:
        w = np.asarray(result.fit.weights, float)
        yi, vi, _ = study_effects(measure, method, rows)
        keep = np.isfinite(yi) & np.isfinite(vi)
        out: list[float | None] = [None] * len(rows)
        for j, x in zip(np.flatnonzero(keep), w, strict=True):
            out[j] = float(x)
        return out
    c = pair_columns(rows)
    ai, n1i, ci, n2i = c["ai"], c["n1i"], c["ci"], c["n2i"]
    ni = n1i + n2i
    if method == "PETO":
        xt, yt = ai + ci, ni - ai - ci
        raw = xt * yt * n1i * n2i / (ni**2 * (ni - 1))
    elif measure == "OR":
        raw = (n1i - ai) * ci / ni
    elif measure == "RR":
        raw = ci * n1i / ni
    else:
        raw = n1i * n2i / ni
    return [float(x) for x in 100 * raw / raw.sum()]


def summarise(
    analysis: Analysis,
    rows: tuple[EffectRow, ...],
    result: PoolResult | None,
    method: str,
    ci: str | None,
    refusal: str | None,
) -> Comparison:
    """The comparison of one stratum: its rows, the pooled estimate (or the single trial's), the
    absolute effect and the methods text."""
    comp = [r for r in rows if isinstance(r, ComparisonRow)]
    measure = analysis.measure
    yi, vi, notes = study_effects(measure, method, comp)
    weights = study_weights(measure, method, comp, result)
    table = []
    for j, r in enumerate(comp):
        est, low, high = _study_ci(measure, r, yi[j], vi[j])
        table.append(
            StudyComparison(
                key=r.key,
                study=r.study,
                label=r.label,
                intervention_label=r.intervention_label,
                control_label=r.control_label,
                intervention_events=r.events if r.form == "pair" else None,
                intervention_total=r.total if r.form == "pair" else None,
                control_events=r.control_events,
                control_total=r.control_total,
                yi=_num(yi[j]),
                vi=_num(vi[j]),
                weight=weights[j],
                estimate=est,
                ci_low=low,
                ci_high=high,
                derived=r.derived,
                note=notes[j] or None,
                left_out=not (math.isfinite(yi[j]) and math.isfinite(vi[j])),
            )
        )
    pooled = None
    warnings: tuple[str, ...] = ()
    if result is not None:
        d = result.to_dict()
        back = result.back()
        pooled = {
            "k": d["k"],
            **{k: back.get(k) for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")},
            **{k: d.get(k) for k in ("tau2", "i2", "q", "q_df", "q_p")},
        }
        warnings = result.warnings
    absolute, note = _absolute(analysis, comp, table, pooled)
    try:
        ci_method = result.ci_method if result is not None else interval_of(measure, method, ci)
    except InputError:
        ci_method = ci or ""
    kinds = {r.comparison for r in comp}
    return Comparison(
        measure=measure,
        method=method,
        ci_method=ci_method,
        comparison="non-randomised" if "non-randomised" in kinds else "randomised",
        rows=tuple(table),
        pooled=pooled,
        not_pooled=None if result is not None else refusal,
        absolute=absolute,
        absolute_note=note,
        methods=methods_text(measure, method, comp),
        warnings=warnings,
    )


def _study_ci(measure: str, r: ComparisonRow, y: float, v: float) -> tuple[float | None, ...]:
    """A reported HR keeps its reported CI; everything else the Wald interval from yi and vi."""
    if measure == "HR" and r.derived is None and r.ci_low is not None and r.ci_high is not None:
        return r.estimate, r.ci_low, r.ci_high
    if not (math.isfinite(y) and math.isfinite(v)):
        return None, None, None
    half = Z975 * math.sqrt(v)
    scale = "RD" if measure == "RD" else "HR"  # HR: exp, as for every log ratio
    return tuple(float(back_value(scale, x)) for x in (y, y - half, y + half))


def _absolute(
    analysis: Analysis,
    comp: list[ComparisonRow],
    table: list[StudyComparison],
    pooled: dict[str, Any] | None,
) -> tuple[Absolute | None, str | None]:
    """The absolute effect of the pooled estimate, or of the one trial's effect when k = 1."""
    measure = analysis.measure
    if pooled is not None and pooled.get("estimate") is not None:
        effect = (pooled["estimate"], pooled.get("ci_low"), pooled.get("ci_high"))
        based_on = "pooled estimate"
    else:
        usable = [t for t in table if t.estimate is not None]
        if len(table) == 1 and not usable:
            return None, f"no relative effect, so no absolute effect: {table[0].note or 'not estimable'}"
        if len(usable) != 1 or len(table) != 1:
            return None, "no pooled or single-trial relative effect to turn into an absolute effect"
        effect, based_on = (usable[0].estimate, usable[0].ci_low, usable[0].ci_high), "the trial's own effect"
    landmark = analysis.landmark if measure == "HR" else None
    if measure == "HR" and landmark is None:
        return None, "the plan names no landmark, so an HR has no absolute effect (plan key: landmark)"
    acr, source = _comparator_risk(analysis, comp)
    if acr is None:
        return None, source
    a = absolute_effect(measure, acr, *effect, acr_source=source, based_on=based_on, landmark_months=landmark)
    lag = _earlier_cuts(comp, analysis.landmark) if measure == "HR" else None
    return (replace(a, note="; ".join(x for x in (lag, a.note) if x)) if lag else a), None


def _earlier_cuts(comp: list[ComparisonRow], landmark: float | None) -> str | None:
    """Where an HR comes from another data cut than the control arm's landmark rate it is applied to,
    say so: the absolute effect then assumes the HR holds (proportional hazards) to the landmark."""
    pairs = [
        f"the HR of {r.study} is from its data cut {r.data_cut}, the comparator risk from its data cut "
        f"{r.control_km_data_cut}"
        for r in comp
        if r.form == "hr"
        and r.control_km_yi is not None
        and r.data_cut is not None
        and r.control_km_data_cut is not None
        and r.data_cut != r.control_km_data_cut
    ]
    if not pairs:
        return None
    return (
        f"{'; '.join(pairs)}: the absolute effect at {landmark:g} months assumes that the HR holds until "
        "then (proportional hazards), beyond the follow-up of the data cut it was estimated at"
    )


def _comparator_risk(analysis: Analysis, comp: list[ComparisonRow]) -> tuple[float | None, str]:
    """The plan's baseline, else the one trial's control risk, else the control arms pooled (binomial-
    normal GLMM for counts; REML on log(−log S) for landmark rates). (None, why) when there is none."""
    if analysis.baseline is not None:
        return analysis.baseline.risk, f"plan baseline: {analysis.baseline.source}"
    if analysis.measure == "HR":
        have = [r for r in comp if r.control_km_yi is not None and r.control_km_sei is not None]
        if not have:
            return None, (
                f"no control-arm Kaplan-Meier rate at {analysis.landmark:g} months in these studies, and no "
                "plan baseline"
            )
        kind = have[0].control_km_kind
        if len(have) == 1:
            s = float(np.exp(-np.exp(have[0].control_km_yi)))
            cut = f", data cut {have[0].control_km_data_cut}" if have[0].control_km_data_cut else ""
            source = f"control arm of {have[0].study} ({analysis.landmark:g}-month KM{cut})"
        else:
            cols = {
                "yi": np.array([r.control_km_yi for r in have]),
                "sei": np.array([r.control_km_sei for r in have]),
            }
            try:
                res = pool("KM", "REML", "hksj-adhoc", cols, [r.study for r in have])
            except InputError as exc:
                return None, f"the control arms' landmark rates could not be pooled: {exc}"
            s = res.back()["estimate"]
            source = (
                f"{len(have)} control arms' {analysis.landmark:g}-month KM rates pooled (REML, log(-log S))"
            )
        return (s if kind == "cumulative incidence" else 1 - s), source
    pairs = [r for r in comp if r.control_total]
    if len(pairs) == 1:
        r = pairs[0]
        return (
            r.control_events / r.control_total,
            f"control arm of {r.study} ({r.control_events}/{r.control_total})",
        )  # type: ignore[operator]
    cols = {
        "xi": np.array([r.control_events for r in pairs], float),
        "ni": np.array([r.control_total for r in pairs], float),
    }
    try:
        res = pool("PLO", "GLMM", "t", cols, [r.study for r in pairs])
    except InputError as exc:
        return None, f"the control arms could not be pooled by the binomial-normal GLMM: {exc}"
    return res.back()["estimate"], f"{len(pairs)} control arms pooled (binomial-normal GLMM, logit)"


def methods_text(measure: str, method: str, rows: list[ComparisonRow]) -> str:
    """One paragraph on how the comparisons were formed and computed, for the report's methods."""
    parts = []
    if measure in PAIR_MEASURES:
        parts.append(
            "Each comparison pairs the arm records of one trial with the same outcome and estimand "
            "(timepoint, grade, sub-population, data cut); the intervention and control arms are the "
            "roles the extract gives, or the arms the plan names."
        )
        if any(len(r.intervention_arms) > 1 or len(r.control_arms) > 1 for r in rows):
            parts.append(f"Multi-arm trials: {HANDBOOK}; a control arm is never counted twice.")
        if method in ("MH", "PETO"):
            parts.append(
                f"The {METHOD_NAMES[method]} estimate uses the raw tables (no continuity correction); "
                "Q and the study estimates add 0.5 to every cell of a table with a zero cell."
            )
        elif method == "GLMM":
            parts.append(
                "The GLMM (unconditional model with fixed study effects, as metafor's rma.glmm UM.FS) "
                "uses the raw counts; tables with no events (or only events) in both arms are left out."
            )
        else:
            parts.append("A table with a zero cell has 0.5 added to every cell.")
        if measure in ("RR", "OR"):
            parts.append(
                "Tables with no events (or only events) in both arms carry no information on a ratio "
                "and are left out of the ratio."
            )
        else:
            parts.append("Tables with no events in both arms are kept (risk difference 0).")
    else:
        parts.append("Reported hazard ratios are used as reported (intervention vs control).")
        if any(r.derivation_kind == "log-rank" for r in rows):
            parts.append("Where only the log-rank O-E and V are given, ln HR = (O-E)/V with SE 1/sqrt(V).")
        if any(r.derivation_kind == "km" for r in rows):
            parts.append(
                "Where neither is given, the HR is derived from the two arms' Kaplan-Meier rates at the "
                "same landmark under proportional hazards, ln HR = ln(-ln S1) - ln(-ln S0), its variance "
                f"the sum of both arms' variances on log(-log S) ({TIERNEY}); such rows are marked derived."
            )
    if any(r.comparison == "non-randomised" for r in rows):
        parts.append("Comparisons with a historical or external control are non-randomised.")
    parts.append(
        "Absolute effects per 1,000 hold the assumed comparator risk fixed and take their interval from "
        "the relative effect's interval (GRADE Summary of Findings)."
    )
    return " ".join(parts)


# ------------------------------------------------------------------------------------------ Python API

ROLES = (*RANDOMISED_ROLES, *EXTERNAL_ROLES)


@dataclass(frozen=True)
class CompareResult:
    """What :func:`compare` returns: the comparison, the pooled fit (None for one study) and the
    pairing decisions."""

    comparison: Comparison
    result: PoolResult | None
    decisions: tuple[str, ...]

    def summary(self) -> pd.DataFrame:
        return self.comparison.summary()

    def to_dict(self) -> dict[str, Any]:
        return {**self.comparison.to_dict(), "decisions": list(self.decisions)}


def compare(
    df: pd.DataFrame,
    measure: str = "RR",
    method: str = "REML",
    ci: str | None = None,
    *,
    comparison: str = "randomised",
    baseline: tuple[float, str] | None = None,
) -> CompareResult:
    """Pool arm rows of a DataFrame (columns study, arm, role, events, total; role intervention,
    comparator, historical control or external control) as the plan would: arms paired per study,
    several intervention (or control) arms of one study combined (Cochrane Handbook 23.3.4).
    ``baseline`` = (risk, source) fixes the assumed comparator risk."""
    from pydantic import ValidationError

    from metablina.plan import Analysis

    measure, method = measure.upper(), method.upper()
    if measure not in PAIR_MEASURES:
        raise InputError(f"compare() pools arm counts as RR, OR or RD, not {measure}")
    missing = [c for c in ("study", "arm", "role", "events", "total") if c not in df.columns]
    if missing:
        raise InputError(f"the DataFrame lacks column(s) {', '.join(missing)}")
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        if rec["role"] not in ROLES:
            raise InputError(f"row {i}: role {rec['role']!r} is not one of {', '.join(ROLES)}")
        events, total = _count(i, "events", rec["events"]), _count(i, "total", rec["total"])
        if events > total or total < 1:
            raise InputError(f"row {i}: events ({events}) must lie between 0 and total ({total}), total >= 1")
        rows.append(
            EffectRow(
                **_fill(
                    study=str(rec["study"]),
                    record=str(rec["arm"]),
                    outcome="outcome",
                    form="proportion",
                    label=str(rec["study"]),
                    arm=str(rec["arm"]),
                    arm_role=rec["role"],
                    baseline_mrd="all",
                    unit="patients",
                    events=events,
                    total=total,
                )
            )
        )
    try:
        analysis = Analysis.model_validate(
            {
                "id": "compare",
                "title": "compare",
                "outcome": ["efs"],
                "measure": measure,
                "model": method,
                "ci": ci,
                "comparison": comparison,
                "baseline": None if baseline is None else {"risk": baseline[0], "source": baseline[1]},
            }
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]).replace("model", "method")
        raise InputError(f"{where}: {err['msg']}") from None
    interval_of(measure, method, ci)  # the model's refusal, also where one study leaves nothing to fit
    decisions: list[Decision] = []
    pairs = _pair_arms(rows, analysis, decisions)
    if not pairs:
        raise InputError(
            "no study has both an intervention and a control arm: " + "; ".join(map(str, decisions))
        )
    result = None
    refusal = None
    if len(pairs) >= 2:
        result = pool(measure, method, ci, pair_columns(pairs), [r.label for r in pairs])
    else:
        refusal = "k = 1: the trial's own effect, not a pooled estimate"
    summary = summarise(analysis, tuple(pairs), result, method, ci, refusal)
    return CompareResult(summary, result, tuple(str(d) for d in decisions))


def _count(i: int, name: str, value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"row {i}: {name} {value!r} is not a number") from None
    if not (math.isfinite(number) and number >= 0 and number == int(number)):
        raise InputError(f"row {i}: {name} {value!r} is not a whole number >= 0")
    return int(number)
