"""Relevance plots (tam.visuals.plots)."""

import dataclasses

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
