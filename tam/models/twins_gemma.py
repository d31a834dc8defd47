"""The Gemma twins: ``Gemma3ForConditionalGeneration`` and ``Gemma3Processor`` at gemma-3-4b-it's settings.

google/gemma-3-4b-it: a SigLIP tower over 896-pixel pictures in 14-pixel patches (64 x 64),
average-pooled to ``mm_tokens_per_image`` 256 tokens (16 x 16), each image written as
``<start_of_image>``, 256 ``<image_soft_token>`` and ``<end_of_image>``; pan-and-scan off unless
asked (``do_pan_and_scan``), with the processor's own crop settings; the ``<start_of_turn>`` chat.
The twin keeps all of it but the tower's side, cut to 224 pixels (16 x 16 patches pooled 2 x 2 to
8 x 8 tokens) so that it runs in milliseconds; its tokenizer is a tiny ``GemmaTokenizer`` with
Gemma's special tokens.
"""

from __future__ import annotations

from tam.models.twins import _PATCH, _finish, _seeded, _small_text, _small_vision, _train_bpe

__all__ = ["build_gemma3", "gemma3_processor"]

# google/gemma-3-4b-it's template (tokenizer_config.json): a system message joins the first user turn,
# images are <start_of_image> where the user put them, texts are trimmed
_GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    '{%- else -%}{%- set first_user_prefix = "" -%}{%- set loop_messages = messages -%}{%- endif -%}'
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    '{{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}{%- endif -%}'
    "{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- elif message['content'] is iterable -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}{%- endfor -%}"
    '{%- else -%}{{ raise_exception("Invalid content type") }}{%- endif -%}'
    "{{ '<end_of_turn>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}"
)
# Gemma's first ids, in Gemma's order; the turn and image markers follow the trained pieces
_GEMMA_FIRST = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
_GEMMA3_MARKERS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
_GEMMA3_TOWER = 16 * _PATCH  # 16 x 16 patches (gemma-3's 896 pixels: 64 x 64)
_GEMMA3_TOKENS = 64  # pooled to 8 x 8 (gemma-3's mm_tokens_per_image: 256, 16 x 16)


def _gemma_tokenizer(chat_template: str, markers: dict):
    """Build a ``GemmaTokenizer`` (BPE with byte fallback, spaces as ``▁``) with Gemma's chat and ``markers``."""
    from transformers import GemmaTokenizer

    vocab, merges = _train_bpe(byte_level=False)
    byte_pieces = [f"<0x{byte:02X}>" for byte in range(256)]
    pieces = [
        *_GEMMA_FIRST,
        *byte_pieces,
        *(piece for piece in sorted(vocab, key=vocab.get) if piece not in _GEMMA_FIRST),
    ]
    tokenizer = GemmaTokenizer(
        vocab={piece: index for index, piece in enumerate(pieces)},
        merges=merges,
        extra_special_tokens=markers,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tokenizer.chat_template = chat_template
    return tokenizer


def gemma3_processor(side: int = _GEMMA3_TOWER, tokens: int = _GEMMA3_TOKENS):
    """Build a Gemma 3 processor around the tiny tokenizer: pictures resized to ``side``, ``tokens`` per picture."""
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    return Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": side, "width": side}),
        tokenizer=_gemma_tokenizer(_GEMMA3_TEMPLATE, _GEMMA3_MARKERS),
        image_seq_length=tokens,
        chat_template=_GEMMA3_TEMPLATE,
    )


def build_gemma3():
    """Tiny Gemma 3: ``Gemma3ForConditionalGeneration`` (SigLIP + Gemma 3) and ``Gemma3Processor``."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    processor = gemma3_processor()
    tokenizer = processor.tokenizer
    text = Gemma3TextConfig(**_small_text(tokenizer, head_dim=8, sliding_window=16))
    config = Gemma3Config(
        vision_config=SiglipVisionConfig(**_small_vision(_GEMMA3_TOWER)),
        text_config=text,
        mm_tokens_per_image=_GEMMA3_TOKENS,
        boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
    )
    model = _seeded(Gemma3ForConditionalGeneration, config)
    _draw_projection(model.model.multi_modal_projector.mm_input_projection_weight)
    return _finish(model, tokenizer), processor


def _draw_projection(weight) -> None:
    """Draw the vision-to-text projection from the seed: Gemma's initialisation zeroes it, blinding the twin."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=generator) * weight.shape[0] ** -0.5)
