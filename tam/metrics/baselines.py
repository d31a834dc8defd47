"""Maps to score beside a method's: what chance gives, and the best that the grid can hold.

A score means little alone. Chance rows (maps that know nothing of the image) say how
much a metric gives for free; the ceiling rows (each cell's share of the named object)
say how much a vision grid of that size allows at all, before and after the rank
Gaussian filter, whose window spreads every map by a cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BASELINES", "baseline_maps", "chance_maps", "perfect_maps"]

BASELINES = ("uniform", "random", "perfect", "perfect+rgf")
"""Baseline map kinds: the two chance kinds of :func:`chance_maps`, then the ceilings of
:func:`perfect_maps` unfiltered and after the rank Gaussian filter."""


def chance_maps(kind: str, count: int, grid: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Return maps that know nothing of the image.

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


def perfect_maps(
    token_labels: Sequence[int | None], mask: np.ndarray, grid: tuple[int, int], filter_size: int | None = None
) -> np.ndarray:
    """Return the best maps a grid can hold: each cell's share of the token's object.

    Parameters
    ----------
    token_labels : sequence of int or None, length N
        Mask value of the object each token names; None (or a value absent from the
        mask) gives a zero map.
    mask : ndarray of shape (H, W), integer
        Segmentation labels at the image's size.
    grid : (h, w)
    filter_size : int, optional
        Window of the rank Gaussian filter applied to each map (then rescaled to peak
        at 255), as full TAM filters its maps; unfiltered by default.

    Returns
    -------
    ndarray of shape (N, h, w), uint8

    >>> mask = np.zeros((4, 4), np.uint8); mask[:2, :1] = 7
    >>> perfect_maps([None, 7], mask, (2, 2)).tolist()
    [[[0, 0], [0, 0]], [[127, 0], [0, 0]]]
    """
    import cv2

    from tam.filters import rank_gaussian_filter

    mask = np.asarray(mask)
    height, width = grid
    maps = np.zeros((len(token_labels), height, width))
    for index, label in enumerate(token_labels):
        if label is not None:
            # area interpolation averages the pixels of each cell: the cell's share of the object
            share = cv2.resize((mask == label).astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
            maps[index] = np.clip(share, 0.0, 1.0)
    if filter_size is not None:
        maps = rank_gaussian_filter(maps, filter_size)
        peaks = maps.max(axis=(1, 2), keepdims=True)
        maps = np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)
    return (maps * 255).astype(np.uint8)


def baseline_maps(
    kind: str,
    token_labels: Sequence[int | None],
    mask: np.ndarray,
    grid: tuple[int, int],
    seed: int,
    filter_size: int = 3,
) -> np.ndarray:
    """Return one answer's maps of a baseline ``kind`` (one of :data:`BASELINES`).

    Parameters
    ----------
    kind : str
    token_labels : sequence of int or None, length N
        Mask value of the object each answer token names (None for other tokens).
    mask : ndarray of shape (H, W), integer
    grid : (h, w)
    seed : int
        Seed of the random maps, so that a sample scores the same in every run.
    filter_size : int, default 3
        Window of the rank Gaussian filter of ``"perfect+rgf"``: the one the scored TAM
        maps were filtered with.

    Returns
    -------
    ndarray of shape (N, h, w), uint8
    """
    if kind in ("uniform", "random"):
        return chance_maps(kind, len(token_labels), grid, np.random.default_rng(seed))
    if kind in ("perfect", "perfect+rgf"):
        return perfect_maps(token_labels, mask, grid, filter_size=filter_size if kind == "perfect+rgf" else None)
    raise ValueError(f"kind must be one of {BASELINES}, got {kind!r}")
