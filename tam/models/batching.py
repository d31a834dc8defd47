"""Several chats in one ``generate`` call: collate with left padding, then cut each row out exactly.

Each chat is prepared on its own by its adapter (:meth:`~tam.models.base.ModelAdapter.prepare`),
so its pictures, rendered text and spans are those of a batch of one. :func:`collate`
left-pads the token-aligned inputs (ids, attention mask, token types) to the longest
chat and concatenates the rest (pixels, grids) along their first axis, as the
processors of every supported family do for a batch (indices into a chat's patches, Molmo2's
pooling windows, moved past the patches of the chats before it). After ``generate``,
:func:`split_rows` gives each row its own ids, hidden states and logits: without the
left padding and without what follows the row's end of sequence, so no padding ever
enters a span or a map, and the per-chat explanation runs on each row unchanged.

:func:`fitting_batch_size` keeps a batch within the memory that its hidden states,
logits and key-value cache will take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tam.errors import TAMError
from tam.models.base import PreparedInputs

__all__ = [
    "GeneratedRow",
    "adapter_generation_bytes",
    "collate",
    "fitting_batch_size",
    "free_memory",
    "generation_bytes",
    "split_rows",
]

TOKEN_ALIGNED_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")
"""Processor outputs with one entry per input token, ``(1, L0)``: left-padded in a batch."""

PATCH_INDEX_KEYS = {"image_token_pooling": "pixel_values", "video_token_pooling": "pixel_values_videos"}
"""Processor outputs that index the patches of another output, flattened over all its axes but the last (Molmo2's
pooling windows, ``-1`` for padding): each chat's indices move past the patches of the chats before it."""

MEMORY_SHARE = 0.8
"""Share of the free memory a batch's generation may plan to take (the rest is the model's working room)."""


@dataclass
class GeneratedRow:
    """One chat's part of a batched generation, as a batch of one would have given it.

    Attributes
    ----------
    tokens : ndarray of shape (L0 + N,), int64
        The chat's input ids followed by its ``N`` generated ids, up to and including its
        end-of-sequence token (or ``max_new_tokens`` ids).
    hidden_states : list of tuple of (Tensor or None)
        Per round ``0 .. N - 1`` the tuple of ``n + 1`` layers, each ``[1, L_r, d]``
        (``L_0 = L0``, later ``1``) or None where that layer was not kept.
    logits : list of Tensor of shape (1, V)
        Per round, the scores the round's token was chosen from.
    """

    tokens: np.ndarray
    hidden_states: list
    logits: list


def collate(prepared: Sequence[PreparedInputs], pad_token_id: int):
    """Join the inputs of several prepared chats into one batch, left-padded.

    Parameters
    ----------
    prepared : sequence of PreparedInputs
        Chats prepared by the same adapter, each a batch of one.
    pad_token_id : int
        Id written into the left padding (masked out by the attention mask).

    Returns
    -------
    inputs : transformers.BatchFeature
        ``input_ids`` and the other token-aligned entries of shape ``(B, L)`` with
        ``L = max L0``; every other tensor concatenated along its first axis. A single
        chat's inputs are returned as they are.
    pads : list of int
        Left padding of each row, ``L - L0``.

    Raises
    ------
    TAMError
        If a processor output is neither token-aligned nor a tensor, so it cannot be joined.
    """
    import torch
    from transformers import BatchFeature

    lengths = [int(item.inputs["input_ids"].shape[1]) for item in prepared]
    longest = max(lengths)
    pads = [longest - length for length in lengths]
    if len(prepared) == 1:
        return prepared[0].inputs, pads
    batch = {}
    for key in prepared[0].inputs:
        values = [item.inputs[key] for item in prepared]
        if key in TOKEN_ALIGNED_KEYS:
            fill = pad_token_id if key == "input_ids" else 0
            batch[key] = torch.cat(
                [torch.nn.functional.pad(value, (pad, 0), value=fill) for value, pad in zip(values, pads, strict=True)]
            )
        elif key in PATCH_INDEX_KEYS and all(isinstance(value, torch.Tensor) for value in values):
            patches = [int(np.prod(item.inputs[PATCH_INDEX_KEYS[key]].shape[:-1])) for item in prepared]
            starts = np.cumsum([0, *patches[:-1]])
            batch[key] = torch.cat(
                [
                    torch.where(value >= 0, value + int(start), value)
                    for value, start in zip(values, starts, strict=True)
                ]
            )
        elif all(isinstance(value, torch.Tensor) for value in values):
            frames = {int(value.shape[1]) for value in values if key == "pixel_values_videos" and value.ndim == 5}
            if len(frames) > 1:  # (videos, frames, C, H, W): the model reads every frame, a padded one too
                raise TAMError(
                    f"videos of {sorted(frames)} frames cannot share a batch (pixel_values_videos holds the same "
                    "number of frames per video); explain them one at a time (batch size 1) or give each as many frames"
                )
            batch[key] = torch.cat(_padded_to_one_shape(values))
        else:
            raise TAMError(
                f"cannot batch the processor output {key!r} (a {type(values[0]).__name__}, not a tensor); "
                "explain these chats one at a time (batch size 1)"
            )
    return BatchFeature(batch), pads


def _padded_to_one_shape(values: list) -> list:
    """Zero-pad tensors at the end of each axis but the first to their largest shape, as processors batch pictures.

    Pictures of different sizes (Pixtral's ``pixel_values``, read back with ``image_sizes``) and
    different numbers of tiles (LLaVA-NeXT's patches, zero tiles ignored by ``image_sizes``) are
    padded this way by their own processors when given together.
    """
    import torch

    largest = [max(sizes) for sizes in zip(*(value.shape[1:] for value in values), strict=True)]
    padded = []
    for value in values:
        widths = [
            width for axis in reversed(range(1, value.ndim)) for width in (0, largest[axis - 1] - value.shape[axis])
        ]
        padded.append(torch.nn.functional.pad(value, widths) if any(widths) else value)
    return padded


def split_rows(output, pads: Sequence[int], eos_token_ids: Sequence[int]) -> list[GeneratedRow]:
    """Cut each row's ids, hidden states and logits out of a batched ``generate`` output.

    Parameters
    ----------
    output : transformers.generation.GenerateDecoderOnlyOutput
        ``sequences`` ``(B, L + N)``; ``hidden_states`` per round a tuple of layers
        ``[B, L_r, d]`` (None for a layer not kept); ``logits`` per round ``[B, V]``.
    pads : sequence of int
        Left padding of each row (:func:`collate`).
    eos_token_ids : sequence of int
        The ids that end a sequence; after its first one a row holds only padding.

    Returns
    -------
    list of GeneratedRow
        One per row, in order.
    """
    sequences = output.sequences.detach().cpu().numpy().astype(np.int64)
    input_length = sequences.shape[1] - len(output.hidden_states)
    rows = []
    for row, pad in enumerate(pads):
        generated = sequences[row, input_length:]
        ends = np.flatnonzero(np.isin(generated, np.asarray(eos_token_ids, dtype=np.int64)))
        count = int(ends[0]) + 1 if ends.size else len(generated)
        first = tuple(None if states is None else states[row : row + 1, pad:] for states in output.hidden_states[0])
        later = [
            tuple(None if states is None else states[row : row + 1] for states in round_states)
            for round_states in output.hidden_states[1:count]
        ]
        rows.append(
            GeneratedRow(
                tokens=sequences[row, pad : input_length + count],
                hidden_states=[first, *later],
                logits=[round_logits[row : row + 1] for round_logits in output.logits[:count]],
            )
        )
    return rows


def generation_bytes(
    input_lengths: Sequence[int],
    max_new_tokens: int,
    *,
    hidden_size: int,
    kept_layers: int,
    num_layers: int,
    kv_size: int,
    vocab_size: int,
    itemsize: int,
) -> int:
    """Bytes that a batched generation keeps until it ends: hidden states, logits and key-value cache.

    Parameters
    ----------
    input_lengths : sequence of int
        ``L0`` of each chat (the batch is padded to the longest).
    max_new_tokens : int
    hidden_size : int
        ``d``.
    kept_layers : int
        Hidden-state layers kept per round (1 when only the read layer is kept).
    num_layers : int
        Decoder layers (each caches keys and values).
    kv_size : int
        Width of the cached keys (and of the values) per position and layer.
    vocab_size : int
        ``V``: logits are kept in float32 per round.
    itemsize : int
        Bytes per element of the model's dtype.

    Returns
    -------
    int

    >>> generation_bytes([10, 12], 4, hidden_size=8, kept_layers=1, num_layers=2, kv_size=4, vocab_size=100,
    ...                  itemsize=4)
    6272
    """
    rows, length = len(input_lengths), max(input_lengths) + max_new_tokens
    hidden = rows * length * hidden_size * kept_layers * itemsize
    cache = rows * length * num_layers * 2 * kv_size * itemsize
    logits = rows * max_new_tokens * vocab_size * 4
    return hidden + cache + logits


def adapter_generation_bytes(
    adapter, input_lengths: Sequence[int], max_new_tokens: int, *, kept_layers: int = 1
) -> int:
    """:func:`generation_bytes` of a batch of an adapter's model, keeping ``kept_layers`` layers' hidden states."""
    config = adapter.text_config
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or int(config.hidden_size) // heads)
    return generation_bytes(
        input_lengths,
        max_new_tokens,
        hidden_size=int(config.hidden_size),
        kept_layers=kept_layers,
        num_layers=adapter.num_layers,
        kv_size=int(getattr(config, "num_key_value_heads", None) or heads) * head_dim,
        vocab_size=int(config.vocab_size),
        itemsize=adapter.model.dtype.itemsize,
    )


def fitting_batch_size(bytes_per_batch, size: int, free_bytes: int) -> int:
    """Largest batch size up to ``size`` whose generation fits in :data:`MEMORY_SHARE` of ``free_bytes``.

    Parameters
    ----------
    bytes_per_batch : callable
        ``bytes_per_batch(n) -> int``, what a batch of the first ``n`` chats keeps.
    size : int
        The batch size asked for.
    free_bytes : int
        Memory free on the model's device.

    Returns
    -------
    int
        At least 1 (a single chat is always tried).

    >>> fitting_batch_size(lambda n: 100 * n, 8, 500)
    4
    """
    budget = MEMORY_SHARE * free_bytes
    return max((n for n in range(1, size + 1) if bytes_per_batch(n) <= budget), default=1)


def free_memory(device) -> int:
    """Bytes free on ``device``: the accelerator's free memory, or the machine's available memory."""
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)
