"""Faithfulness, model side: the explained token's probability on perturbed pictures.

:func:`token_scorer` turns pictures into the probability of one explained token: each
picture replaces the chat's image, goes through the model's own processor (the
adapter's :meth:`~tam.models.base.ModelAdapter.prepare`), the generated sequence is
teacher-forced up to the token, and only the last position's logits are computed
(``logits_to_keep=1``), so the score is ``exp(logit - logsumexp(logits))`` without the
logits of any other position. :func:`token_faithfulness` runs the pure curves of
:mod:`tam.metrics.faithfulness` with it; :func:`faithfulness` is the user's entry
(``tam.faithfulness``) for one result and one token.

Cost: ``2 * (steps - 1)`` forward passes of the model per map, plus 2 per token shared
by every map, batched ``batch_size`` pictures at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tam.metrics.faithfulness import (
    FILLS,
    MAX_STEPS,
    RANDOM_ORDER,
    Curves,
    FaithfulnessAccumulator,
    PictureScorer,
    faithfulness_curves,
    pixel_ranking,
    pointing_hit,
    saliency_on_picture,
)

__all__ = [
    "SCORED_TOKENS",
    "FaithfulnessOptions",
    "TokenFaithfulness",
    "faithfulness",
    "faithfulness_methods",
    "score_faithfulness",
    "summarize_faithfulness",
    "token_faithfulness",
    "token_scorer",
]

SCORED_TOKENS = ("nouns", "all")
"""Which answer tokens an evaluation scores for faithfulness: the first token of each noun
matched to a category of the mask (the words Obj-IoU scores), or every answer token."""


@dataclass(frozen=True)
class FaithfulnessOptions:
    """How an evaluation scores faithfulness (``eval.py --faithfulness``).

    Attributes
    ----------
    steps : int
        Curve points at fractions ``k / steps``; a map costs ``2 * (steps - 1)`` forward passes.
    tokens : {"nouns", "all"}
        See :data:`SCORED_TOKENS`.
    fill : {"black", "blur"}
        What removed pixels become.
    batch_size : int
        Pictures per forward pass.
    random_order : bool
        Also score pixels taken in a random order (the chance row, :data:`RANDOM_ORDER`).
    """

    steps: int = 64
    tokens: str = "nouns"
    fill: str = "black"
    batch_size: int = 16
    random_order: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.steps <= MAX_STEPS:  # one step removes all or nothing: the same curve twice
            raise ValueError(
                f"steps must be from 2 to {MAX_STEPS} (tam.metrics.faithfulness.MAX_STEPS), got {self.steps}"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.tokens not in SCORED_TOKENS:
            raise ValueError(f"tokens must be one of {SCORED_TOKENS}, got {self.tokens!r}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {self.fill!r}")


@dataclass(frozen=True)
class TokenFaithfulness:
    """The faithfulness of one map of one token.

    Attributes
    ----------
    curves : Curves
        Deletion and insertion curves (``steps + 1`` probabilities each).
    hit : bool or None
        The pointing game; None when no object mask was given.
    """

    curves: Curves
    hit: bool | None

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve: lower is more faithful."""
        return self.curves.deletion_auc

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve: higher is more faithful."""
        return self.curves.insertion_auc


def token_faithfulness(
    scorer: PictureScorer,
    picture: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    target: np.ndarray | None = None,
    steps: int = 64,
    fill: str = "black",
    batch_size: int = 16,
    rng: np.random.Generator | None = None,
) -> dict[str, TokenFaithfulness]:
    """Score several maps of one token: deletion, insertion and the pointing game.

    Parameters
    ----------
    scorer : callable
        ``scorer(pictures (B, H, W, 3) uint8) -> probabilities (B,)`` of the token
        (:func:`token_scorer`, or any model behind the same interface).
    picture : ndarray of shape (H, W, 3), uint8 RGB
    maps : mapping of str to ndarray of shape (h, w)
        Each method's map of the token; :data:`~tam.metrics.faithfulness.RANDOM_ORDER`
        may name a map of None: pixels in a random order, drawn from ``rng``.
    target : ndarray of shape (H, W), bool, optional
        The object the token names, for the pointing game.
    steps, fill, batch_size
        As :func:`tam.metrics.faithfulness.faithfulness_curves`.
    rng : numpy.random.Generator, optional
        For the random order (seed 0 when None).

    Returns
    -------
    dict of str to TokenFaithfulness
        In the order of ``maps``.
    """
    size = np.shape(picture)[:2]
    if target is not None and np.shape(target) != size:
        raise ValueError(f"target must have the picture's size {size}, got shape {np.shape(target)}")
    rng = np.random.default_rng(0) if rng is None else rng
    saliencies = {
        name: rng.random(size) if name == RANDOM_ORDER and token_map is None else saliency_on_picture(token_map, size)
        for name, token_map in maps.items()
    }
    rankings = {name: pixel_ranking(saliency) for name, saliency in saliencies.items()}
    curves = faithfulness_curves(scorer, picture, rankings, steps=steps, fill=fill, batch_size=batch_size)
    return {
        name: TokenFaithfulness(curves[name], None if target is None else pointing_hit(saliencies[name], target))
        for name in maps
    }


def token_scorer(model, processor, messages: list[dict], result, index: int) -> PictureScorer:
    """Return the probability of explained token ``index`` of ``result`` as a function of the chat's picture.

    Parameters
    ----------
    model, processor
        The model that made ``result`` and its processor.
    messages : list of dict
        The chat that made ``result``, with exactly one image.
    result : TokenActivationResult
    index : int
        Explained token, prompt or answer.

    Returns
    -------
    callable
        ``scorer(pictures (B, H, W, 3) uint8) -> ndarray (B,) float64``: each picture
        replaces the chat's image; the sequence is teacher-forced up to the token.

    Raises
    ------
    UnsupportedInputError
        If the chat holds a video or several pictures (not supported yet).
    """
    import torch
    from PIL import Image

    from tam.models.registry import adapter_for

    adapter = adapter_for(model, processor, result.options.get("preprocessing"))  # as the result was made
    image_entry = _single_image(messages)
    if not -len(result) <= index < len(result):
        raise IndexError(f"index {index} is out of range for a result of {len(result)} explained tokens")
    index %= len(result)
    position, token_id = int(result.positions[index]), int(result.token_ids[index])
    answer_positions = result.positions[result.answer_slice]
    answer_ids = torch.as_tensor(result.token_ids[result.answer_slice], dtype=torch.long)
    input_length = int(answer_positions[0]) if len(answer_positions) else None

    def prepare(picture: np.ndarray):
        chat = _replace_entry(messages, image_entry, {**image_entry, "image": Image.fromarray(picture)})
        inputs = adapter.prepare(chat).inputs
        ids = inputs["input_ids"]
        if input_length is not None and ids.shape[1] != input_length:
            raise ValueError(
                f"the perturbed picture gives an input of {ids.shape[1]} tokens, the explained generation "
                f"had {input_length}; faithfulness needs pictures of the original size"
            )
        return {key: _teacher_forced(key, value, ids.shape, answer_ids, position) for key, value in inputs.items()}

    def scorer(pictures: np.ndarray) -> np.ndarray:
        prepared = [prepare(picture) for picture in pictures]
        batch = {key: torch.cat([inputs[key] for inputs in prepared]) for key in prepared[0]}
        batch = {
            key: value.to(model.device, dtype=model.dtype if value.is_floating_point() else value.dtype)
            for key, value in batch.items()
        }
        with torch.inference_mode():
            logits = adapter.forward(**batch, logits_to_keep=1).logits[:, -1].float()
        return (logits[:, token_id] - torch.logsumexp(logits, dim=-1)).exp().cpu().numpy().astype(np.float64)

    return scorer


def faithfulness(
    model,
    processor,
    messages: list[dict],
    result,
    index: int,
    *,
    methods: Sequence[str] = ("tam",),
    target: np.ndarray | None = None,
    steps: int = 64,
    fill: str = "black",
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, TokenFaithfulness]:
    """Score how faithful each method's map of one explained token is (``tam.faithfulness``).

    Deletion and insertion curves of the token's probability as the picture loses, or
    regains, its pixels in each map's order (:mod:`tam.metrics.faithfulness`), and the
    pointing game when the object's mask is given. Costs ``2 * (steps - 1)`` forward
    passes per method plus 2.

    Parameters
    ----------
    model, processor
        The model that made ``result`` and its processor.
    messages : list of dict
        The chat that made ``result`` (``tam.explain``'s), with exactly one image.
    result : TokenActivationResult
    index : int
        Explained token (prompt tokens first, then the answer; negative counts from the end).
    methods : sequence of str
        Map methods of the result (``result.maps(name)``), and ``"random-order"`` for
        pixels in a random order (the chance row).
    target : ndarray of shape (H, W), bool, optional
        Mask of the object the token names, at the picture's size, for the pointing game.
    steps : int
        Curve points are the fractions ``k / steps``.
    fill : {"black", "blur"}
        What removed pixels become.
    batch_size : int
        Pictures per forward pass.
    seed : int
        Seed of the random order.
    progress : bool
        Count the pictures scored on a tqdm bar on stderr (``2 + 2 * (steps - 1)`` per method).

    Returns
    -------
    dict of str to TokenFaithfulness
        Per method: ``.curves``, ``.deletion_auc`` (lower is better), ``.insertion_auc``
        (higher is better) and ``.hit``.

    Raises
    ------
    UnsupportedInputError
        If the chat holds a video or several pictures (not supported yet).

    Examples
    --------
    >>> result = tam.explain(model, processor, messages)  # doctest: +SKIP
    >>> scores = tam.faithfulness(model, processor, messages, result, -2, methods=["tam", "raw"])  # doctest: +SKIP
    >>> scores["tam"].insertion_auc  # doctest: +SKIP
    """
    from tam.models.base import load_images

    if result.layout.num_pictures != 1:
        raise ValueError(f"faithfulness scores a result of one picture, got {result.layout.num_pictures}")
    scorer = token_scorer(model, processor, messages, result, index)
    picture = np.asarray(load_images(messages)[0], dtype=np.uint8)
    # the map in the picture's frame (a grid covering the whole picture stays a grid, resized as before)
    maps = {
        name: None if name == RANDOM_ORDER else result.layout.picture_maps(result.maps(name)[index])[0]
        for name in methods
    }
    with contextlib.ExitStack() as stack:
        if progress:
            scorer = _counted(scorer, 2 + 2 * (steps - 1) * len(maps), stack)
        return token_faithfulness(
            scorer,
            picture,
            maps,
            target=target,
            steps=steps,
            fill=fill,
            batch_size=batch_size,
            rng=np.random.default_rng(seed),
        )


def _counted(scorer: PictureScorer, total: int, stack: contextlib.ExitStack) -> PictureScorer:
    """Wrap ``scorer`` so that each picture it scores moves a tqdm bar of ``total`` (closed with ``stack``)."""
    from tqdm.auto import tqdm

    bar = stack.enter_context(tqdm(total=total, desc="faithfulness", unit="picture", leave=False))

    def scored(pictures):
        scores = scorer(pictures)
        bar.update(len(pictures))
        return scores

    return scored


def _teacher_forced(key: str, value, input_shape, answer_ids, position: int):
    """Continue a per-token input over the generated answer and cut it before the explained token."""
    import torch

    if tuple(value.shape) != tuple(input_shape):
        return value  # pixels and grids belong to the picture, not to the tokens
    # the answer's tokens are text: attended to, token type 0
    continuation = answer_ids if key == "input_ids" else torch.full_like(answer_ids, int(key == "attention_mask"))
    return torch.cat([value, continuation[None].to(value.dtype)], dim=1)[:, :position]


def _single_image(messages: list[dict]) -> dict:
    from tam.models.base import UnsupportedInputError, item_kind, vision_items

    items = vision_items(messages)
    if len(items) != 1 or item_kind(items[0]) != "image":
        kinds = [item_kind(item) for item in items]
        raise UnsupportedInputError(
            f"faithfulness scoring takes a chat with exactly one image, got {kinds}; "
            "videos and several pictures are not supported yet"
        )
    return items[0]


def _replace_entry(messages: list[dict], old: dict, new: dict) -> list[dict]:
    """Return a copy of the chat with content entry ``old`` (by identity) replaced by ``new``."""
    return [
        {**message, "content": [new if item is old else item for item in message["content"]]}
        if isinstance(message.get("content"), list)
        else message
        for message in messages
    ]


def faithfulness_methods(methods: Sequence[str], options: FaithfulnessOptions) -> list[str]:
    """Return the rows of the faithfulness columns: the map methods among ``methods``, then the random order.

    Maps made from the mask (chance and ceiling, :class:`tam.methods.MaskMethod`) are not
    scored for faithfulness; the random order is the chance row there.
    """
    from tam.methods import MaskMethod, get_method

    chosen = [method for method in methods if not isinstance(get_method(method), MaskMethod)]
    return chosen + ([RANDOM_ORDER] if options.random_order else [])


def score_faithfulness(
    sample,
    explanation,
    mask: np.ndarray,
    methods: Sequence[str],
    options: FaithfulnessOptions,
    *,
    category_rule: str = "whole-name",
) -> dict:
    """Score the faithfulness of each method's maps of one sample's answer.

    The maps are those plausibility scores (:func:`~tam.evaluation.scoring.answer_token_maps`);
    the picture is the sample's image, at its own size (the mask's).

    Parameters
    ----------
    sample : Sample
    explanation : Explanation
        With a ``token_scorer``.
    mask : ndarray of shape (H, W), uint8
    methods : sequence of str
        :func:`faithfulness_methods`.
    options : FaithfulnessOptions
    category_rule : {"whole-name", "reference"}

    Returns
    -------
    dict
        ``{"tokens": [answer token index, ...], "labels": [mask label or None, ...],
        "methods": {method: {"deletion": [curve, ...], "insertion": [curve, ...],
        "hits": [bool or None, ...]}}}``, one entry per scored token; curves rounded to
        6 decimals.
    """
    from tam.evaluation.scoring import SampleError, answer_token_maps, answer_words
    from tam.images import load_image

    if explanation.token_scorer is None:
        raise SampleError("the explainer gives no token_scorer, which faithfulness scoring needs")
    result = explanation.result
    picture = np.asarray(load_image(sample.image), dtype=np.uint8)
    if picture.shape[:2] != mask.shape:
        raise SampleError(f"the image is {picture.shape[:2]} pixels but its mask {mask.shape}; they must match")
    words, kinds, labels = answer_words(result, sample, category_rule)
    present = set(np.unique(mask).tolist())
    if options.tokens == "nouns":
        scored = [
            (word.tokens[0], label)
            for word, kind, label in zip(words, kinds, labels, strict=True)
            if kind == "noun" and label in present
        ]
    else:
        token_labels = {token: label for word, label in zip(words, labels, strict=True) for token in word.tokens}
        scored = [(token, label if label in present else None) for token, label in sorted(token_labels.items())]
    maps = {method: answer_token_maps(result, method) for method in methods if method != RANDOM_ORDER}
    figures = {method: {"deletion": [], "insertion": [], "hits": []} for method in methods}
    for token, label in scored:
        scores = token_faithfulness(
            explanation.token_scorer(result.answer_slice.start + token),
            picture,
            {method: maps[method][token] if method in maps else None for method in methods},
            target=None if label is None else mask == label,
            steps=options.steps,
            fill=options.fill,
            batch_size=options.batch_size,
            rng=np.random.default_rng([sample.index, token]),
        )
        for method, score in scores.items():
            figures[method]["deletion"].append(np.round(score.curves.deletion, 6).tolist())
            figures[method]["insertion"].append(np.round(score.curves.insertion, 6).tolist())
            figures[method]["hits"].append(score.hit)
    return {"tokens": [token for token, _ in scored], "labels": [label for _, label in scored], "methods": figures}


def summarize_faithfulness(records: Sequence[dict], methods: Sequence[str]) -> dict:
    """Pool the faithfulness of every scored token of every record, per method.

    Returns
    -------
    dict of str to dict
        :meth:`tam.metrics.faithfulness.FaithfulnessAccumulator.summary` per method.
    """
    pooled = {method: FaithfulnessAccumulator() for method in methods}
    for record in records:
        if "error" in record:
            continue
        for method in methods:
            figures = record["faithfulness"]["methods"][method]
            tokens = zip(figures["deletion"], figures["insertion"], figures["hits"], strict=True)
            for deletion, insertion, hit in tokens:
                pooled[method].update(deletion, insertion, hit)
    return {method: accumulator.summary() for method, accumulator in pooled.items()}
