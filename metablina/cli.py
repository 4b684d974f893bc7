"""The command line: click commands that parse, call one function of the package, and print."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from pathlib import Path

# metablina's arrays are small: OpenBLAS's worker threads only spin (about 0.25 s of CPU at numpy's
# import alone, taken from the other processes of `metablina report`). One thread, unless the user
# chose otherwise; this must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from metablina.options import BAYES_METHODS, CI_METHODS, FORMATS, MEASURES, METHODS
from metablina.workers import tune_malloc

# At exit the interpreter's last collections walk every object matplotlib and scipy made (about 0.1 s
# after a report); freezing them first skips that work. The operating system frees the memory anyway.
atexit.register(gc.freeze)
tune_malloc()  # numpy's temporaries stay in the heap instead of faulting fresh pages in each time


@click.group()
@click.version_option(package_name="metablina")
def main() -> None:
    """metablina: pool study extracts written as YAML."""


def run() -> None:
    """The ``metablina`` program: :func:`main` with the garbage collector's automatic passes off.

    A command lives a few seconds, and almost every container object it makes (imported modules, the
    review's records and results) lives to the end, so each automatic pass walks survivors again: about
    0.12 s of a one-worker report. The reference cycles it does leave are the figures', which
    :func:`metablina.render.draw.draw_figure` frees itself. ``main`` leaves the collector alone, so a
    program that calls it (the tests do) keeps its own setting.
    """
    gc.disable()
    main()


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(1)


def _usage(message: str) -> None:
    """A command line that cannot mean what it says: one line, exit 2 as for click's usage errors."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


# Every command takes the review folder as --studies FOLDER; the older spellings stay as aliases.
STUDIES_HELP = "The review folder: extracts, sources/ and analyses.yaml [studies]."
studies_option = click.option(
    "--studies", "folder", metavar="FOLDER", type=click.Path(path_type=Path), help=STUDIES_HELP
)
old_folder_argument = click.argument(
    "old_folder", metavar="[FOLDER]", required=False, type=click.Path(path_type=Path)
)


def _review_folder(folder: Path | None, old_folder: Path | None = None) -> Path:
    """--studies FOLDER, or the folder given the old way; the two must agree."""
    if folder is not None and old_folder is not None and folder != old_folder:
        _usage(f"two review folders given: {old_folder} and --studies {folder}")
    return folder or old_folder or Path("studies")


@main.command()
@old_folder_argument
@studies_option
@click.option(
    "--sources", type=click.Path(path_type=Path), help="Folder of source documents [FOLDER/sources]."
)
def validate(old_folder: Path | None, folder: Path | None, sources: Path | None) -> None:
    """Check every extract in FOLDER (YAML, schema, consistency, quotes against sources) and the plan,
    FOLDER/analyses.yaml (schema, the studies it names, analyses that match no record)."""
    from metablina.extract.validate import load_review
    from metablina.plan import check_plan

    folder = _review_folder(folder, old_folder)
    review = load_review(folder, sources)
    plan, plan_problems = check_plan(folder, review)
    problems = review.problems + plan_problems
    for note in review.notes:  # reports of one trial, quotes without a local copy: said, not failed
        click.echo(f"note: {note}")
    if problems:
        _fail([str(p) for p in problems] + [f"{len(problems)} problem(s) in {folder}"])
    records = sum(len(s.study.outcomes) for s in review.studies)
    planned = "no plan (analyses.yaml)" if plan is None else f"a plan of {len(plan.analyses)} analyses"
    checked = "every quote found in its source" + (" (but those noted)" if review.unchecked else "")
    click.echo(f"ok: {len(review.studies)} studies, {records} outcome records, {checked}; " + planned)


@main.command()
@click.argument("study_id", metavar="ID")
@click.option(
    "--studies", "--dir", "folder", metavar="FOLDER", type=click.Path(path_type=Path), help=STUDIES_HELP
)
def new(study_id: str, folder: Path | None) -> None:
    """Write a commented template extract FOLDER/ID.yaml for a reviewer to fill in."""
    from metablina.extract.template import render_template

    folder = _review_folder(folder)
    try:
        text = render_template(study_id)
    except ValueError as exc:
        _fail([f"error: {exc}"])
    target = folder / f"{study_id}.yaml"
    if folder.exists() and not folder.is_dir():
        _fail([f"error: {folder} is not a folder"])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as f:  # never replaces a file, nor writes through a link
            f.write(text)
    except FileExistsError:
        _fail([f"error: {target} exists; not overwriting it"])
    except OSError as exc:
        _fail([f"error: cannot write {target}: {exc.strerror or exc}"])
    click.echo(f"wrote {target}: fill it in, then run `metablina validate --studies {folder}`")


@main.command()
@old_folder_argument
@studies_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def studies(old_folder: Path | None, folder: Path | None, fmt: str) -> None:
    """List the studies in FOLDER and how many records each reports per outcome."""
    from metablina.extract.validate import load_review
    from metablina.render.tables import counts_csv, study_overview

    folder = _review_folder(folder, old_folder)
    review = load_review(folder)
    if not review.ok:
        _fail(
            [str(p) for p in review.problems]
            + [f"{len(review.problems)} problem(s); run `metablina validate`"]
        )
    studies_table, outcome_table = study_overview([s.study for s in review.studies])
    if fmt == "csv":
        click.echo(counts_csv(outcome_table), nl=False)
        return
    click.echo(studies_table.to_string(index=False))
    click.echo()
    click.echo("Records per outcome (rows) and study (columns):")
    click.echo(outcome_table.to_string())


@main.command()
@click.argument("analysis", required=False)
@click.option(
    "--table", type=click.Path(path_type=Path, dir_okay=False), help="CSV with metafor's column names."
)
@click.option(
    "--measure", type=click.Choice(MEASURES, case_sensitive=False), help="Effect measure (table mode)."
)
@click.option(
    "--method",
    type=click.Choice(METHODS, case_sensitive=False),
    help="Model / tau^2 estimator [REML; an ANALYSIS: the plan's model].",
)
@click.option(
    "--ci",
    type=click.Choice(CI_METHODS),
    help="Interval: z, hksj, hksj-adhoc, or t (GLMM) [hksj-adhoc for RE, t for GLMM].",
)
@click.option(
    "--tau-prior", help="Bayesian methods, table mode: halfnormal:S, halfcauchy:S, halft:S:DF [by measure]."
)
@click.option("--mu-prior", help="Bayesian methods, table mode: flat or normal:M:S [flat].")
@click.option(
    "--threshold",
    type=float,
    help="Bayesian methods, table mode: report P(effect < C), C on the natural scale [an ANALYSIS: "
    "the plan's threshold].",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@studies_option
def pool(
    analysis: str | None,
    table: Path | None,
    measure: str | None,
    method: str | None,
    ci: str | None,
    tau_prior: str | None,
    mu_prior: str | None,
    threshold: float | None,
    fmt: str,
    folder: Path | None,
) -> None:
    """Pool a CSV table (--table FILE --measure M) or the plan's ANALYSIS from the extracts."""
    if (analysis is None) == (table is None):
        _usage("give either an ANALYSIS of the plan or --table FILE")
    from metablina.render import text

    method = method and method.upper()
    priors = {"--tau-prior": tau_prior, "--mu-prior": mu_prior, "--threshold": threshold}
    given = [name for name, value in priors.items() if value is not None]
    if table is not None:
        if measure is None:
            _usage("--table needs --measure")
        if folder is not None:
            _usage("--studies names the review of an ANALYSIS; --table pools the table alone")
        if given and method not in BAYES_METHODS:
            _usage(f"{given[0]} applies to the Bayesian methods (--method BAYES or BAYES-GLMM)")
        result = _pool_table(table, measure.upper(), method or "REML", ci, tau_prior, mu_prior, threshold)
        for line in result.warnings:
            click.echo(f"warning: {line}", err=True)
        render = {"json": text.pool_json, "csv": text.pool_csv, "table": text.pool_text}[fmt]
    else:
        if measure is not None:
            _usage(f"--measure applies to --table; the plan gives {analysis} its measure")
        if given:
            planned = {"--tau-prior": "tau_prior", "--threshold": "threshold", "--mu-prior": "flat mu prior"}
            _usage(f"{given[0]} applies to --table; the plan sets {analysis}'s {planned[given[0]]}")
        result = _pool_plan(_review_folder(folder), analysis, method, ci)
        render = {"json": text.analysis_json, "csv": text.analysis_csv, "table": text.analysis_text}[fmt]
    click.echo(render(result), nl=False)


def _pool_table(
    table: Path,
    measure: str,
    method: str,
    ci: str | None,
    tau_prior: str | None,
    mu_prior: str | None,
    threshold: float | None,
):
    from metablina.tableio import TableError, pool_table

    priors = {"tau_prior": tau_prior, "mu_prior": mu_prior or "flat", "threshold": threshold}
    try:
        return pool_table(table, measure, method, ci, priors)
    except TableError as exc:
        _fail([f"error: {exc}"])


def _pool_plan(folder: Path, analysis: str, method: str | None, ci: str | None):
    from metablina.run import AnalysisNotFound, run_one
    from metablina.stats.errors import InputError

    try:
        return run_one(folder, analysis, method=method, ci=ci)
    except AnalysisNotFound as exc:
        _fail([f"error: {exc}"])
    except InputError as exc:
        _fail([f"error: analysis {analysis}: {exc}"])


@main.command()
@click.argument("analysis")
@studies_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def multiverse(analysis: str, folder: Path | None, fmt: str) -> None:
    """Pool the plan's ANALYSIS under every defensible specification (measure, model, interval, which
    records) and print each with its result: the table sorted by estimate, or every field as csv/json."""
    from metablina import multiverse as mv
    from metablina.run import AnalysisNotFound, load_everything

    folder = _review_folder(folder)
    try:
        _, rows, plan = load_everything(folder)
    except AnalysisNotFound as exc:
        _fail([f"error: {exc}"])
    chosen = next((a for a in plan.analyses if a.id == analysis), None)
    if chosen is None:
        _fail([f"error: no analysis {analysis!r} in {folder}; `metablina analyses` lists them"])
    fitted = mv.multiverse(rows, chosen)
    if fmt == "table":
        click.echo(mv.to_table(fitted, mv.unpooled_strata(rows, chosen)), nl=False)
    else:
        click.echo((mv.to_json if fmt == "json" else mv.to_csv)(fitted), nl=False)


@main.command()
@studies_option
def analyses(folder: Path | None) -> None:
    """List the analyses of the plan, FOLDER/analyses.yaml (--studies FOLDER)."""
    from metablina.plan import load_plan, plan_path

    plan, problems = load_plan(plan_path(_review_folder(folder)))
    if plan is None or problems:
        _fail([str(p) for p in problems])
    width = max(len(a.id) for a in plan.analyses)
    for a in plan.analyses:
        click.echo(f"{a.id:<{width}}  {a.measure:<3}  {a.model:<5}  {a.title}")


@main.command()
@click.option("--studies", "folder", default="studies", show_default=True, type=click.Path(path_type=Path))
@click.option("--out", default="outputs", show_default=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--jobs", type=click.IntRange(min=1), help="Processes that draw the figures [CPUs, at most 4].")
def report(folder: Path, out: Path, jobs: int | None) -> None:
    """Run every analysis of the plan; write OUT/report.html, OUT/figures/ and OUT/tables/."""
    from metablina.workers import Interrupted, stop_on_signals

    with stop_on_signals():  # Ctrl-C and SIGTERM: the run cleans up as after any failure
        try:
            done = _report(folder, out, jobs)
        except Interrupted as exc:
            click.echo(f"interrupted by {exc}: stopped, no folder left half-written", err=True)
            sys.exit(128 + exc.signum)
    counts = f"{done.analyses} analyses, {done.figures} figures, {done.files} files"
    click.echo(f"wrote {out / 'report.html'}: {counts}")


def _report(folder: Path, out: Path, jobs: int | None):
    from metablina.workers import start_figure_server

    if jobs is None or jobs > 1:
        start_figure_server()  # first: it imports the plotting modules while this process goes on
    from metablina.report import ReportError, build_report

    try:
        return build_report(folder, out, workers=jobs)
    except ReportError as exc:
        _fail(exc.lines)
    except OSError as exc:  # a full disk, a folder without write permission
        _fail([f"error: {exc}"])


@main.command()
def schema() -> None:
    """Print the JSON Schema of a study extract (for editors that check YAML as it is typed)."""
    import json

    from metablina.extract.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
