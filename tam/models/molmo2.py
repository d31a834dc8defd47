"""Molmo2 family (``Molmo2ForConditionalGeneration``, the ``allenai/Molmo2-*`` checkpoints).

Read from the model and its processor's outputs:

- vision tokens: ``config.image_token_id`` (``<im_patch>``); the template writes ``<|image|>`` /
  ``<|video|>`` before the first turn and the processor expands each into views of
  ``<im_patch>`` rows; ``<low_res_im_start>``, ``<im_start>``, ``<im_end>``, the ``<im_col>`` after
  each row, ``<frame_start>`` / ``<frame_end>`` and the frames' timestamps are text, never cells;
- grids: ``image_grids`` gives per image ``[low_h, low_w, high_h, high_w]``: first a ``global``
  low-resolution view (the whole picture stretched to the ``size`` square), then a ``local``
  high-resolution view (the whole picture stretched to the canvas of overlapping crops that
  transformers' ``compute_crop_geometry`` sizes from ``max_crops`` and ``overlap_margins``; the
  crops' overlaps are cut so each canvas patch is read once). ``video_grids`` gives per video
  ``(frames, rows, cols)``: each frame stretched to the ``size`` square;
- where they lie: the adapter pools ``pooling_size`` windows of patches into one token; where the
  patches do not fill whole windows the processor pads the patch grid (``-1`` in
  ``image_token_pooling`` / ``video_token_pooling``), so the grid passes the picture's edge by
  the padding, read from the first window's padded slots.
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
    read_video_entry,
    vision_items,
)

__all__ = ["Molmo2Adapter", "pooled_box"]


class Molmo2Adapter(SquareGridAdapter):
    """Adapter of ``Molmo2ForConditionalGeneration``: per image a low-resolution view and the crops' canvas."""

    family = "Molmo2"
    model_classes = ("Molmo2ForConditionalGeneration",)
    supports_video = True

    def placeholder_token_ids(self) -> tuple[int, ...]:
        """``<|image|>`` and ``<|video|>``: what the template writes, one per picture."""
        return (int(self.processor.image_token_id), int(self.processor.video_token_id))

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat and its images, or its one video's frames.

        Frames given as such are all read; a video file is sampled as the video processor
        samples it (:func:`~tam.models.base.read_video_entry`: at most ``max_fps`` frames a second).

        Raises
        ------
        UnsupportedInputError
            For images and a video in one chat or several videos (the model takes images or one
            video), or a video file that cannot be read.
        """
        from transformers.video_utils import VideoMetadata

        from tam.images import load_image

        items = vision_items(messages)
        kinds = [item_kind(item) for item in items]
        if "video" in kinds and (kinds.count("video") > 1 or "image" in kinds):
            raise UnsupportedInputError(
                f"{self.family} takes the images or one video of a chat, got {kinds.count('image')} images and "
                f"{kinds.count('video')} videos (Molmo2ForConditionalGeneration refuses both at once)"
            )
        options = dict(self.processor_options)
        if "video" in kinds:
            frames, metadata = read_video_entry(
                items[0]["video"], self.processor.video_processor, self.frame_sampling()
            )
            if metadata is None:  # frames given as such: every one is read, at the entry's fps
                count = len(frames)
                metadata = VideoMetadata(total_num_frames=count, fps=items[0].get("fps"), frames_indices=range(count))
            # a file's frames are sampled already, as the video processor samples: the processor samples no more
            options.update(videos=[frames], video_metadata=[metadata], do_sample_frames=False)
            pictures, images = [np.asarray(frame, dtype=np.uint8) for frame in frames], None
        else:
            images = [load_image(item["image"]) for item in items]
            pictures = [np.asarray(image, dtype=np.uint8) for image in images]
        text = self.render(messages)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", **options)
        return PreparedInputs(inputs, pictures, text, kinds)

    def vision_shape(self, prepared: PreparedInputs):
        """Return the grids of every image (low-resolution view, then the canvas) or video frame, in token order."""
        grids = list(self.layout(prepared).grids)
        return grids[0] if len(grids) == 1 else grids

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's low-resolution view (global) and canvas (local), or each frame's grid, over its picture."""
        inputs = prepared.inputs
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        if prepared.kinds and prepared.kinds[0] == "video":
            grids, tiles = self._frames(inputs, sizes)
            kind = "video"
        else:
            grids, tiles = self._images(inputs, sizes)
            kind = None
        layout = VisionLayout.from_tiles(grids, tiles, sizes, kind=kind)
        return self.counted(layout, prepared, f"the grids of image_grids / video_grids {grids}")

    def _images(self, inputs, sizes) -> tuple[list, list]:
        """Grids and tiles of every image: its low-resolution view, then its crops' canvas."""
        from transformers.models.molmo2.image_processing_molmo2 import compute_crop_geometry

        settings = self.image_settings("size", "max_crops", "overlap_margins", "patch_size", "pooling_size")
        side, patch = int(settings["size"]["height"]), int(settings["patch_size"])
        pool = tuple(int(value) for value in settings["pooling_size"])
        pooling = inputs["image_token_pooling"].numpy()
        grids, tiles, first = [], [], 0
        for index, ((height, width), grid) in enumerate(zip(sizes, inputs["image_grids"].tolist(), strict=True)):
            low_rows, low_columns, high_rows, high_columns = (int(value) for value in grid)
            *_, canvas_height, canvas_width = compute_crop_geometry(
                height, width, int(settings["max_crops"]), list(settings["overlap_margins"]), side, patch
            )
            views = (
                ((low_rows, low_columns), (side, side), "global"),
                ((high_rows, high_columns), (canvas_height, canvas_width), "local"),
            )
            for (rows, columns), resized, kind in views:
                box = pooled_box(pooling[first], pool, (rows, columns), resized, patch, (height, width))
                grids.append((rows, columns))
                tiles.append(Tile(index, box, kind))
                first += rows * columns
        return grids, tiles

    def _frames(self, inputs, sizes) -> tuple[list, list]:
        """Grids and tiles of the video's frames, each over its frame stretched to the video processor's square."""
        settings = self.video_settings("size", "patch_size", "pooling_size")
        side, patch = int(settings["size"]["height"]), int(settings["patch_size"])
        pool = tuple(int(value) for value in settings["pooling_size"])
        frames, rows, columns = (int(value) for value in inputs["video_grids"][0])
        if frames != len(sizes):
            raise ShapeError(f"the processor kept {frames} of the video's {len(sizes)} frames; tam lays out every one")
        first_window = inputs["video_token_pooling"].numpy()[0]
        boxes = [pooled_box(first_window, pool, (rows, columns), (side, side), patch, size) for size in sizes]
        tiles = [Tile(index, frame_box) for index, frame_box in enumerate(boxes)]
        return [(rows, columns)] * frames, tiles


def pooled_box(
    first_window: np.ndarray,
    pool: tuple[int, int],
    grid: tuple[int, int],
    resized: tuple[int, int],
    patch: int,
    picture: tuple[int, int],
) -> tuple[float, float, float, float]:
    """Rectangle, in the picture's pixels, of a grid of pooled tokens over the picture stretched to ``resized``.

    Parameters
    ----------
    first_window : ndarray of shape (pool_h * pool_w,), int
        The patches the grid's top-left token pools, row by row; ``-1`` where the processor
        padded the patch grid (its first rows and columns of padding).
    pool : (pool_h, pool_w)
        The pooling window, in patches (``pooling_size``).
    grid : (rows, columns)
        The grid's tokens.
    resized : (height, width)
        The pixels the whole picture was stretched to before it was cut into ``patch``-pixel patches.
    patch : int
    picture : (H, W)

    Returns
    -------
    (left, top, right, bottom) : floats
        Past the picture's edges by the padded patches.

    >>> [round(side, 2) for side in pooled_box(np.array([0, 1, 27, 28]), (2, 2), (14, 14), (378, 378), 14, (400, 640))]
    [0.0, 0.0, 663.7, 414.81]
    """
    window = np.asarray(first_window).reshape(pool) >= 0
    top, left = int(np.argmax(window.any(axis=1))), int(np.argmax(window.any(axis=0)))
    (rows, columns), (pool_height, pool_width) = grid, pool
    scale_y, scale_x = picture[0] / resized[0], picture[1] / resized[1]
    return (
        -left * patch * scale_x,
        -top * patch * scale_y,
        (columns * pool_width - left) * patch * scale_x,
        (rows * pool_height - top) * patch * scale_y,
    )
