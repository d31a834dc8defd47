"""Qwen-VL family: Qwen2-VL, Qwen2.5-VL and Qwen3-VL (dense and MoE).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` and ``config.video_token_id`` (the pads
  between ``<|vision_start|>`` and ``<|vision_end|>``);
- grid: ``image_grid_thw`` / ``video_grid_thw`` of the processed inputs, divided by
  ``config.vision_config.spatial_merge_size`` in height and width; a video's ``t``
  counts temporal tokens, each made of ``temporal_patch_size`` (2) frames;
- pictures: read by :mod:`tam.images` (every Pillow mode, EXIF rotation, the pixel limit;
  frames of a list resized to the first frame's size), then sized by qwen-vl-utils
  (``process_vision_info``) within the processor's own pixel bounds, so the processor
  does not resize them again.
"""

from __future__ import annotations

import copy

import numpy as np

from tam.images import load_frames, load_image
from tam.models.base import ModelAdapter, PreparedInputs, UnsupportedInputError, item_kind, vision_items

__all__ = ["QwenVLAdapter"]


class QwenVLAdapter(ModelAdapter):
    """Adapter of ``Qwen2VLForConditionalGeneration``, ``Qwen2_5_VL...``, ``Qwen3VL...`` and ``Qwen3VLMoe...``."""

    family = "Qwen-VL (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3-VL MoE)"
    model_classes = (
        "Qwen2VLForConditionalGeneration",
        "Qwen2_5_VLForConditionalGeneration",
        "Qwen3VLForConditionalGeneration",
        "Qwen3VLMoeForConditionalGeneration",  # the same vision tower and processor as Qwen3-VL
    )
    supports_video = True

    def vision_token_ids(self) -> tuple[int, ...]:
        """``config.image_token_id`` and ``config.video_token_id``."""
        return (int(self.model.config.image_token_id), int(self.model.config.video_token_id))

    @property
    def merge_size(self) -> int:
        """Side of the square of patches merged into one vision token (``spatial_merge_size``)."""
        return int(self.model.config.vision_config.spatial_merge_size)

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Load pictures and videos with qwen-vl-utils, then run the processor.

        Images are resized within the image processor's ``min_pixels`` / ``max_pixels``
        (unless an entry sets its own); each grid covers its whole picture, and the
        pictures returned are the images as given (upright). Video frames are sampled and sized by qwen-vl-utils and
        resized once more by the video processor; one frame per temporal token is kept
        as its picture.
        """
        try:
            from qwen_vl_utils import process_vision_info
        except ImportError as error:
            raise ImportError(
                "the Qwen-VL adapter loads pictures and videos with qwen-vl-utils: pip install qwen-vl-utils"
            ) from error

        image_processor = self.processor.image_processor
        video_processor = getattr(self.processor, "video_processor", None)
        messages = copy.deepcopy(messages)
        options = dict(self.processor_options)
        bounds = {
            "min_pixels": options.pop("min_pixels", image_processor.size.get("shortest_edge")),
            "max_pixels": options.pop("max_pixels", image_processor.size.get("longest_edge")),
        }
        if {"min_pixels", "max_pixels"} & self.processor_options.keys():
            # the processor resizes once more within its size: the same bounds
            options["size"] = {"shortest_edge": bounds["min_pixels"], "longest_edge": bounds["max_pixels"]}
        for item in vision_items(messages):
            if item_kind(item) == "video" and not isinstance(item["video"], str):
                item["video"] = load_frames(item["video"])  # every mode read right, all frames of one size
            if item_kind(item) == "image":
                item["image"] = load_image(item["image"])
                for key, value in bounds.items():
                    if value is not None:
                        item.setdefault(key, value)
        try:
            images, videos, video_kwargs = process_vision_info(
                messages,
                image_patch_size=int(image_processor.patch_size),
                return_video_kwargs=True,
                return_video_metadata=True,
            )
        except (AttributeError, ImportError, RuntimeError) as error:
            files = [item["video"] for item in vision_items(messages) if isinstance(item.get("video"), str)]
            if not files:
                raise
            raise UnsupportedInputError(
                f"cannot read the video file {files[0]!r} ({type(error).__name__}: {error}); qwen-vl-utils reads "
                "video files with decord or torchcodec (pip install one), or pass a list of frames instead"
            ) from error
        text = self.render(messages)
        if videos:
            videos, metadata = (list(values) for values in zip(*videos, strict=True))
            options.update(video_metadata=metadata, **video_kwargs)
        inputs = self.processor(text=[text], images=images, videos=videos, return_tensors="pt", **options)
        pictures = []
        video_iter = iter(videos or [])
        step = int(getattr(video_processor, "temporal_patch_size", 2))
        for item in vision_items(messages):
            if item_kind(item) == "video":
                frames = next(video_iter)  # (T, 3, H, W) float in 0..255
                for frame in frames[::step]:
                    pictures.append(frame.permute(1, 2, 0).round().clamp(0, 255).numpy().astype(np.uint8))
            else:
                pictures.append(np.asarray(item["image"], dtype=np.uint8))  # as given: the grid covers it whole
        return PreparedInputs(inputs, pictures, text, [item_kind(item) for item in vision_items(messages)])

    def vision_shape(self, prepared: PreparedInputs):
        """One ``(h, w)`` per image, ``(t, h, w)`` for a single video, else a list of grids in chat order."""
        image_grids = iter(prepared.inputs.get("image_grid_thw", []))
        video_grids = iter(prepared.inputs.get("video_grid_thw", []))
        merge = self.merge_size
        grids = []
        for kind in prepared.kinds:
            t, h, w = (int(v) for v in next(video_grids if kind == "video" else image_grids))
            grids.append((t, h // merge, w // merge))
        if prepared.kinds == ["video"]:
            return grids[0]
        if prepared.kinds == ["image"]:
            return grids[0][1:]
        return [(h, w) for t, h, w in grids for _ in range(t)]
