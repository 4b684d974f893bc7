"""The report page in a real browser: headless Chromium driven by Playwright (issue 13, item 7).

A report is built from the shipped review into a temporary folder and opened at 900 and 1400 CSS px:
no horizontal overflow (the page is no wider than the window, and no element sticks out of its
container, with every <details> opened), every figure loaded and its smallest text at least 11 px on
screen, every provenance link opening the quote it points at, and the Summary of Findings table there.

The browser is Debian's ``chromium`` (CI installs it in .ci/run); without it, or without Playwright,
the tests are skipped and say why. Set METABLINA_SCREENSHOTS to a folder to keep full-page screenshots.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metablina.report import build_report

STUDIES = Path(__file__).resolve().parents[2] / "studies"
WIDTHS = (900, 1400)
MIN_TEXT_PX = 11.0  # figure text on screen at 100% zoom

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (it is in requirements-test.lock)"
)


def chromium() -> str | None:
    """Debian's Chromium (or $CHROMIUM): Playwright's own browser download is never used."""
    explicit = os.environ.get("CHROMIUM")
    found = [shutil.which(name) for name in (explicit or "chromium", "chromium-browser") if name]
    return next((path for path in found if path), None)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "out"
    build_report(STUDIES, out, workers=1, on_note=lambda _line: None)
    return out / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium()
    if path is None:
        pytest.skip(
            "no Chromium installed (apt-get install chromium, or set $CHROMIUM): browser test skipped"
        )
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request: pytest.FixtureRequest, browser: Any, report: Path) -> Iterator[Any]:
    """One page per width, shared by the tests in file order (the overflow test, which opens every
    <details>, comes after the provenance test, which must find them closed)."""
    pg = browser.new_page(viewport={"width": request.param, "height": 900})
    pg.goto(report.as_uri())
    yield pg
    folder = os.environ.get("METABLINA_SCREENSHOTS")
    if folder:
        pg.evaluate("() => window.scrollTo(0, 0)")
        pg.screenshot(path=str(Path(folder) / f"report-{request.param}.png"), full_page=True)
    pg.close()


def svg_of(src: str) -> str:
    prefix = "data:image/svg+xml;base64,"
    assert src.startswith(prefix), src[:60]
    return base64.b64decode(src[len(prefix) :]).decode("utf-8")


def test_every_figure_is_loaded_and_its_text_is_at_least_11_px(page: Any, report: Path) -> None:
    figures = page.evaluate(
        """() => [...document.querySelectorAll('img')].map(i => ({
             src: i.getAttribute('src'), complete: i.complete, natural: i.naturalWidth,
             shown: i.getBoundingClientRect().width, alt: i.alt}))"""
    )
    drawn = {p.stem for p in (report.parent / "figures").glob("*.svg")}
    assert len(figures) >= len(drawn) > 0
    inline = page.evaluate(
        "() => [...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect().width)"
    )
    assert all(w > 0 for w in inline)  # inline SVGs, if any, are laid out
    small = []
    for f in figures:
        assert f["complete"] and f["natural"] > 0, f"not loaded: {f['alt']}"
        svg = svg_of(f["src"])
        view_w = float(re.search(r'viewBox="[-0-9.]+ [-0-9.]+ ([0-9.]+) ', svg).group(1))  # type: ignore[union-attr]
        sizes = [float(s) for s in re.findall(r'font-size="([0-9.]+)"', svg)]
        assert sizes, f"no text in {f['alt']}"
        px = min(sizes) * f["shown"] / view_w
        if px < MIN_TEXT_PX:
            small.append(f"{f['alt']}: {px:.1f} px")
    assert small == [], small


def test_every_provenance_link_opens_its_quote(page: Any) -> None:
    links = page.locator("a.prov")
    n = links.count()
    assert n > 20  # every study row of every analysis table has one
    for i in range(n):
        link = links.nth(i)
        target = link.get_attribute("href")
        assert target and target.startswith("#quote-"), target
        link.click()
        state = page.evaluate(
            """(id) => { const t = document.getElementById(id); const d = t && t.closest('details');
                 const r = t && t.getBoundingClientRect();
                 return {target: !!t && t.matches(':target'), open: !!d && d.open,
                         shown: !!r && r.height > 0 && r.bottom > 0 && r.top < innerHeight,
                         quote: !!t && t.querySelector('blockquote') !== null}; }""",
            target[1:],
        )
        assert state == {"target": True, "open": True, "shown": True, "quote": True}, (target, state)


# Elements sticking out of their container's box (more than 1 px) once every <details> is open; an
# element's own scroll container counts as its container, so a table in a scroll box is caught too.
OVERFLOW_JS = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const out = [];
  for (const el of document.querySelectorAll('main *')) {
    const parent = el.parentElement, r = el.getBoundingClientRect(), p = parent.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).position === 'fixed') continue;
    if (r.right > p.right + 1 || r.left < p.left - 1) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(r.width)} px in ` +
               `${parent.tagName.toLowerCase()}.${parent.className} ${Math.round(p.width)} px: ` +
               (el.textContent || '').trim().slice(0, 60));
    }
  }
  return {scroll: document.documentElement.scrollWidth, inner: innerWidth, out: out};
}"""


def test_no_horizontal_overflow(page: Any) -> None:
    found = page.evaluate(OVERFLOW_JS)
    assert found["scroll"] <= found["inner"], (
        f"page {found['scroll']} px wide in a {found['inner']} px window"
    )
    assert found["out"] == [], "\n".join(found["out"][:20])


def test_the_summary_of_findings_table_is_there(page: Any) -> None:
    """H6's GRADE Summary of Findings: <table class="grade-sof"> in a section per review question
    (contract: /tmp/team/grade_contract.md), with the certainty of every row."""
    tables = page.locator("section.question table.grade-sof")
    assert tables.count() >= 1
    rows = page.locator("table.grade-sof tbody tr")
    assert rows.count() >= 1
    assert all(c.strip() for c in page.locator("table.grade-sof td.certainty").all_inner_texts())
