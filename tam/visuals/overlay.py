"""Maps over pictures: the JET colour map, blended with each image or frame.

Pure functions: RGB uint8 arrays in, new RGB uint8 arrays out; inputs are never
modified.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["jet_colours", "jet_table", "map_panels", "overlay_panels", "show_map_on_image", "viridis_table"]


def _colour_table(opencv_map: int) -> np.ndarray:
    """Read an OpenCV colour map into a (256, 3) uint8 RGB table (read-only)."""
    import cv2

    levels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    # reshape, not indexing: OpenCV 4 and 5 return (1, 256, 3) or (256, 1, 3) here
    table = cv2.applyColorMap(levels, opencv_map).reshape(256, 3)[:, ::-1].copy()
    table.setflags(write=False)
    return table


@functools.cache
def jet_table() -> np.ndarray:
    """OpenCV's JET colour map as a (256, 3) uint8 RGB table (read-only)."""
    import cv2

    return _colour_table(cv2.COLORMAP_JET)


@functools.cache
def viridis_table() -> np.ndarray:
    """OpenCV's viridis colour map (perceptually uniform, readable in grey) as a (256, 3) uint8 RGB table."""
    import cv2

    return _colour_table(cv2.COLORMAP_VIRIDIS)


def jet_colours(values) -> np.ndarray:
    """JET colours of values in [0, 1], as the reference colours text relevance.

    Parameters
    ----------
    values : array_like of shape (N,), float in [0, 1]
        Values outside [0, 1] are clipped; each is scaled by 255 and truncated.

    Returns
    -------
    ndarray of shape (N, 3), uint8, RGB

    Examples
    --------
    >>> jet_colours([0.0, 0.5, 1.0]).tolist()
    [[0, 0, 128], [126, 255, 130], [128, 0, 0]]
    """
    levels = np.clip(np.asarray(values, dtype=np.float64) * 255.0, 0, 255).astype(np.uint8)
    return jet_table()[levels]


def show_map_on_image(image: np.ndarray, activation: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """Blend a JET-coloured activation map, resized to the image, with the image.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, RGB
    activation : ndarray of shape (h, w), float in [0, 1]
        Scaled to 0..255 (truncated, as the reference does), then resized to (H, W)
        with bilinear interpolation and coloured with JET.
    alpha : float, default 0.5
        Weight of the coloured map (the reference blends 50/50).

    Returns
    -------
    ndarray of shape (H, W, 3), uint8, RGB
    """
    import cv2

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"`image` must be an (H, W, 3) uint8 RGB array, got shape {image.shape}, dtype {image.dtype}")
    activation = np.asarray(activation, dtype=np.float64)
    if activation.ndim != 2:
        raise ValueError(f"`activation` must be an (h, w) array, got shape {activation.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1], got {alpha}")
    levels = np.clip(activation * 255.0, 0, 255).astype(np.uint8)
    resized = cv2.resize(levels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.LUT(cv2.merge([resized, resized, resized]), jet_table().reshape(256, 1, 3))
    return cv2.addWeighted(coloured, alpha, image, 1.0 - alpha, 0.0)


def overlay_panels(pictures, grids, *, height: int | None = None, alpha: float = 0.5) -> np.ndarray:
    """Each map over its picture, the panels side by side.

    Parameters
    ----------
    pictures : sequence of ndarray of shape (H_k, W_k, 3), uint8, RGB
    grids : sequence of ndarray of shape (h_k, w_k), float in [0, 1]
        One map per picture.
    height : int, optional
        Height of every panel in pixels; by default the first picture's height.
    alpha : float, default 0.5
        Weight of the coloured map (see :func:`show_map_on_image`).

    Returns
    -------
    ndarray of shape (height, sum of panel widths, 3), uint8, RGB
        Each panel keeps its picture's aspect ratio.
    """
    import cv2

    pictures, grids = list(pictures), list(grids)
    if not pictures or len(pictures) != len(grids):
        raise ValueError(f"need one map per picture, got {len(pictures)} pictures and {len(grids)} maps")
    height = pictures[0].shape[0] if height is None else int(height)
    if height < 1:
        raise ValueError(f"`height` must be a positive number of pixels, got {height}")
    panels = []
    for picture, grid in zip(pictures, grids, strict=True):
        width = max(1, round(picture.shape[1] * height / picture.shape[0]))
        if picture.shape[:2] != (height, width):
            interpolation = cv2.INTER_AREA if height < picture.shape[0] else cv2.INTER_CUBIC
            picture = cv2.resize(picture, (width, height), interpolation=interpolation)
        panels.append(show_map_on_image(picture, grid, alpha=alpha))
    return np.concatenate(panels, axis=1)


def map_panels(result, index: int, method: str = "tam", *, height: int | None = None) -> np.ndarray:
    """Token ``index``'s map over each picture of a result, the panels side by side.

    Parameters
    ----------
    result : TokenActivationResult
        Must carry ``images`` (the user's pictures: per image, or per temporal slice of a video).
    index : int
        Explained token.
    method : str
        One of ``result.methods`` (:mod:`tam.methods`).
    height : int, optional
        Height of every panel in pixels; by default the first picture's height.

    Returns
    -------
    ndarray of shape (height, sum of panel widths, 3), uint8, RGB
        See :func:`overlay_panels`.
    """
    if not result.images:
        raise ValueError("the result carries no images; pass images= to explain_generation to draw maps")
    return overlay_panels(result.images, result.layout.picture_maps(result.maps(method)[index]), height=height)
