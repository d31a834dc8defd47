"""Relevance plots (tam.visuals.plots)."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tam.testing import make_generation
from tam.visuals import relevance_plot, save_relevance_plot

pytest.importorskip("matplotlib")

PROMPT = ["Describe", "."]
ANSWER = [" A", " red", " circle", " and", " 猫", ".", "<|im_end|>"]


@pytest.fixture(scope="module")
def result():
    generation = make_generation((4, 5), num_prompt=len(PROMPT), num_answer=len(ANSWER), seed=7)
    return dataclasses.replace(generation.explain(), texts=PROMPT + ANSWER, pieces=None, _cache={})


def bars(figure):
    (axes,) = figure.axes
    return axes, [patch.get_height() for patch in axes.patches]


def test_default_plot_shows_each_answer_tokens_peak_per_method(result):
    axes, heights = bars(relevance_plot(result, methods=["tam", "raw"]))
    answer = list(range(2, 8))  # <|im_end|> (token 8) is left out
    expected = np.concatenate([result.maps(m)[answer].max(axis=1) for m in ("tam", "raw")])
    np.testing.assert_allclose(heights, expected)
    assert [label.get_text() for label in axes.get_xticklabels()] == ["A", "red", "circle", "and", "猫", "."]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["tam", "raw"]


def test_span_plot_shows_the_earlier_tokens_relevance_to_it(result):
    axes, heights = bars(relevance_plot(result, "red circle", reduction="max"))
    relevance = result.span_text_relevance(result.find("red circle"), reduction="max")
    np.testing.assert_allclose(heights, [relevance[2], 0, 0, 0, 0, 0])
    white = [label.get_text() for label in axes.get_xticklabels() if label.get_color() == "white"]
    assert white == ["red", "circle"]
    assert axes.get_ylabel() == "relevance to \u201cred circle\u201d"


def test_saved_plots_keep_their_text(result, tmp_path):
    pymupdf = pytest.importorskip("pymupdf")
    path = save_relevance_plot(result, tmp_path / "plot.pdf", "circle")
    with pymupdf.open(path) as document:
        text = document[0].get_text()
    assert "relevance to" in text and "circle" in text
    assert "<text" in save_relevance_plot(result, tmp_path / "plot.svg").read_text()
    with pytest.raises(ValueError, match=r"written as .pdf/.svg/.png, got '.*plot.jpg'"):
        save_relevance_plot(result, tmp_path / "plot.jpg")
    with pytest.raises(ValueError, match="`methods` is empty"):
        relevance_plot(result, methods=[])
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_relevance_plot(result, path)


FRESH_KERNEL = """
import dataclasses, io, sys
from tam.testing import make_generation
from tam.visuals import relevance_plot
generation = make_generation((4, 5), num_prompt=2, num_answer=3, seed=7)
result = dataclasses.replace(generation.explain(), texts=["a", ".", " b", " c", "."], pieces=None, _cache={})
figures = [relevance_plot(result), relevance_plot(result, " c")]
assert "matplotlib.pyplot" not in sys.modules
try:
    from IPython.core.formatters import DisplayFormatter
except ImportError:  # no IPython: what a notebook front end would call
    shown = [{"image/png": figure._repr_png_()} for figure in figures]
else:
    shown = [DisplayFormatter().format(figure)[0] for figure in figures]
from PIL import Image
for data in shown:
    print(Image.open(io.BytesIO(data["image/png"])).size)
assert "matplotlib.pyplot" not in sys.modules
"""


def test_plots_show_themselves_as_png_in_a_fresh_kernel_without_pyplot():
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", FRESH_KERNEL],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["(600, 220)", "(600, 220)"]  # 6 x 2.2 inches at matplotlib's 100 dpi
