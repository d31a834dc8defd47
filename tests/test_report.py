import dataclasses
import json
import re

import numpy as np
import pytest

from tam.visuals import report_html, save_html
from tam.visuals.report import report_data
from tam.visuals.text import visible_lines
from tests.report_browser import check_report, open_report
from tests.visual_cases import SPECIAL_TEXTS, SpecialTextTokenizer, special_text_result


@pytest.fixture(scope="module")
def result():
    return special_text_result(40)


@pytest.fixture(scope="module")
def report(result, tmp_path_factory):
    return save_html(result, tmp_path_factory.mktemp("report") / "index.html", tokenizer=SpecialTextTokenizer())


def test_token_text_never_becomes_markup(result):
    page = report_html(result)
    assert page.count("<script") == 2  # the page's own data and code
    assert "alert(1)" in page and "<script>alert" not in page and "<b>bold" not in page
    embedded = re.search(r'<script type="application/json" id="tam-data">(.*?)</script>', page, re.S).group(1)
    assert [token["text"] for token in json.loads(embedded)["tokens"]][: len(SPECIAL_TEXTS)] == SPECIAL_TEXTS


def test_report_holds_every_variant_and_stays_small(result, report):
    data = report_data(result)
    assert list(data["methods"]) == list(data["methodNames"]) == ["tam", "raw", "eci", "rgf"]
    assert data["initial"] == result.num_prompt_tokens and data["numPrompt"] == result.num_prompt_tokens
    assert report.stat().st_size < 1_000_000  # mostly the JPEG of a 560x756 noise picture


def test_save_html_refuses_to_overwrite(result, report):
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_html(result, report)
    assert save_html(result, report, overwrite=True) == report
    assert [p.name for p in report.parent.iterdir()] == ["index.html"]


def test_unknown_method_is_named(result):
    with pytest.raises(ValueError, match=r"method must be one of .*got 'gradcam'"):
        report_data(result, method="gradcam")


def test_report_in_chromium(report):
    check_report(report)


def test_special_texts_show_as_text_in_chromium(result, report):
    with open_report(report) as (page, problems):
        shown = page.eval_on_selector_all(".tok[data-index]", "spans => spans.map(s => s.innerText)")
        assert page.locator("script").count() == 2
        assert page.locator("#prompt b").count() == 0
    assert not problems, problems
    assert len(shown) == len(result)
    for text, inner in zip(result.texts, shown, strict=True):
        assert inner == "\n".join(visible_lines(text)), (text, inner)


def test_report_of_several_images_in_chromium(tmp_path):
    several = special_text_result(6, vision_shape=[(4, 5), (3, 3)], image_size=(60, 80))
    path = save_html(several, tmp_path / "index.html")
    with open_report(path) as (page, _):
        assert page.locator(".method-group:not([hidden]) canvas").count() == 2
        captions = page.eval_on_selector_all(".method-group:not([hidden]) figcaption", "f => f.map(c => c.innerText)")
        assert captions == ["image 1", "image 2"]
    check_report(path)


def test_text_only_report_in_chromium(result, tmp_path):
    path = save_html(dataclasses.replace(result, images=None, _cache={}), tmp_path / "index.html")
    check_report(path)


def test_result_methods_delegate_to_the_visuals(result, tmp_path):
    assert result.to_html() == report_html(result)
    assert result.save_html(tmp_path / "index.html") == tmp_path / "index.html"
    assert result.save_token_visual(-1, tmp_path / "last.png").stat().st_size > 0


def test_browser_tests_skip_only_without_chromium_or_playwright(monkeypatch):
    import importlib.util

    from tests import report_browser

    monkeypatch.setattr(report_browser, "chromium_path", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        report_browser.require_browser()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="Playwright for Python is not installed"):
        report_browser.require_browser()


WORDS_PROMPT = ["Describe", " this", "."]
WORDS_ANSWER = [" A", " skate", "board", "er", " jumps", " over", " a", " red", " cone", ".", "<|im_end|>"]


@pytest.fixture(scope="module")
def words_report(tmp_path_factory):
    """A report whose answer has a multi-token word, on two pictures."""
    from tam.testing import make_generation

    generation = make_generation([(4, 5), (3, 3)], num_prompt=len(WORDS_PROMPT), num_answer=len(WORDS_ANSWER), seed=11)
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (80, 100, 3), dtype=np.uint8), rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)]
    result = dataclasses.replace(
        generation.explain(), texts=WORDS_PROMPT + WORDS_ANSWER, pieces=None, images=images, _cache={}
    )
    return result, save_html(result, tmp_path_factory.mktemp("words") / "index.html")


def test_report_controls_in_chromium(words_report):
    from tests.report_browser import map_pixels, selection

    result, path = words_report
    token = {text: index for index, text in enumerate(result.texts)}
    with open_report(path) as (page, problems):
        tok = lambda index: page.locator(f'.tok[data-index="{index}"]')  # noqa: E731
        assert selection(page) == (4, 6)  # opens on "skateboarder", the first content word, all of it
        tok(token["board"]).click()
        assert selection(page) == (4, 6)
        tok(token[" red"]).click(modifiers=["Shift"])  # shift-click: a phrase
        assert selection(page) == (4, 10)
        assert page.inner_text("#token-shown") == " skateboarder jumps over a red"
        tok(token[" over"]).hover()  # drag: from "over" to "a"
        page.mouse.down()
        tok(token[" a"]).hover()
        page.mouse.up()
        assert selection(page) == (8, 9)
        page.keyboard.press("Shift+ArrowRight")
        assert selection(page) == (8, 10)
        page.keyboard.press("Home")
        assert selection(page) == (0, 0)
        page.keyboard.press("End")
        assert selection(page) == (len(result) - 1, len(result) - 1)
        page.select_option("#unit", "token")
        tok(token["board"]).click()
        assert selection(page) == (5, 5)
        page.select_option("#unit", "word")

        # Tab reaches the tokens, and a focused token selects its word.
        page.focus("#download")
        for _ in range(3):
            page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.dataset.index")
        assert focused == "2" and selection(page) == (2, 2)  # the prompt's third token

        # Strip of every answer word: click the fourth ("over") to jump to it.
        assert page.locator(".thumb").count() == 9
        page.locator(".thumb").nth(3).click()
        assert selection(page) == (8, 8) and "current" in page.locator(".thumb").nth(3).get_attribute("class")

        # Methods side by side: every method, each with its pictures and title.
        page.check("#side-by-side")
        groups = page.locator(".method-group:not([hidden])")
        assert groups.count() == 4 and page.locator(".method-group:not([hidden]) canvas").count() == 8
        assert page.locator(".method-group:not([hidden]) .method-title:not([hidden])").count() == 4
        page.uncheck("#side-by-side")
        assert page.locator(".method-group:not([hidden])").count() == 1

        # Opacity, colour map and scale redraw the map.
        shown = map_pixels(page)
        page.fill("#opacity", "90")
        assert page.inner_text("#opacity-value") == "0.90" and map_pixels(page) != shown
        shown = map_pixels(page)
        page.select_option("#colour-map", "viridis")
        assert map_pixels(page) != shown
        shown = map_pixels(page)
        assert (
            page.inner_text("#scale-kind").startswith("Scale of this selection")
            and page.inner_text("#scale-high") != "1"
        )
        page.select_option("#scale-mode", "shared")
        assert map_pixels(page) != shown and page.inner_text("#scale-high") == "1"
        assert page.inner_text("#scale-kind").startswith("Shared scale (0 to 1")

        # The value under the cursor.
        box = page.locator(".method-group:not([hidden]) canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert re.fullmatch(r"value [01]\.\d{3} \(TAM \(ECI \+ filter\), image 1, row \d, column \d of the 4×5 grid\)",
                            page.inner_text("#cursor-value"))  # fmt: skip
        assert 0 <= float(page.get_attribute("body", "data-cursor-value")) <= 1

        # Download PNG of the current view.
        with page.expect_download() as download:
            page.click("#download")
        picture = download.value.path().read_bytes()
        assert download.value.suggested_filename == "tam-tam-8-8.png" and picture.startswith(b"\x89PNG")
    assert not problems, problems


def test_a_256_token_four_method_report_opens_with_every_word_in_its_strip(tmp_path):
    # its opening time is measured in benchmarks/bench_report.py, not asserted here
    from tam.testing import make_generation

    generation = make_generation((20, 27), num_prompt=16, num_answer=256, seed=4)
    result = generation.explain()
    texts = [f" w{index % 97}" + ("s" if index % 5 else ".") for index in range(len(result))]
    result = dataclasses.replace(result, texts=texts, images=[np.zeros((560, 756, 3), np.uint8)], _cache={})
    path = save_html(result, tmp_path / "index.html")
    with open_report(path) as (page, problems):
        assert int(page.get_attribute("body", "data-ready-ms")) >= 0  # the page says when it is ready
        assert page.locator(".thumb").count() == 256
    assert not problems, problems


LAYOUT = """() => {
  const box = (element) => element.getBoundingClientRect();
  const canvases = [...document.querySelectorAll(".method-group:not([hidden]) canvas")].map(box);
  const controls = [...document.querySelectorAll("#controls > *")].map(box);
  return {
    controlsHeight: box(document.getElementById("controls")).height,
    tallestControl: Math.max(...controls.map((control) => control.height)),
    picturesRight: Math.max(...canvases.map((canvas) => canvas.right)),
    textLeft: box(document.querySelector("main > section")).left,
    stripBottom: box(document.getElementById("strip")).bottom,
    scaleKind: document.getElementById("scale-kind").innerText,
  };
}"""


@pytest.mark.parametrize(
    "vision_shape, image_size",
    [
        pytest.param((20, 27), (756, 560), id="a tall picture"),
        pytest.param((4, 5), (60, 80), id="a small picture"),
        pytest.param((5, 6, 4), (504, 336), id="a video of 5 time steps"),
    ],
)
def test_at_1280_px_the_controls_fit_one_line_and_the_text_sits_by_the_pictures(tmp_path, vision_shape, image_size):
    path = save_html(special_text_result(8, vision_shape=vision_shape, image_size=image_size), tmp_path / "i.html")
    with open_report(path, viewport=(1280, 800)) as (page, problems):
        layout = page.evaluate(LAYOUT)
    assert not problems, problems
    assert layout["controlsHeight"] <= layout["tallestControl"] + 2  # one line of controls
    assert layout["textLeft"] - layout["picturesRight"] <= 32  # the grid's 1.5rem gap, no more
    if len(vision_shape) == 3:  # a video's frames share a row: its strip of answer words is on the first screen
        assert layout["stripBottom"] <= 800
    assert layout["scaleKind"] == "Scale of this selection (0 to its maximum):"  # the default, said so
