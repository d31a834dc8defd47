"""Vision layout: how the flat run of vision tokens folds into grids (spec section 2).

``vision_shape`` comes in the reference release's three forms:

- ``(h, w)``: one image, ``h * w`` tokens after the model's spatial merge;
- ``(t, h, w)``: a video of ``t`` temporal tokens (Qwen merges two frames into one);
- ``[(h, w), (h, w), ...]``: several images whose tokens are consecutive.

Each image or temporal slice is one grid; the rank Gaussian filter runs on each grid
on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tam.errors import ShapeError

__all__ = ["VisionLayout"]


@dataclass(frozen=True)
class VisionLayout:
    """The grids that the vision tokens form, in token order.

    Attributes
    ----------
    grids : tuple of (int, int)
        ``(h, w)`` of each image or video frame, in token order.
    kind : {"image", "video", "images"}
        Which form of ``vision_shape`` it came from.
    """

    grids: tuple[tuple[int, int], ...]
    kind: str

    @classmethod
    def from_shape(cls, vision_shape) -> VisionLayout:
        """Read ``vision_shape`` in any of the three forms (ints may be tensors).

        Raises
        ------
        ShapeError
            If the shape is none of the three forms or has a non-positive size.
        """
        if isinstance(vision_shape, VisionLayout):
            return vision_shape
        if (
            isinstance(vision_shape, Sequence)
            and vision_shape
            and all(isinstance(item, Sequence) and not isinstance(item, str) for item in vision_shape)
        ):
            grids = tuple(_grid(item, vision_shape) for item in vision_shape)
            return cls(grids=grids, kind="images")
        sizes = _ints(vision_shape, vision_shape)
        if len(sizes) == 2:
            return cls(grids=(_grid(sizes, vision_shape),), kind="image")
        if len(sizes) == 3:
            frames, height, width = sizes
            _grid((height, width), vision_shape)
            if frames < 1:
                raise ShapeError(f"vision_shape {vision_shape!r} has {frames} frames; expected at least 1")
            return cls(grids=((height, width),) * frames, kind="video")
        raise ShapeError(f"vision_shape must be (h, w), (t, h, w) or a list of (h, w); got {vision_shape!r}")

    @property
    def num_tokens(self) -> int:
        """Total number of vision tokens ``M`` over all grids."""
        return sum(h * w for h, w in self.grids)

    @property
    def shape(self):
        """The layout as a ``vision_shape`` again: ``(h, w)``, ``(t, h, w)`` or a list."""
        if self.kind == "image":
            return self.grids[0]
        if self.kind == "video":
            return (len(self.grids), *self.grids[0])
        return list(self.grids)

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Fold the last axis of ``flat`` into one array per grid.

        Parameters
        ----------
        flat : ndarray of shape (..., M)

        Returns
        -------
        list of ndarray, each of shape (..., h, w)
        """
        flat = np.asarray(flat)
        if flat.shape[-1] != self.num_tokens:
            raise ShapeError(f"expected {self.num_tokens} vision values for {self.shape}, got {flat.shape[-1]}")
        bounds = np.cumsum([0] + [h * w for h, w in self.grids])
        return [
            flat[..., start:end].reshape(*flat.shape[:-1], h, w)
            for (start, end), (h, w) in zip(zip(bounds[:-1], bounds[1:], strict=True), self.grids, strict=True)
        ]

    def join(self, grids: Sequence[np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`split`: flatten per-grid arrays ``(..., h, w)`` back to ``(..., M)``."""
        return np.concatenate([g.reshape(*g.shape[:-2], -1) for g in grids], axis=-1)


def _ints(values, original) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ShapeError(f"vision_shape must be (h, w), (t, h, w) or a list of (h, w); got {original!r}") from None


def _grid(values, original) -> tuple[int, int]:
    sizes = _ints(values, original)
    if len(sizes) != 2 or min(sizes) < 1:
        raise ShapeError(f"each grid in vision_shape must be (h, w) with h, w >= 1; got {original!r}")
    return sizes
