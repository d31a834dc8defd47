"""Model adapters: what TAM needs from each multimodal LLM family, read from the model itself.

One file per family (:mod:`tam.models.qwen_vl`, :mod:`tam.models.llava`,
:mod:`tam.models.internvl`) over the interface in :mod:`tam.models.base`; the registry
(:mod:`tam.models.registry`) picks the adapter by the model's class;
:mod:`tam.models.twins` builds tiny offline twins; :mod:`tam.models.loading` loads a
twin, a hub id or a folder; :func:`tam.models.explain.explain` is ``tam.explain``.
"""

from tam.models.base import (
    ChatTemplateError,
    ModelAdapter,
    NoAnswerError,
    PreparedInputs,
    UnsupportedInputError,
    load_images,
    vision_items,
)
from tam.models.loading import ModelUnavailableError, load_model, model_choices
from tam.models.registry import (
    UnsupportedModelError,
    adapter_class_for,
    adapter_for,
    register_adapter,
    supported_classes,
)
from tam.models.twins import TWINS

__all__ = [
    "TWINS",
    "ChatTemplateError",
    "ModelAdapter",
    "ModelUnavailableError",
    "NoAnswerError",
    "PreparedInputs",
    "UnsupportedInputError",
    "UnsupportedModelError",
    "adapter_class_for",
    "adapter_for",
    "load_images",
    "load_model",
    "model_choices",
    "register_adapter",
    "supported_classes",
    "vision_items",
]
