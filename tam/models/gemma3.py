"""Gemma 3 family (``Gemma3ForConditionalGeneration``, the ``google/gemma-3-*-it`` checkpoints).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<image_soft_token>``); the template writes one
  ``<start_of_image>`` per picture, which the processor expands to ``<start_of_image>``, the soft
  tokens and ``<end_of_image>``: the two markers are text, never cells;
- grid: the SigLIP patches average-pooled to ``config.mm_tokens_per_image`` tokens, a square of
  ``sqrt(mm_tokens_per_image)`` on a side; the picture is resized (stretched) to the tower's square;
- pan-and-scan (``do_pan_and_scan``, off by the checkpoints' defaults): the image processor's own
  ``pan_and_scan`` picks crops of the picture (``pan_and_scan_min_crop_size``,
  ``pan_and_scan_max_num_crops``, ``pan_and_scan_min_ratio_to_activate``); each crop is resized to
  the square and becomes a grid of its own after the whole picture's. The whole picture is then a
  ``global`` tile and each crop a ``local`` one at its rectangle; without crops the whole picture is
  the one grid.
"""

from __future__ import annotations

import numpy as np

from tam.layout import Tile, VisionLayout
from tam.models.base import PreparedInputs, SquareGridAdapter

__all__ = ["Gemma3Adapter", "pan_and_scan_boxes"]

PAN_AND_SCAN_SETTINGS = (
    "do_pan_and_scan",
    "pan_and_scan_min_crop_size",
    "pan_and_scan_max_num_crops",
    "pan_and_scan_min_ratio_to_activate",
)


class Gemma3Adapter(SquareGridAdapter):
    """Adapter of ``Gemma3ForConditionalGeneration``: per image its whole picture, then its pan-and-scan crops."""

    family = "Gemma 3"
    model_classes = ("Gemma3ForConditionalGeneration",)

    @property
    def logit_softcap(self) -> None:
        """None: ``Gemma3ForConditionalGeneration.forward`` returns ``lm_head``'s logits uncapped.

        Its text config has ``final_logit_softcapping`` (None in the checkpoints), but only
        ``Gemma3ForCausalLM`` applies it (transformers 5.24); tests hold tam to the model's logits.
        """
        return None

    def placeholder_token_ids(self) -> tuple[int, ...]:
        """``config.boi_token_id`` (``<start_of_image>``): what the template writes for each image."""
        return (int(self.model.config.boi_token_id),)

    def tile_grid(self) -> tuple[int, int]:
        """``(h, w)`` of one picture's or crop's grid: ``sqrt(mm_tokens_per_image)`` on each side."""
        side = int(round(float(self.model.config.mm_tokens_per_image) ** 0.5))
        return side, side

    def vision_shape(self, prepared: PreparedInputs):
        """One grid per picture and per crop, in token order."""
        grids = list(self.layout(prepared).grids)
        return grids[0] if len(grids) == 1 else grids

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's whole picture, then its pan-and-scan crops (row by row), as the image processor cuts them."""
        settings = self.image_settings(*PAN_AND_SCAN_SETTINGS)
        tiles = []
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        for index, (height, width) in enumerate(sizes):
            whole = (0.0, 0.0, float(width), float(height))
            crops = (
                pan_and_scan_boxes(self.processor.image_processor, height, width, settings)
                if settings["do_pan_and_scan"]
                else []
            )
            tiles.append(Tile(index, whole, "global" if crops else "local"))
            tiles.extend(Tile(index, box) for box in crops)
        grid = self.tile_grid()
        layout = VisionLayout.from_tiles([grid] * len(tiles), tiles, sizes)
        return self.counted(layout, prepared, f"the {len(tiles)} pictures and crops of {grid}")


def pan_and_scan_boxes(image_processor, height: int, width: int, settings: dict) -> list[tuple[float, ...]]:
    """Rectangles of the crops a Gemma 3 image processor's pan-and-scan cuts from a ``height x width`` picture.

    The processor's own function cuts a picture whose every pixel holds its row (then its
    column) index, a broadcast view that takes no memory; each crop's first and last values and
    its shape give its rectangle.

    Parameters
    ----------
    image_processor : Gemma3ImageProcessor or Gemma3ImageProcessorPil
    height, width : int
        The picture's size.
    settings : dict
        The ``pan_and_scan_*`` settings of the processor call (:data:`PAN_AND_SCAN_SETTINGS`).

    Returns
    -------
    list of (left, top, right, bottom)
        In the picture's pixels, in the processor's order (row by row); empty when it cuts none.
    """
    options = {name: settings[name] for name in PAN_AND_SCAN_SETTINGS[1:]}

    def crops(axis: int) -> list[np.ndarray]:
        """Cut a ``(1, height, width)`` picture of its row (``axis`` 1) or column (2) indices as the processor cuts."""
        shape = [1, 1, 1]
        shape[axis] = (height, width)[axis - 1]
        if hasattr(image_processor, "pan_and_scan_batched"):  # the torchvision backend: tensors
            import torch

            indices = torch.arange(shape[axis]).reshape(shape).expand(1, height, width)
            return [crop.numpy() for crop in image_processor.pan_and_scan_batched(indices, **options)]
        indices = np.broadcast_to(np.arange(shape[axis]).reshape(shape), (1, height, width))
        return image_processor.pan_and_scan(indices, **options)  # the PIL backend: channels-first arrays

    boxes = []
    for by_row, by_column in zip(crops(1), crops(2), strict=True):
        top, left = int(by_row[0, 0, 0]), int(by_column[0, 0, 0])
        bottom, right = int(by_row[0, -1, -1]) + 1, int(by_column[0, -1, -1]) + 1
        boxes.append((float(left), float(top), float(right), float(bottom)))
    return boxes
