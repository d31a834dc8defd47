"""Where a model plugs into the evaluation: :func:`load_explainer`, over :mod:`tam.models`.

The evaluation needs one callable per run, ``explainer(image_paths, prompt) ->
Explanation``: generate the answer, explain it (``round0``, ``layer``), and decode the
answer without special tokens; ``explainer.explain_batch(requests)`` does so for several
samples in one ``generate`` call. Everything else (data sets, metrics, results files,
processes) is model-free and tested with fake explainers.
"""

from __future__ import annotations

from collections.abc import Sequence

from tam.evaluation.scoring import Explanation

__all__ = ["MAX_SEED", "ModelExplainer", "ModelLoadError", "load_explainer"]

MAX_SEED = 2**64 - 1
"""Largest seed: torch's random state takes 0 .. 2**64 - 1."""


class ModelLoadError(RuntimeError):
    """The model named on the command line cannot be loaded."""


def load_explainer(
    model_name: str,
    *,
    device: str | None = None,
    layer: int = -1,
    round0: str = "own",
    max_new_tokens: int = 256,
    seed: int = 0,
    methods: Sequence[str] = (),
    processor_kwargs: dict | None = None,
) -> ModelExplainer:
    """Load ``model_name`` and return the explainer that runs it on one sample or a batch of them.

    Parameters
    ----------
    model_name : str
        A name known to the model adapters (a hub id, a local folder, or a tiny twin such
        as ``tiny-qwen2-vl``).
    device : str, optional
        Where this process runs the model (``accelerate``'s device under a launcher).
    layer : int
        Decoder layer whose hidden states make the maps.
    round0 : {"own", "reference"}
        ``"reference"`` reproduces the paper's maps (see ``tam.ROUND0_MODES``).
    max_new_tokens : int
        Longest answer generated.
    seed : int
        Seed of the model's random state (sampling, random-weight twins), 0 to :data:`MAX_SEED`.
    methods : sequence of str
        Map methods computed from the model for every sample (``attention``, ``gradcam``,
        ``lens@L``, ...; :mod:`tam.methods`), beside TAM and its ablations.

    Returns
    -------
    ModelExplainer
        Greedy generation under the checkpoint's ``generation_config``, one image per
        sample, the answer decoded with ``skip_special_tokens=True``, and the explained
        tokens' probabilities on other pictures for faithfulness
        (:func:`~tam.evaluation.faithfulness.token_scorer`). Its ``settings`` attribute
        holds the generation settings and whether the end-of-turn tokens are explained,
        for the settings file.

    Raises
    ------
    ModelLoadError
        If the model cannot be loaded, has no adapter, has no layer ``layer``, cannot
        give one of ``methods``, or its chat template cannot render a chat with an image.
    ValueError
        If ``seed`` is not an integer from 0 to :data:`MAX_SEED`.
    """
    import torch

    from tam.errors import TAMError
    from tam.models import load_model
    from tam.models.explain import check_layer, explains_end_of_turn, model_methods
    from tam.models.loading import decoder_layers
    from tam.models.registry import adapter_for

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to {MAX_SEED} (2**64 - 1), got {seed!r}")
    torch.manual_seed(seed)
    try:
        layers = decoder_layers(model_name)
        if layers is not None:  # before the weights load (minutes for a real model)
            check_layer(layer, layers, model_name)
        model, processor = load_model(model_name, device=device)
        adapter = adapter_for(model, processor, processor_kwargs)
        check_layer(layer, adapter.num_layers, model_name)
        model_methods(methods, adapter)
        adapter.check_template()
    except TAMError as error:
        raise ModelLoadError(str(error)) from None
    explainer = ModelExplainer(
        model,
        processor,
        layer=layer,
        round0=round0,
        max_new_tokens=max_new_tokens,
        methods=methods,
        processor_kwargs=processor_kwargs,
    )
    config, _ = adapter.generation_config(max_new_tokens)
    explainer.settings = {
        "generation": adapter.generation_settings(config),
        "explain_end_of_turn": explains_end_of_turn(round0),
    }
    return explainer


class ModelExplainer:
    """Generate and explain answers with a loaded model: one sample, or a batch in one ``generate`` call.

    Greedy generation under the checkpoint's ``generation_config``, one image per sample,
    the answer decoded with ``skip_special_tokens=True``; a generation progress bar for a
    single sample. The arguments are those of :func:`load_explainer`.

    Attributes
    ----------
    settings : dict
        The generation settings and whether end-of-turn tokens are explained, for the
        settings file (filled by :func:`load_explainer`).
    """

    def __init__(
        self,
        model,
        processor,
        *,
        layer: int,
        round0: str,
        max_new_tokens: int,
        methods: Sequence[str] = (),
        processor_kwargs: dict | None = None,
    ) -> None:
        self.model = model
        self.processor = processor
        self.options = {
            "layer": layer,
            "round0": round0,
            "max_new_tokens": max_new_tokens,
            "methods": methods,
            "processor_kwargs": processor_kwargs,
        }
        self.settings: dict = {}

    def __call__(self, image_paths: Sequence[str], prompt: str) -> Explanation:
        """Explain the answer to ``prompt`` about the images at ``image_paths``; a failure is raised."""
        (outcome,) = self.explain_batch([(image_paths, prompt)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def explain_batch(self, requests: Sequence[tuple[Sequence[str], str]]) -> list:
        """Explain several ``(image_paths, prompt)`` requests, generated together.

        Returns
        -------
        list of (Explanation or Exception)
            One per request, in order; a request that failed gives its error (an
            ``OSError``, ``ValueError`` or ``RuntimeError``) and the others are unaffected.
        """
        from tam.models.explain import explain_chats

        chats = [
            [{"role": "user", "content": [*map(_image_entry, paths), {"type": "text", "text": prompt}]}]
            for paths, prompt in requests
        ]
        outcomes = explain_chats(
            self.model, self.processor, chats, batch_size=max(len(chats), 1), progress=True, **self.options
        )
        return [
            outcome if isinstance(outcome, Exception) else self._explanation(outcome, chat)
            for outcome, chat in zip(outcomes, chats, strict=True)
        ]

    def _explanation(self, result, messages: list[dict]) -> Explanation:
        from tam.evaluation.faithfulness import token_scorer

        answer_ids = result.token_ids[result.answer_slice].tolist()

        def scorer(index: int):
            return token_scorer(self.model, self.processor, messages, result, index)

        return Explanation(result, self.processor.tokenizer.decode(answer_ids, skip_special_tokens=True), scorer)


def _image_entry(path) -> dict:
    return {"type": "image", "image": str(path)}
