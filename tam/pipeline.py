"""Explain a whole generation at once: the efficient entry point of tam.

Pipeline: spans -> activation scores (only the explained classes' ``lm_head`` rows) ->
estimated causal inference -> joint normalisation -> rank Gaussian filter -> one
:class:`~tam.result.TokenActivationResult`.

Every explained token's map depends only on the hidden states and on the raw maps of
earlier tokens, so all tokens are computed together: one matrix product for the
scores, one for the interference maps, one batched filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tam._threads import single_threaded
from tam.causal import estimated_causal_inference
from tam.errors import NonFiniteError, ShapeError, SpanError, VocabularyError
from tam.images import load_image
from tam.layout import VisionLayout
from tam.result import Candidates, TokenActivationResult
from tam.scores import DEFAULT_VOCAB_CHUNK, ClassifierHead, select_hidden_states
from tam.spans import TokenSpans, locate_spans

__all__ = ["ROUND0_MODES", "explain_generation"]

ROUND0_MODES = ("own", "reference")
"""How the first prompt token and the first answer token choose their class.

``"own"`` (default): every token is explained with its own id.
``"reference"``: as the reference release does (spec section 3): the first prompt token
with the greedy (argmax) prediction at its position, the first answer token with the
id of the last input token. Reproducing the paper's table needs this mode.
"""


@single_threaded
def explain_generation(
    tokens,
    hidden_states,
    lm_head,
    special_ids: dict | TokenSpans,
    vision_shape,
    *,
    layer: int = -1,
    final_norm=None,
    bias: torch.Tensor | None = None,
    logits: Sequence[torch.Tensor] | None = None,
    tokenizer=None,
    images: Sequence[np.ndarray] | None = None,
    round0: str = "own",
    filter_size: int = 3,
    vocab_chunk: int = DEFAULT_VOCAB_CHUNK,
) -> TokenActivationResult:
    """Token activation maps of every prompt and answer token of one generation.

    Parameters
    ----------
    tokens : list of int or Tensor of shape (L,) or (1, L)
        The full id sequence: input followed by the ``N`` generated ids.
    hidden_states : sequence of Tensor or of tuples of Tensor, or Tensor
        Hidden states as ``generate(..., output_hidden_states=True,
        return_dict_in_generate=True).hidden_states`` gives them: per round either the
        tuple of all layers (``layer`` picks one) or just the last layer, ``[1, L0, d]``
        for the first round and ``[1, 1, d]`` for the others. A single ``[L - 1, d]``
        tensor of all positions is accepted too.
    lm_head : nn.Linear, Tensor of shape (V, d) or ClassifierHead
        The output projection (a weight tensor may come with ``bias``); a
        :class:`~tam.scores.ClassifierHead` carries the model's final-logit softcap too
        (model adapters pass ``adapter.classifier``).
    special_ids : dict or TokenSpans
        Marker ids in the reference release's format (see :mod:`tam.spans`), or spans
        already found (model adapters pass these).
    vision_shape : (h, w), (t, h, w), list of (h, w), or VisionLayout
        Grid of the vision tokens after the model's merging (see :mod:`tam.layout`), or
        a layout of tiles placed on the pictures (model adapters give one).
    layer : int, default -1
        Decoder layer whose states are read, with per-round tuples of all layers.
    final_norm : callable, optional
        The model's final norm, applied when ``layer`` is not the last (logit lens).
    bias : Tensor of shape (V,), optional
        Bias of ``lm_head`` when a weight tensor is given.
    logits : sequence of Tensor of shape (1, V), optional
        ``generate(..., output_logits=True).logits``: the top-3 candidates of the answer
        tokens are read from them. Without them, candidates are computed when first
        asked for, from the hidden states, in vocabulary chunks of ``vocab_chunk`` rows.
    tokenizer : optional
        Used only to fill ``result.texts`` (decoded) and ``result.pieces`` (raw pieces).
    images : sequence of ndarray of shape (H, W, 3), uint8 RGB, optional
        The user's pictures, for visuals and picture maps: one per image or video slice
        (with a ``vision_shape`` of grids alone, one per grid, each grid covering it). Any
        picture :func:`tam.images.load_image` reads is taken too (a PIL image, a grey or
        float array, a torch tensor) and converted to that.
    round0 : {"own", "reference"}, default "own"
        Class of the first prompt token and first answer token (see ``ROUND0_MODES``).
    filter_size : int, default 3
        Window of the rank Gaussian filter.
    vocab_chunk : int
        Vocabulary rows per chunk when candidates are computed.

    Returns
    -------
    TokenActivationResult
        Maps of the ``P`` prompt tokens then the ``N`` answer tokens.

    Raises
    ------
    SpanError
        A marker is missing or the answer is empty.
    ShapeError
        ``vision_shape`` does not match the vision span, the hidden size does not match
        ``lm_head``, the hidden states do not cover the sequence, or the images do not
        match the grids in number.
    ImageFileError
        An image is of a type, shape or dtype :func:`tam.images.load_image` refuses.
    NonFiniteError
        A hidden state holds NaN or infinity (the first such token position is named).
    VocabularyError
        An explained token's id is outside ``lm_head``'s vocabulary (its position is named).
    """
    if round0 not in ROUND0_MODES:
        raise ValueError(f"round0 must be one of {ROUND0_MODES}, got {round0!r}")
    ids = _as_ids(tokens)
    head = ClassifierHead.from_lm_head(lm_head, bias)
    hidden, input_length = select_hidden_states(hidden_states, layer, final_norm)
    if hidden.shape[-1] != head.hidden_size:
        raise ShapeError(f"hidden size {hidden.shape[-1]} does not match lm_head, which reads {head.hidden_size}")
    if hidden.shape[0] not in (len(ids) - 1, len(ids)):
        raise ShapeError(
            f"hidden states cover {hidden.shape[0]} positions, but the sequence has {len(ids)} tokens "
            f"(expected {len(ids) - 1}: every position but the last)"
        )

    spans = special_ids if isinstance(special_ids, TokenSpans) else locate_spans(ids, special_ids)
    layout = VisionLayout.from_shape(vision_shape)
    images = _check_images(images, layout)
    if images is not None and not layout.picture_sizes:
        layout = layout.with_pictures([image.shape[:2] for image in images])
    _check_spans(spans, layout, len(ids), input_length)
    _check_finite(hidden, ids)

    answer_positions = np.arange(spans.answer_start, _answer_end(spans, len(ids)))
    positions = np.concatenate([spans.prompt, answer_positions])
    num_prompt = len(spans.prompt)
    token_ids = ids[positions]
    class_ids = token_ids.copy()
    if round0 == "reference":
        if num_prompt:
            _, greedy, _ = head.top_k(hidden[spans.prompt[:1]], k=1, chunk_size=vocab_chunk)
            class_ids[0] = greedy[0, 0]
        class_ids[num_prompt] = ids[spans.answer_start - 1]

    _check_vocabulary(class_ids, positions, head.vocab_size)

    # Context slot of explained token j: its own position for prompt tokens (as the
    # reference reads them), the position that predicted it for answer tokens.
    slots = np.concatenate([spans.prompt, answer_positions - 1])
    unique_classes, class_column = np.unique(class_ids, return_inverse=True)
    activations = np.maximum(head.activations(hidden, unique_classes), 0.0)
    raw_maps = activations[spans.vision][:, class_column].T
    context_scores = activations[slots][:, class_column].T

    count = len(positions)
    earlier = np.tri(count, count, -1, dtype=bool)
    differs = token_ids[None, :] != token_ids[:, None]
    context_mask = earlier.copy()
    context_mask[:num_prompt, :num_prompt] = True
    eci_maps, _ = estimated_causal_inference(raw_maps, raw_maps, context_scores, earlier & differs)

    result = TokenActivationResult(
        token_ids=token_ids,
        class_ids=class_ids,
        positions=positions,
        num_prompt_tokens=num_prompt,
        layout=layout,
        raw_maps=raw_maps.astype(np.float32),
        eci_maps=eci_maps.astype(np.float32),
        context_scores=context_scores.astype(np.float32),
        context_mask=context_mask,
        texts=None if tokenizer is None else [tokenizer.decode([int(t)]) for t in token_ids],
        pieces=None if tokenizer is None else list(tokenizer.convert_ids_to_tokens(token_ids.tolist())),
        images=images,
        options={"layer": layer, "round0": round0, "filter_size": filter_size},
        candidate_source=_candidate_source(head, hidden, positions - 1, num_prompt, logits, vocab_chunk),
    )
    result.maps("tam")
    return result


def _as_ids(tokens) -> np.ndarray:
    ids = tokens.detach().cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)
    if ids.ndim == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ShapeError(f"tokens must be a 1-D sequence of ints (or [1, L]), got shape {ids.shape}, dtype {ids.dtype}")
    return ids.astype(np.int64)


def _check_spans(spans: TokenSpans, layout: VisionLayout, length: int, input_length: int | None) -> None:
    if len(spans.vision) != layout.num_tokens:
        raise ShapeError(
            f"the vision span holds {len(spans.vision)} tokens, but vision_shape {layout.shape} "
            f"needs {layout.num_tokens}"
        )
    if spans.answer_end is not None and spans.answer_end > length:
        raise SpanError(f"the answer ends at position {spans.answer_end}, past the sequence's {length} tokens")
    if spans.answer_start >= _answer_end(spans, length):
        raise SpanError(
            f"the answer is empty: the answer starts at position {spans.answer_start} "
            f"and ends at {_answer_end(spans, length)} (the sequence has {length} tokens)"
        )
    if input_length is not None and spans.answer_start != input_length:
        raise SpanError(
            f"the answer marker puts the answer at position {spans.answer_start}, "
            f"but the generation's input has {input_length} positions"
        )


def _check_finite(hidden: torch.Tensor, ids: np.ndarray) -> None:
    """Raise :class:`NonFiniteError` naming the first position whose hidden state holds NaN or infinity."""
    finite = torch.isfinite(hidden).all(dim=-1)
    if not bool(finite.all()):
        position = int(torch.nonzero(~finite)[0, 0])
        raise NonFiniteError(
            f"the hidden state at token position {position} (id {int(ids[position])}) holds NaN or infinity; "
            f"{int((~finite).sum())} of {len(finite)} positions do. The model overflowed: try float32 or bfloat16 "
            "instead of float16, or another layer"
        )


def _check_vocabulary(class_ids: np.ndarray, positions: np.ndarray, vocab_size: int) -> None:
    """Raise :class:`VocabularyError` naming the first explained token whose class has no ``lm_head`` row."""
    outside = np.flatnonzero((class_ids < 0) | (class_ids >= vocab_size))
    if outside.size:
        first = outside[0]
        raise VocabularyError(
            f"token id {int(class_ids[first])} at token position {int(positions[first])} is outside the vocabulary "
            f"of lm_head (ids 0 to {vocab_size - 1}); the tokens and lm_head come from different models"
        )


def _answer_end(spans: TokenSpans, length: int) -> int:
    return length if spans.answer_end is None else spans.answer_end


def _check_images(images, layout: VisionLayout) -> list[np.ndarray] | None:
    if images is None:
        return None
    images = list(images)
    if len(images) != layout.num_pictures:
        raise ShapeError(f"got {len(images)} images for the {layout.num_pictures} pictures of layout {layout.shape}")
    # any picture tam.images reads (PIL, grey, float, a tensor) becomes the (H, W, 3) uint8 RGB the visuals draw on
    images = [np.asarray(load_image(image)) for image in images]
    sizes = [image.shape[:2] for image in images]
    if layout.picture_sizes and sizes != list(layout.picture_sizes):
        raise ShapeError(f"the images' sizes {sizes} differ from the layout's pictures {list(layout.picture_sizes)}")
    return images


def _candidate_source(head, hidden, predicting, num_prompt, logits, vocab_chunk):
    """Build the closure that computes the top-3 candidates at each predicting position."""

    def compute() -> Candidates:
        ids = np.zeros((len(predicting), 3), dtype=np.int64)
        probabilities = np.zeros((len(predicting), 3), dtype=np.float32)
        from_hidden = np.arange(len(predicting)) if logits is None else np.arange(num_prompt)
        # A prompt token at position 0 has no predicting position.
        from_hidden = from_hidden[predicting[from_hidden] >= 0]
        if len(from_hidden):
            values, top, log_z = head.top_k(hidden[predicting[from_hidden]], k=3, chunk_size=vocab_chunk)
            ids[from_hidden], probabilities[from_hidden] = top, np.exp(values - log_z[:, None])
        if logits is not None:
            answer_logits = torch.cat([round_logits.reshape(1, -1) for round_logits in logits]).float()
            log_probs = torch.log_softmax(answer_logits, dim=-1)
            values, top = log_probs.topk(3, dim=-1)
            count = len(predicting) - num_prompt
            ids[num_prompt:], probabilities[num_prompt:] = top[:count].cpu().numpy(), values[:count].exp().cpu().numpy()
        return Candidates(ids=ids, probabilities=probabilities)

    return compute
