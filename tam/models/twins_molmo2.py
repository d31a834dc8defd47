"""The Molmo2 twin: ``Molmo2ForConditionalGeneration`` and ``Molmo2Processor`` at Molmo2-4B's settings.

allenai/Molmo2-4B: a SigLIP-style ViT on 378-pixel crops of 14-pixel patches, 2 x 2 attention pooling
of its patches into tokens (3 x 3 for video frames), up to 8 overlapping crops (margins of 4 patches)
plus the whole picture as a low-resolution view, ``<|image|>`` / ``<|video|>`` expanded into
``<im_patch>`` tokens between ``<low_res_im_start>`` / ``<im_start>`` and ``<im_end>``, an ``<im_col>``
after each row of an image's views, and the Qwen3 chat with every picture written before the
first turn. The twin keeps all of it (the processor at the checkpoint's default settings) with
a two-layer, 16-wide ViT and a two-layer, 32-wide language model.
"""

from __future__ import annotations

from tam.models.twins import _finish, _qwen_tokenizer, _seeded, _small_text, _small_tower

__all__ = ["build_molmo2", "molmo2_processor"]

# Molmo2-4B's template without its task styles: the pictures first ("Image n" before each of
# several images), then the turns, user and assistant alternating, a message's texts joined by spaces
_MOLMO2_TEMPLATE = (
    "{% set images = namespace(count=0) %}{% set videos = namespace(count=0) %}"
    "{% for message in messages %}{% if message['content'] is not string %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{% set images.count = images.count + 1 %}"
    "{% elif content['type'] == 'video' %}{% set videos.count = videos.count + 1 %}{% endif %}"
    "{% endfor %}{% endif %}{% endfor %}"
    "{% if images.count == 1 %}{{ '<|image|>' }}{% elif images.count > 1 %}"
    "{% for i in range(images.count) %}{{ 'Image ' ~ (i + 1) ~ '<|image|>' }}{% endfor %}{% endif %}"
    "{% for _ in range(videos.count) %}{{ '<|video|>' }}{% endfor %}"
    "{% for message in messages %}{% set role = message['role'].lower() %}"
    "{% if (loop.index % 2 == 1 and role != 'user') or (loop.index % 2 == 0 and role != 'assistant') %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['content'] is string %}{% set text = message['content'] %}{% else %}"
    "{% set joined = namespace(text='') %}{% for content in message['content'] %}{% if content['type'] == 'text' %}"
    "{% set joined.text = joined.text ~ ('' if not joined.text else ' ') ~ content['text'] %}{% endif %}{% endfor %}"
    "{% set text = joined.text %}{% endif %}"
    "{% if role == 'user' %}{% if not loop.first %}{{ '<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>user\\n' }}{{ text }}{{ '<|im_end|>\\n' }}"
    "{% else %}{{ '<|im_start|>assistant\\n' }}{{ text }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Molmo2-4B's vision tokens (added_tokens.json), in its order
_MOLMO2_MARKERS = [
    "<im_start>",
    "<im_end>",
    "<im_patch>",
    "<im_col>",
    "<low_res_im_start>",
    "<|image|>",
    "<im_low>",
    "<frame_start>",
    "<frame_end>",
    "<|video|>",
]


def molmo2_processor():
    """Build a Molmo2 processor at Molmo2-4B's image and video settings around a tiny Qwen tokenizer."""
    from transformers import Molmo2ImageProcessor, Molmo2Processor, Molmo2VideoProcessor

    tokenizer = _qwen_tokenizer(_MOLMO2_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": _MOLMO2_MARKERS, "bos_token": "<|im_end|>"})
    image_processor = Molmo2ImageProcessor(
        size={"height": 378, "width": 378},
        max_crops=8,
        overlap_margins=[4, 4],
        patch_size=14,
        pooling_size=[2, 2],
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return Molmo2Processor(
        image_processor=image_processor,
        video_processor=Molmo2VideoProcessor(),
        tokenizer=tokenizer,
        chat_template=_MOLMO2_TEMPLATE,
    )


def build_molmo2():
    """Tiny Molmo2: ``Molmo2ForConditionalGeneration`` (ViT, pooling adapter, Qwen3-style text) and its processor."""
    from transformers import (
        Molmo2AdapterConfig,
        Molmo2Config,
        Molmo2ForConditionalGeneration,
        Molmo2TextConfig,
        Molmo2VisionConfig,
    )

    processor = molmo2_processor()
    tokenizer = processor.tokenizer
    ids = dict(
        zip(
            (
                "image_start_token_id",
                "low_res_image_start_token_id",
                "image_end_token_id",
                "image_patch_id",
                "frame_start_token_id",
                "frame_end_token_id",
            ),
            tokenizer.convert_tokens_to_ids(
                ["<im_start>", "<low_res_im_start>", "<im_end>", "<im_patch>", "<frame_start>", "<frame_end>"]
            ),
            strict=True,
        )
    )
    vision = Molmo2VisionConfig(**_small_tower(image_size=[378, 378], patch_size=14))
    text = Molmo2TextConfig(**_small_text(tokenizer, head_dim=8, additional_vocab_size=0))
    adapter = Molmo2AdapterConfig(
        vision_feature_layer=[-1, -2],
        hidden_size=16,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
        intermediate_size=32,
        text_hidden_size=text.hidden_size,
    )
    config = Molmo2Config(vision_config=vision, adapter_config=adapter, text_config=text, **ids)
    return _finish(_seeded(Molmo2ForConditionalGeneration, config), tokenizer), processor
