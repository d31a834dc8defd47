"""The Llama 4 twin: ``Llama4ForConditionalGeneration`` and ``Llama4Processor`` at Llama 4 Scout's settings.

meta-llama/Llama-4-Scout-17B-16E-Instruct: a 14-pixel-patch vision encoder on 336-pixel tiles, a 2 x 2
pixel shuffle (``pixel_shuffle_ratio`` 0.5: 12 x 12 tokens a tile), ``Llama4ImageProcessor`` fitting the
picture without distortion into the best canvas of at most 16 tiles (``max_patches``), padding it and
adding a global tile, ``<|image_start|>``, ``<|patch|>``, ``<|tile_x_separator|>``,
``<|tile_y_separator|>``, ``<|image|>`` and ``<|image_end|>``, a mixture-of-experts language model and
the processor's own chat template. The twin keeps all of it but the tile, cut to 112 pixels (4 x 4 tokens),
and the experts (two), so that it runs in milliseconds.
"""

from __future__ import annotations

from tam.models.twins import _PATCH, _finish, _seeded, _small_text, _train_bpe

__all__ = ["build_llama4", "llama4_processor"]

_MARKERS = [
    "<|header_start|>",
    "<|header_end|>",
    "<|eot|>",
    "<|image_start|>",
    "<|image_end|>",
    "<|image|>",
    "<|patch|>",
    "<|tile_x_separator|>",
    "<|tile_y_separator|>",
    "<|python_start|>",
    "<|python_end|>",
    "<|finetune_right_pad|>",
]


def _llama4_tokenizer():
    """Build a byte-level BPE tokenizer (as Llama 4's) that starts each text with ``<|begin_of_text|>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _train_bpe(byte_level=True)
    vocab = {"<|begin_of_text|>": 0, "<|end_of_text|>": 1, **{piece: index + 2 for piece, index in vocab.items()}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", 0)],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot|>", pad_token="<|finetune_right_pad|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": _MARKERS})
    return tokenizer


def llama4_processor(side: int = 8 * _PATCH):
    """Build a Llama 4 processor around the tiny tokenizer, for tiles of ``side`` pixels (336 real)."""
    from transformers import Llama4ImageProcessor, Llama4Processor

    image_processor = Llama4ImageProcessor(size={"height": side, "width": side}, max_patches=16)
    processor = Llama4Processor(
        image_processor=image_processor, tokenizer=_llama4_tokenizer(), patch_size=_PATCH, pixel_shuffle_ratio=0.5
    )
    processor.tokenizer.chat_template = processor.chat_template  # the processor's own, Llama 4's
    return processor


def build_llama4():
    """Tiny Llama 4: ``Llama4ForConditionalGeneration`` (vision encoder + MoE Llama) and ``Llama4Processor``."""
    from transformers import Llama4Config, Llama4ForConditionalGeneration, Llama4TextConfig, Llama4VisionConfig

    side = 8 * _PATCH
    processor = llama4_processor(side)
    tokenizer = processor.tokenizer
    vision = Llama4VisionConfig(
        hidden_size=16,
        intermediate_size=64,  # the shuffled 2 x 2 patches' width, as Scout's 4 x 1408 = 5632
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=side,
        patch_size=_PATCH,
        pixel_shuffle_ratio=0.5,
        projector_input_dim=32,
        projector_output_dim=32,
        vision_output_dim=32,
    )
    text = Llama4TextConfig(
        **_small_text(tokenizer),
        intermediate_size_mlp=64,
        head_dim=8,
        num_local_experts=2,
        num_experts_per_tok=1,
        interleave_moe_layer_step=1,
    )
    config = Llama4Config(
        vision_config=vision,
        text_config=text,
        boi_token_index=tokenizer.convert_tokens_to_ids("<|image_start|>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<|image_end|>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<|patch|>"),
    )
    return _finish(_seeded(Llama4ForConditionalGeneration, config), tokenizer), processor
