"""Token spans: where the vision, prompt and answer tokens sit in a sequence (spec section 2).

A sequence of ids is cut into vision tokens, prompt text tokens and answer tokens by
marker ids, in the format of the reference release's ``special_ids``::

    {"img_id": [start, end], "prompt_id": [start, end], "answer_id": [start, end]}

Each marker is an int or a list of ints (a sub-sequence). The span is strictly between
the markers: for a list start the index of its last token is used, for a list end the
index of its first token; the last occurrence of a sub-sequence and the first
occurrence of a single id count. An ``img_id`` with a single value means "every
position holding that id". The answer's end marker is not used (the answer runs to the
end of the sequence); the reference passes -1 there.

Model adapters build a :class:`TokenSpans` directly from the model's config instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tam.errors import SpanError

__all__ = ["TokenSpans", "find_marker", "locate_spans"]

Marker = int | Sequence[int]


@dataclass(frozen=True)
class TokenSpans:
    """Positions of the three token groups in a sequence.

    Attributes
    ----------
    vision : ndarray of shape (M,), int64
        Positions of the vision tokens, ascending (all images or frames, in order).
    prompt : ndarray of shape (P,), int64
        Positions of the prompt text tokens that are explained, ascending.
    answer_start : int
        Position of the first answer token.
    answer_end : int or None, default None
        Position after the last answer token that is explained; None runs the answer to
        the end of the sequence (adapters stop it before a closing end-of-turn token).
    """

    vision: np.ndarray
    prompt: np.ndarray
    answer_start: int
    answer_end: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "vision", np.asarray(self.vision, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "prompt", np.asarray(self.prompt, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "answer_start", int(self.answer_start))
        if self.answer_end is not None:
            object.__setattr__(self, "answer_end", int(self.answer_end))


def find_marker(tokens: Sequence[int], marker: Marker, *, use_last_token: bool, name: str = "marker") -> int:
    """Index of a marker in ``tokens`` by the reference release's rule.

    Parameters
    ----------
    tokens : sequence of int, length L
        The token ids.
    marker : int or sequence of int
        A single id (its first occurrence counts) or a sub-sequence of ids (its last
        occurrence counts).
    use_last_token : bool
        For a sub-sequence, return the index of its last token (a span start) instead of
        its first token (a span end). Ignored for a single id.
    name : str
        What the marker is, for the error message (e.g. ``"prompt_id start"``).

    Returns
    -------
    int
        An index in ``range(L)``.

    Raises
    ------
    SpanError
        If the marker does not occur in ``tokens``; the reference silently used -1.
    """
    ids = list(tokens)
    if isinstance(marker, (int, np.integer)):
        try:
            return ids.index(int(marker))
        except ValueError:
            raise SpanError(f"{name} {int(marker)} does not occur in the token sequence") from None
    pattern = [int(m) for m in marker]
    if not pattern:
        raise SpanError(f"{name} is an empty list; give an id or a non-empty list of ids")
    width = len(pattern)
    for start in range(len(ids) - width, -1, -1):
        if ids[start : start + width] == pattern:
            return start + width - 1 if use_last_token else start
    raise SpanError(f"{name} {pattern} does not occur in the token sequence")


def locate_spans(tokens: Sequence[int], special_ids: dict) -> TokenSpans:
    """Find the vision, prompt and answer spans from marker ids.

    Parameters
    ----------
    tokens : sequence of int, length L
        Input followed by generated ids.
    special_ids : dict
        ``{"img_id": ..., "prompt_id": [start, end], "answer_id": [start, end]}`` in the
        reference release's format (see the module docstring).

    Returns
    -------
    TokenSpans

    Raises
    ------
    SpanError
        If a key is missing, a marker does not occur, or a span is empty or reversed.
    """
    ids = [int(t) for t in tokens]
    for key in ("img_id", "prompt_id", "answer_id"):
        if key not in special_ids:
            raise SpanError(f"special_ids has no {key!r}; expected keys img_id, prompt_id, answer_id")

    image_marker = special_ids["img_id"]
    if isinstance(image_marker, (int, np.integer)) or len(image_marker) == 1:
        image_id = int(image_marker if isinstance(image_marker, (int, np.integer)) else image_marker[0])
        vision = np.flatnonzero(np.asarray(ids) == image_id)
        if vision.size == 0:
            raise SpanError(f"img_id {image_id} does not occur in the token sequence")
    else:
        vision = _between(ids, image_marker, "img_id")

    prompt = _between(ids, special_ids["prompt_id"], "prompt_id", allow_empty=True)
    answer_marker = special_ids["answer_id"][0]
    answer_start = find_marker(ids, answer_marker, use_last_token=True, name="answer_id start") + 1
    return TokenSpans(vision=vision, prompt=prompt, answer_start=answer_start)


def _between(ids: list[int], markers: Sequence[Marker], name: str, allow_empty: bool = False) -> np.ndarray:
    """Positions strictly between a start and an end marker."""
    if len(markers) != 2:
        raise SpanError(f"{name} must be [start, end], got {markers!r}")
    start = find_marker(ids, markers[0], use_last_token=True, name=f"{name} start")
    end = find_marker(ids, markers[1], use_last_token=False, name=f"{name} end")
    if end < start + 1 or (end == start + 1 and not allow_empty):
        raise SpanError(
            f"{name} span is {'reversed' if end < start + 1 else 'empty'}: "
            f"start marker {markers[0]!r} ends at index {start}, "
            f"end marker {markers[1]!r} begins at index {end}"
        )
    return np.arange(start + 1, end)
