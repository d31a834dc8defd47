"""InternVL3 family (``InternVLForConditionalGeneration``, the ``-hf`` checkpoints).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<IMG_CONTEXT>``, between ``<img>`` and
  ``</img>``);
- grid: ``vision_config.image_size / vision_config.patch_size`` patches on each side,
  times ``config.downsample_ratio`` after the pixel shuffle (448 / 14 * 0.5 = 16);
- pictures: the processor's resized pixels, de-normalised.

Each image is given to the model as one tile (``crop_to_patches=False``): the tiles of
dynamic resolution would each make their own grid over a part of the picture.
"""

from __future__ import annotations

from tam.models.base import PreparedInputs, SquareGridAdapter

__all__ = ["InternVLAdapter"]


class InternVLAdapter(SquareGridAdapter):
    """Adapter of ``InternVLForConditionalGeneration``: one square grid per image."""

    family = "InternVL3 (-hf)"
    model_classes = ("InternVLForConditionalGeneration",)
    processor_options = {"crop_to_patches": False}  # one 448-pixel tile per image: one grid

    def vision_shape(self, prepared: PreparedInputs):
        """``(h, w)`` per image: ``image_size / patch_size * downsample_ratio`` on each side."""
        config = self.model.config
        ratio = float(config.downsample_ratio)
        image_size, patch_size = _pair(config.vision_config.image_size), _pair(config.vision_config.patch_size)
        grid = tuple(round(size / patch * ratio) for size, patch in zip(image_size, patch_size, strict=True))
        grids = [grid] * len(prepared.kinds)
        return grids[0] if len(grids) == 1 else grids


def _pair(size) -> tuple[int, int]:
    """``(height, width)`` of a size given as an int or a pair."""
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
