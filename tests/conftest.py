"""Test settings shared by the whole suite."""

import os
from pathlib import Path

from hypothesis import core, settings
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

# Examples that once failed, kept in the repository (the readable ones are also written as @example on
# their tests, which is what a reviewer reads; this folder replays whatever Hypothesis shrank them to).
PINNED = ReadOnlyDatabase(DirectoryBasedExampleDatabase(Path(__file__).parent / "hypothesis-examples"))

# CI replays the pinned examples, then generates from a fixed seed: the same examples every run (a red
# build must be reproducible, not a roll of the dice) and nothing written back. Local runs keep exploring
# from fresh seeds, which is where failures are found, and save them to the local .hypothesis folder.
settings.register_profile("ci", database=PINNED, deadline=None, print_blob=True)
settings.register_profile(
    "dev", database=MultiplexedDatabase(DirectoryBasedExampleDatabase(".hypothesis/examples"), PINNED)
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config) -> None:
    if os.environ.get("CI") and config.getoption("--hypothesis-seed") is None:
        core.global_force_seed = 0
