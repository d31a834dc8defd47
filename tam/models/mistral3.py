"""Mistral 3 family (``Mistral3ForConditionalGeneration``: Mistral Small 3.1 / 3.2, the Pixtral layout).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``[IMG]``); the ``[IMG_BREAK]`` closing each
  row and the ``[IMG_END]`` closing the image are other tokens: separators, never cells;
- grid: the processed picture's size (``image_sizes``, in the processor's outputs) over
  ``patch_size * spatial_merge_size`` pixels per token, as the processor expands ``[IMG]``;
- where it lies: the image processor resizes the whole picture (within ``longest_edge``,
  to whole patches), so the grid covers it.
"""

from __future__ import annotations

from tam.errors import ShapeError
from tam.models.base import PreparedInputs, SquareGridAdapter

__all__ = ["Mistral3Adapter"]


class Mistral3Adapter(SquareGridAdapter):
    """Adapter of ``Mistral3ForConditionalGeneration``: one grid per image, rows closed by ``[IMG_BREAK]``."""

    family = "Mistral 3 (Pixtral layout)"
    model_classes = ("Mistral3ForConditionalGeneration",)

    def vision_shape(self, prepared: PreparedInputs):
        """``(h, w)`` per image: its processed size over the pixels of one merged token."""
        step = int(self.processor.patch_size) * int(self.processor.spatial_merge_size)
        grids = [(int(height) // step, int(width) // step) for height, width in prepared.inputs["image_sizes"]]
        found = int((prepared.inputs["input_ids"][0] == int(self.model.config.image_token_id)).sum())
        if found != sum(height * width for height, width in grids):
            raise ShapeError(
                f"the processor gave {found} [IMG] tokens, but the grids tam reads from image_sizes {grids} hold "
                f"{sum(height * width for height, width in grids)}; tam cannot lay out these Mistral 3 settings"
            )
        return grids[0] if len(grids) == 1 else grids
