"""The Mistral 3 twin: ``Mistral3ForConditionalGeneration`` and ``PixtralProcessor`` at Mistral Small 3.1's settings.

mistralai/Mistral-Small-3.1-24B-Instruct-2503: Pixtral vision tower with 14-pixel patches, tokens
merged 2 x 2 (``spatial_merge_size``), pictures resized within ``longest_edge`` 1540, ``[IMG]`` /
``[IMG_BREAK]`` / ``[IMG_END]``, the ``[INST] ... [/INST]`` chat. The twin keeps all of it but
``longest_edge``, cut to 224 pixels (at most 8 x 8 tokens) so that it runs in milliseconds.
"""

from __future__ import annotations

from tam.models.twins import _PATCH, _finish, _seeded, _small_text, _small_vision, _train_bpe

__all__ = ["build_mistral3", "mistral3_processor"]

# Mistral Small 3.1's template, images and texts of a message in their order (tool calls left out)
_MISTRAL3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}[SYSTEM_PROMPT]{{ message['content'] if message['content'] is string "
    "else message['content'][0]['text'] }}[/SYSTEM_PROMPT]"
    "{% elif message['role'] == 'user' %}[INST]{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}{% if block['type'] == 'text' %}{{ block['text'] }}"
    "{% elif block['type'] in ['image', 'image_url'] %}[IMG]{% endif %}{% endfor %}{% endif %}[/INST]"
    "{% elif message['role'] == 'assistant' %}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{{ message['content'][0]['text'] }}{% endif %}{{ eos_token }}{% endif %}{% endfor %}"
)
_MARKERS = ["[IMG]", "[IMG_BREAK]", "[IMG_END]", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"]


def _mistral_tokenizer():
    """Build a byte-level BPE tokenizer (as Mistral's tekken) with Mistral 3's chat and image tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _train_bpe(byte_level=True)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{piece: index + 3 for piece, index in vocab.items()}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": _MARKERS})
    tokenizer.chat_template = _MISTRAL3_TEMPLATE
    return tokenizer


def mistral3_processor(longest_edge: int = 16 * _PATCH):
    """Build a Mistral 3 processor (Pixtral's) around the tiny tokenizer, pictures within ``longest_edge`` pixels."""
    from transformers import PixtralImageProcessor, PixtralProcessor

    image_processor = PixtralImageProcessor(
        size={"longest_edge": longest_edge}, patch_size={"height": _PATCH, "width": _PATCH}
    )
    return PixtralProcessor(
        image_processor=image_processor,
        tokenizer=_mistral_tokenizer(),
        patch_size=_PATCH,
        spatial_merge_size=2,
        chat_template=_MISTRAL3_TEMPLATE,
    )


def build_mistral3():
    """Tiny Mistral 3: ``Mistral3ForConditionalGeneration`` (Pixtral + Mistral) and ``PixtralProcessor``."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration, MistralConfig, PixtralVisionConfig

    processor = mistral3_processor()
    tokenizer = processor.tokenizer
    vision = PixtralVisionConfig(**_small_vision(8 * _PATCH, head_dim=8))
    config = Mistral3Config(
        vision_config=vision,
        text_config=MistralConfig(**_small_text(tokenizer), head_dim=8),
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        spatial_merge_size=2,
        vision_feature_layer=-1,
    )
    return _finish(_seeded(Mistral3ForConditionalGeneration, config), tokenizer), processor
