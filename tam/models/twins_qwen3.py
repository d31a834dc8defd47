"""Tiny twins of the Qwen3 generation's vision-language models: Qwen3-VL MoE, Qwen3.5 dense and MoE.

Each is the real model class over a config a few units wide, with the real processor
class (``Qwen3VLProcessor``: ``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor``) at
the checkpoints' preprocessing: 16-pixel patches, 2 x 2 merge, two frames per temporal
token, mean and std 0.5 (``Qwen/Qwen3-VL-30B-A3B-Instruct``'s and ``Qwen/Qwen3.5-*``'s
``preprocessor_config.json``). Only the pixel bounds are shrunk, for speed: 4 to 16 vision
tokens per image (the checkpoints allow 64 to 16384) and per frame.
"""

from __future__ import annotations

from tam.models.twins import (
    _QWEN3_PATCH,
    _QWEN3_VL_TEMPLATE,
    _finish,
    _qwen3_vision,
    _qwen3_vl_config,
    _qwen_ids,
    _qwen_tokenizer,
    _seeded,
    _small_text,
)

__all__ = ["build_qwen3_5", "build_qwen3_5_moe", "build_qwen3_vl_moe", "qwen3_processor"]

_MEAN_STD = [0.5, 0.5, 0.5]  # the checkpoints' image_mean and image_std

# Qwen3.5's chat template as its checkpoints ship it (tool calls and reasoning content left out):
# Qwen3-VL's vision placeholders, each turn trimmed, and a generation prompt that opens the thinking
# block (``enable_thinking=False`` closes it empty)
_QWEN3_5_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] | trim }}{% else %}{% set parts = namespace(text='') %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set parts.text = parts.text + '<|vision_start|><|image_pad|><|vision_end|>' %}"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set parts.text = parts.text + '<|vision_start|><|video_pad|><|vision_end|>' %}"
    "{% elif 'text' in content %}{% set parts.text = parts.text + content['text'] %}{% endif %}{% endfor %}"
    "{{ parts.text | trim }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}"
)


def qwen3_processor(template: str, max_tokens: int = 16):
    """Build a ``Qwen3VLProcessor`` around the tiny tokenizer, at most ``max_tokens`` vision tokens per image.

    Parameters
    ----------
    template : str
        The family's chat template.
    max_tokens : int, default 16
        Most vision tokens per image and per frame (4 at least): the pixel bounds, shrunk for speed.
    """
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    area = (2 * _QWEN3_PATCH) ** 2  # pixels per vision token after the 2 x 2 merge
    settings = {"patch_size": _QWEN3_PATCH, "image_mean": _MEAN_STD, "image_std": _MEAN_STD}
    image_size = {"shortest_edge": 4 * area, "longest_edge": max_tokens * area}
    video_size = {"shortest_edge": 4 * area, "longest_edge": max_tokens * area * 16}  # bounds the whole clip
    tokenizer = _qwen_tokenizer(template)
    tokenizer.add_tokens(["<think>", "</think>"])  # plain added tokens, as in the checkpoints' tokenizers
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=image_size, **settings),
        video_processor=Qwen3VLVideoProcessor(size=video_size, **settings),
        tokenizer=tokenizer,
        chat_template=template,
    )


def _moe() -> dict:
    """Four experts, two per token, in every layer."""
    return {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "decoder_sparse_step": 1}


def build_qwen3_vl_moe():
    """Tiny Qwen3-VL MoE: ``Qwen3VLMoeForConditionalGeneration`` and ``Qwen3VLProcessor``."""
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration

    processor = qwen3_processor(_QWEN3_VL_TEMPLATE)
    tokenizer = processor.tokenizer
    config = _qwen3_vl_config(Qwen3VLMoeConfig, tokenizer, **_moe())
    return _finish(_seeded(Qwen3VLMoeForConditionalGeneration, config), tokenizer), processor


def _qwen3_5_text(tokenizer, **extra) -> dict:
    """Eight decoder layers: Gated DeltaNet, with softmax attention in every fourth (the checkpoints' interval).

    Two attention layers, so that baselines reading "the layers with attention" are told apart from "the last one".
    """
    rope = {"rope_type": "default", "mrope_section": [1, 1, 0], "mrope_interleaved": True}
    rope["partial_rotary_factor"] = 0.25
    return _small_text(
        tokenizer,
        num_hidden_layers=8,
        head_dim=16,
        linear_key_head_dim=8,
        linear_value_head_dim=8,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        rope_parameters=rope,
        **extra,
    )


def build_qwen3_5():
    """Tiny Qwen3.5: ``Qwen3_5ForConditionalGeneration`` (Gated DeltaNet + attention) and ``Qwen3VLProcessor``."""
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    processor = qwen3_processor(_QWEN3_5_TEMPLATE)
    tokenizer = processor.tokenizer
    config = Qwen3_5Config(text_config=_qwen3_5_text(tokenizer), vision_config=_qwen3_vision(), **_qwen_ids(tokenizer))
    return _finish(_seeded(Qwen3_5ForConditionalGeneration, config), tokenizer), processor


def build_qwen3_5_moe():
    """Tiny Qwen3.5 MoE: ``Qwen3_5MoeForConditionalGeneration`` and ``Qwen3VLProcessor``."""
    from transformers import Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration

    processor = qwen3_processor(_QWEN3_5_TEMPLATE)
    tokenizer = processor.tokenizer
    experts = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}
    text = _qwen3_5_text(tokenizer, shared_expert_intermediate_size=32, **experts)
    config = Qwen3_5MoeConfig(text_config=text, vision_config=_qwen3_vision(), **_qwen_ids(tokenizer))
    return _finish(_seeded(Qwen3_5MoeForConditionalGeneration, config), tokenizer), processor
