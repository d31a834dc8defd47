import pytest

from tam.metrics import group_words, is_punctuation, starts_word


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
