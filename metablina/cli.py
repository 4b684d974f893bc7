"""The command line: click commands that parse, call one function of the package, and print."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
@click.version_option(package_name="metablina")
def main() -> None:
    """metablina: pool study extracts written as YAML."""


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(1)


@main.command()
@click.argument("folder", default="studies", type=click.Path(path_type=Path))
@click.option(
    "--sources", type=click.Path(path_type=Path), help="Folder of source documents [FOLDER/sources]."
)
def validate(folder: Path, sources: Path | None) -> None:
    """Check every extract in FOLDER: YAML, schema, consistency, quotes against sources."""
    from metablina.extract.validate import load_review

    review = load_review(folder, sources)
    if not review.ok:
        _fail([str(p) for p in review.problems] + [f"{len(review.problems)} problem(s) in {folder}"])
    records = sum(len(s.study.outcomes) for s in review.studies)
    click.echo(
        f"ok: {len(review.studies)} studies, {records} outcome records, every quote found in its source"
    )


@main.command()
@click.argument("study_id", metavar="ID")
@click.option("--dir", "folder", default="studies", show_default=True, type=click.Path(path_type=Path))
def new(study_id: str, folder: Path) -> None:
    """Write a commented template extract FOLDER/ID.yaml for a reviewer to fill in."""
    from metablina.extract.template import render_template

    try:
        text = render_template(study_id)
    except ValueError as exc:
        _fail([f"error: {exc}"])
    target = folder / f"{study_id}.yaml"
    if target.exists():
        _fail([f"error: {target} exists; not overwriting it"])
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}: fill it in, then run `metablina validate {folder}`")


@main.command()
@click.argument("folder", default="studies", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def studies(folder: Path, fmt: str) -> None:
    """List the studies and how many records each reports per outcome."""
    from metablina.extract.validate import load_review
    from metablina.render.tables import study_overview

    review = load_review(folder)
    if not review.ok:
        _fail(
            [str(p) for p in review.problems]
            + [f"{len(review.problems)} problem(s); run `metablina validate`"]
        )
    studies_table, outcome_table = study_overview([s.study for s in review.studies])
    if fmt == "csv":
        click.echo(outcome_table.to_csv(), nl=False)
        return
    click.echo(studies_table.to_string(index=False))
    click.echo()
    click.echo("Records per outcome (rows) and study (columns):")
    click.echo(outcome_table.to_string())
