"""Figures for papers (tam.visuals.figure): read back with PyMuPDF."""

import dataclasses

import numpy as np
import pytest

from tam.testing import make_generation
from tam.visuals import build_figure, save_figure
from tam.visuals.overlay import jet_colours

pymupdf = pytest.importorskip("pymupdf")

PROMPT = ["Describe", " this", "."]
ANSWER = [" A", " red", " circle", ",", " a", " sq", "uare", " and", " 猫", ".", "<|im_end|>"]


@pytest.fixture(scope="module")
def result():
    generation = make_generation([(4, 5), (3, 3)], num_prompt=len(PROMPT), num_answer=len(ANSWER), seed=5)
    explained = generation.explain()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)]
    return dataclasses.replace(explained, texts=PROMPT + ANSWER, pieces=None, images=images, _cache={})


def test_pdf_holds_the_answer_as_text_and_the_maps_as_pictures_where_stated(result, tmp_path):
    words, methods = ["circle", "square", "a red circle"], ["tam", "raw"]
    figure = build_figure(result, words, methods)
    path = save_figure(result, tmp_path / "fig.pdf", words, methods)
    with pymupdf.open(path) as document:
        assert len(document) == 1
        page = document[0]
        assert page.rect.width == pytest.approx(figure.width) and page.rect.height == pytest.approx(figure.height)
        text = " ".join(page.get_text().split())
        assert text.count("A red circle, a square and 猫.") == len(words)  # one answer under each column
        assert "<|im_end|>" not in text
        for word in words + methods:
            assert word in text
        placed = sorted(tuple(round(v, 2) for v in info["bbox"]) for info in page.get_image_info())
    stated = sorted(tuple(round(v, 2) for v in image.rect) for image in figure.images)
    assert placed == stated
    maps = [image for image in figure.images if image.label != "colour scale"]
    assert [image.label for image in maps] == [f"{w} / {m}" for w in words for m in methods]
    assert len({image.rect[0] for image in maps}) == 3 and len({image.rect[1] for image in maps}) == 2


def test_text_is_coloured_by_relevance_to_each_column_word(result, tmp_path):
    path = save_figure(result, tmp_path / "fig.pdf", ["square"])
    relevance = result.span_text_relevance(result.find("square"))
    with pymupdf.open(path) as document:
        spans = [
            s
            for block in document[0].get_text("dict")["blocks"]
            for line in block.get("lines", [])
            for s in line["spans"]
        ]
    colour_of = {}
    for span in spans:
        colour_of[span["text"].strip()] = span["color"]  # the answer is written after the headers
    red = jet_colours([relevance[4]])[0]  # " red" is explained token 4
    assert colour_of["red"] == (int(red[0]) << 16) + (int(red[1]) << 8) + int(red[2])
    assert colour_of["square"] == 0xFFFFFF  # the word (two tokens), white on its black box
    assert colour_of["and"] == (190 << 16) + (190 << 8) + 190  # later tokens grey


def test_png_and_svg_of_the_same_page(result, tmp_path):
    from PIL import Image

    figure = build_figure(result, ["circle"])
    png = save_figure(result, tmp_path / "fig.png", ["circle"], dpi=144)
    with Image.open(png) as picture:
        width, height = picture.size
    assert abs(width - figure.width * 2) <= 1 and abs(height - figure.height * 2) <= 1
    svg = save_figure(result, tmp_path / "fig.svg", ["circle"]).read_text()
    assert svg.startswith("<svg") and "<image" in svg


def test_own_scale_stretches_each_map(result):
    shared = build_figure(result, ["and"], scale="shared").images[0].pixels
    own = build_figure(result, ["and"], scale="own").images[0].pixels
    assert not np.array_equal(shared, own)


def test_figure_errors_are_named(result, tmp_path):
    with pytest.raises(ValueError, match=r"written as .pdf/.png/.svg, got '.*fig.gif'"):
        save_figure(result, tmp_path / "fig.gif", ["circle"])
    with pytest.raises(ValueError, match=r"`scale` must be one of \('shared', 'own'\), got 'log'"):
        build_figure(result, ["circle"], scale="log")
    with pytest.raises(LookupError, match="no words read 'dog'"):
        build_figure(result, ["dog"])
    with pytest.raises(ValueError, match="the result carries no images"):
        build_figure(dataclasses.replace(result, images=None, _cache={}), ["circle"])
    with pytest.raises(ValueError, match="at least one word and one method"):
        build_figure(result, [])
    path = save_figure(result, tmp_path / "fig.pdf", ["circle"])
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_figure(result, path, ["circle"])
    assert result.save_figure(path, ["circle"], overwrite=True) == path


def test_a_figure_of_more_than_64_words_or_methods_is_refused_before_anything_is_drawn(result, tmp_path):
    from tam.errors import TAMError

    for words, methods in (([0] * 65, ["tam"]), ([0], ["tam"] * 65)):
        with pytest.raises(TAMError, match=r"a figure takes at most 64 words and 64 methods .*got \d+ words and"):
            save_figure(result, tmp_path / "figure.pdf", words, methods)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dpi", [0, -72, 100000, 2.5, True])
def test_a_dpi_out_of_range_is_refused_naming_it_before_anything_is_drawn(result, tmp_path, dpi):
    from tam.errors import TAMError

    with pytest.raises(TAMError, match=f"dpi must be an integer from 1 to 1200 .*got {dpi!r}"):
        save_figure(result, tmp_path / "figure.png", [0], dpi=dpi)
    assert list(tmp_path.iterdir()) == []
