"""Drive a tam HTML report in Debian's Chromium with Playwright: the checks of any report.

``check_report(path)`` works on any report file (one made by the tests here, or by
demo.py); tests skip only when Playwright or Chromium is missing.

    python -m tests.report_browser REPORT.html --screenshot docs/report.png
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Debian's Chromium, or None."""
    found = shutil.which("chromium")
    return found or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


def require_browser() -> str:
    """Return Chromium's path; skip the test when Playwright or Chromium is missing."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed (pip install -r requirements.txt)")
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return path


@dataclass
class PageProblems:
    """What went wrong while a page was open: errors, dialogs, and requests it should not make."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.errors or self.requests or self.dialogs)


@contextmanager
def open_report(path: str | os.PathLike, *, viewport=(1280, 1000)):
    """Open a report from ``file://`` in Chromium; yield ``(page, problems)``.

    Requests other than to the report's own folder (``file://``) or to ``data:`` URLs
    are recorded and aborted; console errors, page errors and dialogs are recorded.
    """
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    report = Path(path).resolve()
    folder = report.parent.as_uri() + "/"
    problems = PageProblems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})

            def screen(route):
                if not (route.request.url.startswith(folder) or route.request.url.startswith("data:")):
                    route.abort()  # the "request" listener below records it
                else:
                    route.continue_()

            context.route("**/*", screen)
            page = context.new_page()
            page.on("request", lambda request: _note_request(request.url, folder, problems))
            page.on("console", lambda message: message.type == "error" and problems.errors.append(message.text))
            page.on("pageerror", lambda error: problems.errors.append(str(error)))
            page.on("dialog", lambda dialog: (problems.dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(report.as_uri())
            page.wait_for_selector("body[data-ready=true]", timeout=20_000)
            yield page, problems
        finally:
            browser.close()


def _note_request(url: str, folder: str, problems: PageProblems) -> None:
    if not (url.startswith(folder) or url.startswith("data:")) and url not in problems.requests:
        problems.requests.append(url)


def map_pixels(page) -> list[str]:
    """The map canvases' pixels, as data URLs."""
    return page.eval_on_selector_all("#maps canvas", "canvases => canvases.map(c => c.toDataURL())")


def selected_index(page) -> int:
    return int(page.get_attribute("body", "data-index"))


def check_report(path: str | os.PathLike) -> None:
    """Assert that a report works: keys, clicks, the method switch, no errors, no network."""
    with open_report(path) as (page, problems):
        count = page.locator(".tok[data-index]").count()
        assert count >= 3, f"the report shows {count} tokens"
        has_maps = page.locator("#maps canvas").count() > 0
        start = selected_index(page)
        assert page.locator(f'.tok[data-index="{start}"]').get_attribute("aria-current") == "true"

        # ArrowRight: the next token is shown, and within a few steps its map differs.
        before_maps = map_pixels(page)
        changed_map = False
        for step in range(1, min(6, count - start)):
            before_position = page.inner_text("#token-position")
            page.keyboard.press("ArrowRight")
            assert selected_index(page) == start + step
            assert page.inner_text("#token-position") != before_position
            shown = page.inner_text(f'.tok[data-index="{start + step}"]')
            assert page.inner_text("#token-shown") == shown
            if has_maps and map_pixels(page) != before_maps:
                changed_map = True
                break
        assert changed_map or not has_maps, "ArrowRight changed no map in 5 steps"
        page.keyboard.press("ArrowLeft")
        assert selected_index(page) == start + step - 1

        # Click a token of the answer that is not selected.
        target = page.locator("#answer .tok").nth(min(2, page.locator("#answer .tok").count() - 1))
        target_index = int(target.get_attribute("data-index"))
        target.click()
        assert selected_index(page) == target_index
        assert "selected" in target.get_attribute("class").split()
        assert page.locator(".tok.selected[data-index]").count() == 1
        assert page.inner_text("#token-shown") == target.inner_text()

        # The method switch redraws the map of the same token.
        shown_maps = map_pixels(page)
        for method in ("raw", "eci", "rgf", "tam"):
            page.check(f'#methods input[value="{method}"]')
            assert page.get_attribute("body", "data-method") == method
            assert selected_index(page) == target_index
        page.check('#methods input[value="raw"]')
        assert not has_maps or map_pixels(page) != shown_maps, "switching to raw maps changed nothing"
        page.keyboard.press("ArrowRight")  # keys still step tokens while a radio button has the focus
        assert selected_index(page) == min(target_index + 1, count - 1)
        assert page.get_attribute("body", "data-method") == "raw"

    assert not problems, problems


def screenshot(path: str | os.PathLike, output: str | os.PathLike, *, width: int = 1000, height: int = 560) -> None:
    """Save a small PNG screenshot (256 colours) of a report with its third answer token selected."""
    import io

    from PIL import Image

    with open_report(path, viewport=(width, height)) as (page, problems):
        page.locator("#answer .tok").nth(2).click()
        picture = Image.open(io.BytesIO(page.screenshot(full_page=False)))
    assert not problems, problems
    picture.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(output, optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, help="write a PNG of the page here instead of checking it")
    arguments = parser.parse_args()
    if arguments.screenshot:
        screenshot(arguments.report, arguments.screenshot)
    else:
        check_report(arguments.report)
