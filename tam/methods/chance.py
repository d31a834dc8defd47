"""Chance maps: maps that know nothing of the image, to say how much a metric gives for free."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tam.methods.base import MaskMethod, register

__all__ = ["ChanceMaps", "chance_maps"]


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


@dataclass(frozen=True)
class ChanceMaps(MaskMethod):
    """:func:`chance_maps` of kind ``name``, seeded per sample (the mask only sets the count and grid)."""

    def answer_maps(self, token_labels, mask, grid, *, seed, filter_size):
        """See :meth:`MaskMethod.answer_maps`."""
        return chance_maps(self.name, len(token_labels), grid, np.random.default_rng(seed))


for _name, _title in (("uniform", "chance: uniform"), ("random", "chance: random")):
    register(ChanceMaps(_name, _title, frozenset({"mask"}), "none"))
