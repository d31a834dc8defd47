"""``dexar``: per-token maps from gradients with respect to attention, after DEX-AR.

DEX-AR (Bousselham et al., arXiv 2603.06302, 2026) explains each generated token by the
gradients of its logit with respect to every layer's attention maps, with heads that look
at the image weighted above those that look at text. tam computes the per-token map as
that description reads; DEX-AR's sentence-level aggregation is not used (tam scores
tokens), and the head weight below is our reading of its "dynamic head filtering", not
code of the authors'. For explained token ``i`` with slot ``s_i`` and logit ``y_i``::

    G^l_h = dy_i / dA^l_h[s_i, :]                        gradient of the attention row
    w^l_h = sum over vision positions v of A^l_h[s_i, v]  the head's share on the image
    map_i[v] = sum_l  sum_h w^l_h ReLU(G^l_h[v] A^l_h[s_i, v]) / sum_h w^l_h

then min-max scaled per token, the sum over the layers with softmax attention (every layer
but on hybrid models: Qwen3.5's Gated DeltaNet layers have none, and a warning says so);
the text relevances are the same sum at the earlier
tokens' slots. Cost: one teacher-forced forward pass with eager attention in every layer,
and backward passes through all layers batched over :data:`TOKENS_PER_PASS` tokens each.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from tam.methods.base import MethodMaps, ModelMethod, register
from tam.methods.forward import attention_weights, cut_graph, frozen_parameters, hooks, rescale, token_gradients

__all__ = ["TOKENS_PER_PASS", "GradientAttention", "head_weighted_relevance"]

TOKENS_PER_PASS = 4
"""Explained tokens per batched backward pass: each holds every layer's (heads, L, L) gradient."""


def head_weighted_relevance(gradients, attention, vision):
    """Relevance of every position to one token from each layer's gradient and attention rows.

    Parameters
    ----------
    gradients, attention : Tensor of shape (layers, heads, L)
        The token's attention rows and their gradients, every layer and head.
    vision : Tensor of shape (M,), int

    Returns
    -------
    Tensor of shape (L,)
        ``sum_l sum_h w ReLU(G A) / sum_h w`` with ``w`` the heads' attention on ``vision``.
    """
    weights = attention[:, :, vision].sum(-1, keepdim=True)  # (layers, heads, 1)
    per_head = (gradients * attention).clamp(min=0)
    total = weights.sum(1).clamp(min=1e-12)  # (layers, 1)
    return ((weights * per_head).sum(1) / total).sum(0)


@dataclass(frozen=True)
class GradientAttention(ModelMethod):
    """DEX-AR's per-token map (see the module docstring)."""

    def compute(self, run) -> MethodMaps:
        """Keep every layer's attention in the graph, then one gradient per token with respect to all of them."""
        import torch

        leaf, captured = [], []

        def keep(module, args, output):
            captured.append(attention_weights(output, self.name, module))

        layers = run.decoder_layers
        attended = run.adapter.attention_layers
        if len(attended) < len(layers):
            warnings.warn(
                f"dexar sums over the {len(attended)} of {len(layers)} decoder layers of {run.adapter.family} that "
                f"have softmax attention ({', '.join(map(str, attended))}); the others have no attention weights",
                stacklevel=2,
            )
        slots = torch.as_tensor(run.slots)
        vision = torch.as_tensor(run.vision)
        with (
            run.eager_attention(self.name),
            frozen_parameters(run.model),
            hooks(
                lambda: cut_graph(layers[0], leaf),
                *(lambda index=index: layers[index - 1].self_attn.register_forward_hook(keep) for index in attended),
            ),
            torch.enable_grad(),
        ):
            final = run.adapter.run_body(**run.sequence_inputs()).last_hidden_state[0]
            logits = run.token_logits(final)
            rows = []
            for gradients in token_gradients(logits, captured, TOKENS_PER_PASS):
                for gradient_rows in zip(*(gradient[:, 0] for gradient in gradients), strict=True):
                    slot = slots[len(rows)]
                    rows.append(
                        head_weighted_relevance(
                            torch.stack([gradient[:, slot].float().cpu() for gradient in gradient_rows]),
                            torch.stack([weights[0, :, slot].detach().float().cpu() for weights in captured]),
                            vision,
                        )
                    )
        scores = torch.stack(rows).numpy()
        return rescale(scores[:, run.vision], scores[:, run.slots], run.context_mask)


register(
    GradientAttention(
        "dexar",
        "DEX-AR (gradient x attention)",
        frozenset({"attention", "gradients"}),
        f"1 forward pass (eager attention in every layer), 1 backward pass per {TOKENS_PER_PASS} explained tokens",
    )
)
