"""Estimated causal inference, ECI (paper section 3.2, spec section 4).

Earlier tokens leave activation behind in the map of the current token that is not
about the current token. ECI estimates that interference as the mix of the earlier
tokens' raw maps, weighted by how much each earlier token contributes to the current
prediction, and removes its least-squares share.

For a current token ``t`` with raw map ``m_t`` and context scores ``s_i``::

    C   = { i < t : token i differs from token t }       (a repeat is not interference)
    w_i = s_i / (sum_C s + 1e-8)
    I   = sum_{i in C} w_i m_i
    a   = <m_t, I> / <I, I>         (0 when I is all zeros)
    m_t <- max(0, m_t - a I)

Everything here works on a batch of current tokens at once; the weights of the batch
form one matrix, so the interference maps are a single matrix product.
"""

from __future__ import annotations

import numpy as np

__all__ = ["context_weights", "estimated_causal_inference"]

WEIGHT_EPSILON = 1e-8  # the reference's guard against an all-zero context


def context_weights(context_scores: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Normalised ECI weights ``w`` over the context of each current token.

    Parameters
    ----------
    context_scores : ndarray of shape (T, S), float, >= 0
        Row ``t``: the activation of token ``t``'s class at each context slot ``i``.
    include : ndarray of shape (T, S), bool
        Which slots belong to the context set ``C`` of each row.

    Returns
    -------
    ndarray of shape (T, S), float64
        ``w[t, i] = s[t, i] / (sum_{C_t} s + 1e-8)`` on ``C_t``, 0 elsewhere.
    """
    kept = np.where(include, np.asarray(context_scores, dtype=np.float64), 0.0)
    return kept / (kept.sum(axis=-1, keepdims=True) + WEIGHT_EPSILON)


def estimated_causal_inference(
    maps: np.ndarray, history: np.ndarray, context_scores: np.ndarray, include: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the estimated interference of earlier tokens from each map.

    Parameters
    ----------
    maps : ndarray of shape (T, M), float, >= 0
        Raw vision maps of the ``T`` current tokens (``M`` vision tokens).
    history : ndarray of shape (S, M), float, >= 0
        Raw maps of the context slots, in slot order (the earlier tokens).
    context_scores : ndarray of shape (T, S), float, >= 0
        Activation of each current token's class at each context slot.
    include : ndarray of shape (T, S), bool
        The context set ``C`` of each current token.

    Returns
    -------
    cleaned : ndarray of shape (T, M), float64, >= 0
        ``max(0, m - a I)`` per row; a row with an empty context is returned unchanged.
    scale : ndarray of shape (T,), float64
        The least-squares factor ``a`` of each row (0 where ``I`` is all zeros).
    """
    maps = np.asarray(maps, dtype=np.float64)
    interference = context_weights(context_scores, include) @ np.asarray(history, dtype=np.float64)
    energy = np.einsum("tm,tm->t", interference, interference)
    overlap = np.einsum("tm,tm->t", maps, interference)
    scale = np.divide(overlap, energy, out=np.zeros_like(energy), where=energy > 0)
    cleaned = np.maximum(maps - scale[:, None] * interference, 0.0)
    return cleaned, scale
