"""``gradcam``: Grad-CAM (Selvaraju et al., ICCV 2017, eq. 1-2) on the decoder's hidden states.

With ``A`` the hidden states entering decoder layer ``l`` (hidden-state numbering: 0 the
embeddings, ``n - 1`` the input of the last layer) and ``y_i`` the logit of explained
token ``i``'s class at its slot (TAM's context slot)::

    alpha_i = mean over vision positions v of dy_i / dA[v]          (d,)
    map_i[v] = ReLU(sum_k alpha_i[k] * A[v, k])

then min-max scaled per token; the text relevances are the same sum at the earlier
tokens' slots. The states after the last layer reach each logit only at its own
position, so ``l = n`` has no gradient at the vision tokens and is refused.
Cost: one teacher-forced forward pass, and backward passes through layers ``l..n`` (the
graph below layer ``l`` is cut), batched over :data:`TOKENS_PER_PASS` tokens each.
"""

from __future__ import annotations

from dataclasses import dataclass

from tam.methods.base import MethodMaps, ModelMethod, register_layered
from tam.methods.forward import cut_graph, frozen_parameters, hooks, layer_index, rescale, token_gradients

__all__ = ["TOKENS_PER_PASS", "GradCam", "grad_cam"]

TOKENS_PER_PASS = 16
"""Explained tokens whose gradients one batched backward pass computes (memory grows with it)."""


def grad_cam(states, gradients, vision):
    """Grad-CAM scores of every position from the states and each token's gradient.

    Parameters
    ----------
    states : Tensor of shape (L, d)
    gradients : Tensor of shape (T, L, d)
        Gradient of each explained token's logit with respect to ``states``.
    vision : Tensor of shape (M,), int
        Vision positions, over which the gradients are averaged into channel weights.

    Returns
    -------
    Tensor of shape (T, L)
        ``ReLU(sum_k alpha[t, k] * states[:, k])`` with ``alpha = gradients[:, vision].mean(1)``.
    """
    weights = gradients[:, vision].mean(dim=1)
    return (weights @ states.T).clamp(min=0)


@dataclass(frozen=True)
class GradCam(ModelMethod):
    """Grad-CAM on the states entering decoder layer ``layer`` (default -2: the input of the last layer)."""

    layer: int = -2

    def check(self, adapter) -> int:
        """Return the layer as 0..n; an error if the model has no such layer for this method."""
        return layer_index(adapter, self.layer, 0, adapter.num_layers - 1, self.name)

    def compute(self, run) -> MethodMaps:
        """Cut the graph at layer ``l``, take the token logits, and one gradient per token."""
        import torch

        index = self.check(run.adapter)
        leaf = []

        layer = run.decoder_layers[index]
        with (
            frozen_parameters(run.model),
            hooks(lambda: cut_graph(layer, leaf)),
            torch.enable_grad(),
        ):
            final = run.adapter.run_body(**run.sequence_inputs()).last_hidden_state[0]
            logits = run.token_logits(final)
            gradients = torch.cat([chunk[0][:, 0] for chunk in token_gradients(logits, leaf, TOKENS_PER_PASS)])
        scores = grad_cam(leaf[0][0].detach().float(), gradients.float(), torch.as_tensor(run.vision))
        scores = scores.cpu().numpy()
        return rescale(scores[:, run.vision], scores[:, run.slots], run.context_mask)


def _make(layer: int | None) -> GradCam:
    return GradCam(
        "gradcam" if layer is None else f"gradcam@{layer}",
        "Grad-CAM" if layer is None else f"Grad-CAM, layer {layer}",
        frozenset({"hidden_states", "gradients"}),
        f"1 forward pass, 1 backward pass from the layer per {TOKENS_PER_PASS} explained tokens",
        layer=-2 if layer is None else layer,
    )


register_layered("gradcam", _make)
