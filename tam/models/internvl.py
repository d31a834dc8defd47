"""InternVL3 / 3.5 family (``InternVLForConditionalGeneration``, the ``-hf`` checkpoints).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<IMG_CONTEXT>``, between ``<img>`` and
  ``</img>``);
- grid of one tile: ``vision_config.image_size / vision_config.patch_size`` patches on
  each side, times ``config.downsample_ratio`` after the pixel shuffle (448 / 14 * 0.5 = 16);
- tiles: with ``crop_to_patches`` (on by ``InternVLProcessor``'s defaults; off or on by ``processor_kwargs``) the
  image processor stretches the picture over the ``columns x rows`` canvas its own
  ``get_optimal_tiled_canvas`` picks within ``min_patches``..``max_patches``, cuts it into
  448-pixel tiles row by row and adds a thumbnail of the whole picture when there is more
  than one tile; the tokens of each tile follow each other in that order. Without it, one
  tile: the whole picture, stretched.
"""

from __future__ import annotations

from tam.layout import Tile, VisionLayout
from tam.models.base import PreparedInputs, SquareGridAdapter
from tam.models.geometry import size_pair, size_settings, tile_boxes

__all__ = ["InternVLAdapter"]


class InternVLAdapter(SquareGridAdapter):
    """Adapter of ``InternVLForConditionalGeneration``: per image, its tiles and a thumbnail, or one tile."""

    family = "InternVL3 (-hf)"
    model_classes = ("InternVLForConditionalGeneration",)

    def tile_grid(self) -> tuple[int, int]:
        """``(h, w)`` of one tile's grid: ``image_size / patch_size * downsample_ratio`` on each side."""
        config = self.model.config
        ratio = float(config.downsample_ratio)
        image_size, patch_size = size_pair(config.vision_config.image_size), size_pair(config.vision_config.patch_size)
        return tuple(round(size / patch * ratio) for size, patch in zip(image_size, patch_size, strict=True))

    def vision_shape(self, prepared: PreparedInputs):
        """One ``(h, w)`` tile grid per tile of every image, in token order."""
        grids = list(self.layout(prepared).grids)
        return grids[0] if len(grids) == 1 else grids

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's tiles (row by row) and thumbnail, as its image processor cuts them."""
        from transformers.models.got_ocr2.image_processing_got_ocr2 import get_optimal_tiled_canvas

        # the processor's own defaults (InternVL's, Aya Vision's) turn tiles on; processor_kwargs may turn them off
        settings = self.image_settings("crop_to_patches", "min_patches", "max_patches", "size")
        tiled = bool(settings["crop_to_patches"])
        min_patches, max_patches = int(settings["min_patches"]), int(settings["max_patches"])
        size = size_settings(settings["size"])
        tile_size = (int(size["height"]), int(size["width"]))
        tiles = []
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        for index, (height, width) in enumerate(sizes):
            whole = Tile(index, (0.0, 0.0, float(width), float(height)))
            if not tiled or max_patches <= 1:
                tiles.append(whole)
                continue
            columns, rows = get_optimal_tiled_canvas((height, width), tile_size, min_patches, max_patches)
            tiles.extend(Tile(index, box) for box in tile_boxes(height, width, columns, rows))
            if columns * rows > 1:
                tiles.append(Tile(index, whole.box, "global"))
        grid = self.tile_grid()
        layout = VisionLayout.from_tiles([grid] * len(tiles), tiles, sizes)
        return self.counted(layout, prepared, f"the {len(tiles)} tiles of {grid}")
