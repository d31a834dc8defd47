"""LLaVA-1.5 family (``LlavaForConditionalGeneration``, the ``llava-hf`` checkpoints).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<image>``, expanded by the processor);
- grid: ``vision_config.image_size // vision_config.patch_size`` on each side (24 x 24
  for the 336-pixel CLIP of LLaVA-1.5); the CLS token is dropped by the ``"default"``
  feature selection, so the image tokens form exactly that square;
- pictures: the processor's resized and centre-cropped pixels, de-normalised.
"""

from __future__ import annotations

from tam.errors import ShapeError
from tam.models.base import PreparedInputs, SquareGridAdapter

__all__ = ["LlavaAdapter"]


class LlavaAdapter(SquareGridAdapter):
    """Adapter of ``LlavaForConditionalGeneration``: one square grid per image."""

    family = "LLaVA-1.5"
    model_classes = ("LlavaForConditionalGeneration",)

    def vision_shape(self, prepared: PreparedInputs):
        """``(s, s)`` per image with ``s = image_size // patch_size``."""
        config = self.model.config
        if config.vision_feature_select_strategy != "default":
            raise ShapeError(
                f"vision_feature_select_strategy {config.vision_feature_select_strategy!r} keeps the CLS token, "
                "so the image tokens do not form a grid; tam supports 'default'"
            )
        side = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
        grids = [(side, side)] * len(prepared.kinds)
        return grids[0] if len(grids) == 1 else grids
