"""The adapter interface: what TAM needs to know about one multimodal LLM family.

An adapter reads everything from the model's config, its processor and the processed
inputs, never from typed-in ids:

- :meth:`ModelAdapter.prepare` turns chat ``messages`` into model inputs and the
  pictures behind the vision grids;
- :meth:`ModelAdapter.vision_token_ids` and :meth:`ModelAdapter.find_spans` locate
  the vision, prompt and answer tokens (a :class:`~tam.spans.TokenSpans`);
- :meth:`ModelAdapter.vision_shape` gives the grid of vision tokens per image or frame
  after the model's merging, and :meth:`ModelAdapter.layout` where each grid lies in the
  user's own pictures (:class:`~tam.layout.VisionLayout`: tiles with their rectangles);
- :attr:`ModelAdapter.classifier` (``lm_head`` and the model's final-logit softcap),
  :attr:`ModelAdapter.final_norm` and :attr:`ModelAdapter.num_layers` give the
  classifier, the norm for the logit lens and the depth;
- :meth:`ModelAdapter.generate` runs ``generate`` with the hidden states and logits TAM
  reads, under the checkpoint's own ``generation_config`` (greedy unless overridden).

The prompt is found from the rendering itself: the chat is rendered once more with a
marker in place of the user's last text, so any template layout (images first, several
turns, a system message) gives the exact characters, and so the exact tokens, of that
text.

A family subclasses :class:`ModelAdapter`, fills in the three abstract methods and is
registered with :func:`tam.models.register_adapter`.
"""

from __future__ import annotations

import argparse
import copy
import functools
import inspect
import json
import os
import reprlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tam.errors import ShapeError, SpanError, TAMError
from tam.layout import VisionLayout
from tam.spans import TokenSpans

__all__ = [
    "ChatTemplateError",
    "ModelAdapter",
    "NoAnswerError",
    "PreparedInputs",
    "SquareGridAdapter",
    "UnsupportedInputError",
    "is_video_file",
    "item_kind",
    "last_text_entry",
    "read_video_entry",
    "vision_items",
]

FRAME_SAMPLING = ("num_frames", "fps")
"""The processor options that say how a video file is sampled: ``sample_frames``' own settings."""

# Rendered in place of the user's last text to find where the template puts it; no
# template writes this word itself.
PROMPT_MARKER = "TAMPROMPTMARKER"


class UnsupportedInputError(TAMError):
    """The model family cannot take this input (e.g. a video for a family without video support)."""


class NoAnswerError(TAMError):
    """The generation produced nothing to explain (only end-of-turn or padding tokens)."""


class ChatTemplateError(TAMError):
    """The processor's chat template cannot render the chat: no template, no text, or no vision placeholders."""


@dataclass
class PreparedInputs:
    """Model inputs of one chat and the pictures behind its vision grids.

    Attributes
    ----------
    inputs : transformers.BatchFeature
        What the processor returned, batch of one (``input_ids`` of shape ``(1, L0)``).
    pictures : list of ndarray of shape (H, W, 3), uint8 RGB
        The user's pictures, upright and before any resize, crop or pad: one per image,
        or per temporal slice of a video (the frame the model read for it), in chat order.
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


def last_text_entry(messages: list[dict]) -> tuple[int, int | None] | None:
    """Where the text the user typed last is: the last text entry of the last user message holding one.

    Parameters
    ----------
    messages : list of dict
        The chat (see :func:`vision_items`); messages without a ``"user"`` role count as
        the user's when the chat has no user message at all.

    Returns
    -------
    (message index, entry index) or None
        The entry index is None for a message whose content is a plain string; None when
        no user message holds any text.
    """
    users = [index for index, message in enumerate(messages) if message.get("role") == "user"]
    for message_index in reversed(users or range(len(messages))):
        content = messages[message_index].get("content")
        if isinstance(content, str):
            return message_index, None
        for entry_index in reversed(range(len(content or []))):
            if item_kind(content[entry_index]) == "text":
                return message_index, entry_index
    return None


def _with_text(messages: list[dict], where: tuple[int, int | None], text: str) -> list[dict]:
    """Copy the chat with the entry at ``where`` holding ``text`` (pictures are shared, not copied)."""
    message_index, entry_index = where
    message = messages[message_index]
    if entry_index is None:
        replaced = {**message, "content": text}
    else:
        content = list(message["content"])
        content[entry_index] = {**content[entry_index], "text": text}
        replaced = {**message, "content": content}
    return [*messages[:message_index], replaced, *messages[message_index + 1 :]]


def _occurrences(sequence: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Start indices of every (possibly overlapping) occurrence of ``segment`` in ``sequence``, ascending."""
    if len(segment) > len(sequence):
        return np.arange(0)
    windows = np.lib.stride_tricks.sliding_window_view(sequence, len(segment))
    return np.flatnonzero((windows == segment).all(axis=1))


def _shorten(text: str) -> str:
    """``repr`` of a rendered chat, cut in the middle when long."""
    shortener = reprlib.Repr()
    shortener.maxstring = 240
    return shortener.repr(text)


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
    processor_options : dict
        Keyword arguments of every processor call: the family's own, then
        ``processor_kwargs`` (tiles on or off, maximum tiles, min / max pixels...).
    """

    family: ClassVar[str] = ""
    model_classes: ClassVar[tuple[str, ...]] = ()
    supports_video: ClassVar[bool] = False

    processor_options: ClassVar[dict] = {}

    def __init__(self, model, processor, processor_kwargs: dict | None = None) -> None:
        self.model = model
        self.processor = processor
        if processor_kwargs is not None and not isinstance(processor_kwargs, dict):
            raise TAMError(f"processor_kwargs must be a dict of settings, got {type(processor_kwargs).__name__}")
        self.processor_options = {**type(self).processor_options, **(processor_kwargs or {})}
        _check_pixel_options(self.processor_options)

    def image_settings(self, *names: str) -> dict:
        """Return the image settings ``names`` of a processor call, by name.

        Its defaults, the checkpoint's and :attr:`processor_options`, merged by the
        processor itself (``_merge_kwargs``, once per call); a setting none of them gives is
        the image processor's own attribute.
        """
        return self._merged_settings("images_kwargs", self.processor.image_processor, names)

    def frame_sampling(self) -> dict:
        """Return the frame count or rate set in ``processor_kwargs``, for sampling a video file."""
        return {name: self.processor_options[name] for name in FRAME_SAMPLING if self.processor_options.get(name)}

    def video_settings(self, *names: str) -> dict:
        """Return the video settings ``names`` of a processor call, merged as :meth:`image_settings` merges them."""
        return self._merged_settings("videos_kwargs", self.processor.video_processor, names)

    def _merged_settings(self, modality: str, own_processor, names: tuple[str, ...]) -> dict:
        """Read the settings ``names`` of ``modality`` (``"images_kwargs"``...), else ``own_processor``'s attributes."""
        merged = self.processor._merge_kwargs(**self.processor_options)[modality]
        return {
            name: getattr(own_processor, name, None) if merged.get(name) is None else merged[name] for name in names
        }

    def call_options(self, text: str) -> dict:
        """Keyword arguments of the processor call on the rendered chat ``text``: :attr:`processor_options`.

        A template that writes the BOS itself gets no second one from the tokenizer
        (``add_special_tokens=False``), as the processor's own ``apply_chat_template`` does.
        """
        bos = self.tokenizer.bos_token
        written = {"add_special_tokens": False} if bos and text.startswith(bos) else {}
        return {**written, **self.processor_options}

    @property
    def tokenizer(self):
        """The processor's tokenizer."""
        return self.processor.tokenizer

    # ---- family specific -------------------------------------------------------------

    @abstractmethod
    def vision_token_ids(self) -> tuple[int, ...]:
        """Ids of the placeholder tokens that carry vision features (from the config)."""

    def placeholder_token_ids(self) -> tuple[int, ...]:
        """Ids the chat template writes, one per picture, for the processor to expand; the vision tokens by default.

        A family whose template writes another token than the one that carries the
        features (Gemma 3's ``<start_of_image>`` expands into ``<image_soft_token>`` tokens,
        SmolVLM's ``<video>`` into each frame's ``<image>`` tokens) overrides it.
        """
        return self.vision_token_ids()

    @abstractmethod
    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Processor inputs and one picture per grid for a chat."""

    @abstractmethod
    def vision_shape(self, prepared: PreparedInputs):
        """Grid of the vision tokens after merging: ``(h, w)``, ``(t, h, w)`` or a list of ``(h, w)``."""

    def separator_slots(self, prepared: PreparedInputs) -> np.ndarray:
        """Which of the input's vision-token positions belong to no tile (row newlines...), in order.

        Such slots are neither map cells nor text. None by default; a family whose
        processor puts separator features among the vision tokens (LLaVA-NeXT's newline
        after each row) overrides it.

        Returns
        -------
        ndarray of shape (number of vision-token positions,), bool
        """
        ids = prepared.input_ids
        return np.zeros(int(np.isin(ids, np.asarray(self.vision_token_ids(), dtype=np.int64)).sum()), bool)

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Where the vision grids lie in the user's pictures.

        By default each grid of :meth:`vision_shape` covers its picture whole (the
        processor resizes the picture without crop or pad); families that crop, tile or
        pad override it with the tiles' rectangles.
        """
        return VisionLayout.from_shape(self.vision_shape(prepared)).with_pictures(
            [picture.shape[:2] for picture in prepared.pictures]
        )

    def counted(self, layout: VisionLayout, prepared: PreparedInputs, laid_out: str) -> VisionLayout:
        """Return ``layout`` if its cells are exactly the input's image tokens (``config.image_token_id``).

        A layout that does not account for every vision position would shift every map:
        the processor's own count decides. ``laid_out`` names what tam laid out, for the
        error ("the 13 tiles of (16, 16)": "tam lays out the 13 tiles of (16, 16): 3328 cells").

        Raises
        ------
        ShapeError
            If the counts differ, naming both and the processor options given.
        """
        token = int(self.model.config.image_token_id)
        found = int((prepared.inputs["input_ids"][0] == token).sum())
        if found != layout.num_tokens:
            options = f" (processor options {self.processor_options})" if self.processor_options else ""
            raise ShapeError(
                f"the processor gave {found} {self.processor.tokenizer.convert_ids_to_tokens(token)} tokens, but tam "
                f"lays out {laid_out}: {layout.num_tokens} cells; tam cannot lay out these {self.family} processor "
                f"settings{options}"
            )
        return layout

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
    def attention_layers(self) -> tuple[int, ...]:
        """Decoder layers (hidden-state numbering, 1..n) with softmax attention, whose weights baselines read.

        Every layer by default; hybrid families (Qwen3.5's Gated DeltaNet layers) name fewer.
        """
        return tuple(range(1, self.num_layers + 1))

    @property
    def lm_head(self):
        """The output projection (``nn.Linear`` of shape ``(V, d)``)."""
        return self.model.get_output_embeddings()

    @property
    def logit_softcap(self) -> float | None:
        """The cap the model's forward puts on its logits (``cap * tanh(logits / cap)``), or None.

        The language model config's ``final_logit_softcapping`` (Gemma 2, Gemma 4), which
        ``...ForConditionalGeneration.forward`` applies after ``lm_head``; a family whose
        forward ignores that setting says None.
        """
        cap = getattr(self.text_config, "final_logit_softcapping", None)
        return None if cap is None else float(cap)

    @property
    def classifier(self):
        """The model's logits as tam computes them: ``lm_head`` and the softcap (:class:`tam.scores.ClassifierHead`)."""
        from tam.scores import ClassifierHead

        return ClassifierHead.from_lm_head(self.lm_head, softcap=self.logit_softcap)

    @property
    def final_norm(self):
        """The language model's final norm, for the logit lens at earlier layers."""
        language_model = self.model.model.language_model
        return language_model.norm

    def forward(self, **inputs):
        """Run the model's forward pass on ``inputs`` (a family whose forward needs help overrides it)."""
        return self.model(**inputs)

    def run_body(self, **inputs):
        """Run the model without its head; the output's ``last_hidden_state`` is ``(B, L, d)``, after the final norm."""
        return self.model.model(**inputs)

    @property
    def decoder_layers(self):
        """The language model's decoder layers (``nn.ModuleList`` of :attr:`num_layers`), for hooks."""
        return self.model.model.language_model.layers

    def check_video(self, messages: list[dict]) -> None:
        """Raise :class:`UnsupportedInputError` when the chat has a video and the family takes none."""
        if not self.supports_video and any(item_kind(item) == "video" for item in vision_items(messages)):
            raise UnsupportedInputError(
                f"{self.family} takes images only in tam; the families that take videos have 'yes' in the video "
                "column of the README's families table"
            )

    @property
    def template_name(self) -> str:
        """Whose chat template renders the chats, for messages: the processor class and its checkpoint."""
        checkpoint = getattr(self.tokenizer, "name_or_path", "") or getattr(self.processor, "name_or_path", "")
        return f"{type(self.processor).__name__} {checkpoint!r}" if checkpoint else type(self.processor).__name__

    def apply_template(self, messages: list[dict]) -> str:
        """Render the chat with the processor's own chat template and the generation prompt.

        Raises
        ------
        ChatTemplateError
            If the processor has no chat template or its template fails on the chat.
        """
        from jinja2 import TemplateError

        try:
            return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except (TemplateError, ValueError) as error:
            raise ChatTemplateError(
                f"the chat template of {self.template_name} cannot render the chat ({type(error).__name__}: "
                f"{error}); use the checkpoint's chat (instruct) version or set processor.chat_template"
            ) from error

    def render(self, messages: list[dict]) -> str:
        """Render the chat with the processor's own chat template and check it holds every picture.

        Raises
        ------
        ChatTemplateError
            If the rendering does not hold one vision placeholder (:meth:`placeholder_token_ids`)
            per image or video of the chat: the processor could not place the pictures.
        """
        text = self.apply_template(messages)
        expected = len(vision_items(messages))
        ids = np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
        found = int(np.isin(ids, np.asarray(self.placeholder_token_ids(), dtype=np.int64)).sum())
        if found != expected:
            names = self.tokenizer.convert_ids_to_tokens(list(self.placeholder_token_ids()))
            raise ChatTemplateError(
                f"the chat template of {self.template_name} renders {found} vision placeholders {names} for the "
                f"chat's {expected} images and videos; it produced {_shorten(text)}. Use a template that writes "
                "one placeholder per picture (the checkpoint's chat version)"
            )
        return text

    def check_template(self) -> None:
        """Raise :class:`ChatTemplateError` unless the template renders a chat of one image and a question.

        Renders only (no picture is read), so a command can refuse a checkpoint before its first sample.
        """
        chat = [{"role": "user", "content": [{"type": "image", "image": ""}, {"type": "text", "text": "What?"}]}]
        self.prompt_characters(chat, self.render(chat))

    def generation_config(self, max_new_tokens: int, **overrides):
        """Return the generation settings :meth:`generate` uses, and the arguments that are not settings.

        The checkpoint's own ``generation_config`` (its end-of-turn ids, repetition
        penalty...), with greedy decoding as the reference release (the checkpoint's
        sampling knobs are dropped unless ``do_sample=True`` is passed), then ``overrides``.

        Returns
        -------
        config : transformers.GenerationConfig
        model_kwargs : dict
            The ``overrides`` that are not generation settings (``logits_processor``...),
            passed on to ``generate``.
        """
        config = copy.deepcopy(self.model.generation_config)
        if not overrides.get("do_sample", False):
            config.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        model_kwargs = config.update(max_new_tokens=int(max_new_tokens), **overrides)
        return config, model_kwargs

    @staticmethod
    def generation_settings(config) -> dict:
        """Return the settings of a ``GenerationConfig`` that shape the answer, as JSON values (for reports)."""
        settings = {
            "do_sample": bool(config.do_sample),
            "num_beams": int(config.num_beams or 1),
            "max_new_tokens": config.max_new_tokens,
            "eos_token_id": _id_list(config.eos_token_id),
            "repetition_penalty": float(config.repetition_penalty or 1.0),
        }
        if config.do_sample:
            settings.update(temperature=config.temperature, top_p=config.top_p, top_k=config.top_k)
        return settings

    def closing_token_ids(self, config=None) -> tuple[int, ...]:
        """Ids that close an answer without being part of it: end-of-turn and padding.

        The ``eos_token_id`` and ``pad_token_id`` of the generation config (the model's
        own by default) and of the tokenizer, sorted.
        """
        config = self.model.generation_config if config is None else config
        values = (config.eos_token_id, config.pad_token_id, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
        return tuple(sorted({token for value in values for token in _id_list(value)}))

    def generate(self, prepared, max_new_tokens: int, *, layer: int | None = None, **generate_kwargs):
        """``generate`` under :meth:`generation_config`, returning hidden states and the logits of each round.

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
            Settings over :meth:`generation_config` and more arguments for ``model.generate``.

        Returns
        -------
        transformers.generation.GenerateDecoderOnlyOutput
            ``sequences`` of shape ``(B, L0 + N)``, ``hidden_states`` (per round a tuple of
            ``n + 1`` tensors ``[B, L_r, d]``) and ``logits`` (per round ``[B, V]``).
        """
        import torch

        config, model_kwargs = self.generation_config(max_new_tokens, **generate_kwargs)
        hidden_states = True if layer is None else layer
        config.update(output_hidden_states=hidden_states, output_logits=True, return_dict_in_generate=True)
        inputs = prepared.inputs if isinstance(prepared, PreparedInputs) else prepared
        # pixels in the model's dtype, as its vision tower expects (a bfloat16 model gets bfloat16 pixels)
        inputs = inputs.to(device=self.model.device, dtype=self.model.dtype)
        with torch.inference_mode():
            return self.model.generate(**inputs, generation_config=config, **model_kwargs)

    def find_spans(self, tokens, prepared: PreparedInputs, messages: list[dict], *, closing_ids=()) -> TokenSpans:
        """Vision, prompt and answer positions of a generated sequence.

        Vision tokens are the input positions holding :meth:`vision_token_ids`, but for
        :meth:`separator_slots`. The prompt
        is the tokens of the user's last text entry (see :meth:`prompt_positions`). The
        answer starts right after the input and ends before the run of ``closing_ids``
        that closes it.

        Parameters
        ----------
        tokens : ndarray of shape (L,), int
            Input followed by the generated ids.
        prepared : PreparedInputs
        messages : list of dict
        closing_ids : sequence of int, default ()
            End-of-turn and padding ids (:meth:`closing_token_ids`) left out at the end of
            the answer; empty keeps every generated token, as the reference release does.

        Returns
        -------
        TokenSpans

        Raises
        ------
        SpanError
            If the input holds no vision token.
        ChatTemplateError
            If the template does not render the user's last text once, in its place.
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
        separators = np.asarray(self.separator_slots(prepared), dtype=bool)
        if separators.shape != vision.shape:
            raise SpanError(
                f"{self.family}'s layout marks {separators.size} vision slots as cells or separators, but the input "
                f"holds {vision.size}; tam cannot lay out this input"
            )
        closing = np.isin(tokens[input_length:], np.asarray(list(closing_ids), dtype=np.int64))
        kept = len(closing) - _trailing_true(closing)
        return TokenSpans(
            vision=vision[~separators],
            prompt=self.prompt_positions(prepared, messages),
            answer_start=input_length,
            answer_end=input_length + kept,
        )

    def prompt_positions(self, prepared: PreparedInputs, messages: list[dict]) -> np.ndarray:
        """Input positions of the tokens of the user's last text entry, ascending; empty without one.

        The characters of that text in ``prepared.text`` are found by rendering the chat
        again with a marker in place of the text; the tokens covering them (a token that
        mixes the text's words with template text counts, one that adds only the text's
        outer whitespace to template text does not) are then found in the input ids, which
        differ from the rendering's ids only by the expanded vision placeholders.
        """
        characters = self.prompt_characters(messages, prepared.text)
        if characters is None:
            return np.arange(0)
        start, end = characters
        text = prepared.text[start:end]
        core_start, core_end = start + len(text) - len(text.lstrip()), start + len(text.rstrip())
        if not getattr(self.tokenizer, "is_fast", True):
            raise TAMError(
                f"tam finds the prompt's tokens by their character offsets, which {type(self.tokenizer).__name__} "
                "does not give; load the processor with its fast tokenizer (use_fast=True)"
            )
        encoding = self.tokenizer(prepared.text, add_special_tokens=False, return_offsets_mapping=True)
        rendered_ids = np.asarray(encoding["input_ids"], dtype=np.int64)
        covering = [
            index
            for index, (first, last) in enumerate(encoding["offset_mapping"])
            if first < last and ((start <= first and last <= end) or (first < core_end and last > core_start))
        ]
        if not covering:
            return np.arange(0)
        segment = rendered_ids[covering[0] : covering[-1] + 1]
        # The vision placeholders expand before or after the text, never inside it, so
        # its occurrence counted from the end is the same in both sequences.
        in_rendering = _occurrences(rendered_ids, segment)
        from_end = len(in_rendering) - int(np.flatnonzero(in_rendering == covering[0])[0])
        in_input = _occurrences(prepared.input_ids, segment)
        if len(in_input) < from_end:
            raise SpanError(
                f"the prompt's tokens {self.tokenizer.convert_ids_to_tokens(segment.tolist())} are not in the "
                f"processor's input ids: {type(self.processor).__name__} tokenizes the chat differently "
                "from its tokenizer"
            )
        begin = int(in_input[-from_end])
        return np.arange(begin, begin + len(segment))

    def prompt_characters(self, messages: list[dict], rendered: str) -> tuple[int, int] | None:
        """``(start, end)``: where the template wrote the user's last text in ``rendered``; None without one.

        The chat is rendered with :data:`PROMPT_MARKER` in place of that text: what comes
        before the marker and what comes after it are the same in both renderings, so the
        text is what lies between them (as the template wrote it, e.g. stripped).
        """
        where = last_text_entry(messages)
        if where is None:
            return None
        marked = self.apply_template(_with_text(messages, where, PROMPT_MARKER))
        if marked.count(PROMPT_MARKER) != 1:
            raise ChatTemplateError(
                f"the chat template of {self.template_name} renders the user's last text "
                f"{marked.count(PROMPT_MARKER)} times, not once; it produced {_shorten(marked)}"
            )
        before, after = marked.split(PROMPT_MARKER)
        end = len(rendered) - len(after)
        if not (rendered.startswith(before) and rendered.endswith(after) and end >= len(before)):
            raise ChatTemplateError(
                f"the chat template of {self.template_name} renders the chat around the user's last text "
                f"differently when the text changes; it produced {_shorten(rendered)}"
            )
        return len(before), end


class ProcessorOptionError(TAMError, argparse.ArgumentTypeError):
    """A processor option is not ``KEY=VALUE`` (an argparse type error too: one line on a command line)."""


def processor_option(text: str) -> tuple[str, object]:
    """Read one ``KEY=VALUE`` processor setting of a command line; the value as JSON when it is JSON.

    >>> processor_option("crop_to_patches=false"), processor_option("max_patches=6"), processor_option("a=b")
    (('crop_to_patches', False), ('max_patches', 6), ('a', 'b'))
    """
    key, equals, value = text.partition("=")
    if not equals or not key.strip().isidentifier():
        raise ProcessorOptionError(
            f"a processor option is KEY=VALUE (crop_to_patches=false, max_patches=6), got {text!r}"
        )
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _check_pixel_options(options: dict) -> None:
    """Refuse a pixel-count option (``min_pixels``, ``max_pixels``...) over :data:`tam.images.MAX_PIXELS`.

    The processors resize every picture to at least ``min_pixels``: a huge value would make
    each picture of it before anything could fail.
    """
    from tam.images import MAX_PIXELS

    for key, value in options.items():
        if key.endswith("pixels") and isinstance(value, (int, float)) and not 0 <= value <= MAX_PIXELS:
            raise ProcessorOptionError(
                f"the processor option {key}={value!r} is outside 0 .. {MAX_PIXELS} (tam.images.MAX_PIXELS)"
            )


def add_processor_option_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--processor-option KEY=VALUE`` (repeatable, into ``args.processor_options``) to a command line."""
    parser.add_argument(
        "--processor-option",
        dest="processor_options",
        metavar="KEY=VALUE",
        type=processor_option,
        action="append",
        default=[],
        help="a setting of the processor call, e.g. crop_to_patches=false, max_patches=6, max_pixels=1003520; repeat",
    )


def _id_list(value) -> list[int]:
    """Turn an id, a list of ids or None into a list of ints."""
    if value is None:
        return []
    return [int(token) for token in (value if isinstance(value, (list, tuple)) else [value])]


def _trailing_true(flags: np.ndarray) -> int:
    """Length of the run of True values at the end of a boolean array."""
    false = np.flatnonzero(~flags)
    return len(flags) - (int(false[-1]) + 1 if false.size else 0)


class SquareGridAdapter(ModelAdapter):
    """Base of families whose images each become one fixed grid of ``config.image_token_id`` tokens.

    Subclasses give :meth:`~ModelAdapter.vision_shape`.
    """

    def vision_token_ids(self) -> tuple[int, ...]:
        """``config.image_token_id``."""
        return (int(self.model.config.image_token_id),)

    def prepare(self, messages: list[dict]) -> PreparedInputs:
        """Run the processor on the rendered chat and the chat's images; pictures are the images as given."""
        self.check_video(messages)
        images = load_images(messages)
        text = self.render(messages)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", **self.call_options(text))
        pictures = [np.asarray(image, dtype=np.uint8) for image in images]
        return PreparedInputs(inputs, pictures, text, ["image"] * len(images))


def is_video_file(video) -> bool:
    """Whether a video entry's ``video`` names a file (not frames: a list, an array or a folder)."""
    return isinstance(video, (str, os.PathLike)) and os.path.isfile(video)


def read_video_entry(video, video_processor, sampling: dict | None = None):
    """Frames of a video entry and their metadata (None for frames given as such).

    A video file is read by transformers' ``load_video`` (PyAV) and sampled as the family's
    video processor samples it (its ``sample_frames``: its fps, its most frames), at the
    ``sampling`` settings where given (:meth:`ModelAdapter.frame_sampling`); a list, an
    array or a folder of frames is read whole with :func:`tam.images.load_frames`.

    Returns
    -------
    frames : list of PIL.Image.Image or ndarray of shape (T, H, W, 3), uint8
    metadata : transformers.video_utils.VideoMetadata or None

    Raises
    ------
    UnsupportedInputError
        If the video file cannot be read, or ``sampling`` names a setting the family's
        ``sample_frames`` does not take (GLM's samples by rate alone).
    """
    from tam.images import load_frames

    if not is_video_file(video):
        return load_frames(video), None
    from transformers.video_utils import load_video

    sample = video_processor.sample_frames
    if sampling:
        # a setting sample_frames takes only in **kwargs would be dropped there without a word
        takes = inspect.signature(sample).parameters
        if refused := [name for name in sampling if name not in takes]:
            own = " or ".join(name for name in FRAME_SAMPLING if name in takes) or "its own settings alone"
            raise UnsupportedInputError(
                f"{type(video_processor).__name__} samples a video file by {own}, not by {', '.join(refused)}"
            )
        sample = functools.partial(sample, **sampling)
    try:
        return load_video(os.fspath(video), sample_indices_fn=sample)
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        raise UnsupportedInputError(
            f"cannot read the video file {os.fspath(video)!r} ({type(error).__name__}: {error}); transformers "
            "reads video files with PyAV (pip install av), or pass a list of frames instead"
        ) from error


def load_images(messages: list[dict]) -> list:
    """Open the image of every image entry of a chat, in order, with :func:`tam.images.load_image`.

    An entry's ``image`` may be a path or a ``PIL.Image``; every Pillow mode becomes upright 8-bit RGB.
    """
    from tam.images import load_image

    return [load_image(item["image"]) for item in vision_items(messages) if item_kind(item) == "image"]
