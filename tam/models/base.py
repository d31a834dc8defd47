"""The adapter interface: what TAM needs to know about one multimodal LLM family.

An adapter reads everything from the model's config, its processor and the processed
inputs, never from typed-in ids:

- :meth:`ModelAdapter.prepare` turns chat ``messages`` into model inputs and the
  pictures behind the vision grids;
- :meth:`ModelAdapter.vision_token_ids` and :meth:`ModelAdapter.find_spans` locate
  the vision, prompt and answer tokens (a :class:`~tam.spans.TokenSpans`);
- :meth:`ModelAdapter.vision_shape` gives the grid of vision tokens per image or frame
  after the model's merging;
- :attr:`ModelAdapter.lm_head`, :attr:`ModelAdapter.final_norm` and
  :attr:`ModelAdapter.num_layers` give the classifier, the norm for the logit lens and
  the depth;
- :meth:`ModelAdapter.generate` runs ``generate`` with the hidden states and logits TAM
  reads.

A family subclasses :class:`ModelAdapter`, fills in the three abstract methods and is
registered with :func:`tam.models.register_adapter`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tam.errors import SpanError, TAMError
from tam.spans import TokenSpans

__all__ = [
    "ModelAdapter",
    "NoAnswerError",
    "PreparedInputs",
    "SquareGridAdapter",
    "UnsupportedInputError",
    "item_kind",
    "last_text",
    "vision_items",
]


class UnsupportedInputError(TAMError):
    """The model family cannot take this input (e.g. a video for a family without video support)."""


class NoAnswerError(TAMError):
    """The generation produced nothing to explain (only end-of-turn or padding tokens)."""


@dataclass
class PreparedInputs:
    """Model inputs of one chat and the pictures behind its vision grids.

    Attributes
    ----------
    inputs : transformers.BatchFeature
        What the processor returned, batch of one (``input_ids`` of shape ``(1, L0)``).
    pictures : list of ndarray of shape (H, W, 3), uint8 RGB
        One per grid: per image, or per temporal slice of a video.
    text : str
        The chat rendered by the processor's chat template (before vision tokens are expanded).
    kinds : list of str
        ``"image"`` or ``"video"`` for each vision entry of the chat, in order.
    """

    inputs: object
    pictures: list[np.ndarray]
    text: str
    kinds: list[str]

    @property
    def input_ids(self) -> np.ndarray:
        """The input ids, shape ``(L0,)``, int64."""
        return self.inputs["input_ids"][0].detach().cpu().numpy().astype(np.int64)


def vision_items(messages: list[dict]) -> list[dict]:
    """Return the image and video entries of a chat, in the order they appear.

    Parameters
    ----------
    messages : list of dict
        Chat messages, ``{"role": ..., "content": str or list of dict}``; a content entry
        is ``{"type": "image", "image": ...}``, ``{"type": "video", "video": ...}`` or
        ``{"type": "text", "text": ...}``.

    Returns
    -------
    list of dict
        The entries whose type is ``"image"`` or ``"video"``.
    """
    return [
        item
        for message in messages
        if isinstance(message.get("content"), list)
        for item in message["content"]
        if item_kind(item) in ("image", "video")
    ]


def item_kind(item: dict) -> str:
    """``"image"``, ``"video"``, ``"text"`` or ``"other"``: what a chat content entry holds."""
    if item.get("type") in ("image", "video", "text"):
        return item["type"]
    return next((key for key in ("image", "video", "text") if key in item), "other")


def last_text(messages: list[dict]) -> str | None:
    """Return the text the user typed last: the last content entry of the last message, if it is text."""
    content = messages[-1].get("content")
    if isinstance(content, str):
        return content
    if content and item_kind(content[-1]) == "text":
        return content[-1]["text"]
    return None


class ModelAdapter(ABC):
    """What TAM needs from one model family (see the module docstring).

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A model of one of :attr:`model_classes`.
    processor : transformers.ProcessorMixin
        Its processor (tokenizer, image processor, chat template).

    Attributes
    ----------
    family : str
        Name of the family, for messages and the README table.
    model_classes : tuple of str
        Names of the transformers model classes this adapter serves (the registry keys).
    supports_video : bool
        Whether :meth:`prepare` accepts video entries.
    """

    family: ClassVar[str] = ""
    model_classes: ClassVar[tuple[str, ...]] = ()
    supports_video: ClassVar[bool] = False

    def __init__(self, model, processor) -> None:
        self.model = model
        self.processor = processor

    @property
    def tokenizer(self):
        """The processor's tokenizer."""
        return self.processor.tokenizer

    # ---- family specific -------------------------------------------------------------

    @abstractmethod
    def vision_token_ids(self) -> tuple[int, ...]:
        """Ids of the placeholder tokens that carry vision features (from the config)."""

    @abstractmethod
    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Processor inputs and one picture per grid for a chat."""

    @abstractmethod
    def vision_shape(self, prepared: PreparedInputs):
        """Grid of the vision tokens after merging: ``(h, w)``, ``(t, h, w)`` or a list of ``(h, w)``."""

    # ---- shared ------------------------------------------------------------------------

    @property
    def text_config(self):
        """The language model's config."""
        config = self.model.config
        return config.get_text_config() if hasattr(config, "get_text_config") else config

    @property
    def num_layers(self) -> int:
        """Number of decoder layers ``n``; the hidden states have ``n + 1`` entries per round."""
        return int(self.text_config.num_hidden_layers)

    @property
    def lm_head(self):
        """The output projection (``nn.Linear`` of shape ``(V, d)``)."""
        return self.model.get_output_embeddings()

    @property
    def final_norm(self):
        """The language model's final norm, for the logit lens at earlier layers."""
        language_model = self.model.model.language_model
        return language_model.norm

    @property
    def decoder_layers(self):
        """The language model's decoder layers (``nn.ModuleList`` of :attr:`num_layers`), for hooks."""
        return self.model.model.language_model.layers

    def check_video(self, messages: list[dict]) -> None:
        """Raise :class:`UnsupportedInputError` when the chat has a video and the family takes none."""
        if not self.supports_video and any(item_kind(item) == "video" for item in vision_items(messages)):
            raise UnsupportedInputError(
                f"{self.family} takes images only in tam; videos are supported for the Qwen-VL families"
            )

    def render(self, messages: list[dict]) -> str:
        """Render the chat with the processor's own chat template and the generation prompt."""
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prepared, max_new_tokens: int, *, layer: int | None = None, **generate_kwargs):
        """Greedy ``generate`` returning hidden states and the logits of each round.

        Parameters
        ----------
        prepared : PreparedInputs or transformers.BatchFeature
            One chat's prepared inputs, or the collated inputs of several
            (:func:`tam.models.batching.collate`).
        max_new_tokens : int
        layer : int, optional
            Keep only this entry of each round's hidden states (the others are None);
            every layer when None.
        **generate_kwargs
            More arguments for ``model.generate``.

        Returns
        -------
        transformers.generation.GenerateDecoderOnlyOutput
            ``sequences`` of shape ``(B, L0 + N)``, ``hidden_states`` (per round a tuple of
            ``n + 1`` tensors ``[B, L_r, d]``) and ``logits`` (per round ``[B, V]``).
        """
        import torch

        options = {"do_sample": False, **generate_kwargs}
        inputs = prepared.inputs if isinstance(prepared, PreparedInputs) else prepared
        # pixels in the model's dtype, as its vision tower expects (a bfloat16 model gets bfloat16 pixels)
        inputs = inputs.to(device=self.model.device, dtype=self.model.dtype)
        with torch.inference_mode():
            return self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                output_hidden_states=True if layer is None else layer,
                output_logits=True,
                return_dict_in_generate=True,
                **options,
            )

    def find_spans(self, tokens, prepared: PreparedInputs, messages: list[dict]) -> TokenSpans:
        """Vision, prompt and answer positions of a generated sequence.

        Vision tokens are the input positions holding :meth:`vision_token_ids`. The answer
        starts right after the input. The prompt is the user's last text: the tokens after
        the last vision token, without the markers and blank tokens the chat template puts
        between the picture and the text, and without the template's closing tokens (found
        by rendering the chat with the processor's template).

        Parameters
        ----------
        tokens : ndarray of shape (L,), int
            Input followed by the generated ids.
        prepared : PreparedInputs
        messages : list of dict

        Returns
        -------
        TokenSpans

        Raises
        ------
        SpanError
            If the input holds no vision token, or the template's closing text is not
            found at the end of the input.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        input_length = len(prepared.input_ids)
        is_vision = np.isin(tokens[:input_length], np.asarray(self.vision_token_ids(), dtype=np.int64))
        vision = np.flatnonzero(is_vision)
        if vision.size == 0:
            raise SpanError(
                f"the input holds none of the vision token ids {list(self.vision_token_ids())} of {self.family}; "
                "does the chat have an image or a video?"
            )
        text = last_text(messages)
        if text is None or vision[-1] == input_length - 1:
            return TokenSpans(vision=vision, prompt=np.arange(0), answer_start=input_length)
        prompt_end = input_length - self._closing_length(tokens[:input_length], messages, prepared.text, text)
        start = int(vision[-1]) + 1
        while start < prompt_end and not self.tokenizer.decode([int(tokens[start])], skip_special_tokens=True).strip():
            start += 1
        return TokenSpans(vision=vision, prompt=np.arange(start, prompt_end), answer_start=input_length)

    def _closing_length(self, input_ids: np.ndarray, messages: list[dict], rendered: str, text: str) -> int:
        """Count the tokens at the end of the input that follow the user's last text.

        The text is looked for in the chat rendered without the generation prompt, so a
        prompt that is itself a word of the template (``"assistant"``) is still found in
        the user's turn.
        """
        user_turns = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        index = user_turns.rfind(text)
        if index < 0 or not rendered.startswith(user_turns):
            raise SpanError(f"the prompt text {text!r} is not where the processor's chat template puts it")
        closing = rendered[index + len(text) :].strip()
        if not closing:
            return 0
        for count in range(1, len(input_ids) + 1):
            if closing in self.tokenizer.decode(input_ids[-count:].tolist()):
                return count
        raise SpanError(f"the chat template's closing text {closing!r} is not at the end of the input")


class SquareGridAdapter(ModelAdapter):
    """Base of families whose images each become one fixed grid of ``config.image_token_id`` tokens.

    Subclasses give :meth:`~ModelAdapter.vision_shape` and, if needed,
    :attr:`processor_options` (extra keyword arguments of the processor call).
    """

    processor_options: ClassVar[dict] = {}

    def vision_token_ids(self) -> tuple[int, ...]:
        """``config.image_token_id``."""
        return (int(self.model.config.image_token_id),)

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat and the chat's images; pictures are what the encoder saw."""
        self.check_video(messages)
        images = load_images(messages)
        text = self.render(messages)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", **self.processor_options)
        image_processor = self.processor.image_processor
        pictures = denormalize(inputs["pixel_values"], image_processor.image_mean, image_processor.image_std)
        return PreparedInputs(inputs, pictures, text, ["image"] * len(images))


def denormalize(pixel_values, image_mean, image_std) -> list[np.ndarray]:
    """Turn a processor's normalised pixels back into the pictures the vision encoder saw.

    Parameters
    ----------
    pixel_values : Tensor of shape (N, 3, H, W), float
        ``(x / 255 - mean) / std`` per channel, as CLIP-style image processors make them.
    image_mean, image_std : sequence of 3 floats
        The processor's ``image_mean`` and ``image_std``.

    Returns
    -------
    list of N ndarray of shape (H, W, 3), uint8 RGB
    """
    values = pixel_values.detach().float().cpu().numpy()
    mean = np.asarray(image_mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(image_std, dtype=np.float32).reshape(1, 3, 1, 1)
    pixels = np.clip(np.rint((values * std + mean) * 255.0), 0, 255).astype(np.uint8)
    return list(pixels.transpose(0, 2, 3, 1))


def load_images(messages: list[dict]) -> list:
    """Open the image of every image entry of a chat, in order, as RGB ``PIL.Image`` objects.

    An entry's ``image`` may be a path, a URL, a base64 string or a ``PIL.Image``.
    """
    from transformers.image_utils import load_image

    return [load_image(item["image"]).convert("RGB") for item in vision_items(messages) if item_kind(item) == "image"]
