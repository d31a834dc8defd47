"""Words, sentences and phrase maps of a result (tam.result over tam.words)."""

import dataclasses

import numpy as np
import pytest

import tam
from tam.testing import make_generation
from tam.words import REDUCTIONS, Sentence, Span, Word, reduce_rows

PROMPT = ["Describe", " this", " image", "."]
ANSWER = [" A", " skate", "board", "er", " jumps", ".\n", "猫", "在", "。", " Wow", "?!", "<|im_end|>"]


@pytest.fixture(scope="module")
def result():
    generation = make_generation((4, 5), num_prompt=len(PROMPT), num_answer=len(ANSWER), seed=3)
    explained = generation.explain()
    return dataclasses.replace(explained, texts=PROMPT + ANSWER, pieces=None, _cache={})


def test_words_of_prompt_and_answer_never_cross_and_cover_every_token(result):
    assert [word.text for word in result.words] == [
        "Describe", "this", "image", ".",
        "A", "skateboarder", "jumps", ".", "猫", "在", "。", "Wow", "?!", "<|im_end|>",
    ]  # fmt: skip
    assert [i for word in result.words for i in word.tokens] == list(range(len(result)))
    assert result.words[5] == Word("skateboarder", (5, 6, 7))
    assert all(isinstance(word, Word) for word in result.words)


def test_sentences_of_the_answer(result):
    assert [s.text for s in result.sentences] == [
        "Describe this image.",
        "A skateboarder jumps.",
        "猫在。",
        "Wow?!",
        "<|im_end|>",
    ]
    assert result.sentences[1] == Sentence("A skateboarder jumps.", (4, 5, 6, 7, 8, 9))
    assert result.spans("sentence") == result.sentences and result.spans("word") == result.words
    assert result.spans("token")[5] == Span(" skate", (5,))
    with pytest.raises(ValueError, match=r"`unit` must be one of \('token', 'word', 'sentence'\), got 'line'"):
        result.spans("line")


@pytest.mark.parametrize("method", ["tam", "raw"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_span_maps_are_the_stated_reduction_of_their_tokens_maps(result, method, reduction):
    maps = result.maps(method)
    word = result.words[5]
    np.testing.assert_allclose(result.span_map(word, method, reduction), reduce_rows(maps[[5, 6, 7]], reduction))
    phrase = result.words[4:7]  # "A skateboarder jumps": consecutive words
    expected = reduce_rows(maps[4:9], reduction)
    np.testing.assert_allclose(result.span_map(phrase, method, reduction), expected)
    np.testing.assert_allclose(result.span_map("a SKATEBOARDER jumps", method, reduction), expected)
    np.testing.assert_allclose(result.span_map(range(4, 9), method, reduction), expected)
    np.testing.assert_allclose(
        result.span_map(result.sentences[1], method, reduction), reduce_rows(maps[4:10], reduction)
    )
    np.testing.assert_allclose(result.span_map(6, method, reduction), maps[6])


def test_the_reductions_differ_on_a_multi_token_word(result):
    word_maps = {reduction: result.span_map(result.words[5], reduction=reduction) for reduction in REDUCTIONS}
    assert not np.allclose(word_maps["mean"], word_maps["max"])
    assert not np.allclose(word_maps["first"], word_maps["mean"])
    assert (word_maps["max"] >= word_maps["mean"] - 1e-12).all()


def test_span_text_relevance_reduces_the_rows_before_the_span(result):
    rows = np.stack([result.text_relevance(i)[:5] for i in (5, 6, 7)])
    np.testing.assert_allclose(result.span_text_relevance(result.words[5], reduction="mean"), rows.mean(axis=0))
    np.testing.assert_allclose(result.span_text_relevance(result.words[5], reduction="first"), rows[0])


def test_find_prefers_the_answer_and_names_the_words_when_missing(result):
    assert result.find("jumps") == Span("jumps", (8,))
    assert result.find("this image") == Span("this image", (1, 2))
    with pytest.raises(
        LookupError, match=r"no words read 'cat' in this result; the answer's words are: A skateboarder"
    ):
        result.find("cat")


def test_bad_spans_are_named(result):
    with pytest.raises(ValueError, match="a phrase must be consecutive words"):
        result.span_map([result.words[4], result.words[6]])
    with pytest.raises(ValueError, match=r"ascending, distinct token indices in \[0, 16\).*got \(3, 99\)"):
        result.span_map([3, 99])
    with pytest.raises(ValueError, match=r"got \(\)"):
        result.span_map([])


def test_a_result_without_texts_has_no_words(result):
    bare = dataclasses.replace(result, texts=None, _cache={})
    with pytest.raises(ValueError, match="the result has no token texts"):
        bare.words  # noqa: B018
    assert bare.spans("token")[0].text.startswith("[")


def test_phrase_maps_of_a_loaded_result(result, tmp_path):
    loaded = tam.TokenActivationResult.load(result.save(tmp_path / "result"))
    assert loaded.words == result.words and loaded.sentences == result.sentences
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(loaded.span_map("skateboarder jumps", reduction=reduction),
                                   result.span_map("skateboarder jumps", reduction=reduction))  # fmt: skip
