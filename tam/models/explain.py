"""``tam.explain``: generate an answer and explain every token of it, for any supported model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tam.errors import TAMError
from tam.models.base import NoAnswerError
from tam.models.registry import adapter_for

__all__ = ["explain"]


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
        At most this many answer tokens (at least 1).
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
        More arguments for ``model.generate`` (greedy decoding is the default).

    Returns
    -------
    TokenActivationResult
        Maps of the prompt tokens then the answer tokens, with the pictures behind the grids.

    Raises
    ------
    ValueError
        If ``max_new_tokens`` < 1 or ``layer`` is out of range (checked before generating).
    UnknownMethodError, UnavailableMethodError
        If a name in ``methods`` is not a registered method, not one computed from the
        model, or one this model cannot give (checked before generating where possible).
    UnsupportedModelError
        If the model's class has no adapter.
    UnsupportedInputError
        If the chat has a video and the family takes images only.
    NoAnswerError
        If the model answered with end-of-turn or padding tokens only.
    """
    from tam.pipeline import explain_generation

    if int(max_new_tokens) < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    adapter = adapter_for(model, processor)
    depth = adapter.num_layers + 1
    if not -depth <= layer < depth:
        raise TAMError(
            f"layer {layer} is out of range: {adapter.family} has {adapter.num_layers} decoder layers, "
            f"so layer must be between {-depth} and {depth - 1} (0 is the embeddings, -1 the last layer)"
        )
    extra = model_methods(methods, adapter)
    prepared = adapter.prepare(messages)
    output = adapter.generate(prepared, int(max_new_tokens), **(generate_kwargs or {}))
    tokens = output.sequences[0].detach().cpu().numpy().astype(np.int64)
    _check_answer(tokens[len(prepared.input_ids) :], adapter.tokenizer)
    spans = adapter.find_spans(tokens, prepared, messages)

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
