"""The study-extract format: one YAML file per study, typed here, documented in ``studies/README.md``.

Every model forbids unknown keys, so a typo is an error instead of silently dropped data. The
qualifiers on an outcome record (arm, sub-population, MRD method, timepoint, baseline MRD, grade,
landmark, unit, denominator, data cut, exposure, grading system, definition) are what later decides
whether two records may be pooled. Which trial an extract reports (``trial``), what kind of report it is
(``report``) and its source documents (``sources``) decide which reports of one trial are counted once.

Outcome, timepoint and grading words are plain strings here: the built-in words below plus those a review
lists in its ``vocabulary.yaml`` are checked by :mod:`metablina.extract.validate`, so a reviewer can add a
word without editing code.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"
Slug = Annotated[str, Field(pattern=SLUG, description="lower-case letters, digits and hyphens")]
# No study counts ten million patients: a larger count is a typo, and refusing it here keeps every
# later check on counts (GRIM, sums of parts) small.
MAX_COUNT = 10_000_000
Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_COUNT, strict=True)]
Percent = Annotated[float, Field(ge=0, le=100)]
# A word of the vocabulary (outcome, timepoint): lower-case letters, digits, hyphens and underscores.
WORD = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Word = Annotated[str, Field(pattern=WORD, description="a vocabulary word (built in or in vocabulary.yaml)")]
# A data cut-off or similar date as sources print it: a year, a month or a day.
DATE = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"


def _date_text(v: object) -> object:
    """YAML reads a year such as ``2021`` as a number; it is a date as typed."""
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


Date = Annotated[
    str, BeforeValidator(_date_text), Field(pattern=DATE, description="YYYY, YYYY-MM or YYYY-MM-DD")
]

OUTCOMES = (
    "mrd_negativity",
    "complete_remission",
    "crs",
    "icans",
    "neurological_event",
    "infection",
    "respiratory_infection",
    "bloodstream_infection",
    "sepsis",
    "hepatotoxicity",
    "pancreatitis",
    "hypofibrinogenemia",
    "diarrhoea",
    "adverse_event",
    "treatment_related_adverse_event",
    "efs",
    "os",
    "dfs",
    "rfs",
    "relapse",
    "cd19_negative_relapse",
    "death_from_relapse",
    "non_relapse_mortality",
    "hsct",
    "post_hsct_survival",
    "treatment_interruption",
    "treatment_discontinuation",
    "treatment_completion",
)

TIMEPOINTS = (
    "day-15",
    "end-of-induction",
    "end-of-consolidation",
    "blinatumomab-week-2",
    "blinatumomab-week-4",
    "after-blinatumomab",
    "end-of-randomised-treatment",
    "during-blinatumomab",
    "first-blinatumomab-cycle",
    "last-assessment",
    "follow-up",
    "end-of-reinduction",
    "end-of-cycle-1",
    "end-of-cycle-2",
)

# Grading systems of adverse events, CRS and neurotoxicity (a review may add more in vocabulary.yaml).
GRADINGS = ("CTCAE v4.0", "CTCAE v5.0", "ASTCT 2019", "Lee 2014", "CARTOX", "not stated")

# Every grade a source can state: any grade, one grade, "N or lower", "N or higher", or a range N-M.
GRADES = (
    "any",
    *(str(g) for g in range(1, 6)),
    *(f"<={g}" for g in range(1, 6)),
    *(f">={g}" for g in range(1, 6)),
    *(f"{lo}-{hi}" for lo in range(1, 6) for hi in range(lo + 1, 6)),
)
Grade = Literal[GRADES]  # type: ignore[valid-type]

REPORT_KINDS = (
    "primary analysis",
    "interim analysis",
    "update",
    "final analysis",
    "conference abstract",
    "letter",
    "secondary report",
    "other",
)
SOURCE_KINDS = (
    "full text",
    "abstract",
    "conference abstract",
    "letter",
    "registry entry",
    "secondary report",
    "interview",
)
# Words of the first format, still read: a journal abstract is an abstract, a registry a registry entry.
OLD_SOURCE_KINDS = {"journal abstract": "abstract", "registry": "registry entry"}
ARM_ROLES = ("intervention", "comparator", "historical control", "external control")
# Arms that were never randomised against the intervention: a comparison with one is non-randomised.
CONTROL_ROLES_NOT_RANDOMISED = ("historical control", "external control")
EXPOSURES = ("before", "during", "after")
COMPARISONS = ("randomised", "non-randomised")

DESIGNS = (
    "randomised controlled trial",
    "single-arm prospective trial",
    "prospective cohort",
    "retrospective cohort",
    "case series",
)
SETTINGS = (
    "frontline",
    "first relapse",
    "relapsed/refractory",
    "mrd-positive pre-emptive",
    "bridging during chemotherapy delay",
)


class Strict(BaseModel):
    # .inf and .nan are YAML floats, but no number read from a source is infinite or undefined
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)


class Provenance(Strict):
    """Where the numbers of a record stand: the verbatim sentence(s) and their place in the source."""

    quote: str | list[str] = Field(description="verbatim sentence(s) from the source holding every number")
    location: str | None = Field(None, description="where in the source, e.g. 'Results, paragraph 2'")
    derived: dict[str, str] = Field(
        default_factory=dict,
        description="field -> how it was derived, for a number that is not written in the quote",
    )
    notes: str | None = None
    source: Slug | None = Field(None, description="id of the source document; default: the study's first")

    @property
    def quotes(self) -> list[str]:
        if self.quote is None:
            return []
        return [self.quote] if isinstance(self.quote, str) else list(self.quote)


class Source(Strict):
    """One source document: a local copy in the sources folder (quotes checked), or a DOI, PMID or URL."""

    id: Slug = Field("main", description="referred to by records' `source:`")
    kind: Literal[SOURCE_KINDS] = Field(  # type: ignore[valid-type]
        description="old words 'journal abstract' and 'registry' are read as 'abstract' and 'registry entry'"
    )
    file: str | None = Field(None, description="file name of a local copy in the sources folder")
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    pmid: Annotated[str, Field(pattern=r"^[1-9]\d{0,8}$")] | None = None
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)] | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _old_kind(cls, v: object) -> object:
        return OLD_SOURCE_KINDS.get(v, v) if isinstance(v, str) else v

    @field_validator("pmid", mode="before")
    @classmethod
    def _pmid_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("file")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        if v is not None and ("/" in v or "\\" in v or v.startswith(".")):
            raise ValueError("give the bare file name, without a folder")
        return v

    @model_validator(mode="after")
    def _somewhere(self) -> Source:
        if self.file is None and self.doi is None and self.pmid is None and self.url is None:
            raise ValueError("give file (a local copy in the sources folder), or doi, pmid or url")
        return self

    @property
    def checked(self) -> bool:
        """Whether quotes from this source are checked: only a local copy can be."""
        return self.file is not None

    @property
    def cited_as(self) -> str:
        """How the source is named in messages and reports: its file, else its DOI, PMID or URL."""
        if self.file is not None:
            return self.file
        if self.doi is not None:
            return f"doi:{self.doi}"
        return f"PMID {self.pmid}" if self.pmid is not None else str(self.url)


class Trial(Strict):
    """Which trial or cohort an extract reports: extracts sharing a registry id or key report one trial."""

    registry: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{2,63}$")]] = Field(
        default_factory=list, description="registry ids, e.g. NCT02393859; one string or a list"
    )
    key: Slug | None = Field(None, description="a name for an unregistered trial or cohort")

    @field_validator("registry", mode="before")
    @classmethod
    def _one_id(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


class Report(Provenance):
    """What kind of report the extract is, its data cut-off and median follow-up."""

    quote: str | list[str] | None = Field(None, description="the sentence giving the cut or follow-up")
    kind: Literal[REPORT_KINDS]  # type: ignore[valid-type]
    data_cut: Date | None = Field(None, description="data cut-off; null when the source does not state it")
    follow_up_months: float | None = Field(None, gt=0, description="median follow-up of the report")


class Period(Strict):
    start: Annotated[str, Field(pattern=r"^\d{4}(-\d{2})?$")]
    end: Annotated[str, Field(pattern=r"^\d{4}(-\d{2})?$")] | None = None


class Interval(Strict):
    """A confidence interval or interquartile range: both bounds are printed."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


class Range(Strict):
    """A range that may have one bound only, e.g. infants "< 1 year" (high only)."""

    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


class Age(Strict):
    median: float | None = Field(None, ge=0)
    mean: float | None = Field(None, ge=0)
    range: Range | None = Field(None, description="one bound may be missing, e.g. {high: 1}")
    iqr: Interval | None = None
    unit: Literal["months", "years"]


class SubPopulation(Provenance):
    """A named part of the cohort with its own n, e.g. a risk group or a disease status at the start."""

    id: Slug
    label: str
    n: PositiveCount | None = Field(description="its size; null when the source does not report it")
    partition: str = Field(
        description="what divides the cohort, e.g. 'risk group'; parts of one partition add up"
    )
    parent: Slug | None = Field(None, description="id of the sub-population this one lies inside")


class Population(Provenance):
    n: PositiveCount
    age: Age | None = None
    female_percent: Percent | None = None
    female: Count | None = None
    subpopulations: list[SubPopulation] = Field(default_factory=list)
    complete_partitions: list[str] = Field(
        default_factory=list, description="partitions whose parts must add up to the cohort (or parent) n"
    )


class Arm(Provenance):
    id: Slug
    label: str
    role: Literal[ARM_ROLES]  # type: ignore[valid-type]
    n: PositiveCount
    regimen: str | None = None


class Overlap(Strict):
    study: Slug = Field(description="id of another study that may share patients with this one")
    reason: str


class RiskOfBias(Strict):
    tool: Literal["RoB 2", "ROBINS-I", "judgement"]
    overall: Literal["low", "some concerns", "moderate", "serious", "high", "critical", "unclear"]
    domains: dict[str, str] = Field(default_factory=dict)
    support: str | None = None


class MRD(Strict):
    method: Literal["MFC", "NGS", "PCR", "unspecified"]
    sensitivity: float | None = Field(None, gt=0, lt=1, description="lowest detectable fraction, e.g. 1e-4")
    threshold: float | None = Field(None, gt=0, lt=1, description="negativity cut-off if it differs")


class Binary(Strict):
    """Patients in whom the named outcome holds, out of a denominator: a count, a percentage, or both."""

    events: Count | None = None
    total: PositiveCount
    percent: Percent | None = Field(None, description="as printed, with its decimals")
    ci: Interval | None = Field(None, description="a printed CI of the proportion, in percent")
    ci_level: float = Field(95, gt=0, lt=100)

    @model_validator(mode="after")
    def _one_form(self) -> Binary:
        if self.events is None and self.percent is None:
            raise ValueError("give events, percent, or both")
        if self.events is not None and self.events > self.total:
            raise ValueError(f"events ({self.events}) exceed total ({self.total})")
        if self.ci is not None and (self.ci.low < 0 or self.ci.high > 100):
            raise ValueError("a CI of a proportion lies within 0-100 (percent)")
        inside = self.ci is None or self.percent is None or self.ci.low <= self.percent <= self.ci.high
        if not inside:
            raise ValueError(f"{self.percent}% lies outside its CI {self.ci.low}-{self.ci.high}")
        return self


class PValue(Strict):
    value: float = Field(gt=0, le=1)
    relation: Literal["=", "<", "<="] = "="
    test: str | None = Field(None, description="e.g. 'stratified log-rank'")


def _parse_p(v: object) -> object:
    """Accept ``0.002`` or ``"<0.001"`` as a reviewer types it."""
    if isinstance(v, int | float):
        return {"value": v}
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(<=|<|=)?\s*([0-9.eE-]+)\s*", v)
        if m:
            return {"relation": m.group(1) or "=", "value": float(m.group(2))}
    return v


PValueIn = Annotated[PValue, Field(description="a number, or a string such as '<0.001'")]


class KaplanMeier(Strict):
    """A Kaplan-Meier rate at a landmark, with its SE (the ± value) or a confidence interval."""

    landmark_months: float = Field(gt=0)
    kind: Literal["survival", "cumulative incidence"] = Field(
        "survival", description="a Kaplan-Meier survival rate, or a competing-risks cumulative incidence"
    )
    percent: Percent
    se: float | None = Field(None, ge=0, description="the ± value, in percentage points")
    plus_minus: Literal["se", "ci95-halfwidth"] = "se"
    ci: Interval | None = Field(None, description="in percent")
    ci_level: float = Field(95, gt=0, lt=100)
    n_at_risk: Count | None = None

    @model_validator(mode="after")
    def _inside(self) -> KaplanMeier:
        if self.ci is not None and not (self.ci.low <= self.percent <= self.ci.high):
            raise ValueError(f"{self.percent}% lies outside its CI {self.ci.low}-{self.ci.high}")
        return self


class Comparison(Strict):
    """Two groups compared: arm ids or sub-population ids, and whether they were randomised."""

    experimental: Slug = Field(description="an arm id or a sub-population id")
    control: Slug = Field(description="an arm id or a sub-population id")
    comparison: Literal[COMPARISONS] | None = Field(  # type: ignore[valid-type]
        None,
        description="default: randomised only between an intervention and a comparator arm",
    )
    p: PValueIn | None = None

    @field_validator("p", mode="before")
    @classmethod
    def _p(cls, v: object) -> object:
        return _parse_p(v)


class HazardRatio(Comparison):
    """A hazard ratio of `experimental` versus `control` (arms or sub-populations)."""

    hr: float = Field(gt=0)
    ci: Interval | None = None
    ci_level: float = Field(95, gt=0, lt=100)
    adjusted: bool = False
    stratified: bool = False

    @model_validator(mode="after")
    def _inside(self) -> HazardRatio:
        if self.ci is not None and not (0 < self.ci.low <= self.hr <= self.ci.high):
            raise ValueError(f"HR {self.hr} lies outside its CI {self.ci.low}-{self.ci.high}")
        if self.ci is None and self.p is None:
            raise ValueError("a hazard ratio needs its CI or its p-value")
        return self


class LogRank(Comparison):
    """The log-rank O - E and its variance V for the experimental group (Peto; Tierney et al. 2007)."""

    o_minus_e: float = Field(description="observed minus expected events in the experimental group")
    variance: float = Field(gt=0, description="the variance V of O - E")
    events: Count | None = Field(None, description="total events in both groups, if printed")


class Median(Strict):
    """A median (survival, time to an event, or a duration) with its CI: shown, never pooled."""

    kind: Literal["survival", "time-to-event", "duration"]
    value: float | None = Field(None, ge=0, description="null when the median was not reached")
    unit: Literal["months", "days", "weeks", "years"]
    reached: bool = True
    ci: Range | None = Field(None, description="an open bound ('not reached') is left out")
    ci_level: float = Field(95, gt=0, lt=100)

    @model_validator(mode="after")
    def _value(self) -> Median:
        if self.reached and self.value is None:
            raise ValueError("give the median's value, or reached: false")
        if not self.reached and self.value is not None:
            raise ValueError("a median that was not reached has no value")
        if self.ci is not None and self.value is not None:
            below = self.ci.low is not None and self.ci.low > self.value
            if below or (self.ci.high is not None and self.ci.high < self.value):
                raise ValueError(f"median {self.value} lies outside its CI")
        return self


class Difference(Comparison):
    """A difference between two groups on its own scale: restricted mean survival time or risk."""

    measure: Literal["RMST", "RD"]
    value: float
    ci: Interval | None = None
    ci_level: float = Field(95, gt=0, lt=100)
    unit: Literal["months", "days", "weeks", "years", "percentage points"]
    landmark_months: float | None = Field(None, gt=0, description="the horizon of an RMST or a landmark RD")

    @model_validator(mode="after")
    def _inside(self) -> Difference:
        if (self.measure == "RD") != (self.unit == "percentage points"):
            raise ValueError("a risk difference is in percentage points, an RMST difference in time")
        if self.ci is not None and not (self.ci.low <= self.value <= self.ci.high):
            raise ValueError(f"{self.value} lies outside its CI {self.ci.low}-{self.ci.high}")
        if self.ci is None and self.p is None:
            raise ValueError("a difference needs its CI or its p-value")
        return self


FORMS = ("binary", "km", "hazard_ratio", "median", "logrank", "difference")


class OutcomeRecord(Provenance):
    """One reported result, tagged with what it measures and in whom."""

    id: Slug
    outcome: Word = Field(description="built-in outcome word or one listed in vocabulary.yaml")
    label: str | None = Field(None, description="the outcome as the source names it, if more specific")
    arm: Slug | None = Field(None, description="arm id; required when the study has more than one arm")
    subpopulation: Slug | None = Field(None, description="sub-population id; omit for the whole cohort")
    mrd: MRD | None = None
    timepoint: Word | None = None
    baseline_mrd: Literal["all", "positive", "negative"] = "all"
    grade: Grade | None = Field(None, description="CTCAE/ASTCT grade threshold for adverse events")
    unit: Literal["patients", "courses"] = "patients"
    denominator: Literal["enrolled", "randomised", "treated", "evaluable"] | None = None
    follow_up_months: float | None = Field(None, gt=0, description="median follow-up behind a crude count")
    data_cut: Date | None = Field(None, description="data cut-off of this number; default: the report's")
    exposure: Literal[EXPOSURES] | None = Field(  # type: ignore[valid-type]
        None, description="measured before, during or after the intervention; before = baseline"
    )
    grading: str | None = Field(None, max_length=64, description="grading system, e.g. CTCAE v5.0")
    definition: str | None = Field(
        None, max_length=300, description="the outcome's definition, where it matters"
    )
    binary: Binary | None = None
    km: KaplanMeier | None = None
    hazard_ratio: HazardRatio | None = None
    median: Median | None = None
    logrank: LogRank | None = None
    difference: Difference | None = None

    @property
    def form(self) -> str:
        """Which of the forms the record gives (exactly one)."""
        return next(f for f in FORMS if getattr(self, f) is not None)

    @property
    def comparison(self) -> Comparison | None:
        """The two-group part of a hazard ratio, log-rank or difference record."""
        return self.hazard_ratio or self.logrank or self.difference

    @model_validator(mode="after")
    def _one_form(self) -> OutcomeRecord:
        forms = [f for f in FORMS if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(f"give exactly one of {', '.join(FORMS)}")
        if self.outcome == "mrd_negativity" and self.mrd is None:
            raise ValueError("an mrd_negativity record needs mrd: {method: ...}")
        return self


class Study(Strict):
    """One report of a study (a patient cohort or trial), from one or more source documents."""

    id: Slug
    citation: str
    year: int = Field(ge=1900, le=2100, description="year of the report, for cumulative plots")
    trial: Trial | None = Field(None, description="the trial or cohort reported; default: this extract alone")
    report: Report | None = None
    sources: list[Source] = Field(default_factory=list, description="one or more source documents")
    single_source: Source | None = Field(None, alias="source", description="the first format's one source")
    registry: str | None = Field(None, description="trial registry id (first format; now trial.registry)")
    design: Literal[DESIGNS]  # type: ignore[valid-type]
    setting: list[Literal[SETTINGS]] = Field(min_length=1)  # type: ignore[valid-type]
    country: str
    centres: str = Field(
        description="e.g. 'single centre (Beijing Children's Hospital)' or 'multicentre (CCLG)'"
    )
    period: Period | None = None
    population: Population
    arms: list[Arm] = Field(min_length=1)
    overlap: list[Overlap] = Field(default_factory=list)
    risk_of_bias: RiskOfBias
    outcomes: list[OutcomeRecord] = Field(default_factory=list)
    notes: str | None = None

    @field_validator("setting", mode="before")
    @classmethod
    def _one_setting(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _sources(self) -> Study:
        if self.single_source is not None and self.sources:
            raise ValueError("give sources (a list) or source (one), not both")
        if self.single_source is None and not self.sources:
            raise ValueError("give sources: a list of source documents (or source: one document)")
        if self.single_source is not None:  # the first format, read as a list of one
            object.__setattr__(self, "sources", [self.single_source])
        return self

    @property
    def source(self) -> Source:
        """The first source document (the default of every record)."""
        return self.sources[0]

    @property
    def registry_ids(self) -> list[str]:
        """Every registry id of the trial, from `trial.registry` and the first format's `registry`."""
        ids = list(self.trial.registry) if self.trial else []
        return [*ids, self.registry] if self.registry and self.registry not in ids else ids

    @property
    def trial_id(self) -> str:
        """The trial's name: its key if given, else its first registry id, else this extract's id.

        Extracts that share any registry id are reports of one trial even when their first ids differ;
        :func:`metablina.extract.validate.trial_ids` resolves that across a review.
        """
        if self.trial is not None and self.trial.key is not None:
            return self.trial.key
        return self.registry_ids[0] if self.registry_ids else self.id

    def source_of(self, record: Provenance) -> Source | None:
        """The source document a record's numbers come from; None if it names no declared source."""
        if record.source is None:
            return self.sources[0]
        return next((s for s in self.sources if s.id == record.source), None)

    def comparison_of(self, c: Comparison) -> str:
        """Whether a two-group comparison is randomised: as declared, else randomised only between an
        intervention arm and a comparator arm; sub-populations and historical or external controls are not."""
        if c.comparison is not None:
            return c.comparison
        roles = {a.id: a.role for a in self.arms}
        pair = {roles.get(c.experimental), roles.get(c.control)}
        return "randomised" if pair == {"intervention", "comparator"} else "non-randomised"


def json_schema() -> dict:
    """The JSON Schema of an extract, for editors that validate YAML as it is typed."""
    return Study.model_json_schema()
