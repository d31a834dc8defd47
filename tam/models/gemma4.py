"""Gemma 4 family (``Gemma4ForConditionalGeneration``, the ``google/gemma-4-*-it`` checkpoints).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<|image|>``, the template's placeholder, which the
  processor repeats once per soft token between ``<|image>`` and ``<image|>``: the two markers are
  text, never cells);
- grid: the image processor resizes the picture, its aspect kept, to the largest size within the
  token budget (``max_soft_tokens``, one of 70, 140, 280, 560 and 1120, as a processor option)
  whose sides are whole ``pooling_kernel_size x patch_size`` blocks, and writes each patch's
  ``(x, y)`` in ``image_position_ids``; the vision encoder average-pools ``pooling_kernel_size``
  squares of patches into soft tokens, row by row. The grid is those positions' extent over the
  kernel: ``(rows, columns)`` of the pooled picture;
- where it lies: the resize stretches the whole picture over the grid (no crop, no pixel padding);
  the patches the processor pads the sequence with to the budget hold no place in the picture and
  the encoder drops them, so the one grid covers the picture whole;
- videos: ``config.video_token_id`` (``<|video|>``); the frames are taken as given (a list of
  pictures or a folder, as :func:`tam.images.load_frames` reads them; the processor samples none),
  each frame a grid of its own from ``video_position_ids`` under the video processor's budget, written
  after its timestamp (from the entry's ``fps`` when it has one, else the processor's default).
"""

from __future__ import annotations

import numpy as np

from tam.errors import ShapeError
from tam.models.base import PreparedInputs, SquareGridAdapter, item_kind, vision_items

__all__ = ["Gemma4Adapter", "pooled_grid"]


class Gemma4Adapter(SquareGridAdapter):
    """Adapter of ``Gemma4ForConditionalGeneration``: one budget-sized grid per image, over its whole picture."""

    family = "Gemma 4"
    model_classes = ("Gemma4ForConditionalGeneration",)

    supports_video = True

    def vision_token_ids(self) -> tuple[int, ...]:
        """``config.image_token_id`` and ``config.video_token_id``."""
        return (int(self.model.config.image_token_id), int(self.model.config.video_token_id))

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat, its images and its videos' frames as given.

        Pictures are the images as given and every frame of every video, in chat order.
        """
        from transformers.video_utils import VideoMetadata

        from tam.images import load_frames, load_image

        images, videos, metadata, pictures = [], [], [], []
        for item in vision_items(messages):
            if item_kind(item) == "video":
                frames = load_frames(item["video"])
                videos.append(frames)
                count = len(frames)
                metadata.append(VideoMetadata(total_num_frames=count, fps=item.get("fps"), frames_indices=range(count)))
                pictures += [np.asarray(frame, dtype=np.uint8) for frame in frames]
            else:
                images.append(load_image(item["image"]))
                pictures.append(np.asarray(images[-1], dtype=np.uint8))
        text = self.render(messages)
        options = dict(self.processor_options)
        if videos:  # every frame given is a frame the model reads: the processor samples none
            options.update(videos=videos, video_metadata=metadata, do_sample_frames=False)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", **options)
        return PreparedInputs(inputs, pictures, text, [item_kind(item) for item in vision_items(messages)])

    def vision_shape(self, prepared: PreparedInputs):
        """``(h, w)`` per image, ``(t, h, w)`` for one video, else one grid per image and frame in chat order.

        Each from its patch positions' extent over the pooling kernel, checked against the input's tokens.
        """
        kernel = int(self.model.config.vision_config.pooling_kernel_size)
        inputs = prepared.inputs
        images = iter(pooled_grid(positions, kernel) for positions in _numpy(inputs.get("image_position_ids")))
        frames = iter(pooled_grid(positions, kernel) for positions in _numpy(inputs.get("video_position_ids")))
        counts = iter(int(count) for count in _numpy(inputs.get("num_frames_per_video")))
        grids = [
            grid
            for kind in prepared.kinds
            for grid in ([next(images)] if kind == "image" else [next(frames) for _ in range(next(counts))])
        ]
        ids = inputs["input_ids"][0]
        found = int(sum((ids == token).sum() for token in self.vision_token_ids()))
        if found != sum(height * width for height, width in grids):
            raise ShapeError(
                f"the processor gave {found} image and video tokens, but the grids tam reads from their patch "
                f"positions {grids} hold {sum(height * width for height, width in grids)}; tam cannot lay out "
                "these Gemma 4 settings"
            )
        if prepared.kinds == ["video"]:
            return (len(grids), *grids[0])
        return grids[0] if prepared.kinds == ["image"] else grids


def pooled_grid(positions: np.ndarray, kernel: int) -> tuple[int, int]:
    """``(rows, columns)`` of soft tokens of one picture from its patches' positions.

    Parameters
    ----------
    positions : ndarray of shape (max_patches, 2), int
        Each patch's ``(x, y)`` as the Gemma 4 image processor writes them, ``(-1, -1)`` for padding.
    kernel : int
        ``pooling_kernel_size``: the side of the square of patches pooled into one token.

    Raises
    ------
    ShapeError
        If the patches do not fill whole kernels (the encoder could not pool them into a grid).

    >>> pooled_grid(np.array([[x, y] for y in range(6) for x in range(9)] + [[-1, -1]] * 3), 3)
    (2, 3)
    """
    real = positions[(positions >= 0).all(axis=1)]
    columns, rows = (int(value) + 1 for value in real.max(axis=0))
    if rows % kernel or columns % kernel or len(real) != rows * columns:
        raise ShapeError(
            f"the picture's {len(real)} patches ({rows} x {columns}) do not fill whole {kernel} x {kernel} pooling "
            "kernels; tam cannot lay out these Gemma 4 settings"
        )
    return rows // kernel, columns // kernel


def _numpy(values) -> np.ndarray:
    """Return a processor output as a numpy array; empty when the processor gave none."""
    return np.zeros((0,)) if values is None else values.detach().cpu().numpy()
