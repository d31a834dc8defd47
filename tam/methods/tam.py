"""TAM and its ablations: one core (joint normalisation, then optionally the filter) over two sources.

``raw``: the class activations at the vision tokens; ``eci``: the raw maps after
estimated causal inference; ``rgf``: raw maps through the rank Gaussian filter;
``tam``: both (Li et al., ICCV 2025, sections 3.2-3.3). All four come from the arrays
every result keeps, with no pass through the model beyond the generation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tam.filters import rank_gaussian_filter
from tam.layout import VisionLayout
from tam.methods.base import MethodMaps, ResultMethod, register
from tam.normalize import normalize_jointly

__all__ = ["ABLATIONS", "TamVariant", "postprocess"]


def postprocess(
    vision: np.ndarray,
    text: np.ndarray,
    text_mask: np.ndarray,
    layout: VisionLayout,
    *,
    filtered: bool,
    filter_size: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise vision and text together, then optionally filter each grid (spec 5-6).

    Parameters
    ----------
    vision : ndarray of shape (T, M)
    text : ndarray of shape (T, S)
    text_mask : ndarray of shape (T, S), bool
    layout : VisionLayout
    filtered : bool
        Apply the rank Gaussian filter to each grid.
    filter_size : int

    Returns
    -------
    vision : ndarray of shape (T, M), float64, in [0, 1]
    text : ndarray of shape (T, S), float64, in [0, 1]
    """
    vision01, text01 = normalize_jointly(vision, text, text_mask)
    if filtered:
        vision01 = layout.join([rank_gaussian_filter(grid, filter_size) for grid in layout.split(vision01)])
    return vision01, text01


@dataclass(frozen=True)
class TamVariant(ResultMethod):
    """Raw or ECI maps, jointly normalised with the context scores, filtered or not.

    Attributes
    ----------
    causal : bool
        Start from the maps after estimated causal inference (``result.eci_maps``)
        rather than the raw activations (``result.raw_maps``).
    filtered : bool
        Apply the rank Gaussian filter (window ``result.options["filter_size"]``).
    """

    causal: bool = True
    filtered: bool = True

    def maps(self, result) -> MethodMaps:
        """Return the maps of ``result``: ``postprocess(source, context_scores, context_mask)``."""
        return MethodMaps(
            *postprocess(
                result.eci_maps if self.causal else result.raw_maps,
                result.context_scores,
                result.context_mask,
                result.layout,
                filtered=self.filtered,
                filter_size=result.options.get("filter_size", 3),
            )
        )


_NEEDS = frozenset({"hidden_states"})
_COST = "none beyond the generation"
ABLATIONS = tuple(
    register(TamVariant(name, title, _NEEDS, _COST, causal=causal, filtered=filtered)).name
    for name, title, causal, filtered in (
        ("tam", "TAM (ECI + filter)", True, True),
        ("raw", "raw", False, False),
        ("eci", "ECI only", True, False),
        ("rgf", "filter only (RGF)", False, True),
    )
)
"""The default methods of every result: full TAM, raw activations, ECI only, filter only."""
