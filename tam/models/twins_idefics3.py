"""Tiny twins of Idefics3 and SmolVLM2: tiles of the picture plus a global image.

The real model classes (``Idefics3ForConditionalGeneration``,
``SmolVLMForConditionalGeneration``) and processor classes at their checkpoints' default
settings, with small random weights and a tiny byte-level tokenizer carrying the families'
special tokens (``<image>``, ``<fake_token_around_image>``, ``<global-img>``, the
``<row_r_col_c>`` tile names, ``<end_of_utterance>``) and their chat templates. Only sizes
are shrunk, each in the same ratio as the real checkpoint's (see the comments).
"""

from __future__ import annotations

from tam.models.twins import _finish, _seeded, _small_text, _small_vision, _train_bpe

__all__ = ["build_idefics3", "build_smolvlm", "idefics3_processor", "smolvlm_processor"]

# HuggingFaceM4/Idefics3-8B-Llama3's chat template
_IDEFICS3_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# The real tokenizers name tiles up to a 6 x 6 split
_TILE_NAMES = [f"<row_{row}_col_{column}>" for row in range(1, 7) for column in range(1, 7)]
_IMAGE_TOKENS = ["<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>"]


def _tokenizer(chat_template: str, bos_token: str, extra: list[str]):
    """Build a ``GPT2Tokenizer`` (byte-level BPE, as SmolLM2's and Llama 3's) with the families' image tokens."""
    from transformers import GPT2Tokenizer

    vocab, merges = _train_bpe(byte_level=True)
    tokenizer = GPT2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None, bos_token=bos_token, eos_token="<end_of_utterance>"
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [*extra, *_IMAGE_TOKENS, *_TILE_NAMES], "pad_token": "<|endoftext|>"}
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def idefics3_processor():
    """Idefics3Processor at Idefics3-8B-Llama3's defaults, its sizes divided by 6.5.

    Real: 364-pixel tiles (``max_image_size``), longest edge 4 x 364 = 1456, 14-pixel
    patches, ``scale_factor`` 2, so 13 x 13 = 169 tokens per tile. Here: 56-pixel tiles,
    longest edge 4 x 56, 7-pixel patches, so 4 x 4 = 16 tokens per tile.
    """
    from transformers import Idefics3ImageProcessor, Idefics3Processor

    image_processor = Idefics3ImageProcessor(
        do_image_splitting=True,
        size={"longest_edge": 4 * 56},
        max_image_size={"longest_edge": 56},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        resample=1,  # LANCZOS, as the checkpoint sets it
    )
    tokenizer = _tokenizer(_IDEFICS3_TEMPLATE, "<|begin_of_text|>", ["<|begin_of_text|>"])
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=16, chat_template=_IDEFICS3_TEMPLATE)
    # Idefics3Processor replaces the tokenizer's special tokens by its three: the tile names stay
    # special, as in the checkpoint's tokenizer, so that the twin never writes them in an answer
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<global-img>", *_TILE_NAMES]}, replace_extra_special_tokens=False
    )
    return processor


def smolvlm_processor():
    """SmolVLMProcessor at SmolVLM2-2.2B-Instruct's defaults, its sizes divided by 6.

    Real: 384-pixel tiles, longest edge 4 x 384 = 1536, 14-pixel patches (27 per side:
    the last 6 pixels of a tile are not read), ``scale_factor`` 3, so 9 x 9 = 81 tokens per
    tile; video frames at most 64, 1 per second, each sized to one 384 tile. Here: 64-pixel
    tiles, longest edge 4 x 64, 7-pixel patches (9 per side: the last pixel not read), so
    3 x 3 = 9 tokens per tile; frames as the checkpoint samples them, each one 64 tile.
    """
    from transformers import SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    normalize = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 1}
    image_processor = SmolVLMImageProcessor(
        do_image_splitting=True, size={"longest_edge": 4 * 64}, max_image_size={"longest_edge": 64}, **normalize
    )
    video_processor = SmolVLMVideoProcessor(
        size={"longest_edge": 64},
        max_image_size={"longest_edge": 64},
        video_sampling={"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 64}},
        **normalize,
    )
    tokenizer = _tokenizer(DEFAULT_CHAT_TEMPLATE, "<|im_start|>", ["<|im_start|>", "<|im_end|>", "<video>"])
    return SmolVLMProcessor(
        image_processor, tokenizer, video_processor, image_seq_len=9, chat_template=DEFAULT_CHAT_TEMPLATE
    )


def _siglip_llama_twin(config_class, model_class, processor, side: int, scale_factor: int):
    """Build the tiny model of an Idefics3-layout family: SigLIP on ``side``-pixel tiles, shuffled into Llama."""
    tokenizer = processor.tokenizer
    config = config_class(
        vision_config=_small_vision(side, patch_size=7),
        text_config={"model_type": "llama", **_small_text(tokenizer)},
        scale_factor=scale_factor,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    return _finish(_seeded(model_class, config), tokenizer), processor


def build_idefics3():
    """Tiny Idefics3: ``Idefics3ForConditionalGeneration`` (SigLIP + Llama) and ``Idefics3Processor``."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    return _siglip_llama_twin(
        Idefics3Config, Idefics3ForConditionalGeneration, idefics3_processor(), side=56, scale_factor=2
    )


def build_smolvlm():
    """Tiny SmolVLM2: ``SmolVLMForConditionalGeneration`` (SigLIP + SmolLM2) and ``SmolVLMProcessor``."""
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

    return _siglip_llama_twin(
        SmolVLMConfig, SmolVLMForConditionalGeneration, smolvlm_processor(), side=64, scale_factor=3
    )
