"""The LLaVA-NeXT twin: ``LlavaNextForConditionalGeneration`` and ``LlavaNextProcessor`` at llava-v1.6's settings.

llava-hf/llava-v1.6-vicuna-7b-hf: CLIP ViT-L/14 at 336 pixels (24 x 24 grid), ``image_grid_pinpoints``
[[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]], ``shortest_edge`` and crops of 336,
the CLS token dropped ("default"), the Vicuna chat of LLaVA-1.5. The twin keeps all of it at a
sixth of the size (a 56-pixel tower: 4 x 4 cells, pinpoints divided by 6) so that it runs in
milliseconds; its tokenizer is LLaVA-1.5's tiny one.
"""

from __future__ import annotations

from tam.models.twins import _PATCH, _finish, _llava_processor_arguments, _seeded, _small_text, _small_vision

__all__ = ["build_llava_next", "build_llava_onevision", "llava_next_processor", "llava_onevision_processor"]

_SCALE = 6  # the real tower's 336 pixels over the twin's 56
_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def llava_next_processor(side: int = 4 * _PATCH):
    """Build a LLaVA-NeXT processor around the tiny tokenizer, for a tower of ``side`` pixels (336 real)."""
    from transformers import LlavaNextImageProcessor, LlavaNextProcessor

    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": side},
        crop_size={"height": side, "width": side},
        image_grid_pinpoints=[[h * side // 336, w * side // 336] for h, w in _PINPOINTS],
    )
    return LlavaNextProcessor(
        image_processor=image_processor,
        **_llava_processor_arguments(),
    )


def build_llava_next():
    """Tiny LLaVA-NeXT: ``LlavaNextForConditionalGeneration`` (CLIP + Llama) and ``LlavaNextProcessor``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration

    side = 336 // _SCALE
    processor = llava_next_processor(side)
    tokenizer = processor.tokenizer
    vision = CLIPVisionConfig(**_small_vision(side, projection_dim=16))
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=LlamaConfig(**_small_text(tokenizer)),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=processor.image_processor.image_grid_pinpoints,
        image_seq_length=(side // _PATCH) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    return _finish(_seeded(LlavaNextForConditionalGeneration, config), tokenizer), processor


# llava-onevision-qwen2-*-ov-hf's template: a message's images first, then its videos, then its texts
_ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + ' ' }}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\\n' + content['text'] }}"
    "{% endfor %}{{ '<|im_end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_ONEVISION_SIDE = 384  # SigLIP-so400m at 384 pixels: 27 x 27 patches of 14


def llava_onevision_processor(side: int = 4 * _PATCH):
    """Build a LLaVA-OneVision processor around a tiny Qwen tokenizer, for a tower of ``side`` pixels (384 real).

    The checkpoint's 36 ``image_grid_pinpoints`` (384 to 2304 pixels a side) are scaled by ``side / 384``.
    """
    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

    from tam.models.twins import _qwen_tokenizer

    tokenizer = _qwen_tokenizer(_ONEVISION_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    steps = range(_ONEVISION_SIDE, 6 * _ONEVISION_SIDE + 1, _ONEVISION_SIDE)
    pinpoints = [[h * side // _ONEVISION_SIDE, w * side // _ONEVISION_SIDE] for h in steps for w in steps]
    image_processor = LlavaOnevisionImageProcessor(size={"height": side, "width": side}, image_grid_pinpoints=pinpoints)
    return LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(size={"height": side, "width": side}),
        num_image_tokens=(side // _PATCH) ** 2,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        chat_template=_ONEVISION_TEMPLATE,
    )


def build_llava_onevision():
    """Tiny LLaVA-OneVision: ``LlavaOnevisionForConditionalGeneration`` (SigLIP + Qwen2) and its processor."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        Qwen2Config,
        SiglipVisionConfig,
    )

    side = 8 * _PATCH  # an 8 x 8 base view: SigLIP's 27 x 27 is coarser than most, the twin's need not be
    processor = llava_onevision_processor(side)
    tokenizer = processor.tokenizer
    vision = SiglipVisionConfig(**_small_vision(side))
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=Qwen2Config(**_small_text(tokenizer)),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=processor.image_processor.image_grid_pinpoints,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
        tie_word_embeddings=False,
    )
    return _finish(_seeded(LlavaOnevisionForConditionalGeneration, config), tokenizer), processor
