"""Joint min-max normalisation of a vision map and its text relevances (spec section 5).

The vision map and the relevances of the earlier text tokens are scaled together to
[0, 1], so that image and text share one scale.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalize_jointly"]


def normalize_jointly(vision: np.ndarray, text: np.ndarray, text_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-max normalise each row of vision and text scores over both together.

    Parameters
    ----------
    vision : ndarray of shape (T, M), float
        Vision scores per explained token.
    text : ndarray of shape (T, S), float
        Text scores per explained token over ``S`` slots.
    text_mask : ndarray of shape (T, S), bool
        Which text slots take part in each row's minimum and maximum.

    Returns
    -------
    vision01 : ndarray of shape (T, M), float64, in [0, 1]
    text01 : ndarray of shape (T, S), float64, in [0, 1]
        Text slots outside the mask are 0. A row whose values are all equal gives all
        zeros (the reference divides by zero there).
    """
    vision = np.asarray(vision, dtype=np.float64)
    text = np.asarray(text, dtype=np.float64)
    low = np.minimum(vision.min(axis=-1), np.where(text_mask, text, np.inf).min(axis=-1, initial=np.inf))
    high = np.maximum(vision.max(axis=-1), np.where(text_mask, text, -np.inf).max(axis=-1, initial=-np.inf))
    span = (high - low)[:, None]
    flat = span <= 0
    safe_span = np.where(flat, 1.0, span)
    vision01 = np.where(flat, 0.0, (vision - low[:, None]) / safe_span)
    text01 = np.where(flat | ~text_mask, 0.0, (text - low[:, None]) / safe_span)
    return np.clip(vision01, 0.0, 1.0), np.clip(text01, 0.0, 1.0)
