"""Score token maps of toy captions against the scenes' masks (the paper's Obj-IoU and Func-IoU, spec section 8).

The toy captions hold three kinds of words, each one token: shape words (nouns that
name a category), colour words, and the function words ``a`` and ``and``. So a word is
its token and no POS tagger is needed:

- Obj-IoU: a shape word's map (uint8, resized to the mask with bilinear interpolation)
  is thresholded with Otsu's method; IoU against the mask of its category, for every
  shape word whose category is in the scene.
- Func-IoU: the threshold is the mean of the shape words' Otsu thresholds; for each
  function word, the fraction of its map's grid cells below it (1: it lights up nothing).

Scores are pooled over a data set, as the reference does: one list of word IoUs, one of
function-word fractions. The thresholds and overlaps are :mod:`tam.metrics`' own;
``eval.py`` computes the same figures for any answer, with NLTK finding the words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["FUNCTION_WORDS", "chance_maps", "score_maps"]

FUNCTION_WORDS = ("a", "and")
"""The toy captions' function words (NLTK tags them DT and CC)."""


def score_maps(
    maps: np.ndarray, words: Sequence[str], labels: np.ndarray, categories: Mapping[str, int]
) -> tuple[list[float], list[float]]:
    """Obj-IoU of each shape word and background fraction of each function word of one answer.

    Parameters
    ----------
    maps : ndarray of shape (N, h, w), uint8
        Maps of the ``N`` answer tokens.
    words : sequence of str
        The ``N`` tokens' text (spaces around are ignored, case too).
    labels : ndarray of shape (H, W), integer
        Category id per pixel.
    categories : mapping of str to int
        Shape word -> its category id in ``labels``.

    Returns
    -------
    object_ious : list of float
        One per shape word whose category is in ``labels``, in answer order.
    function_fractions : list of float
        One per function word; empty when the answer has no shape word (no threshold).
    """
    from tam.metrics import background_fraction, otsu_threshold, overlap, resize_map

    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) != len(words):
        raise ValueError(f"maps must have shape (N, h, w) with N = {len(words)} words, got {maps.shape}")
    labels = np.asarray(labels)
    words = [word.strip().lower() for word in words]
    object_ious, thresholds = [], []
    for token_map, word in zip(maps, words, strict=True):
        if word not in categories:
            continue
        threshold, foreground = otsu_threshold(resize_map(token_map, labels.shape))
        thresholds.append(threshold)
        target = labels == categories[word]
        if target.any():
            object_ious.append(overlap(foreground, target)[0])
    if not thresholds:
        return object_ious, []
    cut = float(np.mean(thresholds))
    function_fractions = [
        background_fraction(token_map[None], cut)
        for token_map, word in zip(maps, words, strict=True)
        if word in FUNCTION_WORDS
    ]
    return object_ious, function_fractions


def chance_maps(kind: str, count: int, grid: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Return maps that know nothing of the image, for the chance rows.

    Parameters
    ----------
    kind : {"uniform", "random"}
        ``"uniform"``: every cell 255 (Otsu keeps the whole image); ``"random"``:
        independent uniform values per cell.
    count : int
    grid : (h, w)
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (count, h, w), uint8
    """
    if kind == "uniform":
        return np.full((count, *grid), 255, dtype=np.uint8)
    if kind == "random":
        return rng.integers(0, 256, size=(count, *grid), dtype=np.uint8)
    raise ValueError(f"kind must be 'uniform' or 'random', got {kind!r}")
