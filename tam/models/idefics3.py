"""Idefics3 and SmolVLM / SmolVLM2 (``Idefics3ForConditionalGeneration``, ``SmolVLMForConditionalGeneration``).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<image>``); the ``<fake_token_around_image>``,
  ``<row_r_col_c>`` and ``<global-img>`` text the processor writes around each tile is no
  vision token, so it is neither a map cell nor the user's prompt;
- tiles: the image processor resizes the longest edge to ``size["longest_edge"]``, then
  stretches the picture to whole multiples of ``max_image_size["longest_edge"]`` (no pad,
  no crop) and cuts it into ``rows x cols`` square tiles, row by row, followed by the
  whole picture squeezed into one tile (the global image); a picture that fits one tile,
  or any picture with ``do_image_splitting=False``, is that one tile alone. ``rows`` and
  ``cols`` come from the image processor's own ``get_number_of_image_patches``;
- grid per tile: the vision tower reads ``max_image_size // patch_size`` patches per side
  (a valid convolution: the last ``max_image_size % patch_size`` pixels of a tile are not
  read, 6 of SmolVLM2's 384) and the connector merges ``scale_factor x scale_factor`` of
  them into one token, ``image_seq_len`` tokens per tile;
- video (SmolVLM2): each frame becomes one tile of the whole frame (the video processor
  squeezes every frame into one ``max_image_size`` square); frames given as such are all
  read, a video file is sampled by the video processor's own ``sample_frames``.
"""

from __future__ import annotations

import numpy as np

from tam.errors import ShapeError
from tam.layout import Tile, VisionLayout
from tam.models.base import (
    PreparedInputs,
    SquareGridAdapter,
    UnsupportedInputError,
    item_kind,
    load_images,
    read_video_entry,
    vision_items,
)
from tam.models.geometry import size_settings, tile_boxes

__all__ = ["Idefics3Adapter"]


class Idefics3Adapter(SquareGridAdapter):
    """Adapter of Idefics3 and SmolVLM: per image its ``rows x cols`` tiles and the global image; per frame one tile."""

    family = "Idefics3 / SmolVLM"
    model_classes = ("Idefics3ForConditionalGeneration", "SmolVLMForConditionalGeneration")

    @property
    def supports_video(self) -> bool:
        """SmolVLM's processor takes videos (a video processor), Idefics3's does not."""
        return getattr(self.processor, "video_processor", None) is not None

    def placeholder_token_ids(self) -> tuple[int, ...]:
        """``<image>``, and SmolVLM's ``<video>`` (the processor writes each frame's image tokens in its place)."""
        video = getattr(self.processor, "video_token", None)
        if video is None or not self.supports_video:
            return self.vision_token_ids()
        return (*self.vision_token_ids(), int(self.tokenizer.convert_tokens_to_ids(video)))

    @property
    def final_norm(self):
        """The language model's final norm (Idefics3 and SmolVLM call the language model ``text_model``)."""
        return self.model.model.text_model.norm

    @property
    def decoder_layers(self):
        """The language model's decoder layers, for hooks."""
        return self.model.model.text_model.layers

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat and its images, or its videos' frames.

        Frames given as such are all read, stamped at the entry's ``fps`` when it has one
        (else the processor's default); a video file is sampled as the video processor
        samples it (:func:`~tam.models.base.read_video_entry`). The processor samples no more.
        """
        from transformers.video_utils import VideoMetadata

        self.check_video(messages)
        items = vision_items(messages)
        images = load_images(messages)
        videos, metadata = [], []
        for item in items:
            if item_kind(item) == "video":
                frames, frames_metadata = read_video_entry(item["video"], self.processor.video_processor)
                if frames_metadata is None:
                    count = len(frames)
                    frames_metadata = VideoMetadata(count, fps=item.get("fps"), frames_indices=range(count))
                videos.append(frames)
                metadata.append(frames_metadata)
        if images and videos:  # SmolVLMProcessor keeps the frames' pixels alone when given both
            raise UnsupportedInputError(
                f"{self.family}'s processor takes the images or the videos of a chat, not both; "
                "ask about them in separate chats"
            )
        text = self.render(messages)
        options = dict(self.processor_options)
        if videos:
            options.update(videos=videos, video_metadata=metadata, do_sample_frames=False)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", **options)
        pictures = [np.asarray(image, dtype=np.uint8) for image in images]
        pictures += [np.asarray(frame, dtype=np.uint8) for frames in videos for frame in frames]
        return PreparedInputs(inputs, pictures, text, [item_kind(item) for item in items])

    def tile_grid(self, tile_side: int) -> tuple[int, int]:
        """``(s, s)`` of one ``tile_side``-pixel tile: ``tile_side // patch_size // scale_factor``."""
        patches = tile_side // int(self.model.config.vision_config.patch_size)
        side = patches // int(self.model.config.scale_factor)
        return side, side

    def vision_shape(self, prepared: PreparedInputs):
        """One ``(s, s)`` grid per tile of every image or frame, in token order."""
        grids = list(self.layout(prepared).grids)
        return grids[0] if len(grids) == 1 else grids

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's tiles (row by row) and global image, each frame's one tile; the unread edge left out."""
        settings = self.image_settings("do_image_splitting", "max_image_size", "size")
        settings = {**settings, "max_image_size": size_settings(settings["max_image_size"])}
        settings["size"] = size_settings(settings["size"])
        if prepared.kinds and prepared.kinds[0] == "video":
            # the video processor squares every frame to its own max_image_size, whatever the call's settings
            tile_side = int(size_settings(self.processor.video_processor.max_image_size)["longest_edge"])
        else:
            tile_side = int(settings["max_image_size"]["longest_edge"])
        # the patches read cover this share of a tile's side (a valid convolution drops the rest)
        patch = int(self.model.config.vision_config.patch_size)
        seen = (tile_side // patch) * patch / tile_side
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        images = prepared.kinds.count("image")  # a chat's pictures are its images or its frames (prepare)
        tiles = []
        for index, (height, width) in enumerate(sizes):
            whole = (0.0, 0.0, float(width), float(height))
            rows = columns = 0
            if index < images:
                _, rows, columns = self.processor.image_processor.get_number_of_image_patches(height, width, settings)
            boxes = tile_boxes(height, width, columns, rows) if rows * columns else []
            tiles.extend(Tile(index, _read_part(box, seen)) for box in boxes)
            tiles.append(Tile(index, _read_part(whole, seen), "global" if boxes else "local"))
        grid = self.tile_grid(tile_side)
        kind = "video" if prepared.kinds == ["video"] else None
        layout = VisionLayout.from_tiles([grid] * len(tiles), tiles, sizes, kind=kind)
        found = int((prepared.inputs["input_ids"][0] == int(self.model.config.image_token_id)).sum())
        if found != layout.num_tokens:
            raise ShapeError(
                f"the processor gave {found} image tokens, but the tiles tam lays out ({len(tiles)} of {grid}) hold "
                f"{layout.num_tokens}; tam cannot lay out these {self.family} processor settings"
            )
        return layout


def _read_part(box: tuple[float, float, float, float], seen: float) -> tuple[float, float, float, float]:
    """Return the top-left ``seen`` share of a tile's rectangle on each side: what its patches read."""
    left, top, right, bottom = box
    return left, top, left + (right - left) * seen, top + (bottom - top) * seen
