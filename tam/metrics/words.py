"""Words of a generated answer: which tokens make up each word (spec section 8).

A new word starts at the first token, and at every token whose text begins with
whitespace, whose tokenizer piece begins with the SentencePiece marker ``"▁"``, or
whose text is punctuation or holds a CJK character. Other tokens continue the word
before them (``"Ġdog"`` + ``"s"`` make ``"dogs"``).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SENTENCEPIECE_MARKER", "Word", "group_words", "has_cjk", "is_punctuation", "starts_word"]

SENTENCEPIECE_MARKER = "▁"
"""The word-start marker of SentencePiece tokenizers (LLaMA, LLaVA)."""


@dataclass(frozen=True)
class Word:
    """One word of an answer.

    Attributes
    ----------
    text : str
        The texts of its tokens joined, whitespace removed (``"dogs"``).
    tokens : tuple of int
        Indices of its tokens in the token sequence that was grouped.
    """

    text: str
    tokens: tuple[int, ...]


def is_punctuation(text: str) -> bool:
    """Whether ``text`` is non-empty and made only of ASCII punctuation.

    >>> is_punctuation("."), is_punctuation(")."), is_punctuation("a."), is_punctuation("")
    (True, True, False, False)
    """
    return bool(text) and all(char in string.punctuation for char in text)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a CJK character (ideograph, kana, CJK punctuation).

    >>> has_cjk("猫"), has_cjk("cat")
    (True, False)
    """
    return any("CJK" in unicodedata.name(char, "") for char in text)


def starts_word(text: str, piece: str | None = None) -> bool:
    """Whether a token (other than the first) begins a new word.

    Parameters
    ----------
    text : str
        The token decoded on its own (``" dog"``).
    piece : str, optional
        The tokenizer's piece (``"Ġdog"``, ``"▁dog"``); only the SentencePiece marker is read.

    >>> starts_word(" dog"), starts_word("s"), starts_word("dog", "▁dog"), starts_word(",")
    (True, False, True, True)
    """
    return (
        text[:1].isspace()
        or (piece is not None and piece.startswith(SENTENCEPIECE_MARKER))
        or is_punctuation(text)
        or has_cjk(text)
    )


def group_words(texts: Sequence[str], pieces: Sequence[str] | None = None) -> list[Word]:
    """Group tokens into words.

    Parameters
    ----------
    texts : sequence of str, length N
        Each token decoded on its own.
    pieces : sequence of str, length N, optional
        The tokenizer's pieces of the same tokens.

    Returns
    -------
    list of Word
        In order; every token index ``0 .. N-1`` belongs to exactly one word.

    >>> [(w.text, w.tokens) for w in group_words(["A", " dog", "s", " run", "."])]
    [('A', (0,)), ('dogs', (1, 2)), ('run', (3,)), ('.', (4,))]
    """
    if pieces is not None and len(pieces) != len(texts):
        raise ValueError(f"pieces must match texts: got {len(pieces)} pieces for {len(texts)} texts")
    groups: list[list[int]] = []
    for index, text in enumerate(texts):
        if not groups or starts_word(text, None if pieces is None else pieces[index]):
            groups.append([index])
        else:
            groups[-1].append(index)
    return [Word("".join("".join(texts[i] for i in group).split()), tuple(group)) for group in groups]
