"""Aya Vision family (``AyaVisionForConditionalGeneration``: ``CohereLabs/aya-vision-8b``, ``-32b``).

Aya Vision tiles a picture as InternVL does (the same ``GotOcr2ImageProcessor``), so
its layout is :class:`~tam.models.internvl.InternVLAdapter`'s. Read from the model and
its processor:

- vision tokens: ``config.image_token_id`` (``<|IMG_PATCH|>``); the chat template writes
  one ``<image>`` per picture, which the processor expands into
  ``<|START_OF_IMG|>``, ``TILE_1`` ... ``TILE_GLOBAL`` and ``<|END_OF_IMG|>`` around the
  tiles' patches: text, never cells;
- grid of one tile: ``vision_config.image_size / vision_config.patch_size`` SigLIP patches
  on each side, over ``config.downsample_factor`` after the projector's pixel shuffle
  (364 / 14 / 2 = 13);
- tiles: ``AyaVisionProcessor`` turns ``crop_to_patches`` on by default: the tiles of the
  canvas ``get_optimal_tiled_canvas`` picks, row by row, then the thumbnail (``TILE_GLOBAL``)
  when there is more than one tile.
"""

from __future__ import annotations

from tam.models.geometry import size_pair
from tam.models.internvl import InternVLAdapter

__all__ = ["AyaVisionAdapter"]


class AyaVisionAdapter(InternVLAdapter):
    """Adapter of ``AyaVisionForConditionalGeneration``: per image, its tiles and a thumbnail, or one tile."""

    family = "Aya Vision"
    model_classes = ("AyaVisionForConditionalGeneration",)

    def tile_grid(self) -> tuple[int, int]:
        """``(h, w)`` of one tile's grid: ``image_size / patch_size / downsample_factor`` on each side."""
        config = self.model.config
        factor = int(config.downsample_factor)
        image_size, patch_size = size_pair(config.vision_config.image_size), size_pair(config.vision_config.patch_size)
        return tuple(size // patch // factor for size, patch in zip(image_size, patch_size, strict=True))

    def placeholder_token_ids(self) -> tuple[int, ...]:
        """Return the id of ``<image>`` (the processor's ``image_token``): what the template writes once per picture."""
        return (int(self.tokenizer.convert_tokens_to_ids(self.processor.image_token)),)
