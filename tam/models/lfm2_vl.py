"""LFM2-VL family (``Lfm2VlForConditionalGeneration``: ``LiquidAI/LFM2-VL-450M``, ``-1.6B``, ``-3B``).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<image>``, also the template's placeholder);
  ``<|image_start|>``, ``<|img_row_R_col_C|>`` before each tile, ``<|img_thumbnail|>`` and
  ``<|image_end|>`` are text, never cells;
- grids: SigLIP2 NaFlex reads each processed image at its own size; the processor's
  ``spatial_shapes`` (patch rows and columns of every tile and thumbnail, in token order)
  over ``config.downsample_factor`` (the projector's pixel unshuffle) give each grid;
- where they lie: ``Lfm2VlImageProcessor`` resizes a picture whole (aspect kept, within
  ``min_image_tokens``..``max_image_tokens``) unless its own ``_is_image_too_large`` says it is
  too large and splitting is on (``min_tiles``..``max_tiles`` not both 1); then the picture is
  stretched over the ``columns x rows`` tiles its ``_get_grid_layout`` picks, cut row by row, and
  a thumbnail of the whole picture follows (``use_thumbnail``).
"""

from __future__ import annotations

from tam.errors import ShapeError
from tam.layout import Tile, VisionLayout
from tam.models.base import PreparedInputs, SquareGridAdapter
from tam.models.geometry import tile_boxes

__all__ = ["Lfm2VlAdapter"]

_SETTINGS = (
    "do_image_splitting",
    "min_tiles",
    "max_tiles",
    "use_thumbnail",
    "max_image_tokens",
    "encoder_patch_size",
    "downsample_factor",
    "tile_size",
    "max_pixels_tolerance",
)


class Lfm2VlAdapter(SquareGridAdapter):
    """Adapter of ``Lfm2VlForConditionalGeneration``: per image one grid, or its tiles and a thumbnail."""

    family = "LFM2-VL"
    model_classes = ("Lfm2VlForConditionalGeneration",)

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """Decoder layers (1..n) that are not short convolutions in ``text_config.layer_types``."""
        return tuple(index + 1 for index, kind in enumerate(self.text_config.layer_types) if kind != "conv")

    @property
    def final_norm(self):
        """LFM2's final norm (named ``embedding_norm`` in transformers)."""
        return self.model.model.language_model.embedding_norm

    def vision_shape(self, prepared: PreparedInputs):
        """One ``(h, w)`` grid per tile or thumbnail of every image, in token order."""
        grids = list(self.layout(prepared).grids)
        return grids[0] if len(grids) == 1 else grids

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's tiles (row by row) and thumbnail, or the whole picture, as its image processor cuts it."""
        settings = self.image_settings(*_SETTINGS)
        image_processor = self.processor.image_processor
        min_tiles, max_tiles = int(settings["min_tiles"]), int(settings["max_tiles"])
        if not settings["do_image_splitting"]:
            min_tiles = max_tiles = 1  # as the image processor turns splitting off
        splitting = not min_tiles == max_tiles == 1
        tiles, sizes = [], [picture.shape[:2] for picture in prepared.pictures]
        for index, (height, width) in enumerate(sizes):
            whole = Tile(index, (0.0, 0.0, float(width), float(height)))
            large = image_processor._is_image_too_large(
                height,
                width,
                int(settings["max_image_tokens"]),
                int(settings["encoder_patch_size"]),
                int(settings["downsample_factor"]),
                float(settings["max_pixels_tolerance"]),
            )
            if not (large and splitting):
                tiles.append(whole)
                continue
            columns, rows = image_processor._get_grid_layout(
                height, width, min_tiles, max_tiles, int(settings["tile_size"])
            )[:2]
            tiles.extend(Tile(index, box) for box in tile_boxes(height, width, columns, rows))
            if settings["use_thumbnail"] and columns * rows != 1:
                tiles.append(Tile(index, whole.box, "global"))
        shapes = prepared.inputs["spatial_shapes"].tolist() if tiles else []
        if len(shapes) != len(tiles):
            raise ShapeError(
                f"the processor made {len(shapes)} tiles and thumbnails (spatial_shapes), but tam lays out "
                f"{len(tiles)}; tam cannot lay out these LFM2-VL processor settings"
            )
        factor = int(self.model.config.downsample_factor)
        layout = VisionLayout.from_tiles(
            [(rows // factor, columns // factor) for rows, columns in shapes], tiles, sizes
        )
        return self.counted(layout, prepared, "the grids of spatial_shapes")
