"""The commented template that ``metablina new ID`` writes for a reviewer to fill in."""

from __future__ import annotations

import re

from metablina.extract.schema import DESIGNS, GRADES, OUTCOMES, SETTINGS, SLUG, TIMEPOINTS

TEMPLATE = """\
# Study extract for metablina. One file per study (patient cohort); the file name is the id.
# Every number must stand in the quoted sentence(s) of its record, copied verbatim from the source.
# Check with:  metablina validate        Field guide: studies/README.md
id: {id}
citation: "Author A, Author B. Title. Journal Year;Vol:Pages."
year: 2025                       # year of the report (orders cumulative plots)
source:
  file: NAME.txt                 # the source document, in studies/sources/
  kind: conference abstract      # conference abstract | journal abstract | full text | letter | interview | registry
registry: null                   # e.g. NCT02393859 or ChiCTR2400083570
design: retrospective cohort     # {designs}
setting: [frontline]             # one or more of: {settings}
country: ""
centres: ""                      # e.g. "single centre (Hospital name)" or "multicentre (group)"
period: {{start: "2023-03", end: "2025-03"}}   # enrolment window, YYYY or YYYY-MM
population:
  n: 0
  age: {{median: 0, range: {{low: 0, high: 0}}, unit: years}}   # unit: months | years
  female_percent: null
  quote: "The sentence that gives n, age and sex."
  location: "Results, paragraph 1"
  subpopulations: []             # e.g. - {{id: hr, label: high risk, n: 8, partition: risk group, quote: "..."}}
  complete_partitions: []        # partitions whose parts add up to n, e.g. [risk group]
arms:
  - id: blinatumomab
    label: Blinatumomab
    role: intervention           # intervention | comparator
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
  - id: mrd-mfc-end-of-induction
    outcome: mrd_negativity
    mrd: {{method: MFC, sensitivity: 1.0e-4}}   # MFC | NGS | PCR | unspecified
    timepoint: end-of-induction
    baseline_mrd: all            # all | positive (conversion among MRD-positive) | negative
    binary: {{events: 0, total: 0}}   # or {{percent: 95.0, total: 202}}: the count is derived and checked
    quote: "The sentence with the numbers, verbatim."
    location: "Results, paragraph 2"
  # A Kaplan-Meier rate:   km: {{landmark_months: 12, percent: 97.8, se: 2.2}}   or  ci: {{low: 42.5, high: 70.4}}
  # A hazard ratio:        hazard_ratio: {{experimental: blinatumomab, control: chemotherapy, hr: 0.38,
  #                                       ci: {{low: 0.22, high: 0.65}}, p: "<0.001"}}
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
    )
