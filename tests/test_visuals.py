import dataclasses

import numpy as np
import pytest

from tam.testing import make_generation
from tam.visuals import (
    candidate_labels,
    draw_token_visual,
    jet_colours,
    map_panels,
    render_token_visual,
    save_token_visual,
    save_token_visuals,
    show_map_on_image,
)
from tam.visuals.fonts import font_chain, split_by_font
from tam.visuals.text import layout_text, visible_lines
from tam.visuals.token_visual import LATER_TOKEN_GREY
from tests.visual_cases import SPECIAL_TEXTS, SpecialTextTokenizer, special_text_result

FONT_SIZE = 18
MARGIN = 10


@pytest.fixture(scope="module")
def result():
    return special_text_result(40)


def test_show_map_on_image_blends_jet_over_the_image():
    image = np.full((4, 6, 3), 100, np.uint8)
    hot = show_map_on_image(image, np.ones((2, 3)))
    cold = show_map_on_image(image, np.zeros((2, 3)))
    assert hot.shape == image.shape and hot.dtype == np.uint8
    # JET: 1 is dark red (128, 0, 0), 0 is dark blue; blended 50/50 with grey 100
    np.testing.assert_array_equal(hot[0, 0], [114, 50, 50])
    np.testing.assert_array_equal(cold[0, 0], [50, 50, 114])
    np.testing.assert_array_equal(image, 100)  # input untouched


def test_show_map_on_image_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
        show_map_on_image(np.zeros((4, 6)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"`activation` must be an \(h, w\) array, got shape \(6,\)"):
        show_map_on_image(np.zeros((4, 6, 3), np.uint8), np.zeros(6))
    with pytest.raises(ValueError, match=r"`alpha` must be in \[0, 1\], got 2"):
        show_map_on_image(np.zeros((4, 6, 3), np.uint8), np.zeros((2, 3)), alpha=2)


def test_jet_colours_run_from_blue_to_red():
    colours = jet_colours(np.linspace(0, 1, 5))
    assert colours.dtype == np.uint8 and colours.shape == (5, 3)
    assert colours[0, 2] > colours[0, 0] and colours[-1, 0] > colours[-1, 2]
    np.testing.assert_array_equal(jet_colours([-1.0, 2.0]), jet_colours([0.0, 1.0]))


def test_panels_side_by_side(tmp_path):
    generation = make_generation([(4, 5), (3, 3)], seed=0)
    images = [np.zeros((40, 50, 3), np.uint8), np.zeros((20, 20, 3), np.uint8)]
    result = generation.explain(
        images=images,
    )
    assert map_panels(result, 2).shape == (40, 50 + 40, 3)
    assert map_panels(result, 2, height=20).shape == (20, 25 + 20, 3)
    visual = render_token_visual(result, 2)
    assert visual.shape[1] == 400  # panels narrower than the minimum text width are centred
    assert (visual[:40, :150] == 255).all()
    save_token_visual(result, 2, tmp_path / "2.png")
    assert (tmp_path / "2.png").stat().st_size > 0


def test_every_special_character_has_a_glyph_in_the_font_chain():
    faces = font_chain(FONT_SIZE)
    for text in SPECIAL_TEXTS:
        for line in visible_lines(text):
            for character in line:
                assert any(ord(character) in face.codepoints for face in faces), repr(character)


def test_cjk_and_emoji_fall_back_to_their_fonts():
    latin, cjk, emoji, _ = (face.font for face in font_chain(FONT_SIZE))
    assert split_by_font("a中😀", FONT_SIZE) == (("a", latin), ("中", cjk), ("😀", emoji))


def test_visible_lines_show_whitespace_and_controls():
    assert visible_lines("a\nb") == ["a\u23ce", "b"]
    assert visible_lines("\t") == ["\u2192"]
    assert visible_lines("\r\n") == ["<0x0D>\u23ce", ""]
    assert visible_lines("$\\{}") == ["$\\{}"]


def test_render_every_token_of_special_texts(result):
    heights = set()
    for index in range(len(result)):
        visual = render_token_visual(result, index)
        assert visual.dtype == np.uint8 and visual.shape[1] == 560
        heights.add(visual.shape[0])
    assert min(heights) > 756  # panel above a text block


def token_boxes(result, token, width=560):
    """Pixel rectangles (x0, y0, x1, y1) of one token's text in a visual of ``result``."""
    labels = tuple(result.texts)
    layout = layout_text(labels, width - 2 * MARGIN, FONT_SIZE, frozenset({result.num_prompt_tokens}))
    top = result.images[0].shape[0] + MARGIN
    return [
        (int(MARGIN + x0), top + line * layout.line_height, int(MARGIN + x1), top + (line + 1) * layout.line_height - 1)
        for line, x0, x1 in layout.boxes[token]
    ]


@pytest.mark.parametrize("text", ["\\", "%", "_", "中文", " 😀", "\ufffd", "<script>alert(1)</script>"])
def test_explained_token_is_white_on_black(result, text):
    index = result.texts.index(text)
    visual = render_token_visual(result, index)
    for x0, y0, x1, y1 in token_boxes(result, index):
        box = visual[y0:y1, x0:x1].astype(int)
        dark = (box.sum(axis=2) < 60).mean()
        white = (box.min(axis=2) > 200).mean()
        assert dark > 0.4 and white > 0.02, (text, dark, white)  # a black box with white glyphs in it


def test_earlier_tokens_are_jet_and_later_tokens_grey(result):
    index = result.num_prompt_tokens + 10
    visual = render_token_visual(result, index)
    relevance = result.text_relevance(index)
    for token in (result.texts.index("中文"), result.texts.index("<b>bold</b>"), index - 1):
        x0, y0, x1, y1 = token_boxes(result, token)[0]
        expected = jet_colours([relevance[token]])[0]
        assert (visual[y0:y1, x0:x1] == expected).all(axis=2).any(), token
    grey_pixels = 0
    for token in range(index + 2, len(result)):  # the next one may touch the black box
        x0, y0, x1, y1 = token_boxes(result, token)[0]
        box = visual[y0:y1, x0 + 1 : x1 - 1]
        assert box.size == 0 or box.min() >= min(LATER_TOKEN_GREY) - 1, token  # nothing darker than grey
        grey_pixels += (box == LATER_TOKEN_GREY).all(axis=2).sum()
    assert grey_pixels > 100


def test_long_answers_wrap_and_the_text_block_grows():
    short = special_text_result(10)
    long = special_text_result(400)
    assert render_token_visual(long, -1).shape[0] > render_token_visual(short, -1).shape[0] + 10 * FONT_SIZE


def test_a_token_longer_than_a_line_is_cut():
    layout = layout_text(("x" * 300, "y"), 200, FONT_SIZE)
    assert layout.num_lines >= 10
    assert all(x1 <= 200 for _, _, x1 in layout.boxes[0])


def test_candidates_are_named_by_the_tokenizer_or_the_result(result):
    with_tokenizer = candidate_labels(result, SpecialTextTokenizer())
    without = candidate_labels(result)
    assert len(with_tokenizer) == len(result) and len(with_tokenizer[0]) == 3
    for row_a, row_b, probabilities in zip(with_tokenizer, without, result.candidates.probabilities, strict=True):
        np.testing.assert_allclose([p for _, p in row_a], probabilities, rtol=1e-6)
        for (name_a, _), (name_b, _) in zip(row_a, row_b, strict=True):
            assert name_a == name_b or name_b.startswith("[")


def test_text_only_without_images(result):
    bare = dataclasses.replace(result, images=None, _cache={})
    visual = render_token_visual(bare, 3, text_width=640)
    assert visual.shape[1] == 640


def test_index_out_of_range_names_the_range(result):
    with pytest.raises(IndexError, match=rf"token `index` must be in \[-{len(result)}, {len(result)}\).*got 999"):
        render_token_visual(result, 999)


def test_save_refuses_to_overwrite_and_writes_every_answer_token(tmp_path):
    small = special_text_result(4, vision_shape=(4, 5), image_size=(40, 50))
    paths = save_token_visuals(small, tmp_path / "visuals")
    assert [p.name for p in paths] == [f"{i:04d}.jpg" for i in range(small.num_prompt_tokens, len(small))]
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_token_visual(small, -1, paths[-1])
    save_token_visual(small, -1, paths[-1], overwrite=True)
    assert sorted(p.name for p in (tmp_path / "visuals").iterdir()) == [p.name for p in paths]  # no leftovers


def test_draw_token_visual_checks_its_arrays():
    texts = ["a", "b", "c"]
    with pytest.raises(IndexError, match=r"`index` must be in \[0, 3\) for 3 texts, got 3"):
        draw_token_visual(None, None, texts, np.zeros(3), 3)
    with pytest.raises(ValueError, match=r"one value per earlier token, shape \(2,\), got \(3,\)"):
        draw_token_visual(None, None, texts, np.zeros(3), 2)
    with pytest.raises(ValueError, match="need one map per picture, got 1 pictures and 2 maps"):
        draw_token_visual([np.zeros((8, 8, 3), np.uint8)], [np.zeros((2, 2))] * 2, texts, np.zeros(2), 2)
    picture = draw_token_visual(None, None, texts, np.zeros(2), 2, candidates=[("d", 0.5)], text_width=500)
    assert picture.shape[1] == 500 and picture.dtype == np.uint8


def test_missing_font_package_says_what_to_install():
    from tam.visuals.fonts import _font_path

    with pytest.raises(ImportError, match=r"pip install manimgx-fonts==.* manimgx-fonts-cjk==.* fonttools=="):
        _font_path("no_such_font_package", "NotoSans.ttf")


def test_span_visual_shows_the_span_map_and_highlights_every_token_of_it(result):
    from tam.visuals import overlay_panels, render_span_visual

    span = range(result.num_prompt_tokens + 1, result.num_prompt_tokens + 4)
    picture = render_span_visual(result, list(span), reduction="max")
    panels = overlay_panels(result.images, result.layout.split(result.span_map(list(span), reduction="max")))
    np.testing.assert_array_equal(picture[: panels.shape[0]], panels)
    one_token = render_span_visual(result, span.start, reduction="max")
    np.testing.assert_array_equal(one_token, render_token_visual(result, span.start))
    # the whole span is drawn white on black: more black than with its first token alone
    text, text_one = picture[panels.shape[0] :], one_token[panels.shape[0] :]
    assert (text.sum(axis=2) == 0).sum() > (text_one.sum(axis=2) == 0).sum()
    with pytest.raises(ValueError, match="a span to draw must be consecutive tokens"):
        render_span_visual(result, [span.start, span.start + 2])
