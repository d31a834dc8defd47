"""``tam.explain``: generate an answer and explain every token of it, for any supported model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tam.errors import TAMError
from tam.models.base import NoAnswerError
from tam.models.registry import adapter_for

__all__ = ["MAX_NEW_TOKENS", "explain", "explains_end_of_turn"]

MAX_NEW_TOKENS = 2048
"""Longest answer :func:`explain` generates. Every round's hidden states of every layer
and its logits are kept until the maps are made: about 0.7 MB per answer token for
Qwen2-VL-2B (29 x 1536 bfloat16 states, 151k float32 logits), so 2048 tokens hold about
1.4 GB; a larger value is almost surely a typo that would run until memory runs out."""

PROGRESS_DELAY_SECONDS = 2.0
"""The generation progress bar shows only once generating has taken this long."""


def explain(
    model,
    processor,
    messages: list[dict],
    *,
    max_new_tokens: int = 64,
    layer: int = -1,
    round0: str = "own",
    methods: Sequence[str] = (),
    generate_kwargs: dict | None = None,
    progress: bool = False,
    explain_end_of_turn: bool | None = None,
):
    """Generate an answer to a chat and return the token activation maps of it.

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
        "text": ...}``. The user's last text is explained as the prompt.
    max_new_tokens : int, default 64
        At most this many answer tokens, from 1 to :data:`MAX_NEW_TOKENS`.
    layer : int, default -1
        Decoder layer whose hidden states are read: ``0`` is the embeddings, ``n`` (or
        ``-1``) the last layer; earlier layers go through the final norm (logit lens).
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
        than :data:`PROGRESS_DELAY_SECONDS`.

    Returns
    -------
    TokenActivationResult
        Maps of the prompt tokens then the answer tokens, with the pictures behind the grids.

    Raises
    ------
    ValueError
        If ``max_new_tokens`` is not in 1 .. :data:`MAX_NEW_TOKENS` or ``layer`` is out of
        range (checked before generating).
    UnknownMethodError, UnavailableMethodError
        If a name in ``methods`` is not a registered method, not one computed from the
        model, or one this model cannot give (checked before generating where possible).
    UnsupportedModelError
        If the model's class has no adapter.
    UnsupportedInputError
        If the chat has a video and the family takes images only.
    ChatTemplateError
        If the processor's chat template renders no text or no vision placeholders for the chat.
    NoAnswerError
        If the model answered with end-of-turn or padding tokens only.
    """
    from tam.pipeline import explain_generation

    if not 1 <= int(max_new_tokens) <= MAX_NEW_TOKENS:
        raise ValueError(
            f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS} (tam.models.explain.MAX_NEW_TOKENS: the states "
            f"of every generated token are kept), got {max_new_tokens}"
        )
    adapter = adapter_for(model, processor)
    depth = adapter.num_layers + 1
    if not -depth <= layer < depth:
        raise TAMError(
            f"layer {layer} is out of range: {adapter.family} has {adapter.num_layers} decoder layers, "
            f"so layer must be between {-depth} and {depth - 1} (0 is the embeddings, -1 the last layer)"
        )
    extra = model_methods(methods, adapter)
    prepared = adapter.prepare(messages)
    generate_kwargs = dict(generate_kwargs or {})
    config, _ = adapter.generation_config(int(max_new_tokens), **generate_kwargs)
    if progress:
        generate_kwargs.setdefault("streamer", GenerationProgress(int(max_new_tokens)))
    output = adapter.generate(prepared, int(max_new_tokens), **generate_kwargs)
    tokens = output.sequences[0].detach().cpu().numpy().astype(np.int64)
    _check_answer(tokens[len(prepared.input_ids) :], adapter.tokenizer)
    end_of_turn = explains_end_of_turn(round0, explain_end_of_turn)
    closing_ids = () if end_of_turn else adapter.closing_token_ids(config)
    spans = adapter.find_spans(tokens, prepared, messages, closing_ids=closing_ids)

    def explain_at(at: int, hidden_states=output.hidden_states, logits=None):
        last_layer = at % depth == depth - 1
        return explain_generation(
            tokens,
            [states[-1] for states in hidden_states] if last_layer else hidden_states,
            adapter.lm_head,
            spans,
            adapter.vision_shape(prepared),
            layer=-1 if last_layer else at,
            final_norm=None if last_layer else _on_its_device(adapter.final_norm),
            logits=logits,
            tokenizer=adapter.tokenizer,
            images=prepared.pictures,
            round0=round0,
        )

    result = explain_at(layer, logits=output.logits)
    result.options.update(generation=adapter.generation_settings(config), explain_end_of_turn=end_of_turn)
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
    """A ``generate`` streamer that counts the answer tokens on a tqdm bar (``put`` / ``end``).

    ``generate`` first hands it the input ids, then each new token; the bar counts only the
    new ones, up to ``max_new_tokens``.
    """

    def __init__(self, max_new_tokens: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=max_new_tokens, desc="generating", unit="token", delay=PROGRESS_DELAY_SECONDS, leave=False
        )
        self.seen_input = False

    def put(self, value) -> None:
        """Count the new token(s) in ``value``; the first call carries the input and is skipped."""
        if self.seen_input:
            self.bar.update(int(value.numel()))
        self.seen_input = True

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
