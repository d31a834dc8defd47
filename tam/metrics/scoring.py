"""Obj-IoU, Func-IoU and F1-IoU of one answer, and their pooling over a data set (spec section 8).

For one answer with its words sorted into kinds and nouns matched to mask labels:

- Obj-IoU: each noun whose category is in the mask scores the IoU of its best token's
  Otsu foreground with the category's mask; precision and recall are taken at that
  token. Consecutive words of one category (``"teddy bear"``) count once, the better kept.
- Func-IoU: the foreground threshold is the mean over all nouns (matched or not) of each
  noun's largest token threshold; each function word scores the share of its map below
  it, averaged over its tokens.

The data set's figures pool every scored word of every answer (:class:`PooledIoU`), as
the reference does; F1-IoU is the harmonic mean of the pooled Obj-IoU and Func-IoU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tam.metrics.overlap import background_fraction, best_token_overlap, word_threshold
from tam.words import Word

__all__ = ["AnswerScores", "FunctionScore", "MeanAccumulator", "ObjectScore", "PooledIoU", "f1_iou", "score_answer"]

KINDS = ("noun", "function", "other")


@dataclass(frozen=True)
class ObjectScore:
    """Obj-IoU of one object named in the answer.

    Attributes
    ----------
    word : int
        Index of the word (of the best word, for a run of words of one category).
    label : int
        The category's value in the mask.
    token : int
        Index of the best token among the word's tokens.
    iou, precision, recall : float
    """

    word: int
    label: int
    token: int
    iou: float
    precision: float
    recall: float


@dataclass(frozen=True)
class FunctionScore:
    """Func-IoU of one function word: the share of its map below the nouns' threshold."""

    word: int
    score: float


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


@dataclass(frozen=True)
class AnswerScores:
    """The scored words of one answer, for one map method.

    Attributes
    ----------
    objects : tuple of ObjectScore
    functions : tuple of FunctionScore
    noun_threshold : float or None
        Mean of the nouns' thresholds; None when the answer has no noun (then no
        function word is scored).
    """

    objects: tuple[ObjectScore, ...]
    functions: tuple[FunctionScore, ...]
    noun_threshold: float | None

    @property
    def obj_iou(self) -> float | None:
        """Mean IoU over this answer's objects, None without objects."""
        return _mean([o.iou for o in self.objects])

    @property
    def func_iou(self) -> float | None:
        """Mean score over this answer's function words, None without any."""
        return _mean([f.score for f in self.functions])

    @property
    def precision(self) -> float | None:
        """Mean precision over this answer's objects."""
        return _mean([o.precision for o in self.objects])

    @property
    def recall(self) -> float | None:
        """Mean recall over this answer's objects."""
        return _mean([o.recall for o in self.objects])

    def to_dict(self) -> dict:
        """Plain JSON-ready form, with the answer's own means beside the word scores."""
        return {
            "objects": [asdict(o) for o in self.objects],
            "functions": [asdict(f) for f in self.functions],
            "noun_threshold": self.noun_threshold,
            "obj_iou": self.obj_iou,
            "func_iou": self.func_iou,
            "precision": self.precision,
            "recall": self.recall,
        }

    @classmethod
    def from_dict(cls, data: dict) -> AnswerScores:
        """Inverse of :meth:`to_dict` (the means are recomputed, not read)."""
        return cls(
            objects=tuple(ObjectScore(**o) for o in data["objects"]),
            functions=tuple(FunctionScore(**f) for f in data["functions"]),
            noun_threshold=data["noun_threshold"],
        )


def score_answer(
    words: Sequence[Word],
    kinds: Sequence[str],
    labels: Sequence[int | None],
    token_maps: np.ndarray,
    mask: np.ndarray,
) -> AnswerScores:
    """Score the nouns and function words of one answer against its segmentation mask.

    Parameters
    ----------
    words : sequence of Word, length W
        The answer's words (:func:`tam.metrics.group_words`).
    kinds : sequence of {"noun", "function", "other"}, length W
    labels : sequence of int or None, length W
        Mask value of the category each noun names (:func:`tam.metrics.match_category`),
        None for other words and for nouns that name no category.
    token_maps : ndarray of shape (N, h, w), uint8
        Map of each answer token, at the vision grid's size.
    mask : ndarray of shape (H, W), integer
        Segmentation labels at the image's size.

    Returns
    -------
    AnswerScores
    """
    token_maps, mask = np.asarray(token_maps), np.asarray(mask)
    if not (len(words) == len(kinds) == len(labels)):
        raise ValueError(f"words, kinds and labels must have one length, got {len(words)}, {len(kinds)}, {len(labels)}")
    if token_maps.ndim != 3 or token_maps.dtype != np.uint8:
        raise ValueError(
            f"token_maps must be a (N, h, w) uint8 array, got shape {token_maps.shape}, dtype {token_maps.dtype}"
        )
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D label array, got shape {mask.shape}")
    covered = sorted(i for word in words for i in word.tokens)
    if covered != list(range(len(token_maps))):
        raise ValueError(f"the words must cover the {len(token_maps)} token maps exactly once each")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"kinds must be among {KINDS}, got {sorted(unknown)}")

    objects: list[ObjectScore] = []
    thresholds: list[float] = []
    for index, (word, kind, label) in enumerate(zip(words, kinds, labels, strict=True)):
        if kind != "noun":
            continue
        maps = token_maps[list(word.tokens)]
        thresholds.append(word_threshold(maps, mask.shape))
        target = mask == label if label is not None else None
        if target is None or not target.any():
            continue
        best = best_token_overlap(maps, target)
        scored = ObjectScore(index, int(label), best.token, best.iou, best.precision, best.recall)
        if objects and objects[-1].word == index - 1 and objects[-1].label == label:
            if scored.iou > objects[-1].iou:
                objects[-1] = scored
        else:
            objects.append(scored)

    noun_threshold = float(np.mean(thresholds)) if thresholds else None
    functions = []
    if noun_threshold is not None:
        functions = [
            FunctionScore(index, background_fraction(token_maps[list(word.tokens)], noun_threshold))
            for index, (word, kind) in enumerate(zip(words, kinds, strict=True))
            if kind == "function"
        ]
    return AnswerScores(tuple(objects), tuple(functions), noun_threshold)


def f1_iou(obj_iou: float | None, func_iou: float | None) -> float | None:
    """Harmonic mean of Obj-IoU and Func-IoU; None if either is missing, 0 if both are 0.

    >>> round(f1_iou(0.2737, 0.6844), 4)
    0.391
    """
    if obj_iou is None or func_iou is None:
        return None
    total = obj_iou + func_iou
    return 2 * obj_iou * func_iou / total if total else 0.0


class PooledIoU:
    """Obj-IoU, Func-IoU, F1-IoU, precision and recall pooled over the words of many answers.

    Every object and every function word of every answer weighs the same, as in the
    reference's table (a per-answer mean would weigh short answers more).

    >>> pooled = PooledIoU()
    >>> pooled.update(AnswerScores((ObjectScore(1, 18, 0, 0.5, 0.6, 0.7),), (FunctionScore(0, 0.9),), 10.0))
    >>> pooled.update(AnswerScores((ObjectScore(2, 1, 0, 0.1, 0.2, 0.3),), (), 12.0))
    >>> round(pooled.summary()["obj_iou"], 6), pooled.summary()["func_iou"]
    (0.3, 0.9)
    """

    def __init__(self) -> None:
        self._objects: list[ObjectScore] = []
        self._functions: list[FunctionScore] = []

    def update(self, scores: AnswerScores) -> None:
        """Add one answer's scored words."""
        self._objects.extend(scores.objects)
        self._functions.extend(scores.functions)

    def summary(self) -> dict:
        """Pooled figures; a figure with no word to pool is None.

        Returns
        -------
        dict
            ``obj_iou``, ``func_iou``, ``f1_iou``, ``precision``, ``recall``, and the counts
            ``objects`` and ``function_words`` they pool.
        """
        obj_iou = _mean([o.iou for o in self._objects])
        func_iou = _mean([f.score for f in self._functions])
        return {
            "obj_iou": obj_iou,
            "func_iou": func_iou,
            "f1_iou": f1_iou(obj_iou, func_iou),
            "precision": _mean([o.precision for o in self._objects]),
            "recall": _mean([o.recall for o in self._objects]),
            "objects": len(self._objects),
            "function_words": len(self._functions),
        }


class MeanAccumulator:
    """Mean of per-answer values (ROUGE-L, METEOR); None values are left out.

    >>> mean = MeanAccumulator()
    >>> for value in (0.5, None, 0.25):
    ...     mean.update(value)
    >>> mean.summary()
    {'mean': 0.375, 'count': 2}
    """

    def __init__(self) -> None:
        self._values: list[float] = []

    def update(self, value: float | None) -> None:
        """Add one answer's value, or nothing for None."""
        if value is not None:
            self._values.append(float(value))

    def summary(self) -> dict:
        """``{"mean": float or None, "count": int}``."""
        return {"mean": _mean(self._values), "count": len(self._values)}
