"""`metablina pool --table`: metafor's numbers through the command line, and one-line errors for bad tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from metablina.cli import main

DATA = Path(__file__).resolve().parent / "data"
SHARED = json.loads((DATA / "rma_shared.json").read_text())["rows"]
CLI_CI = {"z": "z", "hksj": "hksj"}
NUMERIC = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "h2",
    "q",
    "q_p",
    "pi_low",
    "pi_high",
    "pi_hts_low",
    "pi_hts_high",
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["pool", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", SHARED, ids=[c["id"] for c in SHARED])
def test_table_mode_reproduces_metafor(case: dict) -> None:
    code, out, err = run(
        "--table",
        str(DATA / "bcg.csv"),
        "--measure",
        case["measure"],
        "--method",
        case["method"],
        "--ci",
        CLI_CI[case["ci"]],
        "--format",
        "json",
    )
    assert code == 0, err
    got = json.loads(out)
    assert (got["k"], got["measure"], got["method"], got["ci_method"]) == (
        case["k"],
        case["measure"],
        case["method"],
        CLI_CI[case["ci"]],
    )
    for key in NUMERIC:
        if key in case and not (key == "tau2" and case["method"] == "FE"):
            assert got[key] == pytest.approx(case[key], rel=1e-6, abs=1e-12), key
    assert got["yi"] == pytest.approx(case["yi"], rel=1e-9)
    assert got["vi"] == pytest.approx(case["vi"], rel=1e-9)
    for key, value in case["back"].items():
        assert got["back"][key] == pytest.approx(value, rel=1e-6), key


def test_json_keys_are_exactly_the_documented_ones() -> None:
    _, out, _ = run(
        "--table", str(DATA / "bcg.csv"), "--measure", "RR", "--method", "REML", "--format", "json"
    )
    assert list(json.loads(out)) == [
        "k",
        "measure",
        "method",
        "ci_method",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "tau2",
        "tau2_ci_low",
        "tau2_ci_high",
        "i2",
        "h2",
        "q",
        "q_df",
        "q_p",
        "pi_low",
        "pi_high",
        "pi_hts_low",
        "pi_hts_high",
        "yi",
        "vi",
        "back",
    ]


def test_default_interval_for_random_effects_is_the_ad_hoc_knapp_hartung() -> None:
    _, out, _ = run("--table", str(DATA / "bcg.csv"), "--measure", "RR", "--format", "json")
    assert json.loads(out)["ci_method"] == "hksj-adhoc"


def test_human_table_prints_metafors_layout() -> None:
    code, out, _ = run("--table", str(DATA / "bcg.csv"), "--measure", "RR", "--method", "REML", "--ci", "z")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Random-Effects Model (k = 13; tau^2 estimator: REML)"
    assert "tau^2 (estimated amount of total heterogeneity): 0.3132 (SE = 0.1664)" in lines
    assert "Q(df = 12) = 152.2330, p-val < .0001" in lines
    assert any(line.split()[:2] == ["-0.7145", "0.1798"] for line in lines)


def test_same_table_gives_byte_identical_output() -> None:
    args = ("--table", str(DATA / "bcg.csv"), "--measure", "OR", "--method", "DL", "--format", "json")
    assert run(*args)[1] == run(*args)[1]


def test_csv_format_is_one_row_of_scalars() -> None:
    _, out, _ = run(
        "--table", str(DATA / "bcg.csv"), "--measure", "RR", "--method", "DL", "--ci", "z", "--format", "csv"
    )
    header, values = out.splitlines()
    assert header.startswith("k,measure,method,ci_method,estimate,se,")
    assert "back_estimate" in header and values.startswith("13,RR,DL,z,")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("table", "args", "message"),
    [
        (
            "study,xi,nj\na,1,10\nb,2,10\n",
            ["--measure", "PLO"],
            "missing: ni (is column 'nj' meant to be 'ni'?)",
        ),
        ("study,xi\na,1\nb,2\n", ["--measure", "PLO"], "measure PLO needs columns (xi, ni); missing: ni"),
        ("study,xi,ni\na,1,10\nb,two,10\n", ["--measure", "PLO"], "row 3, column xi: 'two' is not a number"),
        ("study,xi,ni\na,-1,10\nb,2,10\n", ["--measure", "PLO"], "row 2, column xi: negative count -1"),
        (
            "study,xi,ni\na,1,10\nb,12,10\n",
            ["--measure", "PLO"],
            "row 3, column xi: 12 events exceed ni = 10",
        ),
        (
            "study,xi,ni\na,1.5,10\nb,2,10\n",
            ["--measure", "PLO"],
            "row 2, column xi: count 1.5 is not a whole number",
        ),
        (
            "study,yi,vi\na,0.1,0.04\nb,0.2,0\n",
            ["--measure", "GEN"],
            "row 3, column vi: vi must be positive, got 0",
        ),
        (
            "study,yi,vi\na,0.1,-0.04\nb,0.2,0.1\n",
            ["--measure", "GEN"],
            "row 2, column vi: vi must be positive",
        ),
        (
            "study,yi,vi\na,nan,0.04\nb,0.2,0.1\n",
            ["--measure", "GEN"],
            "row 2, column yi: 'nan' is not a finite number",
        ),
        ("study,yi,vi\na,0.1,0.04\nb,,0.1\n", ["--measure", "GEN"], "k = 1: a single study cannot be pooled"),
        ("study,yi,vi\na,0.1,0.04\n", ["--measure", "GEN"], "k = 1: a single study cannot be pooled"),
        ("study,yi,vi\n", ["--measure", "GEN"], "no data rows under the header"),
        ("", ["--measure", "GEN"], "the file is empty"),
        (
            "study,xi,ni\na,1,10\nb,2,10\n",
            ["--measure", "PLO", "--method", "MH"],
            "method MH pools OR, RR or RD",
        ),
        (
            "study,ai,n1i,ci,n2i\na,1,10,2,10\nb,2,10,3,10\n",
            ["--measure", "RR", "--method", "GLMM"],
            "method GLMM pools PLO",
        ),
        (
            "study,ai,n1i,ci,n2i\na,1,10,2,10\nb,2,10,3,10\n",
            ["--measure", "OR", "--method", "FE", "--ci", "hksj"],
            "has no hksj interval",
        ),
        ("study,xi,ni,xi\na,1,10,1\nb,2,10,2\n", ["--measure", "PLO"], "column 'xi' appears twice"),
        (
            "study,xi,ni\na,1,10\nb,2,10\n",
            ["--measure", "PLO", "--ci", "t"],
            "a plain t(k-1) interval is the GLMM's; for REML use hksj, hksj-adhoc or z",
        ),
    ],
)
def test_bad_tables_get_one_line_and_exit_1(
    tmp_path: Path, table: str, args: list[str], message: str
) -> None:
    path = write(tmp_path, table)
    code, out, err = run("--table", str(path), *args)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {path}") and message in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["--measure", "XYZ"],
        ["--measure", "PLO", "--method", "BOGUS"],
        [],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    path = write(tmp_path, "study,xi,ni\na,1,10\nb,2,10\n")
    code, out, err = run("--table", str(path), *args)
    assert code == 2 and out == "" and "Traceback" not in err


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, err = run("--table", str(tmp_path / "none.csv"), "--measure", "PLO")
    assert code == 1 and "cannot read" in err and len(err.splitlines()) == 1


def test_neither_table_nor_analysis_is_a_usage_error() -> None:
    code, _, err = run("--measure", "PLO")
    assert code == 2 and "give either an ANALYSIS" in err


def test_k2_pools_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "study,yi,vi\na,0.1,0.04\nb,0.5,0.09\n")
    code, out, err = run("--table", str(path), "--measure", "GEN", "--format", "json")
    assert code == 0 and json.loads(out)["k"] == 2
    assert "k = 2" in err


MH_CASES = json.loads((DATA / "mh.json").read_text())["cases"]
GLMM_DATA = json.loads((DATA / "glmm.json").read_text())


def _table(tmp_path: Path, columns: dict[str, list]) -> Path:
    names = list(columns)
    lines = [",".join(names)] + [",".join(str(v) for v in row) for row in zip(*columns.values(), strict=True)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("measure", "method"), [("OR", "MH"), ("RR", "MH"), ("RD", "MH"), ("OR", "PETO")])
def test_mantel_haenszel_and_peto_through_the_command_line(tmp_path: Path, measure: str, method: str) -> None:
    case = MH_CASES[0]
    ref = case["PETO" if method == "PETO" else measure]
    path = _table(tmp_path, {k: case[k] for k in ("ai", "n1i", "ci", "n2i")})
    code, out, err = run(
        "--table", str(path), "--measure", measure, "--method", method, "--ci", "z", "--format", "json"
    )
    assert code == 0, err
    got = json.loads(out)
    for key, rkey in (
        ("estimate", "beta"),
        ("se", "se"),
        ("ci_low", "ci_lb"),
        ("ci_high", "ci_ub"),
        ("q", "QE"),
        ("i2", "I2"),
    ):
        assert got[key] == pytest.approx(ref[rkey], rel=1e-8), key


def test_glmm_through_the_command_line_matches_rma_glmm(tmp_path: Path) -> None:
    case = next(c for c in GLMM_DATA["prop"] if c["name"] == "crs" and c["test"] == "z" and c["nagq"] == 7)
    path = _table(tmp_path, {"xi": case["xi"], "ni": case["ni"]})
    code, out, err = run(
        "--table", str(path), "--measure", "PLO", "--method", "GLMM", "--ci", "z", "--format", "json"
    )
    assert code == 0, err
    got, ref = json.loads(out), case["default"]
    assert got["estimate"] == pytest.approx(ref["beta"], abs=1e-4)
    assert got["tau2"] == pytest.approx(ref["tau2"], abs=1e-4)
    assert got["back"]["estimate"] == pytest.approx(1 / (1 + math.exp(-ref["beta"])), abs=1e-5)


def test_glmm_refuses_all_events_with_the_reason(tmp_path: Path) -> None:
    path = _table(tmp_path, {"xi": [7, 2], "ni": [7, 2]})
    code, out, err = run("--table", str(path), "--measure", "PLO", "--method", "GLMM")
    assert code == 1 and out == "" and "xi = ni" in err and len(err.splitlines()) == 1
