"""Vision layout: how the flat run of vision tokens folds into grids (spec section 2).

``vision_shape`` comes in the reference release's three forms:

- ``(h, w)``: one image, ``h * w`` tokens after the model's spatial merge;
- ``(t, h, w)``: a video of ``t`` temporal tokens (Qwen merges two frames into one);
- ``[(h, w), (h, w), ...]``: several images whose tokens are consecutive.

Each image or temporal slice is one grid; the rank Gaussian filter runs on each grid
on its own.

A layout also says where each grid lies in the user's own pictures: a :class:`Tile` is
one grid with its rectangle in its picture's pixel frame (the whole picture for a
single-grid family, a centre crop, one tile of a tiled picture or a thumbnail) and its
kind, ``"local"`` or ``"global"`` (a thumbnail or base view of the whole picture beside
local tiles). :meth:`VisionLayout.paint` draws per-grid maps onto a picture: each tile
resized bilinearly onto its rectangle, tiles averaged where they overlap, 0 where no tile
lies (what the model never saw).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tam.errors import ShapeError

__all__ = ["TILE_KINDS", "TILE_SELECTIONS", "Tile", "VisionLayout"]

TILE_KINDS = ("local", "global")
"""A tile shows part of its picture at full detail (``local``) or the whole picture beside such tiles (``global``)."""

TILE_SELECTIONS = ("all", *TILE_KINDS)
"""Which tiles :meth:`VisionLayout.paint` draws."""


@dataclass(frozen=True)
class Tile:
    """One grid of vision tokens and the rectangle of its picture it covers.

    Attributes
    ----------
    picture : int
        Which picture (image or video frame, in chat order) the grid shows.
    box : (float, float, float, float)
        ``(left, top, right, bottom)`` in that picture's pixels, EXIF-upright, before any
        resize; may pass the picture's edges where the processor pads.
    kind : {"local", "global"}
    """

    picture: int
    box: tuple[float, float, float, float]
    kind: str = "local"

    def __post_init__(self) -> None:
        if self.kind not in TILE_KINDS:
            raise ShapeError(f"a tile's kind must be one of {TILE_KINDS}, got {self.kind!r}")
        left, top, right, bottom = self.box
        if not (right > left and bottom > top) or not np.isfinite(self.box).all():
            raise ShapeError(f"a tile's box (left, top, right, bottom) must have a positive area, got {self.box}")
        if int(self.picture) != self.picture or self.picture < 0:
            raise ShapeError(f"a tile's picture must be an index >= 0, got {self.picture!r}")


@dataclass(frozen=True)
class VisionLayout:
    """The grids that the vision tokens form, in token order.

    Attributes
    ----------
    grids : tuple of (int, int)
        ``(h, w)`` of each grid, in token order.
    kind : {"image", "video", "images"}
        Which form of ``vision_shape`` it came from.
    tiles : tuple of Tile
        Where each grid lies, one per grid; empty when only the grids are known: each
        grid then covers picture ``k`` (its own) whole.
    picture_sizes : tuple of (int, int)
        ``(H, W)`` of each picture in chat order; empty when not known (a layout built
        from ``vision_shape`` alone).
    """

    grids: tuple[tuple[int, int], ...]
    kind: str
    tiles: tuple[Tile, ...] = ()
    picture_sizes: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.tiles and len(self.tiles) != len(self.grids):
            raise ShapeError(f"a layout needs one tile per grid, got {len(self.tiles)} for {len(self.grids)} grids")
        if self.tiles and self.picture_sizes:
            pictures = {tile.picture for tile in self.tiles}
            if pictures != set(range(len(self.picture_sizes))):
                raise ShapeError(
                    f"the tiles show pictures {sorted(pictures)}, but the layout has {len(self.picture_sizes)} pictures"
                )
        for size in self.picture_sizes:
            if len(size) != 2 or min(size) < 1:
                raise ShapeError(f"a picture size must be (H, W) with H, W >= 1, got {size!r}")

    @classmethod
    def from_tiles(cls, grids, tiles, picture_sizes, kind: str | None = None) -> VisionLayout:
        """Build a layout of ``grids`` (``(h, w)``, token order) placed by ``tiles`` on ``picture_sizes``."""
        return cls(
            grids=tuple(_grid(grid, grids) for grid in grids),
            kind=kind or ("image" if len(picture_sizes) == 1 else "images"),
            tiles=tuple(tiles),
            picture_sizes=tuple((int(h), int(w)) for h, w in picture_sizes),
        )

    def with_pictures(self, picture_sizes) -> VisionLayout:
        """Return the layout on pictures of ``picture_sizes`` (``(H, W)`` each); grids alone get one picture each."""
        sizes = tuple((int(h), int(w)) for h, w in picture_sizes)
        if not self.tiles and len(sizes) != len(self.grids):
            raise ShapeError(f"got {len(sizes)} pictures for {len(self.grids)} grids of vision_shape {self.shape}")
        placed = dataclasses.replace(self, picture_sizes=sizes)
        return dataclasses.replace(placed, tiles=placed.placed_tiles())

    @property
    def num_pictures(self) -> int:
        """How many pictures the grids show (one per grid when not known)."""
        return len(self.picture_sizes) if self.picture_sizes else len(self.grids)

    def placed_tiles(self) -> tuple[Tile, ...]:
        """Return the tiles; for grids alone, each grid over its own picture (in grid cells when no size is known)."""
        if self.tiles:
            return self.tiles
        sizes = self.picture_sizes or self.grids
        return tuple(Tile(index, (0.0, 0.0, float(w), float(h))) for index, (h, w) in enumerate(sizes))

    def picture_size(self, picture: int) -> tuple[int, int]:
        """``(H, W)`` of picture ``picture`` (its grid's size when no picture size is known)."""
        if not 0 <= int(picture) < self.num_pictures:
            raise IndexError(f"picture must be in [0, {self.num_pictures}), got {picture}")
        return (self.picture_sizes or self.grids)[int(picture)]

    def seen_box(self, picture: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``: the part of picture ``picture`` some tile covers (whole pixels, clipped)."""
        height, width = self.picture_size(picture)
        boxes = np.array([tile.box for tile in self.placed_tiles() if tile.picture == picture])
        left, top = np.clip(np.floor(boxes[:, :2].min(axis=0)), 0, [width, height])
        right, bottom = np.clip(np.ceil(boxes[:, 2:].max(axis=0)), 0, [width, height])
        return int(left), int(top), int(right), int(bottom)

    def is_whole_pictures(self) -> bool:
        """Tell whether every picture is one grid covering it exactly (the maps need no placing)."""
        tiles = self.placed_tiles()
        if len(tiles) != self.num_pictures:
            return False
        sizes = [self.picture_size(index) for index in range(len(tiles))]
        return all(
            tile.picture == index and tile.box == (0.0, 0.0, float(w), float(h))
            for index, (tile, (h, w)) in enumerate(zip(tiles, sizes, strict=True))
        )

    def picture_maps(self, flat: np.ndarray) -> list[np.ndarray]:
        """One map per picture of a vision map ``flat`` (M,), each to be resized onto its picture.

        Where every picture is one grid covering it whole, the grids themselves (as the
        reference draws and scores them: resized to the picture by the caller); otherwise
        each picture's :meth:`paint`, at the picture's size.
        """
        grids = self.split(flat)
        if self.is_whole_pictures():
            return grids
        return [self.paint(grids, picture) for picture in range(self.num_pictures)]

    def paint(self, grids: Sequence[np.ndarray], picture: int = 0, size=None, tiles: str = "all") -> np.ndarray:
        """Draw per-grid maps onto picture ``picture``: the map in that picture's frame.

        Parameters
        ----------
        grids : sequence of ndarray of shape (..., h, w)
            One map per grid (:meth:`split`), any real dtype; leading axes (tokens) are
            painted together.
        picture : int
            Which picture, in chat order.
        size : (H, W), optional
            Size of the map returned; the picture's own size by default. Tile rectangles
            are scaled with it.
        tiles : {"all", "local", "global"}
            Draw every tile, or only those of one kind.

        Returns
        -------
        ndarray of shape (..., H, W), float32
            Each tile's map resized bilinearly onto its rectangle (cv2, rectangle corners
            rounded to pixels), tiles averaged where they overlap, 0 where none lies.

        Raises
        ------
        ValueError
            ``tiles`` is not a selection, or the picture has no tile of that kind.
        """
        if tiles not in TILE_SELECTIONS:
            raise ValueError(f"tiles must be one of {TILE_SELECTIONS}, got {tiles!r}")
        if len(grids) != len(self.grids):
            raise ShapeError(f"expected one map per grid ({len(self.grids)}), got {len(grids)}")
        frame_height, frame_width = self.picture_size(picture)
        height, width = (frame_height, frame_width) if size is None else (int(size[0]), int(size[1]))
        if height < 1 or width < 1:
            raise ValueError(f"size must be (H, W) with H, W >= 1, got {size!r}")
        chosen = [
            (tile, grid)
            for tile, grid in zip(self.placed_tiles(), grids, strict=True)
            if tile.picture == picture and tiles in ("all", tile.kind)
        ]
        if not chosen:
            kinds = sorted({tile.kind for tile in self.placed_tiles() if tile.picture == picture})
            raise ValueError(f"picture {picture} has no {tiles} tile; its tiles are {', '.join(kinds)}")
        scale = np.array([width / frame_width, height / frame_height] * 2)
        leading = np.shape(chosen[0][1])[:-2]
        total = np.zeros((*leading, height, width), np.float32)
        count = np.zeros((height, width), np.float32)
        for tile, grid in chosen:
            left, top, right, bottom = (int(v) for v in np.rint(np.asarray(tile.box) * scale))
            if right <= left or bottom <= top:
                continue  # a tile smaller than a pixel at this size
            painted = _resize(np.asarray(grid), right - left, bottom - top)
            rows, columns = slice(max(top, 0), min(bottom, height)), slice(max(left, 0), min(right, width))
            total[..., rows, columns] += painted[
                ..., rows.start - top : rows.stop - top, columns.start - left : columns.stop - left
            ]
            count[rows, columns] += 1.0
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)

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
        """The layout as a ``vision_shape`` again: ``(h, w)``, ``(t, h, w)`` or a list (tiled pictures)."""
        if self.kind == "image" and len(self.grids) == 1:
            return self.grids[0]
        if self.kind == "video" and len(set(self.grids)) == 1 and len(self.grids) == self.num_pictures:
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


def _resize(grid: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize maps ``(..., h, w)`` bilinearly to ``(..., height, width)``, float32 (uint8 resized as uint8)."""
    import cv2

    if grid.dtype != np.uint8:
        grid = grid.astype(np.float32)
    leading = grid.shape[:-2]
    if not leading:
        return cv2.resize(grid, (int(width), int(height)), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    # cv2 resizes up to 128 channels at once (OpenCV 5): the maps go in as channels
    stacked = np.moveaxis(grid.reshape(-1, *grid.shape[-2:]), 0, -1)
    size = (int(width), int(height))
    parts = [
        cv2.resize(np.ascontiguousarray(stacked[..., start : start + 128]), size, interpolation=cv2.INTER_LINEAR)
        for start in range(0, stacked.shape[-1], 128)
    ]
    resized = np.concatenate([part.reshape(int(height), int(width), -1) for part in parts], axis=-1)
    return np.moveaxis(resized, -1, 0).reshape(*leading, int(height), int(width)).astype(np.float32)


def _ints(values, original) -> tuple[int, ...]:
    """Read the sizes as ints: Python or numpy integers, integer tensors; refuse floats (4.5, even 4.0) and bools."""
    try:
        if isinstance(values, (str, bytes)) or any(isinstance(v, (bool, np.bool_)) for v in values):
            raise TypeError
        return tuple(operator.index(v) for v in values)
    except TypeError:
        raise ShapeError(
            f"vision_shape must be (h, w), (t, h, w) or a list of (h, w) of integers; got {original!r}"
        ) from None


def _grid(values, original) -> tuple[int, int]:
    sizes = _ints(values, original)
    if len(sizes) != 2 or min(sizes) < 1:
        raise ShapeError(f"each grid in vision_shape must be (h, w) with h, w >= 1; got {original!r}")
    return sizes
