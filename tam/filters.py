"""Rank Gaussian filter (paper section 3.3, spec section 6).

The filter denoises a normalised token activation map cell by cell: each cell is
replaced by a Gaussian-weighted average of its sorted ``size x size`` neighbourhood,
the weights centred on the median rank and as wide as the window's coefficient of
variation. Every cell is independent, so the whole grid (and a whole batch of grids)
is computed at once from a sliding-window view; there is no Python loop over cells.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rank_gaussian_filter"]


def rank_gaussian_filter(image: np.ndarray, size: int = 3) -> np.ndarray:
    """Apply the rank Gaussian filter to one grid or a batch of grids.

    For every cell, the ``size x size`` window around it (mirror padding that does not
    repeat the edge cell: numpy's ``'reflect'``, OpenCV's ``BORDER_REFLECT_101``) is
    sorted ascending, ``v_0 <= ... <= v_{n-1}`` with ``n = size**2``. With ``mu`` and
    ``sd`` the window's mean and population standard deviation and
    ``sigma = sd / mu``::

        g_r = exp(-(r - n // 2)**2 / (2 sigma**2)),   out = sum_r g_r v_r / sum_r g_r

    A window with ``mu <= 0`` gives 0. A flat window (``sd == 0``) puts all weight on
    the median, so the output is the window's value (the reference release returns
    NaN there).

    Parameters
    ----------
    image : ndarray of shape (..., H, W), any real dtype
        One grid or a batch of grids; the filter runs over the last two axes.
        Values are expected to be non-negative (normalised activations in [0, 1]).
    size : int, default 3
        Odd window side, at least 1.

    Returns
    -------
    ndarray of shape (..., H, W), float64
        The filtered grid(s). The input is not modified.

    Raises
    ------
    ValueError
        If ``image`` has fewer than 2 dimensions, contains NaN or infinity, or ``size``
        is not a positive odd integer.

    Examples
    --------
    A lone peak is spread thin; reflect-101 padding mirrors it into every corner window
    four times, so the corners keep more of it than the centre:

    >>> grid = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    >>> rank_gaussian_filter(grid).round(4)
    array([[0.3216, 0.0819, 0.3216],
           [0.0819, 0.0583, 0.0819],
           [0.3216, 0.0819, 0.3216]])
    >>> rank_gaussian_filter(np.full((2, 3), 0.5))
    array([[0.5, 0.5, 0.5],
           [0.5, 0.5, 0.5]])
    """
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"`image` must have at least 2 dimensions (..., H, W), got shape {image.shape}")
    if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"`size` must be a positive odd integer, got {size!r}")
    values = image.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("`image` contains NaN or infinite values")

    pad = size // 2
    pad_width = [(0, 0)] * (values.ndim - 2) + [(pad, pad), (pad, pad)]
    padded = np.pad(values, pad_width, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(-2, -1))
    windows = _sort_last_axis(windows.reshape(*values.shape, size * size))

    mean = windows.mean(axis=-1, keepdims=True)
    std = windows.std(axis=-1, keepdims=True)
    positive = mean > 0
    # sigma = sd / mu; only where mu > 0. A zero sigma collapses onto the median below.
    sigma = np.divide(std, mean, out=np.zeros_like(std), where=positive)
    offsets = (np.arange(size * size) - (size * size) // 2) ** 2
    flat = sigma == 0
    # exp(-offset / (2 sigma^2)); for a flat window a one-hot weight on the median
    exponent = np.divide(-offsets, 2.0 * sigma**2, out=np.zeros(windows.shape), where=~flat)
    weights = np.where(flat, (offsets == 0).astype(np.float64), np.exp(exponent))
    weights /= weights.sum(axis=-1, keepdims=True)
    filtered = (weights * windows).sum(axis=-1)
    return np.where(positive[..., 0], filtered, 0.0)


def _sort_last_axis(values: np.ndarray) -> np.ndarray:
    """Sort short rows with an odd-even transposition network.

    ``np.sort`` pays a per-row cost that dominates for rows of 9 values; the network does
    ``n`` rounds of element-wise min/max over all rows at once instead.

    Parameters
    ----------
    values : ndarray of shape (..., n)

    Returns
    -------
    ndarray of shape (..., n)
        A sorted copy (ascending along the last axis).
    """
    count = values.shape[-1]
    rows = np.moveaxis(values, -1, 0).copy()
    for round_index in range(count):
        first = round_index % 2
        low, high = rows[first : count - 1 : 2], rows[first + 1 : count : 2]
        smaller = np.minimum(low, high)
        high[...] = np.maximum(low, high)
        low[...] = smaller
    return np.moveaxis(rows, 0, -1)
