"""A model-free explainer for the evaluation tests: synthetic generations whose tokens are real words."""

import zlib
from pathlib import Path

import numpy as np

from tam.evaluation import Explanation
from tam.testing import make_generation

WORDS = [
    "A",
    " dog",
    " person",
    " cat",
    " on",
    " the",
    " bed",
    "s",
    " and",
    " frisbee",
    ".",
    " white",
    " horse",
    " a",
    " man",
    " sheep",
]
"""Texts of the synthetic word ids 10, 11, ...: nouns of the fixtures' categories, function words, others."""

FIRST_WORD_ID = 10  # make_generation draws words from ids 10 .. 10 + word_pool - 1


class WordTokenizer:
    """Decodes the synthetic word ids to ``WORDS`` (byte-level pieces, 'Ġ' for a space); other ids to markers."""

    def decode(self, ids, skip_special_tokens=False):
        texts = []
        for token in ids:
            index = int(token) - FIRST_WORD_ID
            if 0 <= index < len(WORDS):
                texts.append(WORDS[index])
            elif not skip_special_tokens:
                texts.append(f"<|{int(token)}|>")
        return "".join(texts)

    def convert_ids_to_tokens(self, ids):
        return [self.decode([token]).replace(" ", "Ġ") for token in ids]


class FakeExplainer:
    """``explainer(image_paths, prompt) -> Explanation`` without a model.

    Each image gets its own deterministic generation (seeded by its file name), so a sample
    gives the same answer and maps whenever and wherever it is computed. It opens the image
    as a model's processor would, so a corrupt image fails here.
    """

    def __init__(self, *, round0="own", empty_answers=(), seed=0):
        self.round0 = round0
        self.empty_answers = set(empty_answers)
        self.seed = seed
        self.calls = []
        self.scored = []

    def __call__(self, image_paths, prompt):
        from PIL import Image

        (path,) = image_paths
        self.calls.append(Path(path).stem)
        with Image.open(path) as image:
            picture = np.asarray(image.convert("RGB").resize((40, 32)))
        sample_seed = zlib.crc32(f"{Path(path).stem}/{self.seed}".encode())
        num_answer = 0 if Path(path).stem in self.empty_answers else 6 + sample_seed % 7
        generation = make_generation(
            (4, 5), num_prompt=5, num_answer=num_answer, vocab_size=64, word_pool=len(WORDS), seed=sample_seed
        )
        tokenizer = WordTokenizer()
        result = generation.explain(
            tokenizer=tokenizer,
            images=[picture],
            round0=self.round0,
        )
        answer = tokenizer.decode(result.token_ids[result.answer_slice], skip_special_tokens=True)
        return Explanation(result, answer, self.token_scorer)

    def token_scorer(self, index):
        """A model whose every token's probability is the brightness of the picture's top-left quarter."""
        self.scored.append(index)

        def scorer(pictures):
            height, width = pictures.shape[1:3]
            return pictures[:, : height // 2, : width // 2].mean(axis=(1, 2, 3)) / 255.0

        return scorer


class BatchingFakeExplainer(FakeExplainer):
    """A FakeExplainer with ``explain_batch``: records each batch's image names; errors are returned per sample."""

    def __init__(self, **options):
        super().__init__(**options)
        self.batches = []

    def explain_batch(self, requests):
        self.batches.append([Path(paths[0]).stem for paths, _ in requests])
        outcomes = []
        for paths, prompt in requests:
            try:
                outcomes.append(self(paths, prompt))
            except (OSError, ValueError) as error:
                outcomes.append(error)
        return outcomes


def fake_loader(calls=None, **explainer_options):
    """A stand-in for ``load_explainer`` that records its arguments and returns a FakeExplainer."""

    def load(model_name, **options):
        if calls is not None:
            calls.append((model_name, options))
        return FakeExplainer(round0=options.get("round0", "own"), seed=options.get("seed", 0), **explainer_options)

    return load
