"""``attention``: the explained token's attention to the vision tokens at one layer, mean over heads.

For explained token ``i`` with query position ``s_i`` (its slot: the position that
predicted an answer token, a prompt token's own position) and layer ``l``::

    map_i[v] = mean_h A^l_h[s_i, v]      for the vision positions v

then min-max scaled per token. Only layers with softmax attention have weights: on a hybrid
model (Qwen3.5's Gated DeltaNet layers) another layer is refused, naming those that have
them. The text relevances are the same row at the earlier
tokens' slots. Cost: one teacher-forced forward pass over the sequence, stopped after
layer ``l``, with eager attention for that pass only (sdpa and flash kernels do not
return the weights); the model's own kernel is restored after.
"""

from __future__ import annotations

from dataclasses import dataclass

from tam.methods.base import MethodMaps, ModelMethod, UnavailableMethodError, register_layered
from tam.methods.forward import StopForwardSignal, attention_weights, hooks, layer_index, rescale

__all__ = ["AttentionMaps"]


@dataclass(frozen=True)
class AttentionMaps(ModelMethod):
    """Mean-over-heads attention of layer ``layer`` (hidden-state numbering, 1..n; -1 the last)."""

    layer: int = -1

    def check(self, adapter) -> int:
        """Return the layer as 0..n; an error if the model has no such layer, or none with attention weights there."""
        index = layer_index(adapter, self.layer, 1, adapter.num_layers, self.name)
        if index not in adapter.attention_layers:
            raise UnavailableMethodError(
                f"{self.name}: decoder layer {index} of {adapter.family} has no softmax attention, so no attention "
                f"weights; the layers that have them: {', '.join(map(str, adapter.attention_layers))} "
                f"(e.g. attention@{adapter.attention_layers[-1]})"
            )
        return index

    def compute(self, run) -> MethodMaps:
        """Run the sequence through layers 1..l and read layer l's attention rows at the slots."""
        import torch

        index = self.check(run.adapter)
        attention = run.decoder_layers[index - 1].self_attn
        captured = []

        def keep(module, args, output):
            captured.append(attention_weights(output, self.name, module)[0].float().mean(0))
            raise StopForwardSignal

        with run.eager_attention(self.name), hooks(lambda: attention.register_forward_hook(keep)), torch.no_grad():
            try:
                run.adapter.run_body(**run.sequence_inputs())
            except StopForwardSignal:
                pass
        rows = captured[0][torch.as_tensor(run.slots)].cpu().numpy()  # (T, L)
        return rescale(rows[:, run.vision], rows[:, run.slots], run.context_mask)


def _make(layer: int | None) -> AttentionMaps:
    return AttentionMaps(
        "attention" if layer is None else f"attention@{layer}",
        "attention" if layer is None else f"attention, layer {layer}",
        frozenset({"attention"}),
        "1 forward pass up to the layer (eager attention)",
        layer=-1 if layer is None else layer,
    )


register_layered("attention", _make)
