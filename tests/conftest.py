"""Test settings shared by the whole suite."""

import os

from hypothesis import settings

# CI runs the same hypothesis examples every time (a red build must be reproducible, not a roll of the
# dice); local runs keep exploring new examples, which is where failures are found and then pinned.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
