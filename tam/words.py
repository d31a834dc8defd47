r"""Spans of a text: which tokens make up each word and sentence, and one map per span.

Maps exist per token, but people read words. This module groups tokens into words and
words into sentences, finds a phrase by its text, and reduces the maps of a span's
tokens to one map (:func:`reduce_rows`). The evaluation (:mod:`tam.metrics`) and the
result (:attr:`tam.TokenActivationResult.words`) share the one grouping rule here.

Words (:func:`group_words`), by the paper's rule (spec section 8, ``rule="reference"``):
a new word starts at the first token, and at every token whose text begins with
whitespace, whose tokenizer piece begins with the SentencePiece marker ``"▁"``, or
whose text is punctuation or holds a CJK character. Other tokens continue the word
before them (``"Ġdog"`` + ``"s"`` make ``"dogs"``).

The result's words (``rule="tam"``) add what a reader expects where the paper's rule
glues text together that is not one word:

- a special token (``<|im_end|>``, ``</s>``) is a word of its own, where the paper's
  rule appends it to the word before (``".<|im_end|>"``);
- after a token that ends with whitespace (``".\n"``) a new word starts, where the
  paper's rule goes on (``"dog.\nThe"`` would be one word);
- a token that is whitespace only (``"\n\n"``) leads the word after it;
- consecutive punctuation tokens make one word (``"?"`` + ``"!"``);
- a token after a CJK token starts a new word.

The evaluation keeps the paper's rule, so its figures stay comparable with the paper.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "REDUCTIONS",
    "SENTENCEPIECE_MARKER",
    "WORD_REDUCTION",
    "WORD_RULES",
    "Sentence",
    "Span",
    "Word",
    "FUNCTION_WORDS",
    "find_phrase",
    "first_content_word",
    "group_sentences",
    "group_words",
    "has_cjk",
    "is_punctuation",
    "is_special_token",
    "reduce_rows",
    "starts_word",
]

SENTENCEPIECE_MARKER = "▁"
"""The word-start marker of SentencePiece tokenizers (LLaMA, LLaVA)."""

WORD_RULES = ("reference", "tam")
"""How tokens group into words: the paper's evaluation rule, or the result's (module docstring)."""

REDUCTIONS = ("mean", "max", "first", "weighted")
"""How the maps of a span's tokens become one map (see :func:`reduce_rows`)."""

WORD_REDUCTION = "mean"
"""The reduction used for words, phrases and sentences unless one is asked for.

Chosen from evidence (``benchmarks/bench_word_maps.py``, ``docs/words.md``).
"""

FUNCTION_WORDS = frozenset(
    """a an the this that these those some any each every no and or but nor so yet of in on at to for with by
    from into onto over under up down out off about as than is are was were be been being am has have had do does
    did will would can could shall should may might must it its it's he she they them their his her him we us our
    you your i me my there here which who whom whose what where when how not""".split()
)
"""English function words: determiners, conjunctions, prepositions, pronouns, auxiliaries (lower-case)."""

_SENTENCE_ENDS = ".!?。！？…"
_CLOSING = "\"')]}”’」』"
_SPECIAL_TOKEN = re.compile(r"<\|[^\s<>|]+\|>|</?[A-Za-z_][\w-]*>")
# Blocks of scripts written without spaces between words: CJK symbols and punctuation,
# kana, CJK ideographs (and extensions), compatibility ideographs, fullwidth forms.
_CJK_RANGES = (
    (0x3000, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF),
    (0x20000, 0x2FA1F),
)


@dataclass(frozen=True)
class Span:
    """Consecutive tokens of a text: a phrase, or the base of a word and a sentence.

    Attributes
    ----------
    text : str
        What the tokens read as (a word's without whitespace, a phrase's or a
        sentence's with its inner spaces).
    tokens : tuple of int
        Indices of its tokens in the token sequence that was grouped, ascending.
    """

    text: str
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Word(Span):
    """One word: ``text`` is its tokens' texts joined, whitespace removed (``"dogs"``)."""


@dataclass(frozen=True)
class Sentence(Span):
    """One sentence: ``text`` is its tokens' texts joined, stripped."""


def is_punctuation(text: str) -> bool:
    """Whether ``text`` is non-empty and made only of punctuation (ASCII or any Unicode ``P*``).

    >>> is_punctuation("."), is_punctuation(")."), is_punctuation("a."), is_punctuation(""), is_punctuation("…")
    (True, True, False, False, True)
    """
    return bool(text) and all(char in string.punctuation or unicodedata.category(char)[0] == "P" for char in text)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a CJK character (ideograph, kana, CJK or fullwidth punctuation).

    >>> has_cjk("猫"), has_cjk("です"), has_cjk("。"), has_cjk("cat")
    (True, True, True, False)
    """
    return any(low <= ord(char) <= high for char in text for low, high in _CJK_RANGES)


def is_special_token(text: str) -> bool:
    """Whether ``text`` is a special token as decoded: an angle-bracketed name.

    >>> is_special_token("<|im_end|>"), is_special_token("</s>"), is_special_token("<"), is_special_token(" <b")
    (True, True, False, False)
    """
    return _SPECIAL_TOKEN.fullmatch(text) is not None


def _check_rule(rule: str) -> None:
    if rule not in WORD_RULES:
        raise ValueError(f"`rule` must be one of {WORD_RULES}, got {rule!r}")


def starts_word(text: str, piece: str | None = None, previous: str | None = None, *, rule: str = "reference") -> bool:
    """Whether a token (other than the first) begins a new word.

    Parameters
    ----------
    text : str
        The token decoded on its own (``" dog"``).
    piece : str, optional
        The tokenizer's piece (``"Ġdog"``, ``"▁dog"``); only the SentencePiece marker is read.
    previous : str, optional
        The text of the token before; the ``"tam"`` rule reads it.
    rule : {"reference", "tam"}
        See the module docstring.

    >>> starts_word(" dog"), starts_word("s"), starts_word("dog", "▁dog"), starts_word(",")
    (True, False, True, True)
    >>> starts_word("<|im_end|>", previous="."), starts_word("<|im_end|>", previous=".", rule="tam")
    (False, True)
    """
    _check_rule(rule)
    if rule == "tam" and previous is not None:
        if is_special_token(text) or is_special_token(previous):
            return True
        if previous.isspace():
            return False
        if previous[-1:].isspace() or has_cjk(previous):
            return True
        if is_punctuation(text.rstrip()):  # ".\n" too; a run of punctuation stays one word
            return text[:1].isspace() or not is_punctuation(previous)
    return (
        text[:1].isspace()
        or (piece is not None and piece.startswith(SENTENCEPIECE_MARKER))
        or is_punctuation(text)
        or has_cjk(text)
    )


def group_words(texts: Sequence[str], pieces: Sequence[str] | None = None, *, rule: str = "reference") -> list[Word]:
    """Group tokens into words.

    Parameters
    ----------
    texts : sequence of str, length N
        Each token decoded on its own.
    pieces : sequence of str, length N, optional
        The tokenizer's pieces of the same tokens.
    rule : {"reference", "tam"}
        The paper's rule (the evaluation's), or the result's (module docstring).

    Returns
    -------
    list of Word
        In order; every token index ``0 .. N-1`` belongs to exactly one word.

    >>> [(w.text, w.tokens) for w in group_words(["A", " dog", "s", " run", "."])]
    [('A', (0,)), ('dogs', (1, 2)), ('run', (3,)), ('.', (4,))]
    """
    _check_rule(rule)
    if pieces is not None and len(pieces) != len(texts):
        raise ValueError(f"pieces must match texts: got {len(pieces)} pieces for {len(texts)} texts")
    groups: list[list[int]] = []
    for index, text in enumerate(texts):
        piece = None if pieces is None else pieces[index]
        if not groups or starts_word(text, piece, texts[index - 1], rule=rule):
            groups.append([index])
        else:
            groups[-1].append(index)
    return [Word("".join("".join(texts[i] for i in group).split()), tuple(group)) for group in groups]


def _ends_sentence(word: Word) -> bool:
    return word.text.rstrip(_CLOSING)[-1:] in tuple(_SENTENCE_ENDS)


def group_sentences(texts: Sequence[str], words: Sequence[Word]) -> list[Sentence]:
    """Group words into sentences.

    A new sentence starts after a word that ends with ``. ! ? 。 ！ ？ …`` (closing quotes
    or brackets may follow) unless the next word begins with a lower-case letter
    (``"e.g. the"``); at a line break (a newline in the whitespace between two words);
    and at a special token, which is a sentence of its own.

    Parameters
    ----------
    texts : sequence of str, length N
        Each token decoded on its own.
    words : sequence of Word
        :func:`group_words` of ``texts``.

    Returns
    -------
    list of Sentence
        In order; each holds whole words, and every token of ``words`` is in one sentence.

    >>> texts = ["A", " dog", ".", " It", " runs", "!", "<|im_end|>"]
    >>> [s.text for s in group_sentences(texts, group_words(texts, rule="tam"))]
    ['A dog.', 'It runs!', '<|im_end|>']
    """
    groups: list[list[Word]] = []
    for word in words:
        raw = "".join(texts[i] for i in word.tokens)
        if groups:
            before = groups[-1][-1]
            before_raw = "".join(texts[i] for i in before.tokens)
            gap = before_raw[len(before_raw.rstrip()) :] + raw[: len(raw) - len(raw.lstrip())]
            new = (
                (_ends_sentence(before) and not word.text[:1].islower())
                or "\n" in gap
                or is_special_token(word.text)
                or is_special_token(before.text)
            )
        else:
            new = True
        if new:
            groups.append([word])
        else:
            groups[-1].append(word)
    sentences = []
    for group in groups:
        tokens = tuple(i for word in group for i in word.tokens)
        sentences.append(Sentence("".join(texts[i] for i in tokens).strip(), tokens))
    return sentences


def first_content_word(words: Sequence[Word]) -> int | None:
    """Index of the first word that holds a letter, digit or CJK character and is no function word.

    What a reader looks at first: the report opens on it rather than on ``"a"``.

    >>> first_content_word(group_words(["A", " red", " circle"])), first_content_word(group_words(["the", "."]))
    (1, None)
    """
    for index, word in enumerate(words):
        meaningful = any(char.isalnum() for char in word.text) and not is_special_token(word.text)
        if meaningful and word.text.lower() not in FUNCTION_WORDS:
            return index
    return None


def _phrase_key(text: str) -> str:
    return "".join(text.split()).lower()


def find_phrase(texts: Sequence[str], words: Sequence[Word], phrase: str) -> tuple[int, ...] | None:
    """Find the first run of consecutive words that reads as ``phrase``.

    Case and whitespace do not matter (``"Red  circle"`` and ``"red circle ,"`` find
    ``" red circle,"``), punctuation does; the match covers whole words.

    Parameters
    ----------
    texts : sequence of str
        Each token decoded on its own.
    words : sequence of Word
        :func:`group_words` of ``texts``.
    phrase : str

    Returns
    -------
    tuple of int or None
        Indices into ``words``; None when no run of words matches.

    >>> texts = ["a", " red", " circle", ",", " a", " star"]
    >>> find_phrase(texts, group_words(texts), "Red circle"), find_phrase(texts, group_words(texts), "blue")
    ((1, 2), None)
    """
    wanted = _phrase_key(phrase)
    if not wanted:
        raise ValueError("`phrase` is empty: give the words to find")
    raw = ["".join(texts[i] for i in word.tokens) for word in words]
    for start in range(len(words)):
        read = ""
        for stop in range(start, len(words)):
            read += raw[stop]
            key = _phrase_key(read)
            if key == wanted:
                return tuple(range(start, stop + 1))
            if not wanted.startswith(key):
                break
    return None


def reduce_rows(values: np.ndarray, reduction: str = WORD_REDUCTION, *, peaks: np.ndarray | None = None) -> np.ndarray:
    """Reduce the rows of a span's tokens (their maps, or their text relevances) to one row.

    Parameters
    ----------
    values : ndarray of shape (K, M), float in [0, 1]
        One row per token of the span (``K >= 1``), in token order.
    reduction : {"mean", "max", "first", "weighted"}
        ``mean``: the tokens' mean, as TAM's authors advise for phrases; ``max``: the
        cell-wise maximum; ``first``: the first token's row (the first token of a long
        word usually carries the visual response); ``weighted``: the mean weighted by
        each token's ``peaks`` (by default the peak of its row), so tokens that look
        at the picture count more than tokens that look at the text.
    peaks : ndarray of shape (K,), float >= 0, optional
        Weights of ``weighted``; pass the vision maps' peaks when reducing text rows.

    Returns
    -------
    ndarray of shape (M,), float64, in [0, 1]
        All zeros for ``weighted`` when every weight is 0.

    >>> rows = np.array([[0.0, 1.0], [0.5, 0.5]])
    >>> [reduce_rows(rows, r).round(3).tolist() for r in REDUCTIONS]
    [[0.25, 0.75], [0.5, 1.0], [0.0, 1.0], [0.167, 0.833]]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 1:
        raise ValueError(f"`values` must be a (K, M) array with K >= 1 rows, got shape {values.shape}")
    if reduction == "mean":
        return values.mean(axis=0)
    if reduction == "max":
        return values.max(axis=0)
    if reduction == "first":
        return values[0].copy()
    if reduction == "weighted":
        weights = values.max(axis=1) if peaks is None else np.asarray(peaks, dtype=np.float64)
        if weights.shape != (values.shape[0],):
            raise ValueError(f"`peaks` must hold one weight per row, shape ({values.shape[0]},), got {weights.shape}")
        total = weights.sum()
        return weights @ values / total if total > 0 else np.zeros(values.shape[1])
    raise ValueError(f"`reduction` must be one of {REDUCTIONS}, got {reduction!r}")
