"""What methods that read the model share: one generation, its teacher-forced pass, hooks, targets.

A :class:`ModelRun` holds the model, the prepared inputs and the generated sequence. Its
:meth:`~ModelRun.sequence_inputs` replay the whole sequence (input and answer) in one
forward pass, teacher-forced; hooks put on the model come off when the pass ends, even on
error (:func:`hooks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from tam.methods.base import MethodMaps, UnavailableMethodError

__all__ = [
    "ModelRun",
    "StopForwardSignal",
    "attention_weights",
    "cut_graph",
    "frozen_parameters",
    "hooks",
    "layer_index",
    "rescale",
    "token_gradients",
]


class StopForwardSignal(Exception):  # noqa: N818  a signal, not an error
    """Raised by a hook once it has what it needs, so the layers above it are not run."""


@dataclass
class ModelRun:
    """One generation of a supported model, as the model methods read it.

    Attributes
    ----------
    adapter : tam.models.ModelAdapter
    prepared : tam.models.PreparedInputs
    tokens : ndarray of shape (L,), int64
        Input followed by the generated ids.
    vision : ndarray of shape (M,), int64
        Positions of the vision tokens, in layout order.
    positions : ndarray of shape (T,), int64
        Positions of the explained tokens (prompt tokens, then answer tokens).
    num_prompt_tokens : int
    class_ids : ndarray of shape (T,), int64
        The class explained for each token.
    context_mask : ndarray of shape (T, T), bool
        The text slots normalised with each token's map (as the result's).
    explain_at : callable
        ``explain_at(layer) -> TokenActivationResult``: TAM read at another layer (logit lens).
    """

    adapter: object
    prepared: object
    tokens: np.ndarray
    vision: np.ndarray
    positions: np.ndarray
    num_prompt_tokens: int
    class_ids: np.ndarray
    context_mask: np.ndarray
    explain_at: Callable

    @property
    def model(self):
        """The whole model (``...ForConditionalGeneration``)."""
        return self.adapter.model

    @property
    def slots(self) -> np.ndarray:
        """Query position of each explained token, shape (T,), int64.

        A prompt token's own position, the position that predicted an answer token
        (TAM's context slots).
        """
        slots = self.positions.copy()
        slots[self.num_prompt_tokens :] -= 1
        return slots

    @property
    def decoder_layers(self):
        """The language model's decoder layers (``nn.ModuleList`` of ``n``)."""
        return self.adapter.decoder_layers

    def sequence_inputs(self) -> dict:
        """Model inputs that replay the whole sequence in one teacher-forced pass.

        The processor's per-token tensors (``input_ids``, ``attention_mask``, token type
        ids) are extended over the answer; pixels go in the model's dtype.
        """
        import torch

        inputs = dict(self.prepared.inputs)
        length = inputs["input_ids"].shape[1]
        extra = len(self.tokens) - length
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape == (1, length):
                fill = 1 if key == "attention_mask" else 0
                inputs[key] = torch.cat([value, torch.full((1, extra), fill, dtype=value.dtype)], dim=1)
        inputs["input_ids"] = torch.as_tensor(self.tokens, dtype=torch.long)[None]
        device, dtype = self.model.device, self.model.dtype
        return {
            key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
            if isinstance(value, torch.Tensor)
            else value
            for key, value in inputs.items()
        }

    def token_logits(self, final_hidden):
        """Logit of each explained token's class at its slot.

        Parameters
        ----------
        final_hidden : Tensor of shape (L, d)
            The language model's last hidden states (after its final norm).

        Returns
        -------
        Tensor of shape (T,)
            ``h[slot_i] . W[c_i] (+ b[c_i])`` through the model's softcap, if it has one (as
            the model's own logits), without computing the whole vocabulary.
        """
        import torch

        from tam.scores import soft_cap

        head = self.adapter.classifier
        classes = torch.as_tensor(self.class_ids, device=head.weight.device)
        states = final_hidden[torch.as_tensor(self.slots, device=final_hidden.device)].to(head.weight.device)
        logits = (states * head.weight[classes]).sum(-1)
        return soft_cap(logits if head.bias is None else logits + head.bias[classes], head.softcap)

    @contextlib.contextmanager
    def eager_attention(self, method: str) -> Iterator[None]:
        """Run the model with eager attention, which returns the weights, and restore its kernel after.

        Raises
        ------
        UnavailableMethodError
            If the model cannot switch to eager attention.
        """
        before = self.model.config._attn_implementation
        if before != "eager":
            try:
                self.model.set_attn_implementation("eager")
            except (ValueError, ImportError) as error:
                raise UnavailableMethodError(
                    f"{method} needs attention weights, but {type(self.model).__name__} runs {before!r} attention, "
                    f"which hides them, and cannot switch ({error}); load it with attn_implementation='eager'"
                ) from None
        try:
            yield
        finally:
            if before != "eager":
                self.model.set_attn_implementation(before)


def layer_index(adapter, layer: int, lowest: int, highest: int, method: str) -> int:
    """Turn ``layer`` (hidden-state numbering: 0 embeddings, ``n`` or -1 the last) into 0..n.

    Parameters
    ----------
    adapter : tam.models.ModelAdapter
    layer : int
    lowest, highest : int
        The layers ``method`` can read, in 0..n.
    method : str
        Named in the error.

    Raises
    ------
    UnavailableMethodError
        If the layer lies outside ``lowest..highest`` (after wrapping negatives).
    """
    depth = adapter.num_layers + 1
    index = layer + depth if layer < 0 else layer
    if not lowest <= index <= highest:
        raise UnavailableMethodError(
            f"{method}: layer {layer} is out of range; {adapter.family} has {depth - 1} decoder layers "
            f"and {method} reads layers {lowest} to {highest} (or {lowest - depth} to {highest - depth})"
        )
    return index


def token_gradients(logits, inputs, chunk: int) -> Iterator[tuple]:
    """Gradients of each token logit with respect to ``inputs``, ``chunk`` tokens per backward pass.

    A chunk's gradients come from one batched backward pass (``is_grads_batched``: the
    pass is vectorised over the chunk's one-hot output gradients), so larger chunks take
    fewer passes and more memory.

    Parameters
    ----------
    logits : Tensor of shape (T,)
    inputs : sequence of Tensor
        Tensors the logits depend on through the graph.
    chunk : int
        Tokens per backward pass.

    Yields
    ------
    tuple of Tensor
        Per chunk of ``c`` tokens, one gradient per input, each ``(c, *input.shape)``.
    """
    import torch

    count = len(logits)
    identity = torch.eye(count, dtype=logits.dtype, device=logits.device)
    for start in range(0, count, chunk):
        rows = identity[start : start + chunk]
        yield torch.autograd.grad(
            logits, inputs, grad_outputs=rows, retain_graph=start + chunk < count, is_grads_batched=True
        )


@contextlib.contextmanager
def frozen_parameters(model) -> Iterator[None]:
    """Let no parameter of ``model`` ask for gradients (only the states cut loose do); restore after."""
    asked = [parameter for parameter in model.parameters() if parameter.requires_grad]
    try:
        for parameter in asked:
            parameter.requires_grad_(False)
        yield
    finally:
        for parameter in asked:
            parameter.requires_grad_(True)


def cut_graph(layer, leaf: list):
    """Put a hook on ``layer`` that makes the states entering it a leaf asking for gradients.

    The graph below is cut: backward passes stop there. The leaf, shape (1, L, d), is
    appended to ``leaf``.

    Returns
    -------
    torch.utils.hooks.RemovableHandle
    """

    def cut(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        leaf.append(hidden.detach().requires_grad_(True))
        return ((leaf[-1], *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": leaf[-1]})

    return layer.register_forward_pre_hook(cut, with_kwargs=True)


@contextlib.contextmanager
def hooks(*handles_made: Callable[[], object]) -> Iterator[None]:
    """Put hooks on (each callable registers one and returns its handle); remove them all on exit."""
    handles = []
    try:
        for make in handles_made:
            handles.append(make())
        yield
    finally:
        for handle in handles:
            handle.remove()


def attention_weights(output, method: str, module):
    """Return the weights an attention module returned, shape (1, heads, L, L); an error when its kernel hid them."""
    weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
    if weights is None:
        raise UnavailableMethodError(
            f"{method} needs attention weights, but {type(module).__name__} returned none; "
            "load the model with attn_implementation='eager'"
        )
    return weights


def rescale(vision: np.ndarray, text: np.ndarray, context_mask: np.ndarray) -> MethodMaps:
    """Min-max scale each token's vision map, and its text relevances over its context slots, to [0, 1].

    Parameters
    ----------
    vision : ndarray of shape (T, M), float
    text : ndarray of shape (T, T), float
    context_mask : ndarray of shape (T, T), bool

    Returns
    -------
    MethodMaps
        float32; a row whose values are all equal becomes zeros.
    """
    return MethodMaps(_rows01(vision, np.ones(vision.shape, bool)), _rows01(text, context_mask))


def _rows01(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Min-max scale each row over its masked entries; entries outside the mask and flat rows become 0."""
    values = np.asarray(values, dtype=np.float64)
    low = np.where(mask, values, np.inf).min(axis=-1, keepdims=True, initial=np.inf)
    high = np.where(mask, values, -np.inf).max(axis=-1, keepdims=True, initial=-np.inf)
    span = high - low
    spread = np.isfinite(span) & (span > 0)
    scaled = (values - np.where(spread, low, 0.0)) / np.where(spread, span, 1.0)
    return np.where(mask & spread, np.clip(scaled, 0.0, 1.0), 0.0).astype(np.float32)
