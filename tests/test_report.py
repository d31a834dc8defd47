import dataclasses
import json
import re

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
        assert page.locator("#maps canvas").count() == 2
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
