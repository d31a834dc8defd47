"""``tam.explain``: generate an answer and explain every token of it, for any supported model.

One chat or several: several chats are generated together in batches (left-padded, one
``generate`` call per batch, :mod:`tam.models.batching`) and each row is then explained
exactly as a batch of one, from its own ids and hidden states.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from tam.errors import TAMError
from tam.models.base import ModelAdapter, NoAnswerError, PreparedInputs, UnsupportedInputError
from tam.models.chats import check_chat
from tam.models.registry import adapter_for

__all__ = ["MAX_NEW_TOKENS", "explain", "explain_chats", "explains_end_of_turn"]

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 2048
"""Longest answer :func:`explain` generates. Every round's hidden states (of the layer
read, or of every layer when a method reads others) and its logits are kept until the maps
are made: up to about 0.7 MB per answer token for Qwen2-VL-2B (29 x 1536 bfloat16 states,
151k float32 logits), so 2048 tokens hold up to about 1.4 GB per chat; a larger value is
almost surely a typo that would run until memory runs out."""

PROGRESS_DELAY_SECONDS = 2.0
"""The generation progress bar shows only once generating has taken this long."""


def explain(
    model,
    processor,
    messages: list[dict] | Sequence[list[dict]],
    *,
    max_new_tokens: int = 64,
    layer: int = -1,
    round0: str = "own",
    methods: Sequence[str] = (),
    generate_kwargs: dict | None = None,
    progress: bool = False,
    explain_end_of_turn: bool | None = None,
    batch_size: int | None = None,
    processor_kwargs: dict | None = None,
):
    """Generate an answer to a chat (or to each of several chats) and return the token activation maps of it.

    The model's adapter (see :mod:`tam.models`) prepares the inputs, finds the vision,
    prompt and answer spans and the vision grid; :func:`tam.explain_generation` does
    the rest.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        One of the supported classes (:func:`tam.models.supported_classes`).
    processor : transformers.ProcessorMixin
        The model's processor.
    messages : list of dict
        The chat, as for ``processor.apply_chat_template``: content entries
        ``{"type": "image", "image": path or PIL.Image}``, ``{"type": "video", "video":
        list of frame paths or a video file}`` (Qwen-VL families) and ``{"type": "text",
        "text": ...}``. The user's last text is explained as the prompt. A list of chats
        is generated in batches and gives one result per chat, each equal to the chat's
        own (the same answer; maps within one grey level).
    max_new_tokens : int, default 64
        At most this many answer tokens, from 1 to :data:`MAX_NEW_TOKENS`.
    layer : int, default -1
        Decoder layer whose hidden states are read: ``0`` is the embeddings, ``n`` (or
        ``-1``) the last layer; earlier layers go through the final norm (logit lens).
        Only this layer's hidden states are kept during generation (every layer's when a
        method such as ``lens@L`` reads others).
    round0 : {"own", "reference"}, default "own"
        See :data:`tam.ROUND0_MODES`.
    methods : sequence of str, optional
        Map methods computed from the model beside TAM and its ablations, e.g.
        ``["attention", "gradcam", "lens@4"]`` (:mod:`tam.methods`, docs/methods.md);
        their maps are in ``result.maps(name)`` and saved with the result.
    generate_kwargs : dict, optional
        Settings that replace the checkpoint's own ``generation_config`` (its end-of-turn
        ids, repetition penalty...) and more arguments for ``model.generate``; decoding is
        greedy unless ``do_sample=True`` is given. The settings used are in
        ``result.options["generation"]``.
    explain_end_of_turn : bool, optional
        Explain the end-of-turn and padding tokens that close the answer (``<|im_end|>``,
        ``</s>``). By default only with ``round0="reference"``, as the reference release
        does; a reader does not see them and their maps explain nothing.
    progress : bool, default False
        Show the tokens generated so far on stderr (tqdm), once generating takes longer
        than :data:`PROGRESS_DELAY_SECONDS`: one bar per ``generate`` call, counting the
        rounds (one token of every chat of the batch each).
    batch_size : int, optional
        Chats per ``generate`` call when a list of chats is given (default: all of them);
        a batch whose generation would not fit in memory is split.
    processor_kwargs : dict, optional
        Settings of every processor call: tiles on or off (``crop_to_patches``),
        ``max_patches``, ``min_pixels`` / ``max_pixels``... The maps are laid out under
        them; they are kept in ``result.options["preprocessing"]``.

    Returns
    -------
    TokenActivationResult, or list of TokenActivationResult
        Maps of the prompt tokens then the answer tokens, with the pictures behind the
        grids; a list, in order, for a list of chats.

    Raises
    ------
    ValueError
        If ``max_new_tokens`` is not in 1 .. :data:`MAX_NEW_TOKENS`, ``batch_size`` < 1 or
        ``layer`` is out of range (checked before generating).
    UnknownMethodError, UnavailableMethodError
        If a name in ``methods`` is not a registered method, not one computed from the
        model, or one this model cannot give (checked before generating where possible).
    UnsupportedModelError
        If the model's class has no adapter.
    UnsupportedInputError
        If the chat has a video and the family takes images only.
    ChatError
        If a chat entry is of the wrong type, a URL or an ``image_url`` (nothing is fetched
        from the network), or the chat is over a limit (:mod:`tam.models.chats`).
    ChatTemplateError
        If the processor's chat template renders no text or no vision placeholders for the chat.
    NoAnswerError
        If the model answered with end-of-turn or padding tokens only.
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        check_chat(messages)  # raises, naming the argument
    one_chat = not isinstance(messages[0], (list, tuple))  # a list of chats holds lists
    chats = [messages] if one_chat else list(messages)
    outcomes = explain_chats(
        model,
        processor,
        chats,
        max_new_tokens=max_new_tokens,
        layer=layer,
        round0=round0,
        methods=methods,
        generate_kwargs=generate_kwargs,
        progress=progress,
        explain_end_of_turn=explain_end_of_turn,
        batch_size=max(len(chats), 1) if batch_size is None else batch_size,
        processor_kwargs=processor_kwargs,
    )
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes[0] if one_chat else outcomes


def explain_chats(
    model,
    processor,
    chats: Sequence[list[dict]],
    *,
    max_new_tokens: int = 64,
    layer: int = -1,
    round0: str = "own",
    methods: Sequence[str] = (),
    generate_kwargs: dict | None = None,
    progress: bool = False,
    explain_end_of_turn: bool | None = None,
    batch_size: int = 1,
    processor_kwargs: dict | None = None,
) -> list:
    """Explain several chats in batches; a chat that fails gives its exception instead of a result.

    The arguments are those of :func:`explain`; ``batch_size`` chats share one
    ``generate`` call (fewer where memory is short: a batch whose hidden states, logits
    and cache would not fit in the free memory is split beforehand, and one that runs out
    of accelerator memory is split and tried again). A chat whose inputs cannot be
    prepared, or whose answer cannot be explained, fails alone (its ``OSError`` or
    ``ValueError``, e.g. a :class:`~tam.errors.TAMError`); another ``RuntimeError`` of
    ``generate`` fails every chat of its batch.

    Returns
    -------
    list of (TokenActivationResult or Exception)
        One per chat, in order.

    Raises
    ------
    ValueError
        Bad ``max_new_tokens``, ``batch_size``, ``layer`` or ``methods``, before anything is generated.
    """
    if not 1 <= int(max_new_tokens) <= MAX_NEW_TOKENS:
        raise ValueError(
            f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS} (tam.models.explain.MAX_NEW_TOKENS: the states "
            f"of every generated token are kept), got {max_new_tokens}"
        )
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    adapter = adapter_for(model, processor, processor_kwargs)
    check_layer(layer, adapter.num_layers, adapter.family)
    depth = adapter.num_layers + 1
    extra = model_methods(methods, adapter)
    # only the layer read is kept, unless a method reads others (the logit lens)
    kept_layer = None if any("hidden_states" in method.needs for method in extra) else layer % depth - depth
    generate_kwargs = dict(generate_kwargs or {})
    config, _ = adapter.generation_config(int(max_new_tokens), **generate_kwargs)
    end_of_turn = explains_end_of_turn(round0, explain_end_of_turn)
    row_options = {
        "layer": layer,
        "round0": round0,
        "extra": extra,
        "closing_ids": () if end_of_turn else adapter.closing_token_ids(config),
        "options": {
            "generation": adapter.generation_settings(config),
            "explain_end_of_turn": end_of_turn,
            "preprocessing": dict(processor_kwargs or {}),
        },
    }
    outcomes: list = [None] * len(chats)
    for start in range(0, len(chats), int(batch_size)):
        indices = range(start, min(start + int(batch_size), len(chats)))
        prepared = {}
        for index in indices:
            try:
                check_chat(chats[index], "messages" if len(chats) == 1 else f"messages[{index}]")
                prepared[index] = adapter.prepare(chats[index])
            except (OSError, TAMError) as error:
                outcomes[index] = error
            except (ValueError, AssertionError) as error:  # the processor's own refusal (qwen-vl-utils asserts)
                given = f" with the processor options {adapter.processor_options}" if adapter.processor_options else ""
                name = type(adapter.processor).__name__
                outcomes[index] = UnsupportedInputError(
                    f"{name} cannot take this chat{given}: {type(error).__name__}: {error}"
                )
        groups = [
            [ready[position] for position in group]
            for ready in _same_inputs(prepared)
            for group in _fitting_groups(adapter, [prepared[index] for index in ready], int(max_new_tokens), kept_layer)
        ]
        for group_indices in groups:
            options = dict(generate_kwargs)
            if progress:
                options.setdefault("streamer", GenerationProgress(int(max_new_tokens), len(group_indices)))
            rows = _generate_rows(
                adapter, [prepared[index] for index in group_indices], int(max_new_tokens), kept_layer, options, config
            )
            for index, row in zip(group_indices, rows, strict=True):
                outcomes[index] = row  # the generation's error, unless the row is explained below
                if not isinstance(row, Exception):
                    try:
                        outcomes[index] = _explain_row(adapter, prepared[index], chats[index], row, **row_options)
                    except (OSError, ValueError) as error:
                        outcomes[index] = error
    return outcomes


def check_layer(layer: int, num_layers: int, model: str) -> None:
    """Raise :class:`~tam.errors.TAMError` unless ``layer`` names one of the hidden states of ``num_layers`` layers.

    >>> check_layer(-1, 2, "m")
    >>> check_layer(3, 2, "m")
    Traceback (most recent call last):
    ...
    tam.errors.TAMError: layer 3 is out of range: m has 2 decoder layers, so layer must be between -3 and 2 \
(0 is the embeddings, -1 the last layer)
    """
    depth = num_layers + 1
    if not -depth <= layer < depth:
        raise TAMError(
            f"layer {layer} is out of range: {model} has {num_layers} decoder layers, "
            f"so layer must be between {-depth} and {depth - 1} (0 is the embeddings, -1 the last layer)"
        )


def _same_inputs(prepared: dict[int, PreparedInputs]) -> list[list[int]]:
    """Group the chats' indices by the processor outputs they have (images, videos, both): only those batch together."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, item in prepared.items():
        groups.setdefault(tuple(sorted(item.inputs.keys())), []).append(index)
    return list(groups.values())


def _fitting_groups(
    adapter: ModelAdapter, prepared: list[PreparedInputs], max_new_tokens: int, kept_layer: int | None
) -> list[list[int]]:
    """Split a batch into consecutive groups whose generation fits in the device's free memory."""
    from tam.models.batching import adapter_generation_bytes, fitting_batch_size, free_memory

    if len(prepared) <= 1:
        return [[0]] if prepared else []
    longest = max(len(item.input_ids) for item in prepared)

    def bytes_per_batch(count: int) -> int:
        kept_layers = 1 if kept_layer is not None else adapter.num_layers + 1
        return adapter_generation_bytes(adapter, [longest] * count, max_new_tokens, kept_layers=kept_layers)

    size = fitting_batch_size(bytes_per_batch, len(prepared), free_memory(adapter.model.device))
    if size < len(prepared):
        logger.warning(
            "a batch of %d chats would keep %.2f GiB during generation, more than the free memory allows; "
            "generating %d at a time (a batch size of %d fits)",
            len(prepared),
            bytes_per_batch(len(prepared)) / 2**30,
            size,
            size,
        )
    return [list(range(start, min(start + size, len(prepared)))) for start in range(0, len(prepared), size)]


def _generate_rows(
    adapter: ModelAdapter, prepared: list[PreparedInputs], max_new_tokens: int, kept_layer: int | None, options, config
):
    """One ``generate`` over the collated chats, keeping ``kept_layer``'s hidden states (all if None), cut in rows.

    Returns one :class:`~tam.models.batching.GeneratedRow` per chat, or, when ``generate``
    fails, its error for each chat; a batch that runs out of accelerator memory is split
    in two and tried again.
    """
    import torch

    from tam.models.batching import collate, split_rows

    pad_token_id = adapter.tokenizer.pad_token_id
    if pad_token_id is None:
        pad_token_id = config.pad_token_id
    inputs, pads = collate(prepared, 0 if pad_token_id is None else int(pad_token_id))
    try:
        output = adapter.generate(inputs, max_new_tokens, layer=kept_layer, **options)
    except torch.OutOfMemoryError as error:
        if len(prepared) == 1:
            return [error]
        half = len(prepared) // 2
        logger.warning("a batch of %d chats ran out of memory (%s); trying %d at a time", len(prepared), error, half)
        del inputs
        return [
            *_generate_rows(adapter, prepared[:half], max_new_tokens, kept_layer, options, config),
            *_generate_rows(adapter, prepared[half:], max_new_tokens, kept_layer, options, config),
        ]
    except RuntimeError as error:
        return [error] * len(prepared)
    eos_ids = [] if config.eos_token_id is None else [int(token) for token in np.atleast_1d(config.eos_token_id)]
    return split_rows(output, pads, eos_ids)


def _explain_row(
    adapter: ModelAdapter,
    prepared: PreparedInputs,
    messages: list[dict],
    row,
    *,
    layer: int,
    round0: str,
    extra,
    closing_ids,
    options: dict,
):
    """Explain one chat from its own ids, hidden states and logits (a batch of one or a row of a batch)."""
    from tam.pipeline import explain_generation

    tokens = row.tokens
    _check_answer(tokens[len(prepared.input_ids) :], adapter.tokenizer)
    spans = adapter.find_spans(tokens, prepared, messages, closing_ids=closing_ids)
    depth = adapter.num_layers + 1

    def explain_at(at: int, logits=None):
        last_layer = at % depth == depth - 1
        return explain_generation(
            tokens,
            row.hidden_states,
            adapter.classifier,
            spans,
            adapter.layout(prepared),
            layer=-1 if last_layer else at,
            final_norm=None if last_layer else _on_its_device(adapter.final_norm),
            logits=logits,
            tokenizer=adapter.tokenizer,
            images=prepared.pictures,
            round0=round0,
        )

    result = explain_at(layer, logits=row.logits)
    result.options.update(options)
    if extra:
        from tam.methods.forward import ModelRun

        run = ModelRun(
            adapter=adapter,
            prepared=prepared,
            tokens=tokens,
            vision=spans.vision,
            positions=result.positions,
            num_prompt_tokens=result.num_prompt_tokens,
            class_ids=result.class_ids,
            context_mask=result.context_mask,
            explain_at=explain_at,
        )
        result.method_maps.update((method.name, method.compute(run)) for method in extra)
        if any("attention" in method.needs for method in extra) and len(adapter.attention_layers) < adapter.num_layers:
            # a hybrid model: its attention-based maps read these layers only, the others having no softmax attention
            result.options["attention_layers"] = list(adapter.attention_layers)
    return result


def explains_end_of_turn(round0: str, explain_end_of_turn: bool | None = None) -> bool:
    """Whether the tokens closing the answer are explained: as asked, else only in ``round0="reference"`` mode."""
    return round0 == "reference" if explain_end_of_turn is None else bool(explain_end_of_turn)


def model_methods(names: Sequence[str], adapter) -> list:
    """Return the model methods named, checked against the model before anything runs.

    TAM's own ablations (always in a result) are skipped; a method made from a mask, or
    one the model cannot give, is an error.

    Returns
    -------
    list of tam.methods.ModelMethod
    """
    from tam.methods import ABLATIONS, ModelMethod, UnavailableMethodError, get_method

    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(name, str) for name in names):
        raise TAMError(f"methods must be a list of method names such as ['attention'], got {names!r}")
    chosen = []
    for name in dict.fromkeys(names):
        method = get_method(name)
        if name in ABLATIONS:
            continue
        if not isinstance(method, ModelMethod):
            raise UnavailableMethodError(
                f"{name!r} is made from a segmentation mask and only eval.py scores it (--baselines); "
                "explain takes methods computed from the model"
            )
        method.check(adapter)
        chosen.append(method)
    return chosen


class GenerationProgress:
    """A ``generate`` streamer that counts the rounds of generation on a tqdm bar (``put`` / ``end``).

    ``generate`` first hands it the input ids ``(B, L)``, then each round's new tokens, one
    per chat of the batch; the bar counts rounds, up to ``max_new_tokens``.
    """

    def __init__(self, max_new_tokens: int, chats: int = 1) -> None:
        from tqdm.auto import tqdm

        description = "generating" if chats == 1 else f"generating {chats} chats"
        self.bar = tqdm(total=max_new_tokens, desc=description, unit="token", delay=PROGRESS_DELAY_SECONDS, leave=False)
        self.rows = 0

    def put(self, value) -> None:
        """Count the rounds in ``value``; the first call carries the input (one row per chat) and is skipped."""
        if self.rows:
            self.bar.update(int(value.numel()) // self.rows)
        else:
            self.rows = max(1, int(value.shape[0]) if value.dim() > 1 else 1)

    def end(self) -> None:
        """Close the bar when generation ends."""
        self.bar.close()


def _check_answer(answer: np.ndarray, tokenizer) -> None:
    """Raise :class:`NoAnswerError` when the answer holds only special tokens."""
    special = set(tokenizer.all_special_ids)
    if all(int(token) in special for token in answer):
        pieces = tokenizer.convert_ids_to_tokens([int(token) for token in answer])
        raise NoAnswerError(
            f"the model answered with no text, only {pieces}; there is nothing to explain. "
            "Try another prompt or more max_new_tokens"
        )


def _on_its_device(norm):
    """Wrap ``norm`` so it takes states from any device (layers may sit on several GPUs)."""
    device = next(norm.parameters()).device
    return lambda states: norm(states.to(device))
