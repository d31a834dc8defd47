"""Score token maps of toy captions against the scenes' masks (the paper's Obj-IoU and Func-IoU, spec section 8).

The toy captions hold three kinds of words, each one token: shape words (nouns that
name a category), colour words, and the function words ``a`` and ``and``. So a word is
its token and no POS tagger is needed:

- Obj-IoU: a shape word's map (uint8, resized to the mask with bilinear interpolation)
  is thresholded with Otsu's method; IoU against the mask of its category, for every
  shape word whose category is in the scene.
- Func-IoU: the threshold is the mean of the shape words' Otsu thresholds; for each
  function word, the fraction of its map's grid cells below it (1: it lights up nothing).

- Offsets: how far the centre of a shape word's Otsu foreground lies from the centre of
  its shape, in pixels. A plumbing error that moves every map by one cell (a vision span
  read one token late) keeps much of the overlap with shapes a few cells wide, but shows
  as a steady offset of one cell, where a working pipeline's offsets average out near 0.

Scores are pooled over a data set, as the reference does: one list of word IoUs, one of
function-word fractions. The thresholds and overlaps are :mod:`tam.metrics`' own;
``eval.py`` computes the same figures for any answer, with NLTK finding the words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["FUNCTION_WORDS", "foreground_offsets", "score_maps"]

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
    from tam.metrics import background_fraction, overlap

    words = [word.strip().lower() for word in words]
    object_ious, thresholds = [], []
    for threshold, foreground, target in _shape_word_foregrounds(maps, words, labels, categories):
        thresholds.append(threshold)
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


def foreground_offsets(
    maps: np.ndarray, words: Sequence[str], labels: np.ndarray, categories: Mapping[str, int]
) -> np.ndarray:
    """Offset of each shape word's Otsu foreground from its shape, centre to centre.

    Parameters are those of :func:`score_maps`.

    Returns
    -------
    ndarray of shape (K, 2), float
        ``(dy, dx)`` in pixels of the mask (foreground centre minus shape centre), one
        row per shape word whose category is in ``labels`` and whose foreground is not
        empty, in answer order.

    >>> labels = np.zeros((8, 8), np.uint8); labels[2:4, 2:4] = 1
    >>> token_map = np.zeros((4, 4), np.uint8); token_map[1, 2] = 255
    >>> foreground_offsets(token_map[None], ["circle"], labels, {"circle": 1}).round(1).tolist()
    [[0.0, 2.0]]
    """
    offsets = []
    words = [word.strip().lower() for word in words]
    for _threshold, foreground, target in _shape_word_foregrounds(maps, words, labels, categories):
        if target.any() and foreground.any():
            offsets.append(np.mean(np.argwhere(foreground), axis=0) - np.mean(np.argwhere(target), axis=0))
    return np.array(offsets, dtype=float).reshape(-1, 2)


def _shape_word_foregrounds(maps, words, labels, categories):
    """Yield ``(Otsu threshold, foreground, target mask)`` of each shape word, both masks shaped like ``labels``."""
    from tam.metrics import otsu_threshold, resize_map

    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) != len(words):
        raise ValueError(f"maps must have shape (N, h, w) with N = {len(words)} words, got {maps.shape}")
    labels = np.asarray(labels)
    for token_map, word in zip(maps, words, strict=True):
        if word in categories:
            threshold, foreground = otsu_threshold(resize_map(token_map, labels.shape))
            yield threshold, foreground, labels == categories[word]
