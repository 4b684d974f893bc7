"""The commented template that ``metablina new ID`` writes for a reviewer to fill in."""

from __future__ import annotations

import re

from metablina.extract.schema import (
    ARM_ROLES,
    DESIGNS,
    GRADES,
    GRADINGS,
    OUTCOMES,
    REPORT_KINDS,
    SETTINGS,
    SLUG,
    SOURCE_KINDS,
    TIMEPOINTS,
)

TEMPLATE = """\
# Study extract for metablina. One file per report of a study (patient cohort); the file name is the id.
# Every number must stand in the quoted sentence(s) of its record, copied verbatim from the source.
# Check with:  metablina validate        Field guide: studies/README.md
id: {id}
citation: "Author A, Author B. Title. Journal Year;Vol:Pages."
year: 2025                       # year of the report (orders cumulative plots)
trial:                           # extracts sharing a registry id or key are reports of one trial
  registry: []                   # e.g. [NCT02393859] or [ChiCTR2400083570]
  key: null                      # a name for a cohort without a registry id, e.g. bch-infant-blinatumomab
report:
  kind: primary analysis         # {report_kinds}
  data_cut: null                 # data cut-off as stated: YYYY, YYYY-MM or YYYY-MM-DD; null if not stated
  follow_up_months: null         # median follow-up of the report, as printed (then quote it)
  quote: null                    # the sentence(s) giving the data cut and the follow-up
sources:                         # every document a number comes from; the first is each record's default
  - id: main
    kind: conference abstract    # {source_kinds}
    file: NAME.txt               # a local copy in studies/sources/ (quotes checked)
  # - {{id: paper, kind: full text, doi: 10.1000/xyz}}   # no local copy: doi, pmid or url (quotes not checked)
design: retrospective cohort     # {designs}
setting: [frontline]             # one or more of: {settings}
country: ""
centres: ""                      # e.g. "single centre (Hospital name)" or "multicentre (group)"
period: {{start: "2023-03", end: "2025-03"}}   # enrolment window, YYYY or YYYY-MM
population:
  n: 0
  age: {{median: 0, range: {{low: 0, high: 0}}, unit: years}}   # unit: months | years; range may have one bound: {{high: 1}}
  female_percent: null
  quote: "The sentence that gives n, age and sex."
  location: "Results, paragraph 1"
  subpopulations: []             # e.g. - {{id: hr, label: high risk, n: 8, partition: risk group, quote: "..."}}
  complete_partitions: []        # partitions whose parts add up to n, e.g. [risk group]
arms:
  - id: blinatumomab
    label: Blinatumomab
    role: intervention           # {roles}
    n: 0
    regimen: ""
    quote: "The sentence that gives the arm's n."
overlap: []                      # e.g. - {{study: other-study-id, reason: same centre, overlapping period}}
risk_of_bias:
  tool: judgement                # RoB 2 | ROBINS-I | judgement
  overall: serious               # low | some concerns | moderate | serious | high | critical | unclear
  domains: {{}}
  support: ""
outcomes:
  # outcome: {outcomes}
  # timepoint: {timepoints}
  # grade: {grades}
  # grading (adverse events, CRS, ICANS, neurological events): {gradings}
  # More outcome, timepoint and grading words: list them in vocabulary.yaml beside the extracts.
  - id: mrd-mfc-end-of-induction
    outcome: mrd_negativity
    mrd: {{method: MFC, sensitivity: 1.0e-4}}   # MFC | NGS | PCR | unspecified
    timepoint: end-of-induction
    baseline_mrd: all            # all | positive (conversion among MRD-positive) | negative
    exposure: null               # before (a baseline, never pooled as an effect) | during | after
    definition: null             # the outcome's definition where it matters, e.g. "MRD < 1e-4 by MFC"
    source: null                 # id of the source of this record; null = the first source
    data_cut: null               # only when this number is from another cut than the report's
    binary: {{events: 0, total: 0}}   # or {{percent: 95.0, total: 202}}: the count is derived and checked
    quote: "The sentence with the numbers, verbatim."
    location: "Results, paragraph 2"
  # Exactly one form per record:
  # binary with a printed CI:  binary: {{events: 16, total: 30, percent: 53.3, ci: {{low: 34.3, high: 71.7}}}}
  # A Kaplan-Meier rate:       km: {{landmark_months: 12, percent: 97.8, se: 2.2}}   or  ci: {{low: 42.5, high: 70.4}}
  # A hazard ratio:            hazard_ratio: {{experimental: blinatumomab, control: chemotherapy, hr: 0.38,
  #                                           ci: {{low: 0.22, high: 0.65}}, p: "<0.001"}}
  #   (experimental/control may be sub-population ids; then add comparison: non-randomised)
  # A median:                  median: {{kind: survival, value: 14.2, unit: months, ci: {{low: 8.1, high: 20.3}}}}
  #                            or {{kind: survival, reached: false, unit: months, ci: {{low: 24.1}}}}
  # Log-rank O - E and V:      logrank: {{experimental: blinatumomab, control: chemotherapy, o_minus_e: -8.9, variance: 9.6}}
  # A difference:              difference: {{measure: RMST, experimental: blinatumomab, control: chemotherapy,
  #                                         value: 3.4, ci: {{low: 0.5, high: 6.3}}, unit: months, landmark_months: 24}}
  #                            (measure: RD with unit: percentage points for a risk difference)
notes: null                      # the extractor's doubts
"""


def render_template(study_id: str) -> str:
    """The template for ``study_id``; raises ValueError for an id that cannot be a file name."""
    if not re.fullmatch(SLUG, study_id):
        raise ValueError(
            f"id {study_id!r} must be lower-case letters, digits and hyphens, starting with a letter or digit"
        )
    return TEMPLATE.format(
        id=study_id,
        designs=" | ".join(DESIGNS),
        settings=" | ".join(SETTINGS),
        outcomes=" ".join(OUTCOMES),
        timepoints=" ".join(TIMEPOINTS),
        grades=" ".join(GRADES),
        gradings=" | ".join(GRADINGS),
        report_kinds=" | ".join(REPORT_KINDS),
        source_kinds=" | ".join(SOURCE_KINDS),
        roles=" | ".join(ARM_ROLES),
    )
