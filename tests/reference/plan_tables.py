"""Export the effect table of every pooled stratum of the shipped plan for tests/reference/plan.R.

Run from the repository root: .venv/bin/python tests/reference/plan_tables.py
It writes tests/data/plan_tables.json; plan.R reads it and writes tests/data/plan_metafor.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from metablina.run import run_review

ROOT = Path(__file__).resolve().parents[2]


def entry(case: str, stratum) -> dict:
    r = stratum.result
    columns = {k: [float(x) for x in v] for k, v in r.columns.items()}
    return {"case": case, "measure": r.measure, "method": r.method, "ci": r.ci_method, "columns": columns}


def main() -> None:
    run = run_review(ROOT / "studies")
    cases = []
    for res in run.results:
        aid = res.analysis.id
        for i, s in enumerate(res.strata):
            if s.pooled:
                cases.append(entry(f"{aid}/stratum{i}", s))
        for s in res.subgroups:
            if s.pooled:
                cases.append(entry(f"{aid}/subgroup/{s.label}", s))
        for v in res.sensitivity:
            for i, s in enumerate(v.strata):
                if s.pooled:
                    cases.append(entry(f"{aid}/sensitivity/{v.variant.id}/stratum{i}", s))
    out = ROOT / "tests" / "data" / "plan_tables.json"
    out.write_text(json.dumps(cases, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
