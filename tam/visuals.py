"""Drawing token activation maps: pure functions, RGB arrays in, new RGB arrays out.

Nothing here touches the model; everything reads a
:class:`~tam.result.TokenActivationResult`.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["map_panels", "save_token_visual", "show_map_on_image"]


def show_map_on_image(image: np.ndarray, activation: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """Blend a JET-coloured activation map, resized to the image, with the image.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, RGB
    activation : ndarray of shape (h, w), float in [0, 1]
        Resized to (H, W) with bilinear interpolation.
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
    levels = np.clip(np.asarray(activation, dtype=np.float64) * 255.0, 0, 255).astype(np.uint8)
    resized = cv2.resize(levels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.cvtColor(cv2.applyColorMap(resized, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    blended = alpha * coloured.astype(np.float64) + (1.0 - alpha) * image.astype(np.float64)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def map_panels(result, index: int, method: str = "tam") -> np.ndarray:
    """Token ``index``'s map over each picture, the panels side by side.

    Parameters
    ----------
    result : TokenActivationResult
        Must carry ``images`` (one per grid).
    index : int
        Explained token.
    method : {"tam", "raw", "eci", "rgf"}

    Returns
    -------
    ndarray of shape (H, sum of widths, 3), uint8, RGB
        Every panel is scaled to the height of the first picture.
    """
    import cv2

    if not result.images:
        raise ValueError("the result carries no images; pass images= to explain_generation to draw maps")
    height = result.images[0].shape[0]
    panels = []
    for image, grid in zip(result.images, result.grids(index, method), strict=True):
        width = max(1, round(image.shape[1] * height / image.shape[0]))
        panels.append(show_map_on_image(cv2.resize(image, (width, height)), grid))
    return np.concatenate(panels, axis=1)


def save_token_visual(result, index: int, path: str | os.PathLike, method: str = "tam") -> None:
    """Write :func:`map_panels` of token ``index`` to an image file (format from the suffix)."""
    from PIL import Image

    Image.fromarray(map_panels(result, index, method)).save(path)
