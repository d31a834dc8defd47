"""Which adapter serves which model: a registry keyed by the transformers model class name.

``adapter_for(model, processor)`` walks the model's class hierarchy, so a subclass of a
supported class is served by the same adapter. A family tam does not know gets
:class:`UnsupportedModelError`, which lists the supported classes and says how to go on:
register an adapter (:func:`register_adapter`) or pass the spans and the grid to
:func:`tam.explain_generation` by hand.
"""

from __future__ import annotations

from tam.errors import TAMError
from tam.models.aya_vision import AyaVisionAdapter
from tam.models.base import ModelAdapter
from tam.models.gemma3 import Gemma3Adapter
from tam.models.gemma4 import Gemma4Adapter
from tam.models.glm4v import Glm4vAdapter
from tam.models.idefics3 import Idefics3Adapter
from tam.models.internvl import InternVLAdapter
from tam.models.lfm2_vl import Lfm2VlAdapter
from tam.models.llama4 import Llama4Adapter
from tam.models.llava import LlavaAdapter
from tam.models.llava_next import LlavaNextAdapter, LlavaOnevisionAdapter
from tam.models.mistral3 import Mistral3Adapter
from tam.models.molmo2 import Molmo2Adapter
from tam.models.qwen3_5 import Qwen3_5Adapter
from tam.models.qwen_vl import QwenVLAdapter

__all__ = ["UnsupportedModelError", "adapter_class_for", "adapter_for", "register_adapter", "supported_classes"]

_ADAPTERS: dict[str, type[ModelAdapter]] = {}

CROSS_ATTENTION_CLASSES = frozenset(
    {
        "MllamaForConditionalGeneration",  # Llama 3.2 Vision
        "Florence2ForConditionalGeneration",
        "IdeficsForVisionText2Text",  # Idefics 1
        "BlipForConditionalGeneration",
        "Blip2ForConditionalGeneration",  # a Q-Former's queries, not patches, stand in the sequence
        "VisionEncoderDecoderModel",
    }
)
"""Model classes whose language model reads the picture by cross-attention or through an encoder-decoder:
no sequence position holds a patch, so tam refuses them with that reason rather than as merely unregistered."""


class UnsupportedModelError(TAMError):
    """No adapter is registered for the model's class."""


def register_adapter(adapter_class: type[ModelAdapter]) -> type[ModelAdapter]:
    """Register an adapter for each name in its ``model_classes`` (usable as a class decorator).

    Parameters
    ----------
    adapter_class : type
        A subclass of :class:`~tam.models.base.ModelAdapter` with a non-empty
        ``model_classes``.

    Returns
    -------
    type
        ``adapter_class`` itself.
    """
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, ModelAdapter)):
        raise TypeError(f"adapter_class must be a subclass of tam.models.ModelAdapter, got {adapter_class!r}")
    if not adapter_class.model_classes:
        raise ValueError(f"{adapter_class.__name__}.model_classes is empty; name the transformers classes it serves")
    for name in adapter_class.model_classes:
        _ADAPTERS[name] = adapter_class
    return adapter_class


for _adapter in (
    QwenVLAdapter,
    LlavaAdapter,
    LlavaNextAdapter,
    LlavaOnevisionAdapter,
    InternVLAdapter,
    Mistral3Adapter,
    Glm4vAdapter,
    Qwen3_5Adapter,
    Gemma3Adapter,
    Gemma4Adapter,
    Idefics3Adapter,
    AyaVisionAdapter,
    Molmo2Adapter,
    Llama4Adapter,
    Lfm2VlAdapter,
):
    register_adapter(_adapter)


def supported_classes() -> list[str]:
    """Names of the model classes that have an adapter, sorted."""
    return sorted(_ADAPTERS)


def adapter_class_for(class_names) -> type[ModelAdapter]:
    """Return the adapter registered for the first of ``class_names`` that has one.

    Parameters
    ----------
    class_names : sequence of str
        Model class names, most specific first (a class's MRO, or a config's ``architectures``).

    Raises
    ------
    UnsupportedModelError
        If none has an adapter; the message lists the supported classes.
    """
    names = list(class_names)
    for name in names:
        if name in _ADAPTERS:
            return _ADAPTERS[name]
    for name in names:
        if name in CROSS_ATTENTION_CLASSES:
            raise UnsupportedModelError(
                f"{name} is not a decoder-only vision-token model: no position of its language model's sequence "
                "holds a picture patch (it reads the picture by cross-attention or through learned queries), so "
                "there is nothing for TAM to map; tam supports "
                f"{', '.join(supported_classes())}"
            )
    raise UnsupportedModelError(
        f"tam has no adapter for {names[0] if names else 'this model'}; supported: {', '.join(supported_classes())}. "
        "Register one with tam.models.register_adapter, or call tam.explain_generation with a tam.TokenSpans "
        "and the vision grid (see docs/models.md, 'Bring your own model')"
    )


def adapter_for(model, processor, processor_kwargs: dict | None = None) -> ModelAdapter:
    """Return the adapter of ``model``'s class (or of its nearest registered base class), bound to it.

    ``processor_kwargs`` go to every processor call (:attr:`ModelAdapter.processor_options`).
    """
    return adapter_class_for([cls.__name__ for cls in type(model).__mro__])(model, processor, processor_kwargs)
