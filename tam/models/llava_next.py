"""LLaVA-NeXT family (``LlavaNextForConditionalGeneration``, the ``llava-hf/llava-v1.6-*`` checkpoints).

Each image is two grids, read from the processor's settings with its own functions:

- a base view: the whole picture stretched to the vision tower's square
  (``image_size / patch_size`` cells on a side), kind ``global``;
- an any-resolution grid: the processor picks the best of ``image_grid_pinpoints``
  (``select_best_resolution``), resizes the picture into it keeping its aspect
  (``get_patch_output_size``), pads it to the centre and cuts tiles of the tower's size;
  the model stitches the tiles' features into one grid, cuts the padding off again
  (``unpad_image``; the processor counts it with ``_get_unpadded_features``) and adds a
  newline feature after every row. That grid lies over the picture (a rounding of a
  cell at most past its edges), kind ``local``; the newline slots are separators, in no tile.

The base view's tokens come first, then the grid's rows, each followed by its newline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tam.errors import ShapeError
from tam.layout import Tile, VisionLayout
from tam.models.base import PreparedInputs, SquareGridAdapter
from tam.models.geometry import size_settings

__all__ = ["LlavaNextAdapter", "LlavaOnevisionAdapter"]


@dataclass(frozen=True)
class _ImageGrids:
    """The two grids of one image: the base view's side, the any-resolution grid and its rectangle."""

    base: int
    grid: tuple[int, int]
    box: tuple[float, float, float, float]


class LlavaNextAdapter(SquareGridAdapter):
    """Adapter of ``LlavaNextForConditionalGeneration``: per image a base view and an unpadded any-resolution grid."""

    family = "LLaVA-NeXT"
    model_classes = ("LlavaNextForConditionalGeneration",)
    feature_strategy = "default"  # CLIP's CLS token dropped: the base view is a square of patches
    tile_setting = "crop_size"  # the image processor's setting that sizes each any-resolution tile

    def vision_shape(self, prepared: PreparedInputs):
        """Return the base view and the any-resolution grid of every image, in token order."""
        return list(self.layout(prepared).grids)

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's base view (global) over the whole picture, then its any-resolution grid (local)."""
        grids, tiles, sizes = [], [], []
        images, _ = self._laid_out(prepared)
        for index, (image, picture) in enumerate(zip(images, prepared.pictures, strict=True)):
            height, width = picture.shape[:2]
            grids += [(image.base, image.base), image.grid]
            tiles += [Tile(index, (0.0, 0.0, float(width), float(height)), "global"), Tile(index, image.box)]
            sizes.append((height, width))
        return VisionLayout.from_tiles(grids, tiles, sizes)

    def separator_slots(self, prepared: PreparedInputs) -> np.ndarray:
        """Mark the newline after each row of every any-resolution grid."""
        return self._laid_out(prepared)[1]

    def _laid_out(self, prepared: PreparedInputs) -> tuple[list[_ImageGrids], np.ndarray]:
        """Each image's grids, and which image tokens are newlines, checked against the tokens the processor wrote."""
        settings = self.image_settings(self.tile_setting, "image_grid_pinpoints")
        images = [self._image_grids(*picture.shape[:2], settings) for picture in prepared.pictures]
        slots = [
            part
            for image in images
            for part in (
                np.zeros(image.base**2, bool),
                np.tile(np.r_[np.zeros(image.grid[1], bool), True], image.grid[0]),
            )
        ]
        marked = np.concatenate(slots) if slots else np.zeros(0, bool)
        found = int(np.isin(prepared.input_ids, np.asarray(self.vision_token_ids(), dtype=np.int64)).sum())
        if len(marked) != found:
            raise ShapeError(
                f"the processor gave {found} image tokens, but the grids and newlines tam lays out hold {len(marked)}; "
                f"tam cannot lay out these {self.family} processor settings"
            )
        return images, marked

    def _image_grids(self, height: int, width: int, settings: dict) -> _ImageGrids:
        """Lay out a ``height x width`` picture as the processor counts its grids and the model stitches them.

        ``settings`` are the processor's tile size setting and ``image_grid_pinpoints`` (:meth:`image_settings`).
        """
        from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
        from transformers.image_utils import ChannelDimension
        from transformers.models.llava_next.modeling_llava_next import unpad_image

        config = self.model.config
        if config.vision_feature_select_strategy != self.feature_strategy:
            raise ShapeError(
                f"vision_feature_select_strategy {config.vision_feature_select_strategy!r} changes the base view's "
                f"tokens; tam lays out {self.family} with {self.feature_strategy!r}"
            )
        tile = size_settings(settings[self.tile_setting])
        tile_height, tile_width = int(tile["height"]), int(tile["width"])
        base = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
        best_height, best_width = select_best_resolution([height, width], settings["image_grid_pinpoints"])
        # the grid of every tile's features before the padding is cut off: it covers the padded canvas
        full_rows, full_columns = base * (best_height // tile_height), base * (best_width // tile_width)
        # the model's own unpadding, on a grid of that shape, gives the rows and columns it keeps
        kept_rows, kept_columns = unpad_image(np.zeros((1, full_rows, full_columns)), [height, width]).shape[1:]
        # the processor's count of what the model makes of them (LLaVA-OneVision may pool them further)
        features, rows = self.processor._get_unpadded_features(
            height, width, base, base, best_height // tile_height, best_width // tile_width
        )
        columns = features // rows
        # where the picture lies in the canvas, as the image processor resizes and pads it
        shape = np.empty((1, height, width), np.uint8)  # only its shape is read
        new_height, new_width = get_patch_output_size(shape, (best_height, best_width), ChannelDimension.FIRST)
        pad_left, pad_top = (best_width - new_width) // 2, (best_height - new_height) // 2
        cell_height, cell_width = best_height / full_rows, best_width / full_columns
        top_cells, left_cells = (full_rows - kept_rows) // 2, (full_columns - kept_columns) // 2
        box = (
            (left_cells * cell_width - pad_left) * width / new_width,
            (top_cells * cell_height - pad_top) * height / new_height,
            ((left_cells + kept_columns) * cell_width - pad_left) * width / new_width,
            ((top_cells + kept_rows) * cell_height - pad_top) * height / new_height,
        )
        return _ImageGrids(base, (rows, columns), box)


class LlavaOnevisionAdapter(LlavaNextAdapter):
    """Adapter of ``LlavaOnevisionForConditionalGeneration``: LLaVA-NeXT's layout with SigLIP and pooling.

    SigLIP has no CLS token (``"full"`` features), the tiles are ``size`` pixels, and an
    unpadded grid larger than ``anyres_max_N`` tiles is pooled by the model to fewer cells
    over the same rectangle (the processor's ``_get_unpadded_features`` counts them).
    """

    family = "LLaVA-OneVision"
    model_classes = ("LlavaOnevisionForConditionalGeneration",)
    feature_strategy = "full"
    tile_setting = "size"
