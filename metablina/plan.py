"""The analysis plan: which records are pooled with which, and the guards that refuse the rest.

A plan (``studies/analyses.yaml``) names each pooled analysis: the outcome and qualifiers that
select records, the effect measure, the model, subgroups and sensitivity analyses. Selecting rows for
an analysis applies, in order, the guards a methods reviewer expects, and logs every decision:

1. a record measured before the intervention (``exposure: before``) is baseline, never an effect;
2. one report per trial: extracts that report one trial (a shared registry id or trial key) never
   share an analysis; the report with the latest data cut among those with a record here is used
   (ties: full text over an abstract, then the larger n, else the analysis refuses the trial and
   names both), unless the plan says ``report_rule: largest`` or names the report (``reports:``);
3. different estimands never share an estimate: form (rate, KM landmark, hazard ratio), unit
   (patients or courses), baseline MRD (all treated or MRD-positive at the start), grade threshold,
   grading system, outcome definition, MRD method, sensitivity and threshold, landmark time — rows
   that differ on any of these become separate strata with no overall estimate;
4. one study never contributes the same patients twice: a whole-cohort record wins over its
   sub-population records unless the plan asks for sub-populations, and then only disjoint parts
   of one partition are used; of several records of one estimand the plan's ``prefer``, then its
   timepoint order, then the larger denominator, then the earlier kind of denominator (enrolled,
   randomised, treated, evaluable) wins — never the order of the file; a tie is refused, naming both;
5. cohorts marked as overlapping are not pooled together: one is kept (the plan's choice, else the
   larger), the other can be swapped in by a sensitivity analysis;
6. records from different settings are strata without an overall estimate unless the plan says
   ``overall: true``;
7. k = 1 is shown as that study, never as a pooled estimate.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from metablina.analyze import check_threshold, interval_of
from metablina.extract.loader import Key, LoadError, Located, Problem, load_yaml
from metablina.extract.schema import GRADES, SETTINGS, Slug, Word
from metablina.extract.validate import PLAN_FILE, Review, parse_errors, study_files
from metablina.normalize import EffectRow, NormalizeError, normalize
from metablina.options import CI_METHODS, IV_METHODS
from metablina.stats.errors import InputError

MEASURE_FORM = {
    "PLO": "proportion",
    "PFT": "proportion",
    "PAS": "proportion",
    "PR": "proportion",
    "KM": "km",
    "HR": "hr",
    "RR": "pair",  # two arms of one study paired by metablina.compare
    "OR": "pair",
    "RD": "pair",
}
GUARDED = (
    "form",
    "km_kind",
    "unit",
    "baseline_mrd",
    "grade",
    "mrd_method",
    "mrd_sensitivity",
    "mrd_threshold",
    "grading",
    "definition",
    "landmark_months",
)
GUARD_NAMES = {
    "form": "kind of estimate",
    "km_kind": "survival vs cumulative incidence",
    "unit": "unit of analysis",
    "baseline_mrd": "baseline MRD status",
    "grade": "grade threshold",
    "mrd_method": "MRD method",
    "mrd_sensitivity": "MRD assay sensitivity",
    "mrd_threshold": "MRD threshold",
    "grading": "grading system",
    "definition": "outcome definition",
    "landmark_months": "landmark time (months)",
    "timepoint": "timepoint",
    "setting": "setting",
}
# The kind of denominator that wins between two records of one estimand with the same total: the
# nearest to everyone allocated (intention to treat) first.
DENOMINATOR_ORDER = ("enrolled", "randomised", "treated", "evaluable", None)
# Full text over other publications over abstracts, when two reports of one trial tie on the rule.
SOURCE_RANK = {"full text": 2, "abstract": 0, "journal abstract": 0, "conference abstract": 0}
REPORT_RULES = ("latest", "largest")
RecordKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*$")]
NO_RECORDS = "no record matches this analysis"
SUBGROUP_KEYS = (
    "setting",
    "design",
    "risk_group",
    "mrd_method",
    "timepoint",
    "risk_of_bias",
    "subpopulation",
)


PLAN_MODELS = ("GLMM", *IV_METHODS, "MH", "PETO")  # MH, PETO: two-arm counts (RR, OR, RD)
RISK_OF_BIAS = ("low", "some concerns", "moderate", "serious", "high", "critical", "unclear")
# Names of the report's own files that an analysis id would overwrite (tables/ID.csv beside summary.csv).
RESERVED_IDS = {"summary": "the report's tables/summary.csv and summary.json"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Select(_Strict):
    """Qualifiers a record must have; a list means any of them (in order of preference per study)."""

    mrd_method: Literal["MFC", "NGS", "PCR", "unspecified"] | None = None
    timepoint: list[Word] | None = None
    baseline_mrd: Literal["all", "positive", "negative"] | None = Field(
        "all", description="null: any status (the guard then makes each status its own stratum)"
    )
    grade: Literal[GRADES] | None = None  # type: ignore[valid-type]
    unit: Literal["patients", "courses"] = "patients"
    landmark_months: list[float] | None = None
    subpopulation: list[Slug] | None = None
    studies: list[Slug] | None = None

    @field_validator("landmark_months")
    @classmethod
    def _months(cls, v: list[float] | None) -> list[float] | None:
        for m in v or ():
            if not (math.isfinite(m) and m > 0):
                raise ValueError(f"a landmark is a positive number of months, not {m}")
        return v


class Sensitivity(_Strict):
    """A variant of the analysis: other studies, another model, measure or interval."""

    id: Slug
    label: str
    measure: Literal[tuple(MEASURE_FORM)] | None = None  # type: ignore[valid-type]
    model: Literal[PLAN_MODELS] | None = None  # type: ignore[valid-type]
    ci: Literal[CI_METHODS] | None = None  # type: ignore[valid-type]
    exclude: list[Slug] = Field(default_factory=list, description="study ids to leave out")
    overlap_keep: list[Slug] | None = Field(None, description="which overlapping cohorts to keep instead")
    exclude_risk_of_bias: list[Literal[RISK_OF_BIAS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="e.g. [serious, critical]"
    )
    exclude_overlapping: bool = Field(False, description="leave out every cohort that declares an overlap")
    report_rule: Literal[REPORT_RULES] | None = Field(  # type: ignore[valid-type]
        None, description="another rule for the report of each trial, e.g. largest"
    )
    reports: dict[str, Slug] | None = Field(None, description="trial id -> the study (report) to use instead")
    pool_definitions: bool = Field(
        False,
        description="pool across grading systems and outcome definitions, which the plan keeps apart: a "
        "departure shown beside the plan's strata, never in their place",
    )


# ------------------------------------------------------------------ review questions and GRADE
# The questions a committee asks (PICO), which analysis answers which of their outcomes, the primary
# model of each analysis, and the reviewer's overrides of the GRADE domains that metablina.grade rates.

IMPORTANCE = ("critical", "important", "not important")
GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
QuestionOutcomeRef = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9_-]*$")]


class QuestionOutcome(_Strict):
    """An outcome of a question, with its importance to the decision (GRADE: critical, important)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    name: str = Field(min_length=1, description="as the Summary of Findings names it")
    importance: Literal[IMPORTANCE]  # type: ignore[valid-type]
    follow_up: str | None = Field(None, description="the time frame shown with the outcome")
    surrogate_for: str | None = Field(
        None, description="the patient-important outcome this one stands in for (rated down for indirectness)"
    )


class Question(_Strict):
    """A review question (PICO): who, in which setting, what against what, and the outcomes that matter."""

    id: Slug
    title: str = Field(min_length=1)
    population: str = Field(min_length=1)
    setting: list[Literal[SETTINGS]] = Field(min_length=1)  # type: ignore[valid-type]
    intervention: str = Field(min_length=1)
    comparator: str = Field(min_length=1)
    outcomes: list[QuestionOutcome] = Field(min_length=1)

    @field_validator("setting", mode="before")
    @classmethod
    def _one_setting(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _unique_outcomes(self) -> Question:
        ids = [o.id for o in self.outcomes]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"outcome id(s) {', '.join(twice)} used twice in question {self.id!r}")
        return self


class DomainOverride(_Strict):
    """The reviewer's rating of one GRADE domain instead of the tool's, with the reason shown beside it."""

    change: int = Field(ge=-3, le=0, description="levels: 0 not serious, -1 serious, -2 very serious")
    reason: str = Field(min_length=10, description="why, as the footnote will say it")


class UpgradeOverride(_Strict):
    change: int = Field(ge=0, le=2, description="levels rated up (large effect, dose-response, confounding)")
    reason: str = Field(min_length=10)


class StartOverride(_Strict):
    level: Literal["high", "low"]
    reason: str = Field(min_length=10)


class DomainOverrides(_Strict):
    """Overrides of the drafted GRADE rating: every one needs a reason and is shown as an override."""

    start: StartOverride | None = None
    risk_of_bias: DomainOverride | None = None
    inconsistency: DomainOverride | None = None
    indirectness: DomainOverride | None = None
    imprecision: DomainOverride | None = None
    publication_bias: DomainOverride | None = None
    upgrade: UpgradeOverride | None = None


class GradeOverrides(DomainOverrides):
    """An analysis's overrides, for all its strata, and ``strata``: a stratum's own (by its label as the
    report shows it, e.g. ``frontline; grading not stated``), which replace the analysis's domain by domain.
    A label that names no stratum of the analysis is refused when the report is built."""

    strata: dict[str, DomainOverrides] = Field(
        default_factory=dict, description="overrides of one stratum, by its label, over the analysis's"
    )

    def for_stratum(self, label: str | None) -> DomainOverrides:
        """The overrides that rate stratum ``label``: its own domains where it gives them, else the
        analysis's."""
        own = self.strata.get(label) if label is not None else None
        if own is None:
            return self
        fields = DomainOverrides.model_fields
        return DomainOverrides(**{f: getattr(own, f) or getattr(self, f) for f in fields})


class QuestionKeys(_Strict):
    """The review-question and GRADE keys of an analysis, apart from the pooling keys: which question
    outcomes the analysis answers, its primary model, and GRADE overrides."""

    question: list[QuestionOutcomeRef] = Field(
        default_factory=list, description="question-id/outcome-id pairs this analysis answers"
    )
    primary: Literal["model", "bayes"] = Field(
        "model", description="the one estimate the summary uses: the plan's model, or the Bayesian fit"
    )
    grade: GradeOverrides = Field(default_factory=GradeOverrides)

    @field_validator("question", mode="before")
    @classmethod
    def _one_question(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


def question_problems(plan: Plan) -> list[tuple[Key, str]]:
    """Located problems of the question keys: question ids used twice, an analysis naming a question or
    outcome the plan does not have, a Bayesian primary without the Bayesian fit."""
    out: list[tuple[Key, str]] = []
    outcomes: dict[str, set[str]] = {}
    for i, q in enumerate(plan.questions):
        if q.id in outcomes:
            out.append((("questions", i, "id"), f"question id {q.id!r} is used twice"))
        outcomes[q.id] = {o.id for o in q.outcomes}
    for i, a in enumerate(plan.analyses):
        for j, ref in enumerate(a.question):
            q, o = ref.split("/")
            where: Key = ("analyses", i, "question", *((j,) if len(a.question) > 1 else ()))
            if q not in outcomes:
                known = ", ".join(outcomes) or "none: add a top-level questions: list"
                out.append((where, f"no question {q!r} in the plan (questions: {known})"))
            elif o not in outcomes[q]:
                out.append((where, f"question {q!r} has no outcome {o!r} ({', '.join(sorted(outcomes[q]))})"))
        if a.primary == "bayes" and not a.bayes:
            out.append((("analyses", i, "primary"), "primary: bayes needs the Bayesian fit (bayes: true)"))
    return out


class ArmChoice(_Strict):
    """The arms of one study a comparison uses; several on one side are combined (Cochrane Handbook
    23.3.4), so a control arm counts once."""

    intervention: list[Slug] = Field(min_length=1)
    control: list[Slug] = Field(min_length=1)

    @model_validator(mode="after")
    def _apart(self) -> ArmChoice:
        both = sorted(set(self.intervention) & set(self.control))
        if both:
            raise ValueError(f"arm {both[0]} is named on both sides; an arm is compared once, on one side")
        return self


class Baseline(_Strict):
    """An assumed comparator risk for the absolute effects, with where it comes from."""

    risk: float = Field(gt=0, lt=1, description="a risk between 0 and 1, e.g. 0.3")
    source: str = Field(min_length=1, description="where the risk comes from (a cohort, registry, guideline)")


# ---- multiverse (metablina.multiverse) ----------------------------------------------------------
MULTIVERSE_INCLUSION = (
    "overlap",
    "risk_of_bias",
    "report",
    "setting",
    "timepoint",
    "leave_one_out",
    "definition",
)
# estimand keys a reviewer may defensibly pool across as a departure (an outcome definition, not a
# different kind of number): the multiverse's "definition" choice, a sensitivity's pool_definitions
DEFINITION_KEYS = ("grading", "definition")
MULTIVERSE_MODELS = ("GLMM", *IV_METHODS, "MH", "PETO", "BAYES")
HIGH_RISK_OF_BIAS = ("serious", "high", "critical")


class Multiverse(_Strict):
    """The choices a specification curve crosses for one analysis (Steegen et al. 2016; Simonsohn, Simmons
    & Nelson 2020; Voracek et al. 2019). Defaults: every measure of the analysis's kind (PLO, PFT, PAS for
    rates; RR, OR, RD for comparisons), every model that pools it (GLMM, common effect, each tau^2
    estimator, Mantel-Haenszel and Peto for two-arm counts, Bayesian at each prior scale), the Wald, HKSJ
    and ad hoc HKSJ intervals, and every inclusion choice. Combinations a guard or a model refuses are no
    specifications."""

    enabled: bool = Field(True, description="false: no multiverse for this analysis")
    measures: list[Literal[tuple(MEASURE_FORM)]] | None = Field(  # type: ignore[valid-type]
        None, description="default: every measure of the analysis's kind"
    )
    models: list[Literal[MULTIVERSE_MODELS]] | None = Field(  # type: ignore[valid-type]
        None, description="default: every model; BAYES at each of prior_scales"
    )
    intervals: list[Literal[CI_METHODS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["z", "hksj", "hksj-adhoc"],
        description="intervals of the inverse-variance models (a GLMM's hksj is its t(k-1))",
    )
    prior_scales: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0], description="multiples of the analysis's prior on tau"
    )
    bayes_max_k: int = Field(
        10,
        ge=2,
        description="Bayesian specifications only in strata of at most this many records: there the prior on "
        "tau matters; beyond it the data outweigh it, and each binomial-normal fit costs about k times more",
    )
    leave_one_out_max_k: int = Field(
        20,
        ge=2,
        description="each study left out only in strata of at most this many studies: with more, one study "
        "moves the estimate little, the report's leave-one-out plot shows each already, and k such "
        "specifications of k studies each make the multiverse grow as k squared",
    )
    inclusion: list[Literal[MULTIVERSE_INCLUSION]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(MULTIVERSE_INCLUSION), description="which inclusion choices to vary"
    )
    high_risk: list[Literal[RISK_OF_BIAS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(HIGH_RISK_OF_BIAS),
        description="risk-of-bias judgements left out by the risk_of_bias choice",
    )


class Analysis(QuestionKeys):
    id: Slug
    title: str
    outcome: list[Word] = Field(description="outcome words: built in or in the review's vocabulary.yaml")
    select: Select = Field(default_factory=Select)
    arm: Literal["intervention", "comparator"] = "intervention"
    level: Literal["cohort", "subpopulations"] = "cohort"
    measure: Literal[tuple(MEASURE_FORM)]  # type: ignore[valid-type]
    model: Literal[PLAN_MODELS] = "REML"  # type: ignore[valid-type]
    ci: Literal[CI_METHODS] | None = Field(  # type: ignore[valid-type]
        None, description="the model's default when not given: t(k-1) for the GLMM, hksj-adhoc otherwise"
    )
    pool: bool = True
    stratify: list[Literal[(*GUARDED, "timepoint", "setting")]] = Field(default_factory=list)  # type: ignore[valid-type]
    subgroup: Literal[SUBGROUP_KEYS] | None = None  # type: ignore[valid-type]
    overlap_keep: list[Slug] = Field(
        default_factory=list, description="preferred cohorts among overlapping ones"
    )
    report_rule: Literal[REPORT_RULES] = Field(  # type: ignore[valid-type]
        "latest", description="the report of a trial to use: the latest data cut, or the largest n"
    )
    reports: dict[str, Slug] = Field(
        default_factory=dict, description="trial id -> the study (report) to use, over the rule"
    )
    prefer: list[RecordKey] = Field(
        default_factory=list,
        description="records (study/record) that win over the study's other records of the same estimand",
    )
    overall: bool = Field(
        False, description="one overall estimate across settings (else each setting is its own stratum)"
    )
    threshold: float | None = Field(None, description="a decision threshold on the natural scale, e.g. 0.05")
    bayes: bool = Field(True, description="add the Bayesian co-primary analysis when 2 <= k <= 5")
    tau_prior: str | None = Field(
        None, description="its prior on tau, e.g. halfnormal:1 (default by measure)"
    )
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    notes: str | None = None
    # comparisons (measure RR, OR, RD, HR): metablina.compare
    arms: dict[Slug, ArmChoice] = Field(
        default_factory=dict, description="study -> the arms compared (default: the roles in the extract)"
    )
    comparison: Literal["randomised", "non-randomised"] = Field(
        "randomised", description="non-randomised admits historical or external control arms"
    )
    baseline: Baseline | None = Field(None, description="the assumed comparator risk for absolute effects")
    landmark: float | None = Field(
        None, gt=0, description="months: the time at which an HR's absolute effect is given"
    )
    # ---- multiverse: the choices its specification curve crosses
    multiverse: Multiverse = Field(default_factory=Multiverse)

    @field_validator("multiverse")
    @classmethod
    def _multiverse_measures(cls, v: Multiverse, info: ValidationInfo) -> Multiverse:
        """A multiverse measure pools the analysis's records (a rate's measures for rates, ...)."""
        measure = info.data.get("measure")
        for m in v.measures or ():
            if measure is not None and MEASURE_FORM[m] != MEASURE_FORM[measure]:
                raise ValueError(f"measure {m} cannot pool the analysis's records ({measure})")
        return v

    # ---- end multiverse

    @field_validator("outcome", mode="before")
    @classmethod
    def _one_outcome(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_IDS:
            raise ValueError(f"analysis id {v!r} would overwrite {RESERVED_IDS[v]}; choose another id")
        return v

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and "measure" in info.data:
            try:
                check_threshold(info.data["measure"], v)
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("tau_prior")
    @classmethod
    def _tau_prior(cls, v: str | None) -> str | None:
        """A prior the Bayesian fits can read (their own parser), refused here rather than mid-report."""
        if v is not None:
            from metablina.stats.priors import parse_tau_prior

            try:
                parse_tau_prior(v)
            except InputError as exc:
                raise ValueError(str(exc).removeprefix("tau_prior: ")) from None
        return v

    @property
    def interval(self) -> str:
        """The interval the plan's model computes (``t`` for a GLMM asked for ``hksj``)."""
        return interval_of(self.measure, self.model, self.ci)

    @model_validator(mode="after")
    def _combination(self) -> Analysis:
        if (
            "mrd_negativity" in self.outcome
            and self.select.mrd_method is None
            and "mrd_method" not in self.stratify
        ):
            raise ValueError("an MRD analysis must select an mrd_method or stratify by it")
        comparative = MEASURE_FORM[self.measure] == "pair" or self.measure == "HR"
        for name in ("arms", "baseline"):
            if getattr(self, name) and not comparative:
                raise ValueError(
                    f"{name} applies to comparisons (measure RR, OR, RD or HR), not {self.measure}"
                )
        if self.comparison != "randomised" and not comparative:
            raise ValueError(f"comparison applies to measure RR, OR, RD or HR, not {self.measure}")
        if self.landmark is not None and self.measure != "HR":
            raise ValueError(f"landmark gives an HR's absolute effect; measure {self.measure} has none")
        if self.measure == "HR" and self.baseline is not None and self.landmark is None:
            raise ValueError("a baseline risk for an HR needs the landmark (months) it refers to")
        return self


class Plan(_Strict):
    analyses: list[Analysis] = Field(min_length=1)
    questions: list[Question] = Field(default_factory=list, description="the review questions (PICO)")


@dataclass(frozen=True)
class Decision:
    """One choice the tool made for an analysis, with the reason, kept for the report."""

    action: Literal["included", "excluded", "stratified", "not pooled", "note"]
    subject: str
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.subject} - {self.reason}"


@dataclass(frozen=True)
class Stratum:
    """Rows that may be pooled together, with what makes the stratum (empty for the whole set)."""

    label: str
    rows: tuple[EffectRow, ...]
    refusal: str | None = None


@dataclass(frozen=True)
class Selection:
    """The outcome of applying an analysis to the effect rows: strata, decisions, and whether to pool."""

    analysis: Analysis
    strata: tuple[Stratum, ...]
    decisions: tuple[Decision, ...]
    overall_refusal: str | None = None
    excluded_overlap: tuple[str, ...] = field(default=())
    keys: tuple[str, ...] = field(default=())  # what the strata differ in
    ties: tuple[str, ...] = field(default=())  # choices the plan must make (named records or reports)

    @property
    def rows(self) -> tuple[EffectRow, ...]:
        return tuple(r for s in self.strata for r in s.rows)


@dataclass(frozen=True)
class PlanFile:
    """A plan as read: the plan (None when it cannot be read at all), its located document for the
    lines of later problems, and every problem found in it."""

    plan: Plan | None
    doc: Located | None
    problems: tuple[Problem, ...]


def read_plan(path: Path) -> PlanFile:
    """Read a plan file safely (the extracts' loader) and check it: schema, ids, and that each
    analysis and sensitivity variant names a measure, model and interval that go together."""
    try:
        doc = load_yaml(path)
    except LoadError as exc:
        return PlanFile(None, None, (exc.problem,))
    if not isinstance(doc.data, dict):
        return PlanFile(None, doc, (doc.problem((), "a plan is a mapping with the key 'analyses'"),))
    try:
        plan = Plan.model_validate(doc.data)
    except ValidationError as exc:
        return PlanFile(None, doc, tuple(parse_errors(doc, exc)))
    problems = []
    ids = [a.id for a in plan.analyses]
    for i, a in enumerate(plan.analyses):
        if ids.index(a.id) != i:
            problems.append(doc.problem(("analyses", i, "id"), f"analysis id {a.id!r} is used twice"))
        problems += [doc.problem(("analyses", i, *key), message) for key, message in _combinations(a)]
    problems += [doc.problem(key, message) for key, message in question_problems(plan)]
    return PlanFile(plan, doc, tuple(problems))


def load_plan(path: Path) -> tuple[Plan | None, list[Problem]]:
    """Read a plan file safely; problems come back located like extract problems."""
    read = read_plan(path)
    return read.plan, list(read.problems)


def _combinations(a: Analysis) -> list[tuple[Key, str]]:
    """Measure, model and interval of the analysis and of each variant, as run.run_analysis combines
    them (a variant that names a model without an interval takes that model's default)."""
    out = _fits_together(a.measure, a.model, a.ci, ())
    for j, v in enumerate(a.sensitivity):
        key: Key = ("sensitivity", j)
        if v.measure is not None and MEASURE_FORM[v.measure] != MEASURE_FORM[a.measure]:
            out.append(
                ((*key, "measure"), f"measure {v.measure} cannot pool the analysis's records ({a.measure})")
            )
            continue
        ci = v.ci or (None if v.model else a.ci)
        out += _fits_together(v.measure or a.measure, v.model or a.model, ci, key)
    return out


def _fits_together(measure: str, model: str, ci: str | None, key: Key) -> list[tuple[Key, str]]:
    """The model's refusal located at ``model``, else the interval's at ``ci``."""
    for field_name, asked in (("model", None), ("ci", ci)):
        try:
            interval_of(measure, model, asked)
        except InputError as exc:
            return [((*key, field_name), str(exc))]
    return []


def plan_path(folder: Path) -> Path:
    return Path(folder) / PLAN_FILE


def check_plan(folder: Path, review: Review) -> tuple[Plan | None, list[Problem]]:
    """The plan of a review folder checked against its extracts, for ``metablina validate``.

    Besides what :func:`read_plan` checks: every study and sub-population the plan names exists, every
    analysis matches at least one record, and no analysis's figures would take another's file
    names. References to an extract that does not load are left alone (its own problems are listed),
    and the checks that need every record run only when every extract is valid. No plan file: (None, []).
    """
    path = plan_path(folder)
    if not os.path.lexists(path):
        return None, []
    read = read_plan(path)
    if read.plan is None or read.doc is None:
        return None, list(read.problems)
    plan, doc = read.plan, read.doc
    problems = list(read.problems) + _references(plan, doc, review) + _words(plan, doc, review)
    problems += _arm_references(plan, doc, review)
    if review.ok:
        try:
            rows = normalize(review.studies)
        except NormalizeError as exc:
            return plan, [*problems, Problem(Path(folder), None, "(records)", str(exc))]
        problems += _no_records(plan, doc, rows) + _ties(plan, doc, rows) + output_clashes(plan, doc, rows)
    return plan, sorted(problems, key=lambda p: p.line or 0)


def _ties(plan: Plan, doc: Located, rows: list[EffectRow]) -> list[Problem]:
    """Choices only the plan can make: two reports of one trial, or two records of one study and
    estimand, that tie on every rule (each named, with what to add to the plan)."""
    out: list[Problem] = []
    for i, a in enumerate(plan.analyses):
        ties = [t for v in (None, *a.sensitivity) for t in select_rows(rows, a, v).ties]
        out += [doc.problem(("analyses", i, "id"), tie) for tie in dict.fromkeys(ties)]
    return out


def _arm_references(plan: Plan, doc: Located, review: Review) -> list[Problem]:
    """Studies and arms named by a comparison's ``arms`` that no extract has (an extract that does not
    load has its own problems listed)."""
    arms = {s.study.id: {a.id for a in s.study.arms} for s in review.studies}
    out = []
    for i, a in enumerate(plan.analyses):
        for study, choice in a.arms.items():
            at: Key = ("analyses", i, "arms", study)
            if study not in arms:
                if review.ok:
                    out.append(doc.problem(at, f"no study {study!r} in {review.folder}"))
                continue
            for side in ("intervention", "control"):
                for n, arm in enumerate(getattr(choice, side)):
                    if arm not in arms[study]:
                        known = ", ".join(sorted(arms[study]))
                        out.append(doc.problem((*at, side, n), f"study {study} has no arm {arm!r} ({known})"))
    return out


def _references(plan: Plan, doc: Located, review: Review) -> list[Problem]:
    """Study ids and sub-population ids the plan names that no extract has."""
    studies = {s.study.id for s in review.studies}
    # An id may name an extract that does not load: its own problems are listed, not this one; and
    # a sub-population may then be that extract's.
    unread = {p.stem for p in study_files(review.folder)} - studies if review.folder.is_dir() else set()
    subpopulations = {p.id for s in review.studies for p in s.study.population.subpopulations}
    named: list[tuple[Key, list[str] | None, set[str], str]] = []
    for i, a in enumerate(plan.analyses):
        at = ("analyses", i)
        named += [
            ((*at, "select", "studies"), a.select.studies, studies, "study"),
            ((*at, "overlap_keep"), a.overlap_keep, studies, "study"),
        ]
        if not unread:
            named.append(
                ((*at, "select", "subpopulation"), a.select.subpopulation, subpopulations, "sub-population")
            )
        for j, v in enumerate(a.sensitivity):
            named += [
                ((*at, "sensitivity", j, "exclude"), v.exclude, studies, "study"),
                ((*at, "sensitivity", j, "overlap_keep"), v.overlap_keep, studies, "study"),
            ]
    out = [
        doc.problem((*key, n), f"no {what} {ref!r} in {review.folder}")
        for key, ids, known, what in named
        for n, ref in enumerate(ids or ())
        if ref not in known | unread
    ]
    for i, a in enumerate(plan.analyses):  # reports: {trial: study}, located at the trial
        chosen = [(("analyses", i, "reports"), a.reports)]
        chosen += [
            (("analyses", i, "sensitivity", j, "reports"), v.reports or {})
            for j, v in enumerate(a.sensitivity)
        ]
        out += [
            doc.problem((*key, trial), f"no study {study!r} in {review.folder}")
            for key, reports in chosen
            for trial, study in reports.items()
            if study not in studies | unread
        ]
    return out


def _words(plan: Plan, doc: Located, review: Review) -> list[Problem]:
    """Outcome and timepoint words the review's vocabulary (built in + vocabulary.yaml) does not know."""
    out = []
    for i, a in enumerate(plan.analyses):
        named = [(("outcome", j), "outcome", w) for j, w in enumerate(a.outcome)]
        times = a.select.timepoint or ()
        named += [(("select", "timepoint", j), "timepoint", w) for j, w in enumerate(times)]
        for key, field_name, word in named:
            if (message := review.vocabulary.unknown(field_name, word, review.folder)) is not None:
                out.append(doc.problem(("analyses", i, *key), message))
    return out


def _no_records(plan: Plan, doc: Located, rows: list[EffectRow]) -> list[Problem]:
    return [
        doc.problem(("analyses", i, "id"), f"{NO_RECORDS} (its outcome, measure and select)")
        for i, a in enumerate(plan.analyses)
        if not select_rows(rows, a).strata
    ]


def output_clashes(plan: Plan, doc: Located, rows: list[EffectRow]) -> list[Problem]:
    """Analyses whose figure files would take each other's names: the report names a stratum's
    figures ``ID-STRATUM`` (``funnel-efs-landmark-12-months``), so an analysis ``efs-landmark-12-months``
    would overwrite them, and the page would show one analysis's figure for the other's."""
    owner: dict[str, str] = {}
    out = []
    for i, a in enumerate(plan.analyses):
        for stem in figure_stems(select_rows(rows, a)):
            if owner.setdefault(stem, a.id) != a.id:
                out.append(
                    doc.problem(
                        ("analyses", i, "id"),
                        f"the figures of {a.id!r} and {owner[stem]!r} would both be named {stem!r}; "
                        "choose another id",
                    )
                )
    return out


def stratum_override_problems(plan: Plan, doc: Located, rows: list[EffectRow]) -> list[Problem]:
    """GRADE overrides of a stratum (``grade: strata:``) whose label names no stratum of the analysis (pooled,
    or of an unweighted row alone): they would silently rate nothing (a typo, or strata that the extracts
    no longer make)."""
    out = []
    for i, a in enumerate(plan.analyses):
        if not a.grade.strata:
            continue
        selection = select_rows(rows, a)
        labels = [s.label for s in selection.strata]
        for r in unweighted_rows(selection, rows):
            if (label := stratum_label(selection.keys, r)) not in labels:
                labels.append(label)
        for label in a.grade.strata:
            if label not in labels:
                known = ", ".join(repr(x) for x in labels)
                out.append(
                    doc.problem(
                        ("analyses", i, "grade", "strata", label),
                        f"grade: no stratum {label!r} in {a.id!r}; its strata: {known}",
                    )
                )
    return out


def figure_stems(selection: Selection) -> list[str]:
    """The names the report gives an analysis's figures after their kind (``forest-``, ``funnel-``):
    its id, and with several strata the id and each stratum's label."""
    a = selection.analysis
    stems = [a.id]
    if len(selection.strata) > 1:
        stems += [f"{a.id}-{slug(s.label)}" for s in selection.strata]
    return stems


def slug(text: str) -> str:
    """A stratum label as part of a file name: ``grade >=3`` -> ``grade-ge3``."""
    s = text.replace(">=", "ge").replace("<=", "le").replace(">", "gt").replace("<", "lt")
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "stratum"


def _matches(row: EffectRow, analysis: Analysis, select: Select) -> bool:
    if row.outcome not in analysis.outcome or row.form != MEASURE_FORM[analysis.measure]:
        return False
    if row.form != "hr" and row.arm_role not in (None, analysis.arm):
        return False
    checks = {
        "mrd_method": select.mrd_method,
        "baseline_mrd": select.baseline_mrd,
        "grade": select.grade,
        "unit": select.unit,
    }
    for name, wanted in checks.items():
        if (
            wanted is not None
            and getattr(row, name) != wanted
            and not (name == "mrd_method" and row.form == "hr")
        ):
            return False
    if select.timepoint is not None and row.timepoint not in select.timepoint:
        return False
    if select.landmark_months is not None and row.landmark_months not in select.landmark_months:
        return False
    if select.subpopulation is not None and row.subpopulation not in select.subpopulation:
        return False
    return select.studies is None or row.study in select.studies


def select_rows(rows: list[EffectRow], analysis: Analysis, variant: Sensitivity | None = None) -> Selection:
    """Apply the analysis (and optionally a sensitivity variant) to all rows, guards included.

    Rows are taken in the order of their keys (study/record), never of the files, so that shuffling
    records within extracts, or the extracts, changes nothing the report shows."""
    decisions: list[Decision] = []
    rows = sorted(rows, key=lambda r: (r.study, r.record))
    if MEASURE_FORM[analysis.measure] == "pair" or analysis.measure == "HR":
        from metablina.compare import comparison_rows

        rows = comparison_rows(rows, analysis, decisions)
    candidates = [r for r in rows if _matches(r, analysis, analysis.select)]
    chosen = {id(r) for r in candidates}  # by identity: comparing rows field by field made this quadratic
    outside = [
        r.key
        for r in rows
        if r.outcome in analysis.outcome and r.form == MEASURE_FORM[analysis.measure] and id(r) not in chosen
    ]
    if outside:
        shown = ", ".join(outside[:8]) + (f" and {len(outside) - 8} more" if len(outside) > 8 else "")
        decisions.append(Decision("note", analysis.id, f"outside the selection (other qualifiers): {shown}"))
    unusable = [r for r in candidates if r.unusable]
    for r in unusable:
        decisions.append(Decision("excluded", r.key, r.unusable or ""))
    candidates = [r for r in candidates if not r.unusable]
    for r in candidates:
        if r.exposure == "before":
            decisions.append(
                Decision(
                    "excluded",
                    r.key,
                    "measured before the intervention (exposure: before): a baseline value, shown, "
                    "never pooled as an effect of the intervention",
                )
            )
    candidates = [r for r in candidates if r.exposure != "before"]
    ties: list[str] = []
    candidates = _one_report_per_trial(
        candidates,
        (variant.report_rule if variant and variant.report_rule else None) or analysis.report_rule,
        {**analysis.reports, **((variant.reports or {}) if variant else {})},
        decisions,
        ties,
    )
    if variant is not None:
        for study in variant.exclude:
            if any(r.study == study for r in candidates):
                decisions.append(Decision("excluded", study, f"sensitivity analysis '{variant.label}'"))
        candidates = [r for r in candidates if r.study not in variant.exclude]
        if variant.exclude_risk_of_bias:
            for r in candidates:
                if r.risk_of_bias in variant.exclude_risk_of_bias:
                    decisions.append(Decision("excluded", r.key, f"risk of bias {r.risk_of_bias}"))
            candidates = [r for r in candidates if r.risk_of_bias not in variant.exclude_risk_of_bias]
        if variant.exclude_overlapping:
            for study in sorted({r.study for r in candidates if r.overlap}):
                decisions.append(Decision("excluded", study, "declares an overlap with another cohort"))
            candidates = [r for r in candidates if not r.overlap]

    candidates = _one_level_per_study(candidates, analysis, decisions)
    relaxed = DEFINITION_KEYS if variant is not None and variant.pool_definitions else ()
    candidates = _one_record_per_study(candidates, analysis, decisions, ties, relaxed)
    keep = (
        variant.overlap_keep
        if variant is not None and variant.overlap_keep is not None
        else analysis.overlap_keep
    )
    candidates, dropped = _no_overlap(candidates, keep, decisions)

    def differ(k: str) -> bool:
        return len({getattr(r, k) for r in candidates}) > 1

    strata_keys = [k for k in GUARDED if differ(k) and k not in relaxed]
    explicit = [k for k in analysis.stratify if differ(k) and k not in relaxed]
    if relaxed and any(differ(k) for k in relaxed):
        pooled = ", ".join(GUARD_NAMES[k] for k in relaxed if differ(k))
        decisions.append(
            Decision(
                "note",
                analysis.id,
                f"records of different {pooled} pooled (sensitivity '{variant.label}'): a departure from "
                "the plan, which keeps them apart as different estimands",
            )
        )
    keys = list(dict.fromkeys(explicit + strata_keys))
    # settings apart (and named first), unless the plan asks for one estimate across them
    by_setting = ["setting"] if differ("setting") and not analysis.overall and "setting" not in keys else []
    keys = by_setting + keys
    overall_refusal = None
    if keys:
        names = ", ".join(GUARD_NAMES[k] for k in keys)
        forced = [k for k in strata_keys if k not in analysis.stratify]
        overall_refusal = f"not pooled across strata: records differ in {names}"
        why = []
        if forced:
            why.append("a guard: these are different estimands")
        if by_setting and "setting" not in explicit:
            why.append("settings are not pooled into one estimate unless the plan says overall: true")
        decisions.append(
            Decision("stratified", analysis.id, overall_refusal + (f" ({'; '.join(why)})" if why else ""))
        )
    strata = _strata(candidates, keys)
    if not analysis.pool:
        overall_refusal = overall_refusal or "the plan presents these records without pooling"
    final = []
    for s in strata:
        studies = {r.study for r in s.rows}
        if len({r.data_cut for r in s.rows if r.form in ("km", "hr")}) > 1:  # said, never silent
            cuts = ", ".join(f"{r.key} (cut {r.data_cut or 'not stated'})" for r in s.rows)
            decisions.append(
                Decision("note", s.label or analysis.id, f"survival records of different data cuts: {cuts}")
            )
        refusal = None
        if not analysis.pool:
            refusal = "not pooled (plan)"
        elif len(studies) == 1 and len(s.rows) == 1:
            refusal = "k = 1: shown as the study itself, not as a pooled estimate"
            decisions.append(Decision("not pooled", s.label or analysis.id, refusal))
        final.append(replace(s, refusal=refusal))
    if not final:
        decisions.append(Decision("note", analysis.id, NO_RECORDS))
    return Selection(
        analysis, tuple(final), tuple(decisions), overall_refusal, tuple(dropped), tuple(keys), tuple(ties)
    )


def _one_level_per_study(
    rows: list[EffectRow], analysis: Analysis, decisions: list[Decision]
) -> list[EffectRow]:
    """Whole cohort or disjoint sub-populations, never both: the same patients are not counted twice."""
    out: list[EffectRow] = []
    by_study: dict[str, list[EffectRow]] = defaultdict(list)
    for r in rows:
        by_study[r.study].append(r)
    for study, group in by_study.items():
        whole = [r for r in group if r.subpopulation is None]
        parts = [r for r in group if r.subpopulation is not None]
        if analysis.level == "cohort" and whole:
            out += whole
            for r in parts:
                decisions.append(
                    Decision(
                        "excluded",
                        r.key,
                        "sub-population of a cohort already included (the same patients would count twice)",
                    )
                )
            continue
        if analysis.level == "cohort" and not parts:
            continue
        if analysis.level == "subpopulations" and whole and not parts:
            out += whole
            decisions.append(Decision("note", study, "no sub-population records; the whole cohort is used"))
            continue
        for r in whole:
            decisions.append(
                Decision("excluded", r.key, "whole-cohort record: the plan pools sub-populations")
            )
        partitions = defaultdict(list)
        for r in parts:
            partitions[r.partition].append(r)
        best = max(partitions, key=lambda p: (sum(r.total or 0 for r in partitions[p]), len(partitions[p])))
        for p, members in partitions.items():
            if p != best:
                for r in members:
                    decisions.append(
                        Decision(
                            "excluded",
                            r.key,
                            f"sub-population of partition '{p}' overlaps the partition '{best}' already used",
                        )
                    )
        out += partitions[best]
        reason = f"disjoint sub-populations of '{best}' (no whole-cohort record matches)"
        if analysis.level == "cohort":
            reason += "; they enter as separate rows of one study"
        decisions.append(Decision("included", study, reason))
    return out


@dataclass(frozen=True)
class _Preference:
    """One step of the preference between records of one estimand: ``rank`` (smaller wins), ``show``
    (the record's value, for the decision text)."""

    name: str
    rank: Callable[[EffectRow], int]
    show: Callable[[EffectRow], str]


def _preferences(analysis: Analysis) -> tuple[_Preference, ...]:
    prefer, order = analysis.prefer, analysis.select.timepoint or []
    return (
        _Preference(
            "the plan's prefer list",
            lambda r: prefer.index(r.key) if r.key in prefer else len(prefer),
            lambda r: "named in prefer" if r.key in prefer else "not named in prefer",
        ),
        _Preference(
            "the plan's timepoint order",
            lambda r: order.index(r.timepoint) if r.timepoint in order else len(order),
            lambda r: f"timepoint {r.timepoint or 'not stated'}",
        ),
        _Preference("the larger denominator", lambda r: -(r.total or 0), lambda r: f"n = {r.total}"),
        _Preference(
            "the kind of denominator (enrolled, randomised, treated, evaluable)",
            lambda r: DENOMINATOR_ORDER.index(r.denominator),
            lambda r: f"denominator {r.denominator or 'not stated'}",
        ),
    )


def _one_record_per_study(
    rows: list[EffectRow],
    analysis: Analysis,
    decisions: list[Decision],
    ties: list[str],
    relaxed: Sequence[str] = (),
) -> list[EffectRow]:
    """Where a study still has several records of one estimand for the same patients, keep one by a
    fixed preference, never by file order: the plan's ``prefer``, its timepoint order, the larger
    denominator, the kind of denominator (:data:`DENOMINATOR_ORDER`). Records equal on all of these
    are a tie: none of them is used, and the decision names both, so that the plan chooses."""
    steps = _preferences(analysis)

    def rank(r: EffectRow) -> tuple[int, ...]:
        return tuple(p.rank(r) for p in steps)

    out: list[EffectRow] = []
    groups: dict[tuple, list[EffectRow]] = defaultdict(list)
    for r in rows:
        groups[
            (r.study, r.subpopulation, r.arm, *(getattr(r, k) for k in GUARDED if k not in relaxed))
        ].append(r)
    for group in groups.values():
        ranked = sorted(group, key=lambda r: (rank(r), r.key))
        best = ranked[0]
        tied = [r for r in ranked if rank(r) == rank(best)]
        if len(tied) > 1:
            shown = " and ".join(f"{r.key} ({', '.join(p.show(r) for p in steps)})" for r in tied)
            message = (
                f"records {shown} measure the same patients and tie on every preference; "
                "name one in the plan's prefer list"
            )
            ties.append(f"{analysis.id}: {message}")
            decisions += [Decision("excluded", r.key, f"refused: {message}") for r in tied]
            names = " and ".join(r.key for r in tied)
            decisions += [
                Decision("excluded", r.key, f"same patients as {names}, which are preferred")
                for r in ranked[len(tied) :]
            ]
            continue
        out.append(best)
        for r in ranked[1:]:
            step = next(p for p in steps if p.rank(r) != p.rank(best))
            decisions.append(
                Decision(
                    "excluded",
                    r.key,
                    f"same patients as {best.key}; {step.name} prefers {best.key} ({step.show(best)}) "
                    f"over {r.key} ({step.show(r)})",
                )
            )
    return out


def _one_report_per_trial(
    rows: list[EffectRow], rule: str, named: dict[str, str], decisions: list[Decision], ties: list[str]
) -> list[EffectRow]:
    """Reports of one trial never share an analysis: keep the rows of one report per trial, the plan's
    (``reports``) or by ``rule``; a tie keeps none of them and names both, so that the plan chooses."""
    by_trial: dict[str, dict[str, list[EffectRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_trial[r.trial][r.study].append(r)
    dropped: set[str] = set()
    for trial in sorted(by_trial):
        reports = by_trial[trial]
        if len(reports) == 1:
            continue
        studies = sorted(reports)
        if named.get(trial) in reports:
            winner: str | None = named[trial]
            why = f"the plan names {winner} for trial {trial} (reports)"
        else:
            winner, why = _choose_report(studies, reports, rule)
            if trial in named:
                why += f"; the plan's report {named[trial]} has no record here"
        if winner is None:
            shown = " and ".join(f"{s} ({_report(reports[s])})" for s in studies)
            message = (
                f"reports {shown} of trial {trial} tie under the rule '{rule}' ({why}); "
                f"name one in the plan's reports: {{{trial}: STUDY}}"
            )
            ties.append(message)
            decisions += [Decision("excluded", s, f"refused: {message}") for s in studies]
            dropped.update(studies)
            continue
        for s in studies:
            if s != winner:
                dropped.add(s)
                decisions.append(
                    Decision(
                        "excluded",
                        s,
                        f"report of trial {trial} ({_report(reports[s])}) — the analysis uses {winner} "
                        f"({_report(reports[winner])}): {why}",
                    )
                )
    return [r for r in rows if r.study not in dropped]


def _report(rows: list[EffectRow]) -> str:
    r = rows[0]
    return f"{r.report_kind or 'report'}, data cut {_latest_cut(rows) or 'not stated'}, n = {r.cohort_n}"


def _latest_cut(rows: list[EffectRow]) -> str | None:
    """The latest data cut of a report's records here (a record's own cut, else the report's)."""
    cuts = [c for c in (r.data_cut or r.report_data_cut for r in rows) if c]
    return max(cuts, key=lambda c: _cut_span(c)[1]) if cuts else None


def _cut_span(cut: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A data cut ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as the first and last day it may mean."""
    parts = [int(p) for p in cut.split("-")] + [0, 0]
    year, month, day = parts[:3]
    return (year, month or 1, day or 1), (year, month or 12, day or 31)


def _choose_report(
    studies: list[str], reports: dict[str, list[EffectRow]], rule: str
) -> tuple[str | None, str]:
    """The report a rule picks, and why; ``None`` when the reports tie on every step of the rule."""

    def latest(left: list[str]) -> list[str]:
        spans = {s: _cut_span(c) if (c := _latest_cut(reports[s])) else None for s in left}

        def earlier(a: str, b: str) -> bool:
            sa, sb = spans[a], spans[b]
            return sa is not None and sb is not None and sa[1] < sb[0]

        return [a for a in left if not any(earlier(a, b) for b in left)]

    def best_by(key: Callable[[str], int]) -> Callable[[list[str]], list[str]]:
        return lambda left: [s for s in left if key(s) == max(key(t) for t in left)]

    def full_text(s: str) -> int:
        return max(SOURCE_RANK.get(r.source_kind, 1) for r in reports[s])

    def size(s: str) -> int:
        return max(r.cohort_n for r in reports[s])

    steps = {
        "the latest data cut": latest,
        "full text over an abstract": best_by(full_text),
        "the larger n": best_by(size),
    }
    order = list(steps)
    if rule == "largest":
        order = ["the larger n", "the latest data cut", "full text over an abstract"]
    left = studies
    for name in order:
        left = steps[name](left)
        if len(left) == 1:
            return left[0], f"rule '{rule}': {name}"
    return None, "same data cut, kind of source and n"


def _no_overlap(
    rows: list[EffectRow], keep: list[str], decisions: list[Decision]
) -> tuple[list[EffectRow], list[str]]:
    """Overlapping cohorts are not pooled together: keep the preferred (else larger) one."""
    studies = {r.study for r in rows}
    size: dict[str, int] = defaultdict(int)
    for r in rows:
        size[r.study] += r.total or r.cohort_n or 0
    dropped: set[str] = set()
    for r in sorted(rows, key=lambda r: r.study):
        for other in r.overlap:
            if other not in studies or other in dropped or r.study in dropped:
                continue
            a, b = r.study, other
            if a in keep and b not in keep:
                loser, why = b, f"the plan keeps {a}"
            elif b in keep and a not in keep:
                loser, why = a, f"the plan keeps {b}"
            else:
                winner = max((a, b), key=lambda s: (size[s], s))
                loser = b if winner == a else a
                why = f"{winner} is the larger cohort here"
            dropped.add(loser)
            decisions.append(
                Decision(
                    "excluded",
                    loser,
                    f"may share patients with {a if loser == b else b} (declared overlap); {why}",
                )
            )
    return [r for r in rows if r.study not in dropped], sorted(dropped)


def _strata(rows: list[EffectRow], keys: list[str]) -> list[Stratum]:
    if not keys:
        return [Stratum("", tuple(rows))] if rows else []
    groups: dict[tuple, list[EffectRow]] = defaultdict(list)
    for r in rows:
        groups[tuple(getattr(r, k) for k in keys)].append(r)
    ordered = sorted(
        groups,
        key=lambda vals: tuple(
            (v is None, str(v) if not isinstance(v, float) else f"{v:012.3f}") for v in vals
        ),
    )
    return [Stratum(stratum_label(keys, groups[vals][0]), tuple(groups[vals])) for vals in ordered]


def stratum_label(keys: Sequence[str], row: EffectRow) -> str:
    """The label of the stratum ``row`` belongs in when the strata differ in ``keys``: the values of its
    keys, described, as the report shows them (``frontline; 24 months``)."""
    return "; ".join(_describe(k, getattr(row, k)) for k in keys)


def unweighted_rows(selection: Selection, rows: list[EffectRow]) -> list[EffectRow]:
    """The rows a selection left out only because they have no SE or CI (``EffectRow.unusable``): they
    still speak, as unweighted rows in the forest plot and the SoF table, each in the stratum of its
    :func:`stratum_label`. Found by the selection's own decisions (excluded, with the row's reason), so
    nothing is re-selected here."""
    by_key = {r.key: r for r in rows}
    out = []
    for d in selection.decisions:
        row = by_key.get(d.subject)
        if d.action == "excluded" and row is not None and row.unusable and d.reason == row.unusable:
            out.append(row)
    return out


def _describe(key: str, value: object) -> str:
    if key == "landmark_months" and isinstance(value, float):
        return f"{value:g} months"
    if key == "mrd_sensitivity":
        return f"sensitivity {value:.0e}" if isinstance(value, float) else "sensitivity not stated"
    if key == "baseline_mrd":
        return {
            "all": "all treated",
            "positive": "MRD-positive at start",
            "negative": "MRD-negative at start",
        }[str(value)]
    if key == "grade":
        return f"grade {value}"
    if key == "mrd_threshold":
        return f"MRD threshold {value:.0e}" if isinstance(value, float) else "MRD threshold not stated"
    if key == "grading":
        return f"graded by {value}" if value and value != "not stated" else "grading not stated"
    if key == "definition":
        return str(value) if value else "definition not stated"
    if key == "setting":
        return " + ".join(value) if isinstance(value, tuple) else str(value)
    return str(value)


def subgroup_of(row: EffectRow, key: str) -> str:
    """The subgroup a row belongs to for the plan's ``subgroup`` variable."""
    if key == "setting":
        return " + ".join(row.setting)
    if key == "risk_group":
        return row.subpopulation_label if row.partition == "risk group" else "all risk groups"
    if key == "subpopulation":
        return row.subpopulation_label or "whole cohort"
    return str(getattr(row, key))
