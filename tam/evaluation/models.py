"""Where a model plugs into the evaluation: :func:`load_explainer`, over :mod:`tam.models`.

The evaluation needs one callable per run, ``explainer(image_paths, prompt) ->
Explanation``: generate the answer, explain it (``round0``, ``layer``), and decode the
answer without special tokens. Everything else (data sets, metrics, results files,
processes) is model-free and tested with fake explainers.
"""

from __future__ import annotations

from collections.abc import Sequence

from tam.evaluation.scoring import Explainer, Explanation

__all__ = ["ModelLoadError", "load_explainer"]


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
) -> Explainer:
    """Load ``model_name`` and return the explainer that runs it on one sample.

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
        Seed of the model's random state (sampling, random-weight twins).
    methods : sequence of str
        Map methods computed from the model for every sample (``attention``, ``gradcam``,
        ``lens@L``, ...; :mod:`tam.methods`), beside TAM and its ablations.

    Returns
    -------
    Explainer
        ``explainer(image_paths, prompt) -> Explanation``; greedy generation under the
        checkpoint's ``generation_config``, one image per sample, the answer decoded with
        ``skip_special_tokens=True``. Its ``settings`` attribute holds the generation
        settings and whether the end-of-turn tokens are explained, for the settings file.

    Raises
    ------
    ModelLoadError
        If the model cannot be loaded, has no adapter, has no layer ``layer``, cannot
        give one of ``methods``, or its chat template cannot render a chat with an image.
    """
    import torch

    from tam.errors import TAMError
    from tam.models import load_model
    from tam.models.explain import explain, explains_end_of_turn, model_methods
    from tam.models.registry import adapter_for

    torch.manual_seed(seed)
    try:
        model, processor = load_model(model_name, device=device)
        adapter = adapter_for(model, processor)
        depth = adapter.num_layers + 1
        model_methods(methods, adapter)
        adapter.check_template()
    except TAMError as error:
        raise ModelLoadError(str(error)) from None
    if not -depth <= layer < depth:
        raise ModelLoadError(f"--layer {layer} is out of range: {model_name} has layers {-depth} to {depth - 1}")
    tokenizer = processor.tokenizer

    def explainer(image_paths, prompt: str) -> Explanation:
        content = [{"type": "image", "image": str(path)} for path in image_paths]
        messages = [{"role": "user", "content": [*content, {"type": "text", "text": prompt}]}]
        result = explain(
            model,
            processor,
            messages,
            max_new_tokens=max_new_tokens,
            layer=layer,
            round0=round0,
            methods=methods,
            progress=True,
        )
        answer_ids = result.token_ids[result.answer_slice].tolist()
        return Explanation(result, tokenizer.decode(answer_ids, skip_special_tokens=True))

    config, _ = adapter.generation_config(max_new_tokens)
    explainer.settings = {
        "generation": adapter.generation_settings(config),
        "explain_end_of_turn": explains_end_of_turn(round0),
    }
    return explainer
