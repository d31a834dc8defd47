"""Where a model plugs into the evaluation: :func:`load_explainer`.

The evaluation needs one callable per run, ``explainer(image_paths, prompt) ->
Explanation``: generate the answer, explain it (``round0``, ``layer``), and decode the
answer without special tokens. Everything else (data sets, metrics, results files,
processes) is model-free and tested with fake explainers.
"""

from __future__ import annotations

from tam.evaluation.scoring import Explainer

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

    Returns
    -------
    Explainer
        ``explainer(image_paths, prompt) -> Explanation``; greedy generation, one image
        per sample, the answer decoded with ``skip_special_tokens=True``.

    Raises
    ------
    ModelLoadError
        Until the model adapters are wired in here.
    """
    # MODEL WIRING: build the adapter from the registry of the model adapters for
    # ``model_name`` on ``device`` with ``seed``, and return a closure that turns
    # (image_paths, prompt) into chat messages, calls the adapter's explain with
    # ``layer``, ``round0`` and ``max_new_tokens``, and returns Explanation(result, answer).
    raise ModelLoadError(
        f"cannot load model {model_name!r}: the model adapters are not part of this build yet "
        "(tam.evaluation.models.load_explainer is where they plug in)"
    )
