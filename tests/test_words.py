import numpy as np
import pytest

from tam.metrics import group_words, is_punctuation, starts_word
from tam.words import find_phrase, group_sentences, has_cjk, reduce_rows


def grouped(texts, pieces=None):
    return [(word.text, word.tokens) for word in group_words(texts, pieces)]


def test_byte_level_tokens_group_at_leading_spaces():
    texts = ["A", " brown", " dog", "gy", " sits", " on", " a", " skate", "board", "."]
    assert grouped(texts) == [
        ("A", (0,)),
        ("brown", (1,)),
        ("doggy", (2, 3)),
        ("sits", (4,)),
        ("on", (5,)),
        ("a", (6,)),
        ("skateboard", (7, 8)),
        (".", (9,)),
    ]


def test_sentencepiece_marker_starts_a_word_even_without_a_decoded_space():
    # SentencePiece tokenizers decode a lone piece without its leading space.
    texts = ["A", "dog", "s", "run"]
    pieces = ["▁A", "▁dog", "s", "▁run"]
    assert grouped(texts, pieces) == [("A", (0,)), ("dogs", (1, 2)), ("run", (3,))]


def test_punctuation_and_cjk_are_words_of_their_own():
    assert grouped(["cat", ",", " dog", "猫", "咪"]) == [
        ("cat", (0,)),
        (",", (1,)),
        ("dog", (2,)),
        ("猫", (3,)),
        ("咪", (4,)),
    ]


def test_a_token_after_punctuation_without_a_space_continues_it():
    assert grouped(["cat", ",", "dog"]) == [("cat", (0,)), (",dog", (1, 2))]


def test_a_newline_starts_a_word_and_whitespace_is_dropped():
    assert grouped(["cat", ".", "\n\n", "The", " dog"]) == [
        ("cat", (0,)),
        (".", (1,)),
        ("The", (2, 3)),
        ("dog", (4,)),
    ]


def test_a_special_token_joins_the_word_before_it_as_in_the_reference():
    assert grouped([" table", ".", "<|im_end|>"]) == [("table", (0,)), (".<|im_end|>", (1, 2))]


def test_word_start_rules():
    assert starts_word(" x") and starts_word("\nx") and starts_word("x", "▁x")
    assert starts_word("?") and starts_word("猫")
    assert not starts_word("ing") and not starts_word("ing", "ing")
    assert is_punctuation("...") and not is_punctuation("") and not is_punctuation("a.")


def test_pieces_must_match_texts():
    with pytest.raises(ValueError, match="got 1 pieces for 2 texts"):
        group_words(["a", "b"], ["a"])


# The result's rule ("tam"): tricky answers.


def tam_grouped(texts, pieces=None):
    return [(word.text, word.tokens) for word in group_words(texts, pieces, rule="tam")]


def test_multi_token_words_group_under_both_rules():
    texts = ["A", " skate", "board", "er", "'s", " trick"]
    expected = [("A", (0,)), ("skateboarder's", (1, 2, 3, 4)), ("trick", (5,))]
    assert grouped(texts) == tam_grouped(texts) == expected


def test_special_token_is_a_word_of_its_own_in_the_results_rule():
    assert tam_grouped([" table", ".", "<|im_end|>"]) == [("table", (0,)), (".", (1,)), ("<|im_end|>", (2,))]
    assert tam_grouped(["Dog", "</s>"]) == [("Dog", (0,)), ("</s>", (1,))]


def test_punctuation_runs_make_one_word_in_the_results_rule():
    texts = [" Really", "?", "!", '"', " Yes", "...", ")"]
    assert tam_grouped(texts) == [("Really", (0,)), ('?!"', (1, 2, 3)), ("Yes", (4,)), ("...)", (5, 6))]
    assert [w for w, _ in grouped(texts)] == ["Really", "?", "!", '"', "Yes", "...", ")"]


def test_newlines_lead_the_next_word_and_end_the_word_before():
    texts = [" dog", ".\n", "The", " cat", "\n\n", "A", " bird"]
    assert tam_grouped(texts) == [
        ("dog", (0,)),
        (".", (1,)),
        ("The", (2,)),
        ("cat", (3,)),
        ("A", (4, 5)),
        ("bird", (6,)),
    ]
    # the paper's rule glues ".\n" and "The" to "dog"
    assert grouped(texts)[0] == ("dog.The", (0, 1, 2))


def test_cjk_characters_and_kana_are_words_and_split_from_latin():
    texts = ["猫", "在", "桌子", "上", "。", "AI", "です"]
    assert [w for w, _ in tam_grouped(texts)] == ["猫", "在", "桌子", "上", "。", "AI", "です"]
    assert has_cjk("です") and has_cjk("。") and not has_cjk("한국어")


def test_sentences_end_at_final_punctuation_newlines_and_special_tokens():
    texts = [
        "A",
        " dog",
        " (",
        "e",
        ".g",
        ".",
        " a",
        " pug",
        ")",
        " sits",
        ".",
        " It",
        " is",
        " 3",
        ".",
        "5",
        " kg",
        "!",
        '"',
        "\n",
        "Next",
        "<|im_end|>",
    ]
    words = group_words(texts, rule="tam")
    sentences = group_sentences(texts, words)
    assert [s.text for s in sentences] == [
        "A dog (e.g. a pug) sits.",
        'It is 3.5 kg!"',
        "Next",
        "<|im_end|>",
    ]
    covered = [i for s in sentences for i in s.tokens]
    assert covered == list(range(len(texts)))
    word_starts = {w.tokens[0] for w in words}
    assert all(s.tokens[0] in word_starts for s in sentences)


def test_cjk_sentences():
    texts = ["猫", "在", "睡", "。", "狗", "跑", "！"]
    assert [s.text for s in group_sentences(texts, group_words(texts, rule="tam"))] == ["猫在睡。", "狗跑！"]


def test_find_phrase_matches_words_case_and_spacing_free():
    texts = ["a", " red", " circle", ",", " a", " red", " star"]
    words = group_words(texts, rule="tam")
    assert find_phrase(texts, words, "red star") == (5, 6)
    assert find_phrase(texts, words, "RED   circle ,") == (1, 2, 3)
    assert find_phrase(texts, words, "circl") is None
    with pytest.raises(ValueError, match="`phrase` is empty"):
        find_phrase(texts, words, "  ")


def test_unknown_rule_and_reduction_are_named():
    with pytest.raises(ValueError, match=r"`rule` must be one of \('reference', 'tam'\), got 'x'"):
        group_words(["a"], rule="x")
    with pytest.raises(ValueError, match=r"`reduction` must be one of .*got 'median'"):
        reduce_rows(np.ones((2, 3)), "median")
    with pytest.raises(ValueError, match=r"got shape \(0, 3\)"):
        reduce_rows(np.ones((0, 3)))


def test_reductions_on_hand_made_rows():
    rows = np.array([[0.0, 0.2, 1.0], [0.5, 0.4, 0.0]])
    np.testing.assert_allclose(reduce_rows(rows, "mean"), [0.25, 0.3, 0.5])
    np.testing.assert_allclose(reduce_rows(rows, "max"), [0.5, 0.4, 1.0])
    np.testing.assert_allclose(reduce_rows(rows, "first"), rows[0])
    np.testing.assert_allclose(reduce_rows(rows, "weighted"), (1.0 * rows[0] + 0.5 * rows[1]) / 1.5)
    np.testing.assert_allclose(reduce_rows(rows, "weighted", peaks=np.array([0.0, 2.0])), rows[1])
    assert reduce_rows(np.zeros((2, 3)), "weighted").tolist() == [0.0, 0.0, 0.0]
