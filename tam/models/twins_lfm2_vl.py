"""The LFM2-VL twin: ``Lfm2VlForConditionalGeneration`` and ``Lfm2VlProcessor`` at LFM2-VL-1.6B's settings.

LiquidAI/LFM2-VL-1.6B: a SigLIP2 NaFlex encoder with 16-pixel patches, 2 x 2 pixel unshuffle
(``downsample_factor``), ``Lfm2VlImageProcessor`` that resizes a picture to at most 256 tokens (at
least 64) at its own aspect, or, past twice that, cuts it into 2 to 10 tiles of 512 pixels plus a
thumbnail, ``<image>`` expanded between ``<|image_start|>`` and ``<|image_end|>`` with
``<|img_row_R_col_C|>`` and ``<|img_thumbnail|>`` markers, a hybrid convolution + attention LFM2
language model and its ChatML template. The twin keeps all of it at a quarter of the tile (128 pixels:
4 x 4 tokens a tile) and a sixteenth of the token budgets (4 to 16), so that it runs in milliseconds.
"""

from __future__ import annotations

from tam.models.twins import _finish, _seeded, _small_text, _train_bpe

__all__ = ["build_lfm2_vl", "lfm2_vl_processor"]

# LFM2-VL's template: ChatML, a message's images and texts in their order
_LFM2_VL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<image>' }}{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_TILE_MARKERS = [f"<|img_row_{row}_col_{column}|>" for row in range(1, 11) for column in range(1, 11)]
_MARKERS = ["<|im_start|>", "<|im_end|>", "<image>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>"]
_SCALE = 4  # the real tile's 512 pixels over the twin's 128


def _lfm2_tokenizer():
    """Build a byte-level BPE tokenizer (as LFM2's) with its ChatML and image tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _train_bpe(byte_level=True)
    specials = ["<|pad|>", "<|startoftext|>", "<|endoftext|>"]
    vocab = {
        **{token: index for index, token in enumerate(specials)},
        **{k: i + len(specials) for k, i in vocab.items()},
    }
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|startoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [*_MARKERS, *_TILE_MARKERS]})
    tokenizer.chat_template = _LFM2_VL_TEMPLATE
    return tokenizer


def lfm2_vl_processor(tile_size: int = 512 // _SCALE):
    """Build an LFM2-VL processor around the tiny tokenizer, for tiles of ``tile_size`` pixels (512 real)."""
    from transformers import Lfm2VlImageProcessor, Lfm2VlProcessor

    budget = (tile_size // 16 // 2) ** 2  # a tile's tokens: the most one picture resized whole may have
    image_processor = Lfm2VlImageProcessor(
        tile_size=tile_size,
        size={"height": tile_size, "width": tile_size},
        encoder_patch_size=16,
        downsample_factor=2,
        min_tiles=2,
        max_tiles=10,
        use_thumbnail=True,
        min_image_tokens=budget // 4,
        max_image_tokens=budget,
        max_pixels_tolerance=2.0,
        do_image_splitting=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return Lfm2VlProcessor(
        image_processor=image_processor, tokenizer=_lfm2_tokenizer(), chat_template=_LFM2_VL_TEMPLATE
    )


def build_lfm2_vl():
    """Tiny LFM2-VL: ``Lfm2VlForConditionalGeneration`` (SigLIP2 NaFlex + LFM2) and ``Lfm2VlProcessor``."""
    from transformers import Lfm2Config, Lfm2VlConfig, Lfm2VlForConditionalGeneration, Siglip2VisionConfig

    processor = lfm2_vl_processor()
    tokenizer = processor.tokenizer
    vision = Siglip2VisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=16,
        num_patches=64,  # position embeddings of an 8 x 8 grid, resized to each tile's as NaFlex does
        vision_use_head=False,
    )
    text = Lfm2Config(**_small_text(tokenizer), layer_types=["conv", "full_attention"], block_auto_adjust_ff_dim=False)
    config = Lfm2VlConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        projector_hidden_size=32,
        downsample_factor=2,
        tie_word_embeddings=False,
    )
    return _finish(_seeded(Lfm2VlForConditionalGeneration, config), tokenizer), processor
