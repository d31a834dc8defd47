"""Qwen3.5 dense and MoE: Qwen3-VL's vision tower on a hybrid Gated DeltaNet + attention language model.

The vision side is Qwen3-VL's, read as :mod:`tam.models.qwen_vl` reads it (``image_grid_thw``
/ ``video_grid_thw`` over ``spatial_merge_size``, ``Qwen3VLProcessor``). Only the decoder
layers whose ``config.text_config.layer_types`` entry is ``"full_attention"`` (every fourth
in the checkpoints) have softmax attention and so attention weights; the others are Gated
DeltaNet (linear attention) layers. :attr:`ModelAdapter.attention_layers` names the former,
for the attention-based baselines; TAM, the logit lens and Grad-CAM read every layer.
"""

from __future__ import annotations

from tam.models.qwen_vl import QwenVLAdapter

__all__ = ["Qwen3_5Adapter"]


class Qwen3_5Adapter(QwenVLAdapter):  # noqa: N801  named after the transformers class
    """Adapter of ``Qwen3_5ForConditionalGeneration`` and ``Qwen3_5MoeForConditionalGeneration``."""

    family = "Qwen3.5 (dense and MoE)"
    model_classes = ("Qwen3_5ForConditionalGeneration", "Qwen3_5MoeForConditionalGeneration")

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """Decoder layers (1..n) typed ``"full_attention"`` in ``text_config.layer_types``."""
        return tuple(index + 1 for index, kind in enumerate(self.text_config.layer_types) if kind == "full_attention")
