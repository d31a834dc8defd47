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
  the encoder drops them, so the one grid covers the picture whole.
"""

from __future__ import annotations

import numpy as np

from tam.errors import ShapeError
from tam.models.base import PreparedInputs, SquareGridAdapter

__all__ = ["Gemma4Adapter", "pooled_grid"]


class Gemma4Adapter(SquareGridAdapter):
    """Adapter of ``Gemma4ForConditionalGeneration``: one budget-sized grid per image, over its whole picture."""

    family = "Gemma 4"
    model_classes = ("Gemma4ForConditionalGeneration",)

    def vision_shape(self, prepared: PreparedInputs):
        """``(h, w)`` per image: its patch positions' extent over the pooling kernel, checked against its tokens."""
        kernel = int(self.model.config.vision_config.pooling_kernel_size)
        positions = prepared.inputs["image_position_ids"].detach().cpu().numpy()
        grids = [pooled_grid(image_positions, kernel) for image_positions in positions]
        found = int((prepared.inputs["input_ids"][0] == int(self.model.config.image_token_id)).sum())
        if found != sum(height * width for height, width in grids):
            raise ShapeError(
                f"the processor gave {found} image tokens, but the grids tam reads from image_position_ids {grids} "
                f"hold {sum(height * width for height, width in grids)}; tam cannot lay out these Gemma 4 settings"
            )
        return grids[0] if len(grids) == 1 else grids


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
