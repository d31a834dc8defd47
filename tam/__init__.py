"""tam: Token Activation Maps for multimodal LLMs (Li et al., ICCV 2025, arXiv 2506.23270).

The pipeline, one module per step::

    spans -> scores -> causal -> normalize -> filters -> result
    (tam.spans, tam.scores, tam.causal, tam.normalize, tam.filters, tam.result)

``explain_generation`` runs it over a whole generation; ``explain`` generates with a
supported model and explains the answer (adapters in ``tam.models``); ``faithfulness``
scores how much the model needs the regions a map points at; ``TAM`` is the
reference release's per-round call. Names load lazily, so ``import tam`` stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "explain": "tam.models.explain",
    "faithfulness": "tam.evaluation.faithfulness",
    "explain_generation": "tam.pipeline",
    "ROUND0_MODES": "tam.pipeline",
    "TAM": "tam.compat",
    "TokenActivationResult": "tam.result",
    "Candidates": "tam.result",
    "METHODS": "tam.result",
    "get_method": "tam.methods",
    "method_names": "tam.methods",
    "rank_gaussian_filter": "tam.filters",
    "estimated_causal_inference": "tam.causal",
    "normalize_jointly": "tam.normalize",
    "TokenSpans": "tam.spans",
    "locate_spans": "tam.spans",
    "VisionLayout": "tam.layout",
    "TAMError": "tam.errors",
    "SpanError": "tam.errors",
    "ShapeError": "tam.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tam' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
