"""docs/tutorial.ipynb runs top to bottom on the CPU, and its inline report works in its executed HTML."""

import os
import time
from pathlib import Path

import pytest

from tests.report_browser import map_pixels, open_report

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
TIME_LIMIT_SECONDS = 120


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The tutorial run in a fresh Python kernel from docs/, as a reader opens it, and the seconds it took."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(TUTORIAL, as_version=4)
    root = str(TUTORIAL.parents[1])
    # the kernel imports this checkout's tam, offline, with the NLTK data the tests use
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        "TMPDIR": str(tmp_path_factory.mktemp("kernel")),  # the tutorial's evaluation folder, removed by pytest
    }
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIME_LIMIT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIAL.parent)}},
    )
    started = time.perf_counter()
    client.execute(env=environment)
    return notebook, time.perf_counter() - started


def outputs(notebook, kind: str) -> list:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == kind]


@pytest.mark.needs_nltk_data  # the notebook ends with an evaluation
def test_the_tutorial_runs_top_to_bottom_on_the_cpu_in_under_two_minutes(executed):
    notebook, seconds = executed
    assert seconds < TIME_LIMIT_SECONDS
    assert not outputs(notebook, "error")
    text = "".join(o.get("text", "") for o in outputs(notebook, "stream"))
    assert "answer: a circle, a square and a star." in text
    assert "samples 10  failed 0" in text  # the evaluation's table
    assert "random-order  deletion AUC" in text
    shown = [o["data"] for o in outputs(notebook, "execute_result") + outputs(notebook, "display_data")]
    assert sum("tam-report" in data.get("text/html", "") for data in shown) == 3  # result, show(raw), show(gradcam)
    assert sum("image/png" in data for data in shown) == 4  # three span figures and the curves


@pytest.mark.needs_nltk_data  # the notebook ends with an evaluation
def test_a_word_click_in_the_tutorials_html_changes_the_map(executed, tmp_path):
    from nbconvert import HTMLExporter

    notebook, _ = executed
    # nbconvert's page would load MathJax and require.js from the network: left out, as in an offline viewer
    exporter = HTMLExporter(mathjax_url="", require_js_url="", jquery_url="", widget_renderer_url="")
    page, _ = exporter.from_notebook_node(notebook)
    path = tmp_path / "tutorial.html"
    path.write_text(page, encoding="utf-8")
    with open_report(path, ready=None) as (browser_page, problems):
        frame = browser_page.query_selector("iframe.tam-report").content_frame()
        frame.wait_for_selector("body[data-ready=true]", timeout=60_000)
        before_map, before_start = map_pixels(frame), frame.get_attribute("body", "data-start")
        square = frame.locator("#answer .tok", has_text="square")
        square.click()
        assert frame.inner_text("#token-shown").strip() == "square"
        assert frame.get_attribute("body", "data-start") != before_start
        assert map_pixels(frame) != before_map
        errors = frame.evaluate("() => document.getElementById('failure').hidden")
    assert errors is True
    assert not problems.errors and not problems.dialogs, problems
    assert not [url for url in problems.requests if not url.startswith(("about:", "blob:"))], problems.requests
