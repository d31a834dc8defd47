"""LLaVA-1.5 family (``LlavaForConditionalGeneration``, the ``llava-hf`` checkpoints).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<image>``, expanded by the processor);
- grid: ``vision_config.image_size // vision_config.patch_size`` on each side (24 x 24
  for the 336-pixel CLIP of LLaVA-1.5); the CLS token is dropped by the ``"default"``
  feature selection, so the image tokens form exactly that square;
- where the grid lies: the image processor pads to a square (``do_pad``), resizes the
  short side (``size``) and cuts the centre (``crop_size``); the grid covers that crop,
  so a wide picture's map is 0 left and right of it (:func:`tam.models.geometry.resize_crop_box`).
"""

from __future__ import annotations

from tam.errors import ShapeError
from tam.layout import Tile, VisionLayout
from tam.models.base import PreparedInputs, SquareGridAdapter
from tam.models.geometry import resize_crop_box

__all__ = ["LlavaAdapter"]


class LlavaAdapter(SquareGridAdapter):
    """Adapter of ``LlavaForConditionalGeneration``: one square grid per image, over its centre crop."""

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

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's grid over the part of the picture its processor keeps (the centre crop)."""
        settings = self.image_settings("do_pad", "do_resize", "size", "do_center_crop", "crop_size")
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        tiles = [
            Tile(
                index,
                resize_crop_box(
                    height,
                    width,
                    do_pad=bool(settings["do_pad"]),
                    do_resize=bool(settings["do_resize"]),
                    size=settings["size"],
                    do_center_crop=bool(settings["do_center_crop"]),
                    crop_size=settings["crop_size"],
                ),
            )
            for index, (height, width) in enumerate(sizes)
        ]
        grids = VisionLayout.from_shape(self.vision_shape(prepared))
        return VisionLayout(grids.grids, grids.kind, tuple(tiles), tuple(sizes))
