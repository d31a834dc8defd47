"""The Gemma twins: Gemma 3 and Gemma 4, the real model and processor classes at their checkpoints' settings.

google/gemma-3-4b-it: a SigLIP tower over 896-pixel pictures in 14-pixel patches (64 x 64),
average-pooled to ``mm_tokens_per_image`` 256 tokens (16 x 16), each image written as
``<start_of_image>``, 256 ``<image_soft_token>`` and ``<end_of_image>``; pan-and-scan off unless
asked (``do_pan_and_scan``), with the processor's own crop settings; the ``<start_of_turn>`` chat.
The twin keeps all of it but the tower's side, cut to 224 pixels (16 x 16 patches pooled 2 x 2 to
8 x 8 tokens) so that it runs in milliseconds; its tokenizer is a tiny ``GemmaTokenizer`` with
Gemma's special tokens.

google/gemma-4-e2b-it: ``Gemma4Processor`` at its own defaults (16-pixel patches pooled 3 x 3, a
budget of 280 soft tokens, ``<|image>`` ``<|image|>``... ``<image|>``, the ``<|turn>`` chat); the
twin keeps all of it, with a two-layer 16-wide vision encoder and 32-wide language model and no
audio tower (as gemma-4-31B-it).
"""

from __future__ import annotations

from tam.models.twins import _PATCH, _finish, _seeded, _small_text, _small_tower, _small_vision, _train_bpe

__all__ = ["build_gemma3", "build_gemma4", "gemma3_processor", "gemma4_processor"]

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


def _gemma_tokenizer(chat_template: str, markers: dict, turn=("<start_of_turn>", "<end_of_turn>")):
    """Build a ``GemmaTokenizer`` (BPE with byte fallback, spaces as ``▁``) with Gemma's ``turn`` and ``markers``."""
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
    tokenizer.add_special_tokens({"additional_special_tokens": list(turn)})
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


# gemma-4-it's template, its layout rules (tools and thinking left out): the <|turn> chat, <|image|> and
# <|video|> where the user put them, each between two blank lines, texts trimmed (the real template is
# tests/fixtures/checkpoints/gemma-4-26b-a4b-it/chat_template.json)
_GEMMA4_TEMPLATE = (
    "{{ bos_token }}{%- for message in messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<|turn>' + role + '\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '\n\n<|image|>\n\n' }}"
    "{%- elif item['type'] == 'video' -%}{{ '\n\n<|video|>\n\n' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<turn|>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|turn>model\n' }}{%- endif -%}"
)
_GEMMA4_MARKERS = {
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "image_token": "<|image|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
    "audio_token": "<|audio|>",
}


def gemma4_processor():
    """Build a Gemma 4 processor around the tiny tokenizer, at gemma-4's own image and video settings."""
    from transformers import Gemma4AudioFeatureExtractor, Gemma4ImageProcessor, Gemma4Processor, Gemma4VideoProcessor

    tokenizer = _gemma_tokenizer(_GEMMA4_TEMPLATE, _GEMMA4_MARKERS, turn=("<|turn>", "<turn|>"))
    return Gemma4Processor(
        feature_extractor=Gemma4AudioFeatureExtractor(),
        image_processor=Gemma4ImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Gemma4VideoProcessor(),
        chat_template=_GEMMA4_TEMPLATE,
    )


def build_gemma4():
    """Tiny Gemma 4: ``Gemma4ForConditionalGeneration`` (its vision encoder + Gemma 4, no audio) and its processor."""
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration, Gemma4TextConfig, Gemma4VisionConfig

    processor = gemma4_processor()
    tokenizer = processor.tokenizer
    text = Gemma4TextConfig(
        **_small_text(tokenizer, head_dim=8, sliding_window=16, global_head_dim=8),
        layer_types=["sliding_attention", "full_attention"],
        vocab_size_per_layer_input=len(tokenizer),
        hidden_size_per_layer_input=8,
        final_logit_softcapping=30.0,  # the checkpoints' cap (Gemma4TextConfig's default is None)
    )
    vision = Gemma4VisionConfig(**_small_tower())
    markers = {
        "boi_token_id": "<|image>",
        "eoi_token_id": "<image|>",
        "image_token_id": "<|image|>",
        "video_token_id": "<|video|>",
        "boa_token_id": "<|audio>",
        "audio_token_id": "<|audio|>",
    }
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in markers.items()}
    config = Gemma4Config(text_config=text, vision_config=vision, audio_config=None, **ids)
    return _finish(_seeded(Gemma4ForConditionalGeneration, config), tokenizer), processor
