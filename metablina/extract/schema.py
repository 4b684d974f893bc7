"""The study-extract format: one YAML file per study, typed here, documented in ``studies/README.md``.

Every model forbids unknown keys, so a typo is an error instead of silently dropped data. The
qualifiers on an outcome record (arm, sub-population, MRD method, timepoint, baseline MRD, grade,
landmark, unit, denominator) are what later decides whether two records may be pooled.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"
Slug = Annotated[str, Field(pattern=SLUG, description="lower-case letters, digits and hyphens")]
# No study counts ten million patients: a larger count is a typo, and refusing it here keeps every
# later check on counts (GRIM, sums of parts) small.
MAX_COUNT = 10_000_000
Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_COUNT, strict=True)]
Percent = Annotated[float, Field(ge=0, le=100)]

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
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]

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
)
Timepoint = Literal[TIMEPOINTS]  # type: ignore[valid-type]

GRADES = ("any", "1", "2", "<=2", ">=3", "3", "4", "5")
Grade = Literal[GRADES]  # type: ignore[valid-type]

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

    @property
    def quotes(self) -> list[str]:
        return [self.quote] if isinstance(self.quote, str) else list(self.quote)


class Source(Strict):
    file: str = Field(description="file name of the source document in the sources folder")
    kind: Literal["conference abstract", "journal abstract", "full text", "letter", "interview", "registry"]

    @field_validator("file")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if "/" in v or "\\" in v or v.startswith("."):
            raise ValueError("give the bare file name, without a folder")
        return v


class Period(Strict):
    start: Annotated[str, Field(pattern=r"^\d{4}(-\d{2})?$")]
    end: Annotated[str, Field(pattern=r"^\d{4}(-\d{2})?$")] | None = None


class Range(Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


class Age(Strict):
    median: float | None = Field(None, ge=0)
    mean: float | None = Field(None, ge=0)
    range: Range | None = None
    iqr: Range | None = None
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
    role: Literal["intervention", "comparator"]
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

    @model_validator(mode="after")
    def _one_form(self) -> Binary:
        if self.events is None and self.percent is None:
            raise ValueError("give events, percent, or both")
        if self.events is not None and self.events > self.total:
            raise ValueError(f"events ({self.events}) exceed total ({self.total})")
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
    ci: Range | None = Field(None, description="in percent")
    ci_level: float = Field(95, gt=0, lt=100)
    n_at_risk: Count | None = None

    @model_validator(mode="after")
    def _inside(self) -> KaplanMeier:
        if self.ci is not None and not (self.ci.low <= self.percent <= self.ci.high):
            raise ValueError(f"{self.percent}% lies outside its CI {self.ci.low}-{self.ci.high}")
        return self


class HazardRatio(Strict):
    """A hazard ratio of `experimental` versus `control` (arm ids)."""

    experimental: Slug
    control: Slug
    hr: float = Field(gt=0)
    ci: Range | None = None
    ci_level: float = Field(95, gt=0, lt=100)
    p: PValueIn | None = None
    adjusted: bool = False
    stratified: bool = False

    @field_validator("p", mode="before")
    @classmethod
    def _p(cls, v: object) -> object:
        return _parse_p(v)

    @model_validator(mode="after")
    def _inside(self) -> HazardRatio:
        if self.ci is not None and not (0 < self.ci.low <= self.hr <= self.ci.high):
            raise ValueError(f"HR {self.hr} lies outside its CI {self.ci.low}-{self.ci.high}")
        if self.ci is None and self.p is None:
            raise ValueError("a hazard ratio needs its CI or its p-value")
        return self


class OutcomeRecord(Provenance):
    """One reported result, tagged with what it measures and in whom."""

    id: Slug
    outcome: Outcome
    label: str | None = Field(None, description="the outcome as the source names it, if more specific")
    arm: Slug | None = Field(None, description="arm id; required when the study has more than one arm")
    subpopulation: Slug | None = Field(None, description="sub-population id; omit for the whole cohort")
    mrd: MRD | None = None
    timepoint: Timepoint | None = None
    baseline_mrd: Literal["all", "positive", "negative"] = "all"
    grade: Grade | None = Field(None, description="CTCAE/ASTCT grade threshold for adverse events")
    unit: Literal["patients", "courses"] = "patients"
    denominator: Literal["enrolled", "randomised", "treated", "evaluable"] | None = None
    follow_up_months: float | None = Field(None, gt=0, description="median follow-up behind a crude count")
    binary: Binary | None = None
    km: KaplanMeier | None = None
    hazard_ratio: HazardRatio | None = None

    @model_validator(mode="after")
    def _one_form(self) -> OutcomeRecord:
        forms = [f for f in ("binary", "km", "hazard_ratio") if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError("give exactly one of binary, km, hazard_ratio")
        if self.outcome == "mrd_negativity" and self.mrd is None:
            raise ValueError("an mrd_negativity record needs mrd: {method: ...}")
        return self


class Study(Strict):
    """One study (a patient cohort), which may be reported in one source document."""

    id: Slug
    citation: str
    year: int = Field(ge=1900, le=2100, description="year of the report, for cumulative plots")
    source: Source
    registry: str | None = Field(None, description="trial registry id, e.g. NCT02393859")
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


def json_schema() -> dict:
    """The JSON Schema of an extract, for editors that validate YAML as it is typed."""
    return Study.model_json_schema()
