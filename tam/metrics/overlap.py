"""Token maps against segmentation masks: Otsu foreground and overlaps (spec section 8).

Maps are uint8 (0..255, as :meth:`TokenActivationResult.maps_uint8` gives them, the way
the paper evaluates them) at the vision grid's size; masks are at the image's size. A
map is resized to its mask with bilinear interpolation before Otsu's threshold splits it
into foreground (``> threshold``) and background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TokenOverlap",
    "background_fraction",
    "best_token_overlap",
    "otsu_threshold",
    "overlap",
    "resize_map",
    "word_threshold",
]


def _uint8_2d(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or array.dtype != np.uint8:
        raise ValueError(f"{name} must be a 2-D uint8 array, got shape {array.shape}, dtype {array.dtype}")
    return array


def resize_map(token_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a map to ``shape`` with bilinear interpolation (OpenCV's, as the reference).

    Parameters
    ----------
    token_map : ndarray of shape (h, w), uint8
    shape : (H, W)

    Returns
    -------
    ndarray of shape (H, W), uint8
    """
    import cv2

    height, width = shape
    return cv2.resize(_uint8_2d(token_map, "token_map"), (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def otsu_threshold(token_map: np.ndarray) -> tuple[float, np.ndarray]:
    """Otsu's threshold of a map and the foreground it selects.

    Parameters
    ----------
    token_map : ndarray of shape (H, W), uint8

    Returns
    -------
    threshold : float
        In 0..255.
    foreground : ndarray of shape (H, W), bool
        ``token_map > threshold``.

    >>> threshold, foreground = otsu_threshold(np.array([[0, 0, 200, 210]], dtype=np.uint8))
    >>> threshold, foreground.tolist()
    (0.0, [[False, False, True, True]])
    """
    import cv2

    threshold, binary = cv2.threshold(_uint8_2d(token_map, "token_map"), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(threshold), binary > 0


def overlap(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """IoU, precision and recall of a predicted foreground against a target mask.

    Parameters
    ----------
    prediction, target : ndarray of shape (H, W), bool

    Returns
    -------
    iou, precision, recall : float
        ``|P & T| / |P | T|``, ``|P & T| / |P|``, ``|P & T| / |T|``; each is 0 where its
        denominator is empty.

    >>> overlap(np.array([1, 1, 0, 0], bool), np.array([0, 1, 1, 0], bool))
    (0.3333333333333333, 0.5, 0.5)
    """
    prediction, target = np.asarray(prediction, bool), np.asarray(target, bool)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction and target must have one shape, got {prediction.shape} and {target.shape}")
    hits = float(np.count_nonzero(prediction & target))
    union, predicted, wanted = (int(np.count_nonzero(a)) for a in (prediction | target, prediction, target))
    return (
        hits / union if union else 0.0,
        hits / predicted if predicted else 0.0,
        hits / wanted if wanted else 0.0,
    )


@dataclass(frozen=True)
class TokenOverlap:
    """The best-matching token of a word and its overlap with the word's mask.

    Attributes
    ----------
    token : int
        Index of the token among the word's tokens.
    iou, precision, recall : float
    """

    token: int
    iou: float
    precision: float
    recall: float


def best_token_overlap(token_maps: np.ndarray, target: np.ndarray) -> TokenOverlap:
    """Overlap of the word's best token with the word's mask.

    Parameters
    ----------
    token_maps : ndarray of shape (K, h, w), uint8
        Maps of the word's ``K`` tokens.
    target : ndarray of shape (H, W), bool
        The category's mask.

    Returns
    -------
    TokenOverlap
        The token of highest IoU (the first on ties), with precision and recall at it.
    """
    target = np.asarray(target, bool)
    token_maps = np.asarray(token_maps)
    if token_maps.ndim != 3 or len(token_maps) == 0:
        raise ValueError(f"token_maps must have shape (K, h, w) with K >= 1, got {token_maps.shape}")
    best = None
    for index, token_map in enumerate(token_maps):
        foreground = otsu_threshold(resize_map(token_map, target.shape))[1]
        scores = TokenOverlap(index, *overlap(foreground, target))
        if best is None or scores.iou > best.iou:
            best = scores
    return best


def word_threshold(token_maps: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest Otsu threshold over a word's token maps, each resized to ``shape``.

    Parameters
    ----------
    token_maps : ndarray of shape (K, h, w), uint8
    shape : (H, W)

    Returns
    -------
    float
    """
    return max(otsu_threshold(resize_map(token_map, shape))[0] for token_map in token_maps)


def background_fraction(token_maps: np.ndarray, threshold: float) -> float:
    """Share of map cells below ``threshold``, averaged over a function word's tokens.

    Parameters
    ----------
    token_maps : ndarray of shape (K, h, w), uint8
        At the grid's own size (not resized), as the reference scores them.
    threshold : float

    Returns
    -------
    float
        In [0, 1]; 1 when the word lights up nothing.

    >>> background_fraction(np.array([[[0, 10], [200, 250]], [[0, 0], [0, 0]]], np.uint8), 100.0)
    0.75
    """
    token_maps = np.asarray(token_maps)
    if token_maps.ndim != 3 or len(token_maps) == 0:
        raise ValueError(f"token_maps must have shape (K, h, w) with K >= 1, got {token_maps.shape}")
    return float(np.mean([(token_map < threshold).mean() for token_map in token_maps]))
