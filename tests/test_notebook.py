"""The result in a notebook: the inline report in a sandboxed frame, its size limit, and result.plot."""

import dataclasses
import html
import io
import json
import re

import numpy as np
import pytest

from tam.visuals import jet_colours
from tam.visuals.notebook import FRAME_HEIGHT, INLINE_LIMIT_BYTES, first_tokens
from tests.report_browser import open_report
from tests.visual_cases import special_text_result

# A notebook's own styles, which must not reach into a report's frame (they would hide its tokens).
NOTEBOOK_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>.tok {{ display: none; }} #answer {{ visibility: hidden; }}</style></head><body>
<p><span id="outside" class="tok selected" style="display:inline">a notebook's own span</span></p>
{cells}
</body></html>"""


@pytest.fixture(scope="module")
def results():
    return [special_text_result(8, vision_shape=(6, 8), image_size=(160, 120), seed=seed) for seed in (1, 2)]


def srcdoc(inline_html: str) -> str:
    return html.unescape(re.search(r'srcdoc="([^"]*)"', inline_html).group(1))


def embedded_data(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="tam-data">(.*?)</script>', page, re.S).group(1))


def test_the_inline_report_is_the_whole_report_in_a_sandboxed_frame(results):
    result = results[0]
    shown = result._repr_html_()
    assert re.findall(r"<iframe[^>]*>", shown) and ' sandbox="allow-scripts" ' in shown
    assert "allow-same-origin" not in shown  # its own origin: no reach into the notebook
    assert srcdoc(shown) == result.to_html()
    kind, marimo = result._mime_()
    assert kind == "text/html" and srcdoc(marimo) == srcdoc(shown)


def test_show_takes_the_reports_options(results):
    data = embedded_data(srcdoc(results[0].show(method="raw", unit="token", opacity=0.7).html))
    assert (data["method"], data["unit"], data["opacity"]) == ("raw", "token", 0.7)
    with pytest.raises(ValueError, match=r"`opacity` must be in \[0, 1\], got 1.5"):
        results[0].show(opacity=1.5)
    with pytest.raises(ValueError, match=r"`methods` must be some of the result's methods .*got \['gradcam'\]"):
        results[0].show(methods=["gradcam"])
    with pytest.raises(ValueError, match=r"`unit` must be 'word' or 'token', got 'line'"):
        results[0].show(unit="line")


def map_pixels(frame) -> list[str]:
    return frame.eval_on_selector_all(".method-group:not([hidden]) canvas", "cs => cs.map(c => c.toDataURL())")


def start(frame) -> str:
    return frame.get_attribute("body", "data-start")


def test_two_inline_reports_in_one_page_work_apart(results, tmp_path):
    cells = [results[0]._repr_html_(), results[1].show(unit="token", opacity=0.8, method="eci")._repr_html_()]
    path = tmp_path / "notebook.html"
    path.write_text(NOTEBOOK_PAGE.format(cells="\n".join(f"<div class='cell'>{cell}</div>" for cell in cells)))
    with open_report(path, ready=None) as (page, problems):
        frames = [element.content_frame() for element in page.query_selector_all("iframe.tam-report")]
        assert len(frames) == 2
        for frame in frames:
            frame.wait_for_selector("body[data-ready=true]", timeout=60_000)
        # the options of show() are the second report's opening state
        second = frames[1]
        assert second.input_value("#unit") == "token" and second.input_value("#opacity") == "80"
        assert second.get_attribute("body", "data-method") == "eci"
        # a frame cannot reach the notebook's page, nor its styles the frame's
        assert (
            frames[0].evaluate("() => { try { return !!window.parent.document; } catch (e) { return false; } }")
            is False
        )
        outside = page.eval_on_selector("#outside", "e => getComputedStyle(e).backgroundColor")
        assert outside in ("rgba(0, 0, 0, 0)", "transparent"), outside  # the report's .tok.selected stays inside
        # each frame is as tall as its report says (not the fixed fallback)
        heights = page.eval_on_selector_all("iframe.tam-report", "fs => fs.map(f => f.getBoundingClientRect().height)")
        assert all(height != FRAME_HEIGHT for height in heights), heights

        before = [(start(frame), map_pixels(frame)) for frame in frames]
        answer = frames[0].locator("#answer .tok")
        target = next(
            answer.nth(k)
            for k in range(answer.count())
            if "selected" not in answer.nth(k).get_attribute("class") and answer.nth(k).inner_text().strip()
        )
        target.click()
        assert (
            start(frames[0]) != before[0][0] and map_pixels(frames[0]) != before[0][1]
        )  # the click showed another map
        assert (start(frames[1]), map_pixels(frames[1])) == before[1]  # the other report did not move
    assert not problems, problems


@pytest.fixture(scope="module")
def large():
    """Hundreds of tokens on a 40 x 54 grid, with four methods: larger than the limit."""
    return special_text_result(400, vision_shape=(40, 54), image_size=(540, 400))


def test_an_oversized_result_shows_what_fits_and_how_to_write_it_whole(large, tmp_path):
    assert len(html.escape(large.to_html()).encode()) > INLINE_LIMIT_BYTES  # the whole report, as a frame holds it
    shown = large.show()
    assert len(shown.html.encode()) <= INLINE_LIMIT_BYTES
    assert shown.shown_methods == ("tam",) and shown.shown_tokens == len(large) and not shown.complete
    path = tmp_path / "notebook.html"
    path.write_text(NOTEBOOK_PAGE.format(cells=shown.html))
    with open_report(path, ready=None) as (page, problems):
        notice = page.inner_text(".tam-notice")
        frame = page.query_selector("iframe.tam-report").content_frame()
        frame.wait_for_selector("body[data-ready=true]", timeout=60_000)
        assert frame.eval_on_selector_all("#methods input", "inputs => inputs.map(i => i.value)") == ["tam"]
    assert not problems, problems
    assert "result.save_html(path)" in notice and "only the tam maps (of 4 methods)" in notice


def test_a_report_cut_to_its_first_tokens_keeps_their_maps(large):
    limit = 600_000
    shown = large.show(max_bytes=limit)
    assert len(shown.html.encode()) <= limit and large.num_prompt_tokens < shown.shown_tokens < len(large)
    answer_shown = shown.shown_tokens - large.num_prompt_tokens
    assert f"the first {answer_shown} of 400 answer tokens" in shown.html
    assert len(embedded_data(srcdoc(shown.html))["tokens"]) == shown.shown_tokens
    # made again from the cut arrays alone, every map is the full result's
    cut = dataclasses.replace(first_tokens(large, 40), _cache={})
    for method in large.methods:
        np.testing.assert_allclose(cut.maps(method), large.maps(method)[:40], atol=1e-12)
        np.testing.assert_allclose(cut.text_relevance(39, method), large.text_relevance(39, method), atol=1e-12)


def test_plot_draws_the_spans_maps_and_shows_itself_without_pyplot(results):
    from IPython.core.formatters import PNGFormatter
    from PIL import Image

    result = results[0]
    word = result.words[-2]
    figure = result.plot(word, methods=["tam", "raw"])
    assert [axes.get_title() for axes in figure.axes] == ["TAM (ECI + filter)", "raw"]
    assert figure.get_suptitle() == f"\u201c{' '.join(word.text.split())}\u201d"
    png = PNGFormatter()(figure)  # what a fresh kernel shows, with no matplotlib backend set up
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert picture.shape[:2] == tuple(round(side * figure.dpi) for side in figure.get_size_inches()[::-1])
    # at the centre of the cell where the word's map peaks, the panel is the picture and that value's JET colour, 50/50
    shown = figure.axes[0].images[0].get_array().astype(float)
    picture = result.images[0].astype(float)
    assert shown.shape == picture.shape
    grid = result.layout.split(result.span_map(word))[0]
    row, column = np.unravel_index(np.argmax(grid), grid.shape)
    y, x = (int((row + 0.5) * shown.shape[0] / grid.shape[0]), int((column + 0.5) * shown.shape[1] / grid.shape[1]))
    colour = 2 * shown[y, x] - picture[y, x]
    np.testing.assert_allclose(colour, jet_colours([grid.max()])[0], atol=16)
