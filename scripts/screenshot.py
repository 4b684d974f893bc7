"""Screenshot a report page with headless Chromium, to look at it (run by hand).

    .venv/bin/python scripts/screenshot.py outputs/report.html /tmp/report.png
    .venv/bin/python scripts/screenshot.py outputs/report.html /tmp/report.png --width 1280 --height 6000

Exits 0 with a message and no file when no Chromium is installed (``chromium``, ``chromium-browser``
or ``google-chrome`` on PATH, or $CHROMIUM): the screenshot is a convenience, never a requirement.
The browser runs with networking features off and a throw-away profile, so the page renders exactly
as the self-contained file it is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 4000, timeout: float = 120.0) -> bool:
    """Render ``page`` into ``png``; False (and nothing written) when no browser is available."""
    browser = find_browser()
    if browser is None:
        return False
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    return png.is_file()


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshot an HTML page with headless Chromium.")
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    if not args.page.is_file():
        print(f"error: {args.page} is not a file", file=sys.stderr)
        return 1
    if not screenshot(args.page, args.png, args.width, args.height):
        print("skipped: no Chromium found (install chromium, or set $CHROMIUM)")
        return 0
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
