"""The metablina program itself: what the console script and ``python -m metablina`` do around the CLI."""

from __future__ import annotations

import gc

import pytest
from click.testing import CliRunner

from metablina.cli import main, run


def test_the_program_turns_automatic_collection_off_and_main_leaves_it(monkeypatch) -> None:
    """``metablina`` (cli.run) runs without the collector's automatic passes; ``main``, which the tests
    and any other caller use, leaves the caller's setting alone."""
    assert CliRunner().invoke(main, ["--version"]).exit_code == 0
    assert gc.isenabled()
    monkeypatch.setattr("sys.argv", ["metablina", "--version"])
    try:
        with pytest.raises(SystemExit) as done:
            run()
        assert done.value.code == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
