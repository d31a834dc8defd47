"""LLaVA-NeXT family (``LlavaNextForConditionalGeneration``, the ``llava-hf/llava-v1.6-*`` checkpoints).

Each image is two grids, read from the processor's settings with its own functions:

- a base view: the whole picture stretched to the vision tower's square
  (``image_size / patch_size`` cells on a side), kind ``global``;
- an any-resolution grid: the processor picks the best of ``image_grid_pinpoints``
  (``select_best_resolution``), resizes the picture into it keeping its aspect
  (``get_patch_output_size``), pads it to the centre and cuts tiles of the tower's size;
  the model stitches the tiles' features into one grid, cuts the padding off again
  (``unpad_image``; the processor counts it with ``_get_unpadded_features``) and adds a
  newline feature after every row. That grid lies over the picture (a rounding of a
  cell at most past its edges), kind ``local``; the newline slots are separators, in no tile.

The base view's tokens come first, then the grid's rows, each followed by its newline.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from tam.errors import ShapeError
from tam.layout import Tile, VisionLayout
from tam.models.base import (
    FRAME_SAMPLING,
    PreparedInputs,
    SquareGridAdapter,
    UnsupportedInputError,
    is_video_file,
    item_kind,
    read_video_entry,
    vision_items,
)
from tam.models.geometry import resize_crop_box, size_settings

__all__ = ["LlavaNextAdapter", "LlavaOnevisionAdapter"]


@dataclass(frozen=True)
class _ImageGrids:
    """The two grids of one image: the base view's side, the any-resolution grid and its rectangle."""

    base: int
    grid: tuple[int, int]
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class _Entry:
    """One image or video of the input: its grids and their tiles, and which of its tokens are separators."""

    grids: list[tuple[int, int]]
    tiles: list[Tile]
    separators: np.ndarray  # (the entry's vision tokens,) bool, in token order


class LlavaNextAdapter(SquareGridAdapter):
    """Adapter of ``LlavaNextForConditionalGeneration``: per image a base view and an unpadded any-resolution grid."""

    family = "LLaVA-NeXT"
    model_classes = ("LlavaNextForConditionalGeneration",)
    feature_strategy = "default"  # CLIP's CLS token dropped: the base view is a square of patches
    tile_setting = "crop_size"  # the image processor's setting that sizes each any-resolution tile

    def vision_shape(self, prepared: PreparedInputs):
        """Return the grids of every image (base view, any-resolution grid) and video frame, in token order."""
        return list(self.layout(prepared).grids)

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's base view (global) over the whole picture, then its any-resolution grid (local)."""
        entries = self._laid_out(prepared)
        return VisionLayout.from_tiles(
            [grid for entry in entries for grid in entry.grids],
            [tile for entry in entries for tile in entry.tiles],
            [picture.shape[:2] for picture in prepared.pictures],
            kind="video" if prepared.kinds == ["video"] else None,
        )

    def separator_slots(self, prepared: PreparedInputs) -> np.ndarray:
        """Mark the newline after each row of every any-resolution grid (and after each video)."""
        return _joined([entry.separators for entry in self._laid_out(prepared)])

    def _laid_out(self, prepared: PreparedInputs) -> list[_Entry]:
        """Lay out the input's images and videos in token order, checked against the tokens the processor wrote."""
        entries = self._entries(prepared)
        marked = _joined([entry.separators for entry in entries])
        found = int(np.isin(prepared.input_ids, np.asarray(self.vision_token_ids(), dtype=np.int64)).sum())
        if len(marked) != found:
            raise ShapeError(
                f"the processor gave {found} vision tokens, but the grids and newlines tam lays out hold "
                f"{len(marked)}; tam cannot lay out these {self.family} processor settings"
            )
        return entries

    def _entries(self, prepared: PreparedInputs) -> list[_Entry]:
        """Every image of the chat (its pictures are its images, in token order)."""
        settings = self.image_settings(self.tile_setting, "image_grid_pinpoints")
        return [self._image_entry(index, picture, settings) for index, picture in enumerate(prepared.pictures)]

    def _image_entry(self, index: int, picture: np.ndarray, settings: dict) -> _Entry:
        """Picture ``index``'s base view over it whole, then its any-resolution grid, a newline after each row."""
        height, width = picture.shape[:2]
        image = self._image_grids(height, width, settings)
        rows, columns = image.grid
        return _Entry(
            grids=[(image.base, image.base), image.grid],
            tiles=[Tile(index, (0.0, 0.0, float(width), float(height)), "global"), Tile(index, image.box)],
            separators=np.r_[np.zeros(image.base**2, bool), np.tile(np.r_[np.zeros(columns, bool), True], rows)],
        )

    def _image_grids(self, height: int, width: int, settings: dict) -> _ImageGrids:
        """Lay out a ``height x width`` picture as the processor counts its grids and the model stitches them.

        ``settings`` are the processor's tile size setting and ``image_grid_pinpoints`` (:meth:`image_settings`).
        """
        from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
        from transformers.image_utils import ChannelDimension
        from transformers.models.llava_next.modeling_llava_next import unpad_image

        config = self.model.config
        if config.vision_feature_select_strategy != self.feature_strategy:
            raise ShapeError(
                f"vision_feature_select_strategy {config.vision_feature_select_strategy!r} changes the base view's "
                f"tokens; tam lays out {self.family} with {self.feature_strategy!r}"
            )
        tile = size_settings(settings[self.tile_setting])
        tile_height, tile_width = int(tile["height"]), int(tile["width"])
        base = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
        best_height, best_width = select_best_resolution([height, width], settings["image_grid_pinpoints"])
        # the grid of every tile's features before the padding is cut off: it covers the padded canvas
        full_rows, full_columns = base * (best_height // tile_height), base * (best_width // tile_width)
        # the model's own unpadding, on a grid of that shape, gives the rows and columns it keeps
        kept_rows, kept_columns = unpad_image(np.zeros((1, full_rows, full_columns)), [height, width]).shape[1:]
        # the processor's count of what the model makes of them (LLaVA-OneVision may pool them further)
        features, rows = self.processor._get_unpadded_features(
            height, width, base, base, best_height // tile_height, best_width // tile_width
        )
        columns = features // rows
        # where the picture lies in the canvas, as the image processor resizes and pads it
        shape = np.empty((1, height, width), np.uint8)  # only its shape is read
        new_height, new_width = get_patch_output_size(shape, (best_height, best_width), ChannelDimension.FIRST)
        pad_left, pad_top = (best_width - new_width) // 2, (best_height - new_height) // 2
        cell_height, cell_width = best_height / full_rows, best_width / full_columns
        top_cells, left_cells = (full_rows - kept_rows) // 2, (full_columns - kept_columns) // 2
        box = (
            (left_cells * cell_width - pad_left) * width / new_width,
            (top_cells * cell_height - pad_top) * height / new_height,
            ((left_cells + kept_columns) * cell_width - pad_left) * width / new_width,
            ((top_cells + kept_rows) * cell_height - pad_top) * height / new_height,
        )
        return _ImageGrids(base, (rows, columns), box)


class LlavaOnevisionAdapter(LlavaNextAdapter):
    """Adapter of ``LlavaOnevisionForConditionalGeneration``: LLaVA-NeXT's layout with SigLIP and pooling, and videos.

    SigLIP has no CLS token (``"full"`` features), the tiles are ``size`` pixels, and an
    unpadded grid larger than ``anyres_max_N`` tiles is pooled by the model to fewer cells
    over the same rectangle (the processor's ``_get_unpadded_features`` counts them).

    A video (``config.video_token_id``, ``<video>``) is its frames as given, every one read, or
    a file sampled by the video processor's ``sample_frames`` at the frame count or rate the
    processor options (or the checkpoint) set. The video processor resizes each frame to the
    tower's square, the model pools each frame's grid (``apply_pooling``) and writes the frames
    one after another, then one newline feature for the whole video (``get_video_features``), a
    separator. The template writes a message's images before its videos, so the entries are
    laid out in the order their placeholders take.
    """

    family = "LLaVA-OneVision"
    model_classes = ("LlavaOnevisionForConditionalGeneration",)
    feature_strategy = "full"
    tile_setting = "size"
    supports_video = True

    def vision_token_ids(self) -> tuple[int, ...]:
        """``config.image_token_id`` and ``config.video_token_id``."""
        return (int(self.model.config.image_token_id), int(self.model.config.video_token_id))

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat, its images and its videos' frames (as given, or sampled from a file).

        Pictures are the images as given and every frame of every video, in chat order.
        """
        from tam.images import load_image

        video_processor = getattr(self.processor, "video_processor", None)  # read for videos only
        sampling = self.frame_sampling()
        no_sampling = not sampling and all(getattr(video_processor, name, None) is None for name in FRAME_SAMPLING)
        images, videos, pictures = [], [], []
        for item in vision_items(messages):
            if item_kind(item) == "video":
                if no_sampling and is_video_file(item["video"]):
                    # its sample_frames would keep every frame of the file: the checkpoint names no count or rate
                    raise UnsupportedInputError(
                        f"{self.family}'s video processor sets no frame count or rate for the file "
                        f"{os.fspath(item['video'])!r}: pass one (processor_kwargs={{'num_frames': N}}, or fps; "
                        "demo.py --processor-option num_frames=N), or give the video as its frames"
                    )
                videos.append(read_video_entry(item["video"], video_processor, sampling)[0])
                pictures += [np.asarray(frame, dtype=np.uint8) for frame in videos[-1]]
            else:
                images.append(load_image(item["image"]))
                pictures.append(np.asarray(images[-1], dtype=np.uint8))
        text = self.render(messages)
        options = dict(self.processor_options)
        if videos:  # every frame given is a frame the model reads: the processor samples none
            options.update(videos=videos, do_sample_frames=False)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", **options)
        return PreparedInputs(inputs, pictures, text, [item_kind(item) for item in vision_items(messages)])

    def _entries(self, prepared: PreparedInputs) -> list[_Entry]:
        """Lay out the chat's images and videos, in the order the template wrote their placeholders."""
        image_token = int(self.model.config.image_token_id)
        # where each entry's pictures start among prepared.pictures (chat order), by kind
        frame_counts = iter(len(frames) for frames in prepared.inputs.get("pixel_values_videos", []))
        starts = {"image": [], "video": []}
        start = 0
        for kind in prepared.kinds:
            count = 1 if kind == "image" else next(frame_counts)
            starts[kind].append((start, count))
            start += count
        rendered = self.tokenizer(prepared.text, add_special_tokens=False)["input_ids"]
        placeholders = [token for token in rendered if token in self.vision_token_ids()]
        images, videos = iter(starts["image"]), iter(starts["video"])
        image_settings = self.image_settings(self.tile_setting, "image_grid_pinpoints")
        video_settings = self.video_settings("do_resize", "size", "do_center_crop", "crop_size")
        entries = []
        for token in placeholders:
            if token == image_token:
                index, _ = next(images)
                entries.append(self._image_entry(index, prepared.pictures[index], image_settings))
            else:
                first, count = next(videos)
                entries.append(self._video_entry(prepared.pictures[first : first + count], first, video_settings))
        return entries

    def _video_entry(self, frames: list[np.ndarray], first: int, settings: dict) -> _Entry:
        """Lay out a video's frames (pictures ``first`` on): pooled grids where the processor kept them, a newline last.

        ``settings`` are the video processor's resize and crop settings (:meth:`video_settings`).
        """
        side = self._pooled_frame_side()
        kept = {
            "do_resize": settings["do_resize"] is not False,
            "size": settings["size"],
            "do_center_crop": bool(settings["do_center_crop"]),
            "crop_size": settings["crop_size"],
        }
        tiles = [Tile(first + offset, resize_crop_box(*frame.shape[:2], **kept)) for offset, frame in enumerate(frames)]
        return _Entry(
            grids=[(side, side)] * len(frames),
            tiles=tiles,
            separators=np.r_[np.zeros(len(frames) * side * side, bool), True],
        )

    def _pooled_frame_side(self) -> int:
        """Side of a video frame's grid: the tower's square grid through the model's own ``apply_pooling``."""
        import torch

        patches = int(self.model.config.vision_config.image_size) // int(self.model.config.vision_config.patch_size)
        pooled = int(self.model.model.apply_pooling(torch.zeros(1, patches * patches, 1)).shape[1])
        side = math.isqrt(pooled)  # it pools the square grid to a square
        if side * side != pooled:
            raise ShapeError(
                f"{self.family}'s apply_pooling pools {patches} x {patches} cells to {pooled}, not a square"
            )
        return side


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate boolean arrays; an empty one for none."""
    return np.concatenate(parts) if parts else np.zeros(0, bool)
