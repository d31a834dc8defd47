"""``lens@L``: full TAM read at decoder layer ``L`` through the final norm (the logit lens).

``tam.explain(..., layer=L)`` makes the main maps at one layer; ``lens@L`` methods add
TAM at other layers to the same result, so layers compare in one run: ``methods=["lens@4",
"lens@8"]``. The generation returns every layer's hidden states, so a lens costs no pass
through the model: one more matrix product of the explained classes with those states.
"""

from __future__ import annotations

from dataclasses import dataclass

from tam.methods.base import MethodMaps, ModelMethod, register_layered
from tam.methods.forward import layer_index

__all__ = ["LogitLens"]


@dataclass(frozen=True)
class LogitLens(ModelMethod):
    """TAM (ECI and filter) at layer ``layer``: 0 the embeddings, ``n`` or -1 the last."""

    layer: int = -1

    def check(self, adapter) -> int:
        """Return the layer as 0..n; an error if the model has no such layer for this method."""
        return layer_index(adapter, self.layer, 0, adapter.num_layers, self.name)

    def compute(self, run) -> MethodMaps:
        """Explain the same generation at ``layer`` and keep its TAM maps."""
        index = self.check(run.adapter)
        other = run.explain_at(index)
        return MethodMaps(*(values.astype("float32") for values in other.processed("tam")))


def _make(layer: int | None) -> LogitLens:
    return LogitLens(
        "lens" if layer is None else f"lens@{layer}",
        "logit lens" if layer is None else f"TAM at layer {layer}",
        frozenset({"hidden_states"}),
        "none beyond the generation (all layers' states are kept)",
        layer=-1 if layer is None else layer,
    )


register_layered("lens", _make)
