"""A large SYNTHETIC review for the scale benchmarks: the shipped review's 5 real extracts and plan, plus
synthetic single-arm frontline cohorts (8 records each), written to a folder (a temporary one by default).

    .venv/bin/python benchmarks/make_review.py --studies 200 --out /tmp/review200

Every synthetic extract is valid (``metablina validate`` passes): its numbers are quoted from its own
source document, ``sources/synthetic-NNN.txt``, which says on its first line that it is SYNTHETIC and
made up by this script. Counts come from a fixed seed, so the same arguments give the same review. The
synthetic cohorts are frontline, graded by CTCAE v5.0 and declare no overlap, so they join the real
frontline strata and make them large (the GLMM strata of complete remission, CRS, ICANS, infection,
HSCT, relapse and MFC MRD negativity), which is what the report's refits cost grows with.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "studies"

# (record id, outcome, extra YAML lines, sentence template, true rate on the logit scale)
RECORDS = (
    ("cr", "complete_remission", [], "complete remission was reached by {x} of {n} patients", 2.0),
    (
        "mrd-mfc",
        "mrd_negativity",
        ["mrd: {method: MFC, sensitivity: 1.0e-4}", "timepoint: end-of-induction"],
        "MFC MRD negativity at the end of induction was reached by {x} of {n} patients",
        1.2,
    ),
    ("crs-g1", "crs", ["grading: CTCAE v5.0", 'grade: "1"'], "grade 1 CRS occurred in {x} of {n}", -1.2),
    (
        "crs-g3",
        "crs",
        ["grading: CTCAE v5.0", 'grade: ">=3"'],
        "grade 3 or higher CRS occurred in {x} of {n}",
        -3.0,
    ),
    (
        "icans-g3",
        "icans",
        ["grading: not stated", 'grade: ">=3"'],
        "grade 3 or higher ICANS occurred in {x} of {n}",
        -3.2,
    ),
    (
        "infection-g3",
        "infection",
        ["grading: CTCAE v5.0", 'grade: ">=3"'],
        "grade 3 or higher infection occurred in {x} of {n}",
        -1.5,
    ),
    ("hsct", "hsct", [], "allogeneic HSCT was given to {x} of {n} patients", -2.0),
    ("relapse", "relapse", [], "relapse occurred in {x} of {n} patients", -1.8),
)


def synthetic_study(i: int, rng: np.random.Generator) -> tuple[str, str, str]:
    """The YAML text, the source file name and the source text of synthetic study ``i``."""
    sid = f"synthetic-{i:03d}"
    source = f"{sid}.txt"
    n = int(rng.integers(12, 160))
    year = int(rng.integers(2015, 2026))
    sentences = [f"This synthetic cohort enrolled {n} patients."]
    records = []
    for rid, outcome, extra, template, logit in RECORDS:
        p = 1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 0.6))))
        x = int(rng.binomial(n, p))
        sentence = template.format(x=x, n=n).capitalize() + "."
        sentences.append(sentence)
        lines = [f"  - id: {rid}", f"    outcome: {outcome}"]
        lines += [f"    {e}" for e in extra]
        lines += [
            f"    binary: {{events: {x}, total: {n}}}",
            f'    quote: "{sentence}"',
            "    location: Results",
        ]
        records.append("\n".join(lines))
    population_quote = sentences[0]
    text = (
        f"""# SYNTHETIC extract made by benchmarks/make_review.py for the scale benchmarks: not a real study.
id: {sid}
citation: SYNTHETIC cohort {i}, made up by benchmarks/make_review.py (not a real study).
year: {year}
report:
  kind: primary analysis
  data_cut: null
sources:
  - id: main
    kind: full text
    file: {source}
design: retrospective cohort
setting: frontline
country: Nowhere (SYNTHETIC)
centres: single centre (SYNTHETIC)
population:
  n: {n}
  quote: "{population_quote}"
  location: Methods
arms:
  - id: blinatumomab
    label: blinatumomab (SYNTHETIC)
    role: intervention
    n: {n}
    quote: "{population_quote}"
    location: Methods
risk_of_bias:
  tool: judgement
  overall: serious
  support: SYNTHETIC study; no real risk of bias.

outcomes:
"""
        + "\n".join(records)
        + "\n"
    )
    doc = (
        "SYNTHETIC source document made up by benchmarks/make_review.py for the scale benchmarks; "
        "it reports no real patients.\n" + " ".join(sentences) + "\n"
    )
    return text, source, doc


def make_review(out: Path, studies: int = 200, seed: int = 14) -> Path:
    """Write the review of ``studies`` studies (at least the 5 real ones) into ``out``; returns ``out``."""
    real = sorted(REAL.glob("*.yaml"))
    extracts = [p for p in real if p.name != "analyses.yaml"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "sources").mkdir(exist_ok=True)
    for p in real:
        shutil.copyfile(p, out / p.name)
    for p in (REAL / "sources").iterdir():
        shutil.copyfile(p, out / "sources" / p.name)
    rng = np.random.default_rng(seed)
    for i in range(1, max(0, studies - len(extracts)) + 1):
        text, source, doc = synthetic_study(i, rng)
        (out / f"synthetic-{i:03d}.yaml").write_text(text, encoding="utf-8")
        (out / "sources" / source).write_text(doc, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None, help="folder to write (default: a new temporary one)")
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix=f"review{a.studies}-"))
    print(make_review(out, a.studies, a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
