"""The grid's ceiling: the best maps a grid can hold, each cell's share of the named object.

Scored beside a method's maps, they say how much a vision grid of that size allows at
all, before and after the rank Gaussian filter, whose window spreads every map by a cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tam.methods.base import MaskMethod, register

__all__ = ["PerfectMaps", "perfect_maps"]


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


@dataclass(frozen=True)
class PerfectMaps(MaskMethod):
    """:func:`perfect_maps`, unfiltered or with the window the scored TAM maps used."""

    filtered: bool = False

    def answer_maps(self, token_labels, mask, grid, *, seed, filter_size):
        """See :meth:`MaskMethod.answer_maps`."""
        return perfect_maps(token_labels, mask, grid, filter_size=filter_size if self.filtered else None)


for _name, _title, _filtered in (("perfect", "ceiling", False), ("perfect+rgf", "ceiling + filter", True)):
    register(PerfectMaps(_name, _title, frozenset({"mask"}), "none", filtered=_filtered))
