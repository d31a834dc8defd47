"""Load a model and its processor by name: a tiny twin, a hub id or a local folder.

Twin names (``tiny-qwen2-vl``, ...) are resolved first and built offline; toy names
(``toy-shapes``) name a trained model shipped in :mod:`tam.toy`. Anything else
goes through transformers' real loading path, after a quick check that a hub id is in the
local Hugging Face cache or the hub can be reached (offline, the hub client would retry for
half a minute): ``AutoConfig`` to check that tam has an adapter for the architecture before any weights are read, then
``AutoModelForImageTextToText.from_pretrained(..., dtype=..., device_map=...)``
(``device_map="auto"`` places the weights with accelerate) and ``AutoProcessor``.
"""

from __future__ import annotations

import os
from pathlib import Path

from tam.errors import TAMError
from tam.models.registry import adapter_class_for, supported_classes
from tam.models.twins import TWINS
from tam.toy import TOY_MODELS

__all__ = ["ModelUnavailableError", "decoder_layers", "load_model", "model_choices"]


class ModelUnavailableError(TAMError):
    """The model's config or weights cannot be read (not on disk, hub unreachable, unknown id)."""


def model_choices() -> str:
    """One line naming what ``--model`` accepts, for help texts."""
    return (
        f"a Hugging Face hub id or a local folder of a supported class ({', '.join(supported_classes())}), "
        f"or a tiny twin: {', '.join(TWINS)}, or a trained toy model: {', '.join(TOY_MODELS)}"
    )


def load_model(name_or_path: str, *, device: str | None = None, dtype="auto"):
    """Load a supported model and its processor.

    Parameters
    ----------
    name_or_path : str
        A tiny twin name (see :data:`tam.models.twins.TWINS`), a toy model name (see
        :data:`tam.toy.TOY_MODELS`, loaded in float32 on the CPU by default), a hub id such as
        ``"Qwen/Qwen2-VL-2B-Instruct"`` or a local folder with a saved model.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; by default ``device_map="auto"`` for
        real models (accelerate places the weights) and the CPU for twins.
    dtype : str or torch.dtype, default "auto"
        Weight dtype for real models (``"auto"``: as saved).

    Returns
    -------
    model : transformers.PreTrainedModel
        In eval mode.
    processor : transformers.ProcessorMixin

    Raises
    ------
    ModelUnavailableError
        If the model cannot be read (no local copy and no network, or no such id), or its
        weights are pickles (:data:`PICKLED_WEIGHTS`): only ``.safetensors`` weights are loaded.
    UnsupportedModelError
        If tam has no adapter for the model's architecture.
    """
    if name_or_path in TWINS:
        model, processor = TWINS[name_or_path]()
        return model.to(device or "cpu"), processor
    if name_or_path in TOY_MODELS:
        folder = TOY_MODELS[name_or_path]
        if not (folder / "config.json").is_file():
            raise ModelUnavailableError(
                f"the toy model {name_or_path!r} is missing from {folder}; rebuild it with tools/train_toy.py "
                "(docs/toy-world.md)"
            )
        import torch

        return load_model(str(folder), device=device or "cpu", dtype=torch.float32 if dtype == "auto" else dtype)

    _supported_config(name_or_path)
    _refuse_pickled_weights(name_or_path)

    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        model = AutoModelForImageTextToText.from_pretrained(  # safetensors only: a pickle can run code
            name_or_path, dtype=dtype, device_map=device if device is not None else "auto", use_safetensors=True
        )
        processor = AutoProcessor.from_pretrained(name_or_path)
    except OSError as error:
        raise ModelUnavailableError(_unavailable_message(name_or_path, error)) from error
    return model.eval(), processor


def decoder_layers(name_or_path: str) -> int | None:
    """Count the decoder layers of a hub id, model folder or toy model from its config alone.

    For checking ``--layer`` before the weights load; ``None`` for a tiny twin (built whole
    in a second, then its adapter tells). Raises as :func:`load_model` does.
    """
    if name_or_path in TWINS:
        return None
    config = _supported_config(str(TOY_MODELS.get(name_or_path, name_or_path)))
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text_config.num_hidden_layers)


def _supported_config(name_or_path: str):
    """Read the config of hub id or folder ``name_or_path`` and check that tam has an adapter for it."""
    if _looks_like_path(name_or_path) and not Path(name_or_path).expanduser().is_dir():
        raise ModelUnavailableError(f"no model folder at {name_or_path!r}. {_how_to_get(name_or_path)}")
    if not Path(name_or_path).expanduser().is_dir():
        _check_hub_id(name_or_path)

    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(_unavailable_message(name_or_path, error)) from error
    adapter_class_for(config.architectures or [type(config).__name__])
    return config


PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
"""Weight files that are Python pickles, which tam never loads: unpickling can run any code."""


def _refuse_pickled_weights(name_or_path: str) -> None:
    """Raise :class:`ModelUnavailableError` for a model folder whose weights are pickles only (no ``.safetensors``)."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(path.name for pattern in PICKLED_WEIGHTS for path in folder.glob(pattern))
    if pickles:
        raise ModelUnavailableError(
            f"the model folder {name_or_path!r} holds its weights as pickles ({', '.join(pickles[:3])}) and no "
            ".safetensors: tam never unpickles (a pickle can run code); convert them to safetensors where you "
            "trust them (model.save_pretrained writes safetensors)"
        )


def _looks_like_path(name: str) -> bool:
    """Tell a local path from a hub id (``owner/name``, at most one slash)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _check_hub_id(name: str) -> None:
    """Raise :class:`ModelUnavailableError` at once if hub id ``name`` is neither cached nor reachable.

    Only a failure to reach the hub is decided here (in about a second); an answer from the hub
    (no such model, gated) is left to ``from_pretrained``, which names it.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    try:
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return
    except HFValidationError as error:
        raise ModelUnavailableError(
            f"{name!r} is neither a model folder nor a hub id ({error}). {_how_to_get(name)}"
        ) from None
    if constants.HF_HUB_OFFLINE:
        raise ModelUnavailableError(
            f"cannot load model {name!r}: it is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and HF_HUB_OFFLINE is set. {_how_to_get(name)}"
        )
    try:
        get_hf_file_metadata(hf_hub_url(name, "config.json"), timeout=10, retry_on_errors=False)
    except HfHubHTTPError:
        return  # the hub answered
    except Exception as error:  # noqa: BLE001 - the HTTP client's connection errors differ between versions
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ModelUnavailableError(
            f"cannot load model {name!r}: it is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and the hub ({constants.ENDPOINT}) cannot be reached ({reason}). {_how_to_get(name)}"
        ) from None


def _how_to_get(name: str) -> str:
    download = "hf download OWNER/MODEL" if _looks_like_path(name) else f"hf download {name}"
    return (
        f"A model needs its weights: download them where the Hugging Face hub can be reached (`{download}`), "
        f"then pass the hub id or the local folder; to try tam offline, use the toy model trained here, "
        f"{', '.join(TOY_MODELS)} (its maps mean something), or a tiny random-weight twin: {', '.join(TWINS)}"
    )


def _unavailable_message(name: str, error: Exception) -> str:
    lines = str(error).strip().splitlines()
    reason = lines[0].rstrip(".") if lines else type(error).__name__
    return f"cannot load model {name!r} ({reason}). {_how_to_get(name)}"
