"""Tiny twins: small random-weight models of the real transformers classes, built offline.

Each twin is the real model class of its family, built from a small config with seeded
random weights, and the family's real processor class (image processor, video processor
where the family has one) around a tiny tokenizer trained here in milliseconds that
carries the family's real special tokens and chat template. Nothing is downloaded, so
the whole pipeline (processor -> generate -> adapter -> TAM -> visuals) runs offline and
in the tests. Their answers are noise; their structure is the real model's.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable

__all__ = ["TWINS", "internvl_processor", "llava_processor", "qwen_processor"]

_PATCH = 14  # pixels per ViT patch side in LLaVA-1.5's CLIP, InternViT and Qwen2-VL
_QWEN3_PATCH = 16  # pixels per ViT patch side in Qwen3-VL's and Qwen3.5's vision tower

_CORPUS = (
    "Describe this image. Describe this video. What is in the picture? A dog runs on the grass. "
    "A cat sits on a red mat near the window. Two people walk along the beach at sunset. "
    "The image shows a street with cars, trees and a blue sky. There is a man riding a bike. "
    "system user assistant You are a helpful assistant USER: ASSISTANT:"
).split(". ")

# The families' chat templates, as their processors ship them (tool calls left out).
_QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_QWEN3_VL_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# llava-1.5-hf's: every image of a message first, then its texts, each followed by a space
_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
_INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}"
    "{{ '<video>\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_QWEN_MARKERS = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def _train_bpe(
    byte_level: bool, vocab_size: int = 320, corpus: list[str] | None = None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges of a small BPE trained on a few sentences (milliseconds); ``corpus`` replaces them."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if byte_level:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tokenizer = Tokenizer(models.BPE(byte_fallback=True))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        alphabet = [chr(code) for code in range(32, 127)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(_CORPUS if corpus is None else corpus, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _qwen_tokenizer(
    chat_template: str,
    extra_special_tokens: dict | None = None,
    corpus: list[str] | None = None,
    vocab_size: int = 320,
):
    """Build a ``Qwen2Tokenizer`` (byte-level BPE) with Qwen's chat and vision special tokens."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _train_bpe(byte_level=True, vocab_size=vocab_size, corpus=corpus)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens=extra_special_tokens or {},
    )
    tokenizer.add_special_tokens({"additional_special_tokens": _QWEN_MARKERS})
    tokenizer.chat_template = chat_template
    return tokenizer


def _llava_tokenizer():
    """Build a ``LlamaTokenizer`` (SentencePiece-style BPE with byte fallback) with ``<image>`` and ``<pad>``."""
    from transformers import LlamaTokenizer

    vocab, merges = _train_bpe(byte_level=False)
    byte_pieces = [f"<0x{byte:02X}>" for byte in range(256)]
    pieces = ["<unk>", "<s>", "</s>", *byte_pieces, *sorted(vocab, key=vocab.get)]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"], "pad_token": "<pad>"})
    tokenizer.add_bos_token = True  # every LLaVA-1.5 input starts with <s>
    tokenizer.update_post_processor()
    tokenizer.chat_template = _LLAVA_TEMPLATE
    return tokenizer


def _seeded(model_class, config):
    """Build the model from ``config`` with weights drawn from a fixed seed, in eval mode."""
    import torch

    torch.manual_seed(0)
    return model_class(config).eval()


def _qwen_ids(tokenizer) -> dict:
    """Return the config's vision token ids, as the tokenizer numbers them."""
    names = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    image, video, start, end = tokenizer.convert_tokens_to_ids(list(names))
    return {
        "image_token_id": image,
        "video_token_id": video,
        "vision_start_token_id": start,
        "vision_end_token_id": end,
    }


def _small_text(tokenizer, **extra) -> dict:
    """Return a two-layer, 32-wide language model config over the tokenizer's vocabulary."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        **extra,
    }


def _small_vision(side: int, **extra) -> dict:
    """Return a two-layer, 16-wide ViT config for pictures of ``side`` pixels in 14-pixel patches."""
    return {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": side,
        "patch_size": _PATCH,
        **extra,
    }


def _small_tower(**extra) -> dict:
    """Return a two-layer, 16-wide vision tower config with two 8-wide heads, each its own key-value head."""
    return {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 8,
        **extra,
    }


def _llava_processor_arguments() -> dict:
    """Return what LLaVA-1.5's and LLaVA-NeXT's processors share: the tiny tokenizer, CLIP's patches, the chat."""
    return {
        "tokenizer": _llava_tokenizer(),
        "patch_size": _PATCH,
        "vision_feature_select_strategy": "default",
        "num_additional_image_tokens": 1,
        "chat_template": _LLAVA_TEMPLATE,
    }


def _finish(model, tokenizer):
    """Let the twin end its answer only by its end-of-turn token and never emit vision markers."""
    special = [i for i in tokenizer.all_special_ids if i != tokenizer.eos_token_id]
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.suppress_tokens = special
    model.generation_config.do_sample = False
    return model


_QWEN_CLASSES = {
    "qwen2-vl": ("Qwen2VLProcessor", "Qwen2VLVideoProcessor", _QWEN2_VL_TEMPLATE, 14),
    "qwen2.5-vl": ("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor", _QWEN2_VL_TEMPLATE, 14),
    "qwen3-vl": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor", _QWEN3_VL_TEMPLATE, 16),
}


def qwen_processor(
    version: str,
    max_tokens: int | None = 16,
    *,
    patch_size: int | None = None,
    corpus: list[str] | None = None,
    vocab_size: int = 320,
):
    """Build a Qwen-VL processor around the tiny tokenizer.

    Parameters
    ----------
    version : {"qwen2-vl", "qwen2.5-vl", "qwen3-vl"}
    max_tokens : int or None, default 16
        Most vision tokens per image or frame (4 at least); None keeps the image and
        video processors' own defaults (transformers' bound of 1280 tokens per image for
        Qwen2-VL / 2.5-VL, where the checkpoints' preprocessor_config.json allow 16384:
        max_pixels 12845056).
    patch_size : int, optional
        Pixels per ViT patch side; the family's own (14, or 16 for Qwen3-VL) by default.
    corpus : list of str, optional
        Sentences the tokenizer's BPE is trained on, instead of the twins' few; words
        that recur in them become whole tokens.
    vocab_size : int, default 320
        Size of the BPE vocabulary before the special tokens (256 bytes and the merges).
    """
    import transformers

    processor_name, video_name, template, family_patch_size = _QWEN_CLASSES[version]
    patch_size = family_patch_size if patch_size is None else int(patch_size)
    sizes = {"patch_size": patch_size}
    video_sizes = dict(sizes)
    if max_tokens is not None:
        area = (2 * patch_size) ** 2  # pixels per vision token after the 2 x 2 merge
        sizes["size"] = {"shortest_edge": 4 * area, "longest_edge": max_tokens * area}
        # Qwen3-VL bounds the pixels of the whole clip, Qwen2-VL those of each frame
        clip_frames = 16 if version == "qwen3-vl" else 1
        video_sizes["size"] = {"shortest_edge": 4 * area, "longest_edge": max_tokens * area * clip_frames}
    return getattr(transformers, processor_name)(
        image_processor=transformers.Qwen2VLImageProcessor(**sizes),
        video_processor=getattr(transformers, video_name)(**video_sizes),
        tokenizer=_qwen_tokenizer(template, corpus=corpus, vocab_size=vocab_size),
        chat_template=template,
    )


def llava_processor(side: int = 4 * _PATCH):
    """Build a LLaVA-1.5 processor around the tiny tokenizer, for square crops of ``side`` pixels (336 real)."""
    from transformers import LlavaImageProcessor, LlavaProcessor

    image_processor = LlavaImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    return LlavaProcessor(
        image_processor=image_processor,
        **_llava_processor_arguments(),
    )


def internvl_processor(side: int = 8 * _PATCH):
    """Build an InternVL3-hf processor around the tiny tokenizer, for tiles of ``side`` pixels (448 real)."""
    from transformers import GotOcr2ImageProcessor, InternVLProcessor, InternVLVideoProcessor

    image_tokens = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    size = {"height": side, "width": side}
    return InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=False),
        video_processor=InternVLVideoProcessor(size=size),
        tokenizer=_qwen_tokenizer(_INTERNVL_TEMPLATE, extra_special_tokens=image_tokens),
        image_seq_length=(side // _PATCH // 2) ** 2,
        chat_template=_INTERNVL_TEMPLATE,
    )


def _qwen_vision(patch_size: int = _PATCH, **extra) -> dict:
    return {
        "depth": 1,
        "num_heads": 2,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        **extra,
    }


def _qwen3_vision(**extra) -> dict:
    """Qwen3-VL's and Qwen3.5's vision tower, a few units wide, with 64 learned position embeddings."""
    return _qwen_vision(
        patch_size=_QWEN3_PATCH,
        hidden_size=16,
        intermediate_size=32,
        out_hidden_size=32,
        num_position_embeddings=64,
        **extra,
    )


def _qwen3_vl_config(config_class, tokenizer, **text_extra):
    """Build a Qwen3-VL config (dense or MoE, by ``config_class``): interleaved M-RoPE, deepstack from layer 0."""
    rope = {"rope_type": "default", "mrope_section": [2, 1, 1], "mrope_interleaved": True}
    return config_class(
        text_config=_small_text(tokenizer, head_dim=8, rope_parameters=rope, **text_extra),
        vision_config=_qwen3_vision(deepstack_visual_indexes=[0]),
        **_qwen_ids(tokenizer),
    )


def build_qwen2_vl():
    """Tiny Qwen2-VL: ``Qwen2VLForConditionalGeneration`` and ``Qwen2VLProcessor``."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    processor = qwen_processor("qwen2-vl")
    tokenizer = processor.tokenizer
    config = Qwen2VLConfig(
        text_config=_small_text(tokenizer, rope_parameters={"rope_type": "default", "mrope_section": [1, 1, 2]}),
        vision_config=_qwen_vision(embed_dim=16, hidden_size=32, mlp_ratio=2),
        **_qwen_ids(tokenizer),
    )
    return _finish(_seeded(Qwen2VLForConditionalGeneration, config), tokenizer), processor


def build_qwen2_5_vl():
    """Tiny Qwen2.5-VL: ``Qwen2_5_VLForConditionalGeneration`` and ``Qwen2_5_VLProcessor``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    processor = qwen_processor("qwen2.5-vl")
    tokenizer = processor.tokenizer
    vision = _qwen_vision(
        hidden_size=16, intermediate_size=32, out_hidden_size=32, window_size=56, fullatt_block_indexes=[0]
    )
    config = Qwen2_5_VLConfig(
        text_config=_small_text(tokenizer, rope_parameters={"rope_type": "default", "mrope_section": [1, 1, 2]}),
        vision_config=vision,
        **_qwen_ids(tokenizer),
    )
    return _finish(_seeded(Qwen2_5_VLForConditionalGeneration, config), tokenizer), processor


def build_qwen3_vl():
    """Tiny Qwen3-VL: ``Qwen3VLForConditionalGeneration`` and ``Qwen3VLProcessor``."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    processor = qwen_processor("qwen3-vl")
    tokenizer = processor.tokenizer
    config = _qwen3_vl_config(Qwen3VLConfig, tokenizer)
    return _finish(_seeded(Qwen3VLForConditionalGeneration, config), tokenizer), processor


def build_llava():
    """Tiny LLaVA-1.5: ``LlavaForConditionalGeneration`` (CLIP + Llama) and ``LlavaProcessor``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    side = 4 * _PATCH
    processor = llava_processor(side)
    tokenizer = processor.tokenizer
    vision = CLIPVisionConfig(**_small_vision(side, projection_dim=16))
    config = LlavaConfig(
        vision_config=vision,
        text_config=LlamaConfig(**_small_text(tokenizer)),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(side // _PATCH) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    return _finish(_seeded(LlavaForConditionalGeneration, config), tokenizer), processor


def build_internvl():
    """Tiny InternVL3 (-hf layout): ``InternVLForConditionalGeneration`` and ``InternVLProcessor``."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLVisionConfig, Qwen2Config

    side = 8 * _PATCH
    processor = internvl_processor(side)
    tokenizer = processor.tokenizer
    vision = InternVLVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=[side, side],
        patch_size=[_PATCH, _PATCH],
    )
    config = InternVLConfig(
        vision_config=vision,
        text_config=Qwen2Config(**_small_text(tokenizer)),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=(side // _PATCH // 2) ** 2,
        downsample_ratio=0.5,
        tie_word_embeddings=False,
    )
    return _finish(_seeded(InternVLForConditionalGeneration, config), tokenizer), processor


def _built_in(module: str, builder: str) -> Callable:
    """Return a builder that imports the family module of ``tam.models`` only when called (it imports this one)."""

    def build():
        return getattr(importlib.import_module(f"tam.models.{module}"), builder)()

    build.__doc__ = f"Build the twin with :func:`tam.models.{module}.{builder}`."
    return build


TWINS: dict[str, Callable] = {
    "tiny-qwen2-vl": build_qwen2_vl,
    "tiny-qwen2.5-vl": build_qwen2_5_vl,
    "tiny-qwen3-vl": build_qwen3_vl,
    "tiny-qwen3-vl-moe": _built_in("twins_qwen3", "build_qwen3_vl_moe"),
    "tiny-qwen3.5": _built_in("twins_qwen3", "build_qwen3_5"),
    "tiny-qwen3.5-moe": _built_in("twins_qwen3", "build_qwen3_5_moe"),
    "tiny-llava": build_llava,
    "tiny-internvl": build_internvl,
    "tiny-llava-next": _built_in("twins_llava_next", "build_llava_next"),
    "tiny-llava-onevision": _built_in("twins_llava_next", "build_llava_onevision"),
    "tiny-mistral3": _built_in("twins_mistral3", "build_mistral3"),
    "tiny-glm4v": _built_in("twins_glm", "build_glm4v"),
    "tiny-glm4v-moe": _built_in("twins_glm", "build_glm4v_moe"),
    "tiny-gemma3": _built_in("twins_gemma", "build_gemma3"),
    "tiny-gemma4": _built_in("twins_gemma", "build_gemma4"),
    "tiny-idefics3": _built_in("twins_idefics3", "build_idefics3"),
    "tiny-smolvlm": _built_in("twins_idefics3", "build_smolvlm"),
    "tiny-aya-vision": _built_in("twins_aya_vision", "build_aya_vision"),
    "tiny-molmo2": _built_in("twins_molmo2", "build_molmo2"),
    "tiny-llama4": _built_in("twins_llama4", "build_llama4"),
    "tiny-lfm2-vl": _built_in("twins_lfm2_vl", "build_lfm2_vl"),
}
"""Twin name -> builder returning ``(model, processor)``."""
