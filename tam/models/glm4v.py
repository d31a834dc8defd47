"""GLM-V family: GLM-4.1V (``Glm4vForConditionalGeneration``), GLM-4.5V / 4.6V (``Glm4vMoeForConditionalGeneration``).

The vision side is Qwen2-VL's (:class:`~tam.models.qwen_vl.QwenVLAdapter` reads its grids);
what differs is read here from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<|image|>``) carries every image *and* video
  feature; the template writes ``<|image|>`` in ``<|begin_of_image|>`` / ``<|end_of_image|>``
  per image and ``<|video|>`` (``config.video_token_id``) per video, which the processor
  replaces by one ``<|begin_of_image|>`` block of ``<|image|>`` per temporal token, each
  followed by its timestamp as text ("3" for GLM-4.1V, "3.0 seconds" for GLM-4.6V): those
  markers and timestamps are text between the frames' grids, not vision slots;
- grid: ``image_grid_thw`` / ``video_grid_thw`` over ``vision_config.spatial_merge_size``, as
  for Qwen-VL; a video's ``t`` counts temporal tokens of ``temporal_patch_size`` frames;
- where it lies: the image and video processors resize the whole picture with their own
  ``smart_resize`` (to whole ``patch_size * merge_size`` cells within ``size``, no crop, no
  pad), so each grid covers its picture;
- pictures: images as given (upright); a video given as frames (a list, an array or a
  folder) is read as given, every frame kept (``do_sample_frames=False``) and stamped at the
  video processor's own ``fps``; a video file is sampled by the video processor's own
  ``sample_frames``. One frame per temporal token is kept as its picture.
"""

from __future__ import annotations

import numpy as np

from tam.images import load_image
from tam.layout import VisionLayout
from tam.models.base import PreparedInputs, UnsupportedInputError, item_kind, read_video_entry, vision_items
from tam.models.qwen_vl import QwenVLAdapter

__all__ = ["Glm4vAdapter"]


class Glm4vAdapter(QwenVLAdapter):
    """Adapter of ``Glm4vForConditionalGeneration`` and ``Glm4vMoeForConditionalGeneration``."""

    family = "GLM-V (GLM-4.1V, GLM-4.5V / 4.6V)"
    model_classes = ("Glm4vForConditionalGeneration", "Glm4vMoeForConditionalGeneration")
    supports_video = True

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Read the chat's pictures and videos, then run the processor on them and the rendered chat.

        Images go to the processor as given; a video's frames as read (see the module
        docstring), with their metadata so that the processor writes their timestamps.
        """
        from transformers.video_utils import VideoMetadata

        kinds = {item_kind(item) for item in vision_items(messages)}
        if kinds == {"image", "video"}:
            import transformers

            # get_placeholder_mask takes every <|image|> position for the images' features and again for the videos'
            raise UnsupportedInputError(
                f"{self.family} in transformers {transformers.__version__} takes images or videos in one chat, not "
                "both: its model counts every <|image|> token once for the images and again for the videos. Ask "
                "about the images and the video in two chats"
            )
        video_processor = self.processor.video_processor
        images, videos, metadata, pictures = [], [], [], []
        step = int(video_processor.temporal_patch_size)
        for item in vision_items(messages):
            if item_kind(item) == "image":
                images.append(load_image(item["image"]))
                pictures.append(np.asarray(images[-1], dtype=np.uint8))
                continue
            frames, frames_metadata = read_video_entry(item["video"], video_processor, self.frame_sampling())
            if frames_metadata is None:  # frames as given: all of them, at the processor's own rate
                indices = list(range(len(frames)))
                frames_metadata = VideoMetadata(len(indices), fps=float(video_processor.fps), frames_indices=indices)
            videos.append(frames)
            metadata.append(frames_metadata)
            pictures.extend(np.asarray(frame, dtype=np.uint8) for frame in frames[::step])
        text = self.render(messages)
        options = dict(self.processor_options)
        if videos:
            options.update(video_metadata=metadata, do_sample_frames=False)
        inputs = self.processor(
            text=[text], images=images or None, videos=videos or None, return_tensors="pt", **options
        )
        return PreparedInputs(inputs, pictures, text, [item_kind(item) for item in vision_items(messages)])

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each grid over its whole picture, checked against the ``<|image|>`` tokens of the input."""
        return self.counted(super().layout(prepared), prepared, "the grids of image_grid_thw and video_grid_thw")
