"""Synthetic results whose tokens are the texts that break LaTeX, HTML or fonts."""

from __future__ import annotations

import numpy as np

import tam
from tam.testing import make_generation

SPECIAL_TEXTS = [
    "\\",
    "$",
    "%",
    "#",
    "_",
    "{",
    "}",
    "^",
    "~",
    "&",
    "\n",
    "\t",
    " 😀",
    "中文",
    "日本語",
    "한국어",
    "\ufffd",  # a lone byte of a byte-level BPE piece, decoded
    "<script>alert(1)</script>",
    "<b>bold</b>",
    " the",
    "\r\n",
    "",
]
"""Token texts every visual must show as they are (word ids 10, 11, ... in that order)."""


class SpecialTextTokenizer:
    """Decode word id ``10 + k`` to ``SPECIAL_TEXTS[k]``, any other id to ``<id>``."""

    def decode(self, ids, **_) -> str:
        return "".join(self._text(int(i)) for i in ids)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self._text(int(i)) for i in ids]

    @staticmethod
    def _text(token: int) -> str:
        return SPECIAL_TEXTS[token - 10] if 0 <= token - 10 < len(SPECIAL_TEXTS) else f"<{token}>"


def special_text_result(num_answer: int = 40, *, vision_shape=(20, 27), image_size=(756, 560), seed: int = 1):
    """Explain a synthetic generation whose words are :data:`SPECIAL_TEXTS`.

    Every special text occurs among the prompt and answer tokens: the prompt holds them
    all, in order, and the answer draws from them at random.
    """
    generation = make_generation(
        vision_shape, num_prompt=len(SPECIAL_TEXTS), num_answer=num_answer, word_pool=len(SPECIAL_TEXTS), seed=seed
    )
    tokens = list(generation.tokens)
    # the prompt words end 5 ids before the answer: <|im_end|> \n <|im_start|> assistant \n
    prompt_start = len(tokens) - num_answer - 5 - len(SPECIAL_TEXTS)
    tokens[prompt_start : prompt_start + len(SPECIAL_TEXTS)] = range(10, 10 + len(SPECIAL_TEXTS))
    rng = np.random.default_rng(seed)
    grids = tam.VisionLayout.from_shape(vision_shape).grids
    height, width = image_size
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in grids]
    return tam.explain_generation(
        tokens,
        generation.hidden_states,
        generation.lm_head,
        generation.special_ids,
        vision_shape,
        tokenizer=SpecialTextTokenizer(),
        images=images,
    )
