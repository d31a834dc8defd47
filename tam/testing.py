"""Synthetic generations for tests and benchmarks: no model, no download.

A :class:`SyntheticGeneration` has what ``generate`` would give a caller of tam: the id
sequence in Qwen2-VL's chat layout (vision span, prompt, assistant turn, answer), the
last-layer hidden states per round, an ``lm_head``, the ``special_ids``, the vision
shape, and a tiny processor whose ``batch_decode``/``tokenizer.tokenize`` round-trip the
ids exactly, as the reference's ``TAM()`` needs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "WORD_VOCABULARY",
    "SyntheticGeneration",
    "SyntheticProcessor",
    "WordProcessor",
    "blob_maps",
    "generation_digest",
    "load_reference_module",
    "make_generation",
]

WORD_VOCABULARY = (
    "A", " man", " person", " dog", "s", " and", " the", " frisbee", " on", " grass", ".", " a", " white",
    " horse", " cat", " bed", " it", " sits", " ball", " banana", " his", " tie",
)  # fmt: skip
"""Token texts of the synthetic answers scored against the COCO fixture: id ``i`` is ``WORD_VOCABULARY[i]``."""


class SyntheticProcessor:
    """Decodes id ``i`` to the text ``<i>`` and tokenises such text back to one piece per id."""

    _PIECE = re.compile(r"<\d+>")

    @property
    def tokenizer(self) -> SyntheticProcessor:
        """Itself: it tokenises too, like a processor's tokenizer."""
        return self

    def batch_decode(self, sequences, **_) -> list[str]:
        """Decode each id sequence to ``<id><id>...``."""
        return ["".join(f"<{int(i)}>" for i in ids) for ids in sequences]

    def decode(self, ids, **_) -> str:
        """Decode one id sequence."""
        return self.batch_decode([ids])[0]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        """One ``<id>`` piece per id."""
        return [f"<{int(i)}>" for i in ids]

    def tokenize(self, text: str) -> list[str]:
        """Split decoded text back into one ``<id>`` piece per id."""
        return self._PIECE.findall(text)


class WordProcessor:
    """Decodes ids to :data:`WORD_VOCABULARY`; its tokenizer splits the decoded text back into the same pieces.

    What the reference's ``evaluate()`` needs of a processor, for answers made of those words.
    """

    @property
    def tokenizer(self) -> WordProcessor:
        """Itself: it tokenises too, like a processor's tokenizer."""
        return self

    def batch_decode(self, sequences, skip_special_tokens=False, **_) -> list[str]:
        """Decode each id sequence; pieces are joined by NUL so that :meth:`tokenize` can split them again."""
        joiner = "" if skip_special_tokens else "\x00"
        return [joiner.join(WORD_VOCABULARY[int(i)] for i in ids) for ids in sequences]

    def tokenize(self, text: str) -> list[str]:
        """Split text decoded with special tokens back into its pieces."""
        return text.split("\x00")

    def convert_tokens_to_ids(self, piece: str) -> int:
        """Return the id of one piece."""
        return WORD_VOCABULARY.index(piece)

    def decode(self, token_id) -> str:
        """Return the text of one id."""
        return WORD_VOCABULARY[int(token_id)]


@dataclass
class SyntheticGeneration:
    """One generation's inputs to tam (see the module docstring)."""

    tokens: list[int]
    hidden_states: list[torch.Tensor]
    lm_head: torch.nn.Linear
    special_ids: dict
    vision_shape: object
    processor: SyntheticProcessor

    def explain(self, **options):
        """Run :func:`tam.explain_generation` on this generation; ``options`` go to it."""
        from tam.pipeline import explain_generation

        return explain_generation(
            self.tokens, self.hidden_states, self.lm_head, self.special_ids, self.vision_shape, **options
        )

    def logits(self) -> list[torch.Tensor]:
        """Full logits per round, ``[1, L_r, V]``, as the reference computes them."""
        with torch.no_grad():
            return [self.lm_head(states) for states in self.hidden_states]


def make_generation(
    vision_shape=(4, 5),
    *,
    num_prompt: int = 6,
    num_answer: int = 8,
    vocab_size: int = 512,
    hidden_size: int = 32,
    word_pool: int = 12,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> SyntheticGeneration:
    """Build a random generation in Qwen2-VL's layout.

    Parameters
    ----------
    vision_shape : (h, w), (t, h, w) or list of (h, w)
        Several images are marked by their pad id alone (the reference's single
        ``img_id``); one image or a video by the vision start/end markers.
    num_prompt, num_answer : int
        Prompt text tokens and generated tokens.
    vocab_size, hidden_size : int
        ``V`` and ``d`` of the ``lm_head``.
    word_pool : int
        Prompt and answer words are drawn from this many ids, so repeated words (the
        same-word rule of ECI) occur.
    seed : int
    dtype : torch.dtype
        Of the hidden states and ``lm_head``.

    Returns
    -------
    SyntheticGeneration
    """
    if vocab_size < word_pool + 20:
        raise ValueError(f"vocab_size {vocab_size} is too small for word_pool {word_pool}")
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    vision_start, vision_end, image_pad, im_end, im_start, assistant, newline, system = range(
        vocab_size - 8, vocab_size
    )
    several = isinstance(vision_shape, list)
    sizes = [h * w for h, w in vision_shape] if several else [int(np.prod(vision_shape))]
    vision = []
    for size in sizes:
        vision += [vision_start] + [image_pad] * size + [vision_end]
    words = lambda count: (10 + rng.integers(0, word_pool, size=count)).tolist()  # noqa: E731
    prefix = [system, newline, im_start, newline]
    prompt_end = [im_end, newline, im_start, assistant, newline]
    tokens = prefix + vision + words(num_prompt) + prompt_end + words(num_answer)
    input_length = len(tokens) - num_answer

    hidden = torch.randn(len(tokens) - 1, hidden_size, generator=generator)
    # A shared direction in the vision states makes the maps structured, not pure noise.
    hidden[len(prefix) :] += 0.5 * torch.randn(1, hidden_size, generator=generator)
    hidden = hidden.to(dtype)
    rounds = [hidden[None, :input_length]] + [hidden[None, p : p + 1] for p in range(input_length, len(hidden))]
    lm_head = torch.nn.Linear(hidden_size, vocab_size, bias=False)
    with torch.no_grad():
        lm_head.weight.copy_(torch.randn(vocab_size, hidden_size, generator=generator) / hidden_size**0.5)
    lm_head = lm_head.to(dtype)

    special_ids = {
        "img_id": [image_pad] if several else [vision_start, vision_end],
        # a one-id list counts its last occurrence: the end of the last image
        "prompt_id": [[vision_end], [im_end, newline, im_start, assistant]],
        "answer_id": [[newline, im_start, assistant, newline], -1],
    }
    return SyntheticGeneration(tokens, rounds, lm_head, special_ids, vision_shape, SyntheticProcessor())


def generation_digest(generation: SyntheticGeneration) -> str:
    """SHA-256 of a generation's inputs (ids, hidden states, ``lm_head`` weights), in hex.

    Golden outputs stored for a generation hold this digest, so a test can tell a change
    of its inputs (the random streams of torch or numpy) from a change of the method.
    """
    digest = hashlib.sha256(np.asarray(generation.tokens, dtype=np.int64).tobytes())
    for states in generation.hidden_states:
        digest.update(states.detach().to(torch.float32).numpy().tobytes())
    digest.update(generation.lm_head.weight.detach().to(torch.float32).numpy().tobytes())
    return digest.hexdigest()


def blob_maps(rng: np.random.Generator, count: int, shape: tuple[int, int] = (12, 16)) -> np.ndarray:
    """``count`` uint8 token maps of ``shape``: each a Gaussian blob at a random place, plus noise.

    Returns
    -------
    ndarray of shape (count, h, w), uint8
    """
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    maps = []
    for _ in range(count):
        center = rng.uniform((0, 0), shape)
        width = rng.uniform(1.5, 5.0)
        blob = np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * width**2))
        maps.append(np.clip((blob + 0.2 * rng.random(shape)) / 1.2 * 255, 0, 255).astype(np.uint8))
    return np.stack(maps)


def load_reference_module(folder, name: str = "tam"):
    """Import a module of the reference release (xmed-lab/TAM) from its folder, for side-by-side checks.

    Its PDF dependency (PyMuPDF, ``fitz``) is only used after XeLaTeX ran, so a stand-in
    is registered when it is missing.

    Parameters
    ----------
    folder : str or Path
        The reference release's folder.
    name : str
        ``"tam"`` or ``"eval"``: the file ``folder/<name>.py``.

    Returns
    -------
    module
    """
    sys.modules.setdefault("fitz", types.ModuleType("fitz"))
    spec = importlib.util.spec_from_file_location(f"tam_reference_{name}", Path(folder) / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
