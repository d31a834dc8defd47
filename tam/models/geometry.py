"""Where a processor's grids lie in the user's picture: rectangles in the picture's pixel frame.

Image processors pad, resize and crop a picture before its patches become vision tokens.
These functions follow the same steps on the rectangle of the picture instead of its
pixels, with the sizes computed by transformers' own functions from the processor's
settings, so a grid's rectangle is where its pixels came from:

- :func:`resize_crop_box`: pad to a square (``do_pad``), resize (``size``), centre-crop
  (``crop_size``), as the CLIP-style processors of LLaVA-1.5 do;
- :func:`tile_boxes`: a picture stretched over ``columns x rows`` tiles, each tile's
  rectangle, as InternVL, Idefics3 and Llama 4 tile it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["resize_crop_box", "resized_size", "size_pair", "size_settings", "tile_boxes"]


def resized_size(size: dict, height: int, width: int) -> tuple[int, int]:
    """``(height, width)`` that an image processor's ``resize`` gives a ``height x width`` picture.

    Parameters
    ----------
    size : dict
        The processor's ``size`` setting: ``shortest_edge`` (and ``longest_edge``),
        ``max_height`` and ``max_width``, or ``height`` and ``width``; the same branches
        as transformers' image processors, with their size functions.
    """
    from transformers.image_transforms import get_resize_output_image_size, get_size_with_aspect_ratio
    from transformers.image_utils import ChannelDimension, get_image_size_for_max_height_width

    size = size_settings(size)
    if "shortest_edge" in size and "longest_edge" in size:
        return tuple(get_size_with_aspect_ratio((height, width), size["shortest_edge"], size["longest_edge"]))
    if "shortest_edge" in size:
        picture = np.empty((1, height, width), np.uint8)  # only its shape is read
        return tuple(
            get_resize_output_image_size(
                picture, size=size["shortest_edge"], default_to_square=False, input_data_format=ChannelDimension.FIRST
            )
        )
    if "max_height" in size and "max_width" in size:
        return tuple(get_image_size_for_max_height_width((height, width), size["max_height"], size["max_width"]))
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    raise ValueError(f"tam cannot lay out the processor's size setting {size}")


def resize_crop_box(
    height: int,
    width: int,
    *,
    do_pad: bool = False,
    do_resize: bool = True,
    size: dict | None = None,
    do_center_crop: bool = False,
    crop_size: dict | None = None,
) -> tuple[float, float, float, float]:
    """Return the rectangle of a ``height x width`` picture that pad, resize and centre crop keep.

    Parameters
    ----------
    height, width : int
        The picture's size.
    do_pad : bool
        Pad to a square first, the picture centred (LLaVA's ``pad_to_square``).
    do_resize, size
        Resize to :func:`resized_size` of ``size``.
    do_center_crop, crop_size
        Cut ``crop_size["height"] x crop_size["width"]`` from the centre, padding evenly
        where the image is smaller (as transformers' ``center_crop``).

    Returns
    -------
    (left, top, right, bottom) : floats, in the picture's pixels
        What the processed image shows; beyond the picture's edges where it was padded.
    """
    # The canvas: the picture, or the square it is padded to, in picture pixels.
    left, top, right, bottom = 0.0, 0.0, float(width), float(height)
    if do_pad:
        side = max(height, width)
        left, top = -float((side - width) // 2), -float((side - height) // 2)
        right, bottom = left + side, top + side
    canvas_height, canvas_width = round(bottom - top), round(right - left)
    new_height, new_width = (canvas_height, canvas_width)
    if do_resize:
        new_height, new_width = resized_size(size, canvas_height, canvas_width)
    scale_x, scale_y = canvas_width / new_width, canvas_height / new_height
    if do_center_crop:
        crop = size_settings(crop_size)
        crop_height, crop_width = int(crop["height"]), int(crop["width"])
        crop_left, crop_top = _crop_start(new_width, crop_width), _crop_start(new_height, crop_height)
        return (
            left + crop_left * scale_x,
            top + crop_top * scale_y,
            left + (crop_left + crop_width) * scale_x,
            top + (crop_top + crop_height) * scale_y,
        )
    return left, top, right, bottom


def size_settings(size) -> dict:
    """Return a processor's size setting (a dict or transformers' ``SizeDict``) as a dict of the keys it sets."""
    if dataclasses.is_dataclass(size):
        size = dataclasses.asdict(size)
    return {key: value for key, value in dict(size or {}).items() if value is not None}


def size_pair(size) -> tuple[int, int]:
    """``(height, width)`` of a config's size given as an int or a pair."""
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _crop_start(length: int, crop: int) -> int:
    """Where a centre crop of ``crop`` starts on a side of ``length`` (negative: padded, as transformers does)."""
    return -((crop - length) // 2) if crop > length else int((length - crop) / 2)


def tile_boxes(height: int, width: int, columns: int, rows: int) -> list[tuple[float, float, float, float]]:
    """Rectangles of ``columns x rows`` tiles of a picture stretched over them, row by row.

    Returns
    -------
    list of (left, top, right, bottom)
        ``rows * columns`` rectangles in the picture's pixels, left to right then top to bottom.
    """
    tile_width, tile_height = width / columns, height / rows
    return [
        (column * tile_width, row * tile_height, (column + 1) * tile_width, (row + 1) * tile_height)
        for row in range(rows)
        for column in range(columns)
    ]
