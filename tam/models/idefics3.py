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
  ``cols`` are read from the ``<row_r_col_c>`` names the processor writes before each tile
  of the input (:meth:`Idefics3Adapter.tilings`);
- grid per tile: the tile's side ``T`` is that of the processor's ``pixel_values``; the
  vision tower reads ``T // patch_size`` patches per side (a valid convolution: the last
  ``T % patch_size`` pixels of a tile are not read, 6 of SmolVLM2's 384) and the connector
  merges ``scale_factor x scale_factor`` of them into one token, ``image_seq_len`` per tile;
- video (SmolVLM2): each frame becomes one tile of the whole frame (the video processor
  squeezes every frame into one ``max_image_size`` square); frames given as such are all
  read, a video file is sampled by the video processor's own ``sample_frames``.
"""

from __future__ import annotations

import re

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
from tam.models.geometry import tile_boxes

__all__ = ["Idefics3Adapter"]

_TILE_NAME = re.compile(r"<row_(\d+)_col_(\d+)>")  # the processors' name of each tile, written before it


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
                frames, frames_metadata = read_video_entry(
                    item["video"], self.processor.video_processor, self.frame_sampling()
                )
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
        options = self.call_options(text)
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
        # every tile the processor gives is a square of this side (the last axis of its pixels)
        tile_side = int(prepared.inputs["pixel_values"].shape[-1])
        # the patches read cover this share of a tile's side (a valid convolution drops the rest)
        patch = int(self.model.config.vision_config.patch_size)
        seen = (tile_side // patch) * patch / tile_side
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        tilings = self.tilings(prepared)
        if len(tilings) != len(sizes):
            raise ShapeError(
                f"the processor wrote {len(tilings)} global images for the chat's {len(sizes)} pictures; tam cannot "
                f"lay out this {self.family} input"
            )
        tiles = []
        for index, ((height, width), (rows, columns)) in enumerate(zip(sizes, tilings, strict=True)):
            boxes = tile_boxes(height, width, columns, rows) if rows * columns else []
            tiles.extend(Tile(index, _read_part(box, seen)) for box in boxes)
            whole = (0.0, 0.0, float(width), float(height))
            tiles.append(Tile(index, _read_part(whole, seen), "global" if boxes else "local"))
        grid = self.tile_grid(tile_side)
        kind = "video" if prepared.kinds == ["video"] else None
        layout = VisionLayout.from_tiles([grid] * len(tiles), tiles, sizes, kind=kind)
        laid_out = (
            f"the {len(tiles)} tiles of {tile_side} pixels, {grid[0]} x {grid[1]} each (patch_size {patch}, "
            f"scale_factor {self.model.config.scale_factor}; the processor's image_seq_len: "
            f"{self.processor.image_seq_len} a tile)"
        )
        return self.counted(layout, prepared, laid_out)

    def tilings(self, prepared: PreparedInputs) -> list[tuple[int, int]]:
        """``(rows, columns)`` of each picture's tiles, ``(0, 0)`` for one tile alone, as the processor wrote them.

        The processor names each tile ``<row_r_col_c>`` before its image tokens and ends
        each picture with its ``<global-img>`` (the global image, or the one tile): the
        names between two of those are one picture's. transformers'
        ``get_number_of_image_patches`` is not used: with a ``longest_edge`` that is no
        multiple of ``max_image_size`` it counts other rows than the image processor cuts.
        """
        global_tag = getattr(self.processor, "global_image_token", None) or self.processor.global_image_tag
        text = self.tokenizer.decode(prepared.input_ids.tolist())
        tilings = []
        for part in text.split(global_tag)[:-1]:
            names = [(int(row), int(column)) for row, column in _TILE_NAME.findall(part)]
            rows, columns = max((row for row, _ in names), default=0), max((column for _, column in names), default=0)
            if names != [(row, column) for row in range(1, rows + 1) for column in range(1, columns + 1)]:
                raise ShapeError(
                    f"the processor named the tiles of a picture {names}, not row by row; tam cannot lay out this "
                    f"{self.family} input"
                )
            tilings.append((rows, columns))
        return tilings


def _read_part(box: tuple[float, float, float, float], seen: float) -> tuple[float, float, float, float]:
    """Return the top-left ``seen`` share of a tile's rectangle on each side: what its patches read."""
    left, top, right, bottom = box
    return left, top, left + (right - left) * seen, top + (bottom - top) * seen
