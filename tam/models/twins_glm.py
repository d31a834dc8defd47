"""The GLM-V twins: ``Glm4vForConditionalGeneration`` (GLM-4.1V) and ``Glm4vMoeForConditionalGeneration`` (GLM-4.6V).

zai-org/GLM-4.1V-9B-Thinking: a ViT of 14-pixel patches whose tokens are merged 2 x 2
(``spatial_merge_size``) and two frames deep (``temporal_patch_size``), pictures resized by
``smart_resize`` to whole 28-pixel cells within ``size`` (``shortest_edge`` 12544 pixels, ``longest_edge``
9633792 over the two frames an image counts as), ``<|begin_of_image|><|image|><|end_of_image|>`` per
image, and per video one such block per temporal token followed by its timestamp, inside
``<|begin_of_video|>`` / ``<|end_of_video|>``; the ``[gMASK]<sop><|user|>`` chat. zai-org/GLM-4.6V
keeps that layout with a mixture-of-experts language model, ``Glm46VProcessor`` (timestamps written
"1.0 seconds") and a template that can switch thinking off. The twins keep all of it but
``longest_edge``, cut to 64 tokens per image (16 per video frame) so that they run in milliseconds.
"""

from __future__ import annotations

from tam.models.twins import _finish, _seeded, _small_text, _train_bpe

__all__ = ["build_glm4v", "build_glm4v_moe", "glm4v_processor"]

_CELL = 28  # pixels per side of one merged token: 14-pixel patches, 2 x 2
_SHORTEST_EDGE = 112 * 112  # the checkpoints' least pixels (over an image's two frames)

# GLM-4.1V-9B-Thinking's template (assistant metadata and tools left out)
_GLM4V_TEMPLATE = (
    "[gMASK]<sop>{% for msg in messages %}{% if msg.role == 'system' %}<|system|>\n{{ msg.content }}"
    "{% elif msg.role == 'user' %}<|user|>\n{% if msg.content is string %}{{ msg.content }}{% else %}"
    "{% for item in msg.content %}{% if item.type == 'video' or 'video' in item %}"
    "<|begin_of_video|><|video|><|end_of_video|>{% elif item.type == 'image' or 'image' in item %}"
    "<|begin_of_image|><|image|><|end_of_image|>{% elif item.type == 'text' %}{{ item.text }}{% endif %}"
    "{% endfor %}{% endif %}{% elif msg.role == 'assistant' %}<|assistant|>\n"
    "{% if msg.content is string %}{{ msg.content }}{% else %}{{ msg.content[0].text }}{% endif %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# GLM-4.6V's: the same blocks; "/nothink" after the user's text and an empty think block when thinking is off
_GLM46V_TEMPLATE = (
    "[gMASK]<sop>{% for msg in messages %}{% if msg.role == 'system' %}<|system|>\n{{ msg.content }}"
    "{% elif msg.role == 'user' %}<|user|>\n{% if msg.content is string %}{{ msg.content }}{% else %}"
    "{% for item in msg.content %}{% if item.type == 'video' or 'video' in item %}"
    "<|begin_of_video|><|video|><|end_of_video|>{% elif item.type == 'image' or 'image' in item %}"
    "<|begin_of_image|><|image|><|end_of_image|>{% elif item.type == 'text' %}{{ item.text }}{% endif %}"
    "{% endfor %}{% endif %}{% if enable_thinking is defined and not enable_thinking %}/nothink{% endif %}"
    "{% elif msg.role == 'assistant' %}<|assistant|>\n<think></think>\n"
    "{% if msg.content is string %}{{ msg.content }}{% else %}{{ msg.content[0].text }}{% endif %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>"
    "{% if enable_thinking is defined and not enable_thinking %}\n<think></think>{% endif %}{% endif %}"
)
_MARKERS = [
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<think>",
    "</think>",
]


def _glm_tokenizer(chat_template: str):
    """Build a byte-level BPE tokenizer (as GLM-4's) with GLM-V's chat and vision tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _train_bpe(byte_level=True)
    vocab = {"<|endoftext|>": 0, **{piece: index + 1 for piece, index in vocab.items()}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": _MARKERS})
    tokenizer.chat_template = chat_template
    return tokenizer


def glm4v_processor(
    max_image_tokens: int = 64, max_frame_tokens: int = 16, *, version: str = "glm-4.1v", max_frames: int = 16
):
    """Build a GLM-4.1V (``Glm4vProcessor``) or GLM-4.6V (``Glm46VProcessor``) processor around the tiny tokenizer.

    Parameters
    ----------
    max_image_tokens : int, default 64
        Most vision tokens per image: ``size["longest_edge"]`` is that many 28-pixel cells, twice
        (an image counts as two frames).
    max_frame_tokens : int, default 16
        Most vision tokens per temporal token of a video of ``max_frames`` frames.
    version : {"glm-4.1v", "glm-4.6v"}
    """
    import transformers

    prefix, template = {"glm-4.1v": ("Glm4v", _GLM4V_TEMPLATE), "glm-4.6v": ("Glm46V", _GLM46V_TEMPLATE)}[version]
    image_size = {"shortest_edge": _SHORTEST_EDGE, "longest_edge": 2 * max_image_tokens * _CELL**2}
    video_size = {"shortest_edge": _SHORTEST_EDGE, "longest_edge": max_frames * max_frame_tokens * _CELL**2}
    return getattr(transformers, f"{prefix}Processor")(
        image_processor=getattr(transformers, f"{prefix}ImageProcessor")(size=image_size),
        video_processor=getattr(transformers, f"{prefix}VideoProcessor")(size=video_size),
        tokenizer=_glm_tokenizer(template),
        chat_template=template,
    )


def _glm_ids(tokenizer) -> dict:
    """Return the config's vision token ids, as the tokenizer numbers them."""
    names = {
        "image_token_id": "<|image|>",
        "video_token_id": "<|video|>",
        "image_start_token_id": "<|begin_of_image|>",
        "image_end_token_id": "<|end_of_image|>",
        "video_start_token_id": "<|begin_of_video|>",
        "video_end_token_id": "<|end_of_video|>",
    }
    return {key: tokenizer.convert_tokens_to_ids(token) for key, token in names.items()}


def _glm_vision(text_width: int) -> dict:
    """Return a two-layer, 16-wide GLM-V vision tower over 14-pixel patches (an 8 x 8 table of positions)."""
    return {
        "depth": 2,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_heads": 2,
        "image_size": 8 * 14,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": text_width,
    }


# head_dim 16, half of it rotated: 4 frequencies split over time, height and width (8, 12, 12 of 32 real)
_GLM_ROPE = {"rope_type": "default", "mrope_section": [2, 1, 1], "partial_rotary_factor": 0.5}


def build_glm4v():
    """Tiny GLM-4.1V: ``Glm4vForConditionalGeneration`` and ``Glm4vProcessor``."""
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    processor = glm4v_processor()
    tokenizer = processor.tokenizer
    text = _small_text(tokenizer, num_attention_heads=2, rope_parameters=_GLM_ROPE)
    config = Glm4vConfig(text_config=text, vision_config=_glm_vision(text["hidden_size"]), **_glm_ids(tokenizer))
    return _finish(_seeded(Glm4vForConditionalGeneration, config), tokenizer), processor


def build_glm4v_moe():
    """Tiny GLM-4.6V: ``Glm4vMoeForConditionalGeneration`` (eight experts, two per token) and ``Glm46VProcessor``."""
    from transformers import Glm4vMoeConfig, Glm4vMoeForConditionalGeneration

    processor = glm4v_processor(version="glm-4.6v")
    tokenizer = processor.tokenizer
    text = _small_text(
        tokenizer,
        num_attention_heads=2,
        rope_parameters=_GLM_ROPE,
        moe_intermediate_size=32,
        n_routed_experts=8,
        num_experts_per_tok=2,
        n_shared_experts=1,
        first_k_dense_replace=1,
    )
    config = Glm4vMoeConfig(text_config=text, vision_config=_glm_vision(text["hidden_size"]), **_glm_ids(tokenizer))
    return _finish(_seeded(Glm4vMoeForConditionalGeneration, config), tokenizer), processor
