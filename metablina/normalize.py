"""Reported forms -> effect rows: one row per outcome record, on the scale it will be pooled on.

* a percentage of a denominator becomes a count, by the GRIM-style rule of
  :func:`metablina.extract.consistency.closest_count` (an inconsistent percentage is an error);
* a Kaplan-Meier rate with ± SE or a CI becomes log(−log S) with its SE (delta method, or the CI
  width on that scale, with a check of the scale the CI is symmetric on);
* a hazard ratio with a CI or p becomes ln HR with its SE, oriented so that HR < 1 favours the
  intervention arm;
* a median with range or IQR becomes a mean and SD (Luo 2018 / Wan 2014 / Shi 2020), flagged.

Every derived number says how it was derived and keeps the record's quote, so the report can show
where it came from. Pure with respect to files: studies in, rows out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from metablina.extract.consistency import closest_count
from metablina.extract.schema import OutcomeRecord, Study
from metablina.extract.validate import LoadedStudy, trial_ids
from metablina.stats import conversions
from metablina.stats.errors import InputError


class NormalizeError(ValueError):
    """A record that cannot be turned into an effect row; the message names study and record."""


@dataclass(frozen=True)
class EffectRow:
    """One outcome record of one study, ready to be selected and pooled.

    ``form`` is ``proportion`` (events of total), ``km`` (yi = log(−log S) and sei), ``hr``
    (yi = ln HR, intervention vs comparator, and sei; also from a log-rank O − E and V), or
    ``median`` and ``difference`` (RMST or risk difference), which are shown and never pooled.
    ``estimate``/``ci_low``/``ci_high`` are on the natural scale as reported (proportions and rates
    as fractions) for display.

    What the plan needs to keep one report per trial and one estimand per pooled set: ``trial`` (the
    trial id the extract reports; the study id when it names none), ``report_kind`` and
    ``report_data_cut`` (the report's), ``data_cut`` (the record's, defaulting to the report's),
    ``exposure`` (``before`` = baseline, never pooled), ``grading``, ``definition`` and
    ``mrd_threshold`` (part of the estimand), and the record's source: ``source_id``, ``source_kind``
    and ``source_checked`` (False when the source has no local copy, so its quotes were not checked).
    """

    study: str
    record: str
    outcome: str
    form: str
    label: str
    arm: str | None
    arm_role: str | None
    subpopulation: str | None
    subpopulation_label: str | None
    partition: str | None
    mrd_method: str | None
    mrd_sensitivity: float | None
    timepoint: str | None
    baseline_mrd: str
    grade: str | None
    unit: str
    denominator: str | None
    landmark_months: float | None
    km_kind: str | None
    follow_up_months: float | None
    events: int | None = None
    total: int | None = None
    yi: float | None = None
    sei: float | None = None
    scale: str | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    reported: str = ""
    derivations: tuple[str, ...] = ()
    unusable: str | None = None
    quotes: tuple[str, ...] = ()
    location: str | None = None
    notes: str | None = None
    source: str = ""
    setting: tuple[str, ...] = ()
    design: str = ""
    year: int = 0
    risk_of_bias: str = ""
    overlap: tuple[str, ...] = ()
    cohort_n: int = 0
    trial: str = ""
    report_kind: str | None = None
    report_data_cut: str | None = None
    data_cut: str | None = None
    exposure: str | None = None
    grading: str | None = None
    definition: str | None = None
    mrd_threshold: float | None = None
    source_id: str = ""
    source_kind: str = ""
    source_checked: bool = True
    comparison: str | None = None

    def __post_init__(self) -> None:
        if not self.trial:  # each extract its own trial unless it says otherwise
            object.__setattr__(self, "trial", self.study)

    @property
    def key(self) -> str:
        return f"{self.study}/{self.record}"


@dataclass(frozen=True)
class StudyCharacteristics:
    """Baseline descriptors of a study, with means and SDs derived from medians flagged as such."""

    study: str
    n: int
    design: str
    setting: tuple[str, ...]
    age: str
    age_mean_sd: tuple[float, float] | None
    age_derivation: str | None


def normalize(studies: list[LoadedStudy]) -> list[EffectRow]:
    """Every outcome record of every study as an effect row, in study then record order."""
    trials = trial_ids([loaded.study for loaded in studies])
    rows = []
    for loaded in studies:
        for record in loaded.study.outcomes:
            rows.append(normalize_record(loaded, record, trials.get(loaded.study.id)))
    return rows


def normalize_record(loaded: LoadedStudy, rec: OutcomeRecord, trial: str | None = None) -> EffectRow:
    """One record -> one row; raises :class:`NormalizeError` naming the study and record. ``trial``:
    the trial the study reports, as :func:`metablina.extract.validate.trial_ids` names it across a
    review (extracts sharing a registry id or trial key); default: the study's own."""
    study = loaded.study
    arms = {a.id: a for a in study.arms}
    subs = {s.id: s for s in study.population.subpopulations}
    arm_id = rec.arm if rec.arm is not None else (study.arms[0].id if len(study.arms) == 1 else None)
    arm = arms.get(arm_id) if arm_id else None
    sub = subs.get(rec.subpopulation) if rec.subpopulation else None
    report = study.report
    source = study.source_of(rec) or study.source
    base = {
        "study": study.id,
        "record": rec.id,
        "outcome": rec.outcome,
        "label": _label(study, rec, sub),
        "arm": arm_id,
        "arm_role": arm.role if arm else None,
        "subpopulation": rec.subpopulation,
        "subpopulation_label": sub.label if sub else None,
        "partition": sub.partition if sub else None,
        "mrd_method": rec.mrd.method if rec.mrd else None,
        "mrd_sensitivity": rec.mrd.sensitivity if rec.mrd else None,
        "timepoint": rec.timepoint,
        "baseline_mrd": rec.baseline_mrd,
        "grade": rec.grade,
        "unit": rec.unit,
        "denominator": rec.denominator,
        "landmark_months": rec.km.landmark_months if rec.km else None,
        "km_kind": rec.km.kind if rec.km else None,
        "follow_up_months": rec.follow_up_months or (report.follow_up_months if report else None),
        "quotes": tuple(rec.quotes),
        "location": rec.location,
        "notes": rec.notes,
        "source": source.cited_as,
        "setting": tuple(study.setting),
        "design": study.design,
        "year": study.year,
        "risk_of_bias": study.risk_of_bias.overall,
        "overlap": tuple(o.study for o in study.overlap),
        "cohort_n": study.population.n,
        "trial": trial or study.trial_id,
        "report_kind": report.kind if report else None,
        "report_data_cut": report.data_cut if report else None,
        "data_cut": rec.data_cut or (report.data_cut if report else None),
        "exposure": rec.exposure,
        # null means "not stated" for a graded event; both are one estimand
        "grading": rec.grading or ("not stated" if rec.grade is not None else None),
        "definition": rec.definition,
        "mrd_threshold": rec.mrd.threshold if rec.mrd else None,
        "source_id": source.id,
        "source_kind": source.kind,
        "source_checked": source.checked,
        "comparison": study.comparison_of(rec.comparison) if rec.comparison is not None else None,
    }
    derived = tuple(f"{name}: {why}" for name, why in rec.derived.items())
    try:
        if rec.binary is not None:
            return _binary(loaded, rec, base, derived)
        if rec.km is not None:
            return _km(rec, base, derived)
        if rec.median is not None:
            return _median(rec, base, derived)
        if rec.difference is not None:
            return _difference(rec, base, derived)
        if rec.logrank is not None:
            return _logrank(study, rec, base, derived)
        return _hazard_ratio(study, rec, base, derived)
    except InputError as exc:
        raise NormalizeError(f"{study.id}/{rec.id}: {exc}") from None


def _label(study: Study, rec: OutcomeRecord, sub: object) -> str:
    parts = [study.id]
    if sub is not None:
        parts.append(sub.label)  # type: ignore[attr-defined]
    if len(study.arms) > 1 and rec.arm:
        parts.append(rec.arm)
    return " · ".join(parts)


def _binary(loaded: LoadedStudy, rec: OutcomeRecord, base: dict, derived: tuple[str, ...]) -> EffectRow:
    b = rec.binary
    assert b is not None
    events, derivations = b.events, list(derived)
    idx = loaded.study.outcomes.index(rec)
    if b.percent is not None:
        text = loaded.doc.texts.get(("outcomes", idx, "binary", "percent"), repr(b.percent))
        count, candidates = closest_count(text, b.total)
        if count is None:
            raise NormalizeError(
                f"{loaded.study.id}/{rec.id}: {text}% of {b.total} is no whole number of patients"
            )
        if events is None:
            events = count
            note = f"events = {count}: the only count of {b.total} that prints as {text}%"
            if len(candidates) > 1:
                note = (
                    f"events = {count}: closest of {candidates}, all of which print as {text}% of {b.total}"
                )
            derivations.append(note)
    assert events is not None
    reported = f"{events}/{b.total}" if b.events is not None else f"{b.percent}% of {b.total}"
    return EffectRow(
        **base,
        form="proportion",
        events=events,
        total=b.total,
        estimate=events / b.total,
        reported=reported,
        derivations=tuple(derivations),
    )


def _km(rec: OutcomeRecord, base: dict, derived: tuple[str, ...]) -> EffectRow:
    km = rec.km
    assert km is not None
    s = km.percent / 100
    derivations = list(derived)
    reported = f"{km.percent}% at {km.landmark_months:g} months"
    row = {"estimate": s, "scale": "cloglog"}
    if km.ci is not None:
        low, high = km.ci.low / 100, km.ci.high / 100
        reported += f" ({km.ci_level:g}% CI {km.ci.low}-{km.ci.high})"
        row.update(ci_low=low, ci_high=high)
        if not (low > 0 and high < 1):
            return EffectRow(
                **base,
                form="km",
                reported=reported,
                derivations=tuple(derivations),
                unusable="the CI touches 0% or 100%, so no SE can be recovered on log(-log)",
                **row,
            )
        est = conversions.km_from_ci(s, low, high, "cloglog", km.ci_level / 100)
        scale, _ = conversions.most_symmetric_scale(s, low, high)
        derivations.append(f"SE on log(-log S) = {est.sei:.6f} from the CI width ({est.rule})")
        if scale != "cloglog":
            derivations.append(
                f"caution: the reported CI is most symmetric on the {scale} scale, not log(-log)"
            )
        return EffectRow(
            **base,
            form="km",
            yi=est.yi,
            sei=est.sei,
            reported=reported,
            derivations=tuple(derivations),
            **row,
        )
    if km.se is not None and km.se > 0 and 0 < s < 1:
        se = km.se / 100 if km.plus_minus == "se" else km.se / 100 / conversions.Z975
        reported += f" ± {km.se}"
        est = conversions.km_from_se(s, se, "cloglog")
        how = (
            "the ± value read as one SE" if km.plus_minus == "se" else "the ± value read as a 95% half-width"
        )
        derivations.append(f"SE on log(-log S) = {est.sei:.6f} by the delta method, {how}")
        return EffectRow(
            **base,
            form="km",
            yi=est.yi,
            sei=est.sei,
            reported=reported,
            derivations=tuple(derivations),
            **row,
        )
    why = "no SE or CI is reported" if km.se is None and km.ci is None else "S is 0% or 100% or its SE is 0"
    return EffectRow(
        **base,
        form="km",
        reported=reported,
        derivations=tuple(derivations),
        unusable=f"{why}: no inverse-variance weight can be given",
        **row,
    )


def _hazard_ratio(study: Study, rec: OutcomeRecord, base: dict, derived: tuple[str, ...]) -> EffectRow:
    hr = rec.hazard_ratio
    assert hr is not None
    derivations = list(derived)
    if hr.ci is not None:
        est = conversions.log_hr_from_ci(hr.hr, hr.ci.low, hr.ci.high, hr.ci_level / 100)
    else:
        assert hr.p is not None
        est = conversions.log_hr_from_p(hr.hr, hr.p.value, bound=hr.p.relation != "=")
    derivations.append(f"ln HR = {est.yi:.6f}, SE = {est.sei:.6f} ({est.rule})")
    yi, low, high, value = est.yi, hr.ci.low if hr.ci else None, hr.ci.high if hr.ci else None, hr.hr
    reported = f"HR {hr.hr} " + (
        f"({hr.ci_level:g}% CI {hr.ci.low}-{hr.ci.high})" if hr.ci else f"(p {hr.p.relation} {hr.p.value})"
    )
    if _reversed(study, hr.experimental, hr.control):
        yi, value = -yi, 1 / hr.hr
        low, high = (1 / high if high else None), (1 / low if low else None)
        derivations.append(
            "inverted: reported as comparator vs intervention; HR < 1 now favours the intervention"
        )
    return EffectRow(
        **{**base, "arm": f"{hr.experimental} vs {hr.control}"},
        form="hr",
        yi=yi,
        sei=est.sei,
        scale="log",
        estimate=value,
        ci_low=low,
        ci_high=high,
        reported=reported,
        derivations=tuple(derivations),
    )


def _reversed(study: Study, experimental: str, control: str) -> bool:
    """A comparison reported as comparator (or control) vs intervention, to be turned round."""
    roles = {a.id: a.role for a in study.arms}
    return roles.get(experimental) not in (None, "intervention") and roles.get(control) == "intervention"


def _logrank(study: Study, rec: OutcomeRecord, base: dict, derived: tuple[str, ...]) -> EffectRow:
    """ln HR = (O − E)/V with SE 1/√V (Peto's one-step estimate; Parmar et al. 1998, Tierney et al. 2007)."""
    lr = rec.logrank
    assert lr is not None
    yi, sei = lr.o_minus_e / lr.variance, 1 / math.sqrt(lr.variance)
    derivations = [
        *derived,
        f"HR from log-rank O−E/V: ln HR = {lr.o_minus_e:g}/{lr.variance:g} = {yi:.6f}, "
        f"SE = 1/√V = {sei:.6f} (Peto; Parmar 1998, Tierney 2007)",
    ]
    if _reversed(study, lr.experimental, lr.control):
        yi = -yi
        derivations.append("inverted: reported for the comparator; HR < 1 now favours the intervention")
    return EffectRow(
        **{**base, "arm": f"{lr.experimental} vs {lr.control}"},
        form="hr",
        yi=yi,
        sei=sei,
        scale="log",
        estimate=math.exp(yi),
        reported=f"log-rank O−E {lr.o_minus_e:g}, V {lr.variance:g}",
        derivations=tuple(derivations),
    )


def _median(rec: OutcomeRecord, base: dict, derived: tuple[str, ...]) -> EffectRow:
    """A median with its CI, shown on its own and never pooled."""
    m = rec.median
    assert m is not None
    value = "not reached" if m.value is None else f"{m.value:g} {m.unit}"
    reported = f"median {m.kind} {value}"
    if m.ci is not None:
        low = "NR" if m.ci.low is None else f"{m.ci.low:g}"
        high = "NR" if m.ci.high is None else f"{m.ci.high:g}"
        reported += f" ({m.ci_level:g}% CI {low}-{high})"
    return EffectRow(
        **base,
        form="median",
        estimate=m.value,
        ci_low=m.ci.low if m.ci else None,
        ci_high=m.ci.high if m.ci else None,
        reported=reported,
        derivations=derived,
    )


def _difference(rec: OutcomeRecord, base: dict, derived: tuple[str, ...]) -> EffectRow:
    """An RMST or risk difference on its own scale: shown, never pooled with hazard ratios."""
    d = rec.difference
    assert d is not None
    reported = f"{d.measure} difference {d.value:g} {d.unit}"
    if d.ci is not None:
        reported += f" ({d.ci_level:g}% CI {d.ci.low:g} to {d.ci.high:g})"
    elif d.p is not None:
        reported += f" (p {d.p.relation} {d.p.value:g})"
    return EffectRow(
        **{**base, "arm": f"{d.experimental} vs {d.control}", "landmark_months": d.landmark_months},
        form="difference",
        estimate=d.value,
        ci_low=d.ci.low if d.ci else None,
        ci_high=d.ci.high if d.ci else None,
        reported=reported,
        derivations=derived,
    )


def characteristics(studies: list[LoadedStudy]) -> list[StudyCharacteristics]:
    """Baseline descriptors per study; an age median with range becomes a flagged mean and SD."""
    out = []
    for loaded in studies:
        s = loaded.study
        age = s.population.age
        text, mean_sd, how = "not reported", None, None
        if age is not None:
            bits = []
            if age.median is not None:
                bits.append(f"median {age.median:g}")
            low, high = (age.range.low, age.range.high) if age.range is not None else (None, None)
            if low is not None and high is not None:
                bits.append(f"range {low:g}-{high:g}")
            elif high is not None:  # one bound only, e.g. infants "< 1 year"
                bits.append(f"at most {high:g}")
            elif low is not None:
                bits.append(f"at least {low:g}")
            text = f"{', '.join(bits)} {age.unit}"
            whole_range = low is not None and high is not None
            if age.median is not None and (whole_range or age.iqr is not None) and s.population.n >= 5:
                conv = conversions.mean_sd_from_quantiles(
                    s.population.n,
                    median=age.median,
                    minimum=low if whole_range else None,
                    maximum=high if whole_range else None,
                    q1=age.iqr.low if age.iqr else None,
                    q3=age.iqr.high if age.iqr else None,
                )
                mean_sd = (conv.mean, conv.sd)
                how = f"derived ({conv.method}, scenario {conv.scenario})"
                if conv.skewed:
                    how += "; skewness test rejects normality (Shi 2023): use with care"
        out.append(StudyCharacteristics(s.id, s.population.n, s.design, tuple(s.setting), text, mean_sd, how))
    return out
