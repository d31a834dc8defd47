"""Activation scores: the logits of a few classes, without the full vocabulary (spec section 3).

The activation of class ``c`` at position ``p`` is ``h_p . W[c] (+ b[c])``: one column of
the logits. The reference computes all ``V`` columns for every position (0.3-0.8 GB per
image at Qwen2-VL-2B size) and reads a handful; here only the ``lm_head`` rows of the
classes that are explained are gathered. The full vocabulary is touched only for the
top-k candidates, in chunks of bounded size, when asked for.

Some models squash their logits before the softmax (final-logit softcapping: Gemma 2, Gemma
4); the head then applies the same cap, so the scores are the model's own logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tam.errors import ShapeError

__all__ = ["ClassifierHead", "select_hidden_states", "soft_cap"]

DEFAULT_VOCAB_CHUNK = 16_384


def soft_cap(logits: torch.Tensor, cap: float | None) -> torch.Tensor:
    """Final-logit softcapping, ``cap * tanh(logits / cap)``, in the order transformers' Gemma models compute it.

    Parameters
    ----------
    logits : Tensor of any shape
    cap : float or None
        The config's ``final_logit_softcapping``; None returns ``logits`` itself.

    Returns
    -------
    Tensor of the shape of ``logits``, in (-cap, cap)

    Examples
    --------
    >>> soft_cap(torch.tensor([0.0, 1.0, 100.0]), 30.0)
    tensor([ 0.0000,  0.9996, 29.9237])
    """
    if cap is None:
        return logits
    return torch.tanh(logits / cap) * cap


@dataclass(frozen=True)
class ClassifierHead:
    """The output projection ``lm_head``: ``logits = soft_cap(h @ weight.T + bias, softcap)``.

    Attributes
    ----------
    weight : Tensor of shape (V, d)
        Rows are classes; stays where it is (any device, any dtype).
    bias : Tensor of shape (V,) or None
    softcap : float or None
        The model's final-logit softcapping (:func:`soft_cap`); None for none.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None = None
    softcap: float | None = None

    @classmethod
    def from_lm_head(cls, lm_head, bias: torch.Tensor | None = None, softcap: float | None = None) -> ClassifierHead:
        """Wrap an ``nn.Linear`` or a ``[V, d]`` weight tensor (with an optional bias and softcap)."""
        if isinstance(lm_head, ClassifierHead):
            return lm_head
        if isinstance(lm_head, torch.nn.Linear):
            bias = lm_head.bias
            lm_head = lm_head.weight
        if isinstance(lm_head, torch.Tensor):
            if lm_head.ndim != 2:
                raise ShapeError(f"lm_head weight must have shape [V, d], got {tuple(lm_head.shape)}")
            return cls(weight=lm_head.detach(), bias=None if bias is None else bias.detach(), softcap=softcap)
        raise TypeError(f"lm_head must be an nn.Linear or a [V, d] weight tensor, got {type(lm_head).__name__}")

    @property
    def vocab_size(self) -> int:
        """Number of classes ``V``."""
        return self.weight.shape[0]

    @property
    def hidden_size(self) -> int:
        """Width ``d`` of the hidden states the head reads."""
        return self.weight.shape[1]

    def activations(self, hidden: torch.Tensor, class_ids: Sequence[int]) -> np.ndarray:
        """Logits of the given classes at every position, in float32.

        Parameters
        ----------
        hidden : Tensor of shape (L, d)
        class_ids : sequence of int, length U

        Returns
        -------
        ndarray of shape (L, U), float32
        """
        index = torch.as_tensor(list(class_ids), dtype=torch.long, device=self.weight.device)
        rows = self.weight.index_select(0, index).to(device=hidden.device, dtype=torch.float32)
        with torch.no_grad():
            logits = hidden.to(torch.float32) @ rows.T
            if self.bias is not None:
                logits = logits + self.bias.index_select(0, index).to(device=hidden.device, dtype=torch.float32)
        return soft_cap(logits, self.softcap).cpu().numpy()

    def top_k(
        self, hidden: torch.Tensor, k: int = 3, chunk_size: int = DEFAULT_VOCAB_CHUNK
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k classes and the log-partition over the whole vocabulary, chunk by chunk.

        Memory is bounded by ``n * chunk_size`` logits at a time.

        Parameters
        ----------
        hidden : Tensor of shape (n, d)
        k : int
        chunk_size : int
            Vocabulary rows per chunk.

        Returns
        -------
        logits : ndarray of shape (n, k), float32
            The k largest logits per position, descending.
        ids : ndarray of shape (n, k), int64
        log_partition : ndarray of shape (n,), float32
            ``logsumexp`` of all ``V`` logits, so ``exp(logits - log_partition)`` are
            the vocabulary probabilities.
        """
        hidden = hidden.to(torch.float32)
        best_values = torch.full((hidden.shape[0], 0), -torch.inf, device=hidden.device)
        best_ids = torch.zeros((hidden.shape[0], 0), dtype=torch.long, device=hidden.device)
        log_partition = torch.full((hidden.shape[0],), -torch.inf, device=hidden.device)
        with torch.no_grad():
            for start in range(0, self.vocab_size, chunk_size):
                rows = self.weight[start : start + chunk_size].to(device=hidden.device, dtype=torch.float32)
                logits = hidden @ rows.T
                if self.bias is not None:
                    logits = logits + self.bias[start : start + chunk_size].to(hidden.device, torch.float32)
                logits = soft_cap(logits, self.softcap)
                log_partition = torch.logaddexp(log_partition, torch.logsumexp(logits, dim=-1))
                values, ids = logits.topk(min(k, logits.shape[-1]), dim=-1)
                merged_values = torch.cat([best_values, values], dim=-1)
                merged_ids = torch.cat([best_ids, ids + start], dim=-1)
                best_values, order = merged_values.topk(min(k, merged_values.shape[-1]), dim=-1)
                best_ids = merged_ids.gather(-1, order)
        return best_values.cpu().numpy(), best_ids.cpu().numpy(), log_partition.cpu().numpy()


def select_hidden_states(hidden_states, layer: int = -1, final_norm=None) -> tuple[torch.Tensor, int | None]:
    """Stack the per-round hidden states of one layer into ``[L, d]``.

    Parameters
    ----------
    hidden_states : sequence or Tensor
        One of

        - per round one tensor ``[1, L_r, d]`` (``generate``'s ``hidden_states`` after
          taking ``[-1]`` of each round): the first round covers the input positions,
          each later round one new position;
        - per round the tuple of all layers, as ``generate(...,
          output_hidden_states=True)`` returns them; ``layer`` picks one;
        - one tensor ``[L, d]`` or ``[1, L, d]`` of all positions.
    layer : int, default -1
        Which entry of each round's tuple to use (Python indexing). Only used with
        per-round tuples.
    final_norm : callable, optional
        Applied to the chosen layer's states when it is not the last entry of the tuple
        (the last entry is already normalised by the model): the logit lens.

    Returns
    -------
    hidden : Tensor of shape (L, d)
    input_length : int or None
        Positions covered by the first round (``L0``), or None for a single tensor.
    """
    if isinstance(hidden_states, torch.Tensor):
        if hidden_states.ndim == 3 and hidden_states.shape[0] == 1:
            hidden_states = hidden_states[0]
        if hidden_states.ndim != 2:
            raise ShapeError(f"hidden states must be [L, d] or [1, L, d], got {tuple(hidden_states.shape)}")
        return hidden_states, None
    rounds = list(hidden_states)
    if not rounds:
        raise ShapeError("hidden_states is empty: the generation produced no rounds")
    if isinstance(rounds[0], (tuple, list)):
        depth = len(rounds[0])
        if not -depth <= layer < depth:
            raise ShapeError(
                f"layer {layer} is out of range: the hidden states have {depth} entries per round "
                f"(valid layers are {-depth} to {depth - 1})"
            )
        is_last = layer % depth == depth - 1
        rounds = [states[layer] for states in rounds]
        if final_norm is not None and not is_last:
            with torch.no_grad():
                rounds = [final_norm(states) for states in rounds]
    for index, states in enumerate(rounds):
        if states.ndim != 3 or states.shape[0] != 1:
            raise ShapeError(f"hidden states of round {index} must have shape [1, L, d], got {tuple(states.shape)}")
    return torch.cat([states[0] for states in rounds], dim=0), rounds[0].shape[1]
