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
from tam.models.base import ModelAdapter, PreparedInputs, denormalize, load_images

__all__ = ["LlavaAdapter"]


class LlavaAdapter(ModelAdapter):
    """Adapter of ``LlavaForConditionalGeneration``: one square grid per image."""

    family = "LLaVA-1.5"
    model_classes = ("LlavaForConditionalGeneration",)

    def vision_token_ids(self) -> tuple[int, ...]:
        """``config.image_token_id``."""
        return (int(self.model.config.image_token_id),)

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat and the chat's images."""
        self.check_video(messages)
        images = load_images(messages)
        text = self.render(messages)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt")
        image_processor = self.processor.image_processor
        pictures = denormalize(inputs["pixel_values"], image_processor.image_mean, image_processor.image_std)
        return PreparedInputs(inputs, pictures, text, ["image"] * len(images))

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
