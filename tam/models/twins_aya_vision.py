"""The Aya Vision twin: ``AyaVisionForConditionalGeneration`` and ``AyaVisionProcessor`` at aya-vision-8b's settings.

CohereLabs/aya-vision-8b: SigLIP2 with 14-pixel patches on 364-pixel tiles, the projector's 2 x 2
pixel shuffle (13 x 13 tokens a tile), ``GotOcr2ImageProcessor`` tiling by default
(``crop_to_patches``, 1 to 12 tiles and a thumbnail), ``<image>`` expanded into
``<|START_OF_IMG|>``, ``TILE_n`` / ``TILE_GLOBAL`` and ``<|IMG_PATCH|>`` tokens, a Cohere2
language model and its ``<|START_OF_TURN_TOKEN|>`` chat. The twin keeps all of it but the
tile, cut to 112 pixels (4 x 4 tokens), so that it runs in milliseconds.
"""

from __future__ import annotations

from tam.models.twins import _PATCH, _finish, _seeded, _small_text, _small_vision, _train_bpe

__all__ = ["aya_vision_processor", "build_aya_vision"]

# aya-vision-8b's template, a message's images and texts in their order (system prompt and tools left out)
_AYA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' }}"
    "{% elif message['role'] == 'system' %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' }}"
    "{% else %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<image>' }}{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{ '<|END_OF_TURN_TOKEN|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
)
_MARKERS = [
    "<|END_OF_TURN_TOKEN|>",
    "<|START_OF_TURN_TOKEN|>",
    "<|USER_TOKEN|>",
    "<|CHATBOT_TOKEN|>",
    "<|SYSTEM_TOKEN|>",
    "<|START_OF_IMG|>",
    "<|END_OF_IMG|>",
    "<|IMG_PATCH|>",
    "<|IMG_LINE_BREAK|>",
    "<image>",
]
_TILE = 364  # aya-vision-8b's tile side in pixels


def _cohere_tokenizer():
    """Build a ``CohereTokenizer`` (byte-level BPE) with Aya Vision's chat and image tokens."""
    from transformers import CohereTokenizer

    vocab, merges = _train_bpe(byte_level=True)
    specials = ["<PAD>", "<UNK>", "<CLS>", "<SEP>", "<MASK_TOKEN>", "<BOS_TOKEN>"]  # ids 0 to 5, as Cohere's
    vocab = {
        **{token: index for index, token in enumerate(specials)},
        **{k: i + len(specials) for k, i in vocab.items()},
    }
    tokenizer = CohereTokenizer(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": _MARKERS})
    tokenizer.add_bos_token = True  # as Cohere's tokenizers: a text tokenized alone starts with <BOS_TOKEN>
    tokenizer.update_post_processor()
    tokenizer.chat_template = _AYA_TEMPLATE
    return tokenizer


def aya_vision_processor(side: int = 8 * _PATCH):
    """Build an Aya Vision processor around the tiny tokenizer, for tiles of ``side`` pixels (364 real)."""
    from transformers import AyaVisionProcessor, GotOcr2ImageProcessor

    image_processor = GotOcr2ImageProcessor(
        size={"height": side, "width": side},
        crop_to_patches=True,
        min_patches=1,
        max_patches=12,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return AyaVisionProcessor(
        image_processor=image_processor,
        tokenizer=_cohere_tokenizer(),
        patch_size=2 * _PATCH,  # a token's pixels after the 2 x 2 shuffle
        img_size=side,
        chat_template=_AYA_TEMPLATE,
    )


def build_aya_vision():
    """Tiny Aya Vision: ``AyaVisionForConditionalGeneration`` (SigLIP + Cohere2) and ``AyaVisionProcessor``."""
    from transformers import AyaVisionConfig, AyaVisionForConditionalGeneration, Cohere2Config, SiglipVisionConfig

    side = 8 * _PATCH
    processor = aya_vision_processor(side)
    tokenizer = processor.tokenizer
    config = AyaVisionConfig(
        vision_config=SiglipVisionConfig(**_small_vision(side, vision_use_head=False)),
        text_config=Cohere2Config(**_small_text(tokenizer), tie_word_embeddings=False),
        image_token_index=tokenizer.convert_tokens_to_ids("<|IMG_PATCH|>"),
        downsample_factor=2,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        tie_word_embeddings=False,
    )
    return _finish(_seeded(AyaVisionForConditionalGeneration, config), tokenizer), processor
