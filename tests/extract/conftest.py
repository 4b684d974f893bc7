"""A minimal valid review folder that each test copies and breaks in one way."""

from __future__ import annotations

from pathlib import Path

import pytest

SOURCE = (
    "Results This study included 11 patients with a median age of 8.5 months (range: 1.3-11.5 months), "
    "of whom 7 (63.6%) were female. According to risk stratification, 3 cases (27.3%) were classified as "
    "intermediate-risk (IR) and 8 (72.7%) as high-risk (HR). Treatment-related cytokine release syndrome (CRS) "
    "of grade 1 occurred in 4 pts, with no severe CRS events. MRD negativity was 95.0% (192/202) by MFC."
)

STUDY = """\
id: demo
citation: Demo A. A demo cohort. 2025.
year: 2025
source: {file: demo.txt, kind: conference abstract}
design: retrospective cohort
setting: frontline
country: China
centres: single centre
population:
  n: 11
  age: {median: 8.5, range: {low: 1.3, high: 11.5}, unit: months}
  female: 7
  female_percent: 63.6
  quote: "This study included 11 patients with a median age of 8.5 months (range: 1.3-11.5 months), of whom 7 (63.6%) were female."
  subpopulations:
    - {id: ir, label: intermediate risk, n: 3, partition: risk group, quote: "3 cases (27.3%) were classified as intermediate-risk (IR)"}
    - {id: hr, label: high risk, n: 8, partition: risk group, quote: "8 (72.7%) as high-risk (HR)"}
  complete_partitions: [risk group]
arms:
  - {id: blina, label: Blinatumomab, role: intervention, n: 11, quote: "This study included 11 patients"}
risk_of_bias: {tool: judgement, overall: serious}
outcomes:
  - id: crs-any
    outcome: crs
    grade: any
    binary: {events: 4, total: 11}
    quote:
      - "Treatment-related cytokine release syndrome (CRS) of grade 1 occurred in 4 pts"
      - "This study included 11 patients"
  - id: crs-severe
    outcome: crs
    grade: ">=3"
    binary: {events: 0, total: 11}
    quote: ["with no severe CRS events", "This study included 11 patients"]
"""


def write_review(folder: Path) -> Path:
    """Fill ``folder`` with one valid study ``demo.yaml`` and its source ``sources/demo.txt``."""
    (folder / "sources").mkdir()
    (folder / "sources" / "demo.txt").write_text(SOURCE, encoding="utf-8")
    (folder / "demo.yaml").write_text(STUDY, encoding="utf-8")
    return folder


@pytest.fixture
def review(tmp_path: Path) -> Path:
    """A folder holding one valid study ``demo.yaml`` and its source ``sources/demo.txt``."""
    return write_review(tmp_path)
