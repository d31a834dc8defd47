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
def open_report(path: str | os.PathLike, *, viewport=(1280, 1000), ready: str | None = "body[data-ready=true]"):
    """Open a report from ``file://`` in Chromium; yield ``(page, problems)`` once ``ready`` shows.

    Requests other than to the report's own folder (``file://``) or to ``data:`` URLs
    are recorded and aborted; console errors, page errors and dialogs are recorded.
    A page that holds reports in frames (a notebook's) passes ``ready=None`` and waits itself.
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
            if ready:
                page.wait_for_selector(ready, timeout=20_000)
            yield page, problems
        finally:
            browser.close()


def _note_request(url: str, folder: str, problems: PageProblems) -> None:
    if not (url.startswith(folder) or url.startswith("data:")) and url not in problems.requests:
        problems.requests.append(url)


def map_pixels(page) -> list[str]:
    """The shown map canvases' pixels, as data URLs."""
    return page.eval_on_selector_all(
        ".method-group:not([hidden]) canvas", "canvases => canvases.map(c => c.toDataURL())"
    )


def selected_index(page) -> int:
    """The first explained token of the selection."""
    return int(page.get_attribute("body", "data-start"))


def selection(page) -> tuple[int, int]:
    """The selected tokens, ``(first, last)``."""
    return selected_index(page), int(page.get_attribute("body", "data-end"))


def selected_text(page) -> str:
    """What the selected token spans read, together."""
    return page.eval_on_selector_all(".tok.selected[data-index]", "spans => spans.map(s => s.innerText).join('')")


def check_report(path: str | os.PathLike) -> None:
    """Assert that a report works: keys, clicks, the method switch, no errors, no network."""
    with open_report(path) as (page, problems):
        count = page.locator(".tok[data-index]").count()
        assert count >= 3, f"the report shows {count} tokens"
        has_maps = page.locator("#maps canvas").count() > 0
        first, last = selection(page)
        for index in range(first, last + 1):
            assert page.locator(f'.tok[data-index="{index}"]').get_attribute("aria-current") == "true"

        # ArrowRight: the next word is shown, and within a few steps its map differs.
        before_maps = map_pixels(page)
        changed_map = False
        starts = [first]
        for _ in range(5):
            if last == count - 1:
                break
            before_position = page.inner_text("#token-position")
            page.keyboard.press("ArrowRight")
            previous_last = last
            first, last = selection(page)
            assert first == previous_last + 1, (previous_last, first)  # the next word starts after this one
            starts.append(first)
            assert page.inner_text("#token-position") != before_position
            assert page.inner_text("#token-shown").replace("\n", "") == selected_text(page).replace("\n", "")
            if has_maps and map_pixels(page) != before_maps:
                changed_map = True
                break
        assert changed_map or not has_maps or len(starts) < 3, "ArrowRight changed no map in 5 steps"
        if len(starts) > 1:
            page.keyboard.press("ArrowLeft")
            assert selected_index(page) == starts[-2]

        # Click a token of the answer that is not selected: its whole word is selected.
        answer = page.locator("#answer .tok")
        target = answer.nth(min(2, answer.count() - 1))
        target_index = int(target.get_attribute("data-index"))
        target.click()
        first, last = selection(page)
        assert first <= target_index <= last
        assert page.locator(".tok.selected[data-index]").count() == last - first + 1
        assert "selected" in target.get_attribute("class").split()

        # The method switch redraws the map of the same selection.
        shown_maps = map_pixels(page)
        methods = page.eval_on_selector_all("#methods input", "inputs => inputs.map(i => i.value)")
        for method in methods:
            page.check(f'#methods input[value="{method}"]')
            assert page.get_attribute("body", "data-method") == method
            assert selection(page) == (first, last)
        page.check('#methods input[value="raw"]')
        assert not has_maps or map_pixels(page) != shown_maps, "switching to raw maps changed nothing"
        page.keyboard.press("ArrowRight")  # keys still step while a radio button has the focus
        assert selected_index(page) == min(last + 1, count - 1) or last == count - 1
        assert page.get_attribute("body", "data-method") == "raw"

    assert not problems, problems


def screenshot(path: str | os.PathLike, output: str | os.PathLike, *, width: int = 1000, height: int = 560) -> None:
    """Save a small PNG screenshot (256 colours) of a report as it opens (on the answer's first content word)."""
    import io

    from PIL import Image

    with open_report(path, viewport=(width, height)) as (page, problems):
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
