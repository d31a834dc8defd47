"""The metrics against the reference release's ``eval.py``, when a copy of it is at hand.

Set ``TAM_REFERENCE_DIR`` to a folder holding the reference's ``eval.py``; skipped without
it. Its ROUGE package (``rouge``) is stubbed (ROUGE-L is computed differently here on
purpose), and its import-time NLTK download is turned off.
"""

import json
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

from tam.metrics import group_words, match_category, meteor, score_answer, word_kind
from tam.testing import load_reference_module

REFERENCE_DIR = os.environ.get("TAM_REFERENCE_DIR")
pytestmark = pytest.mark.skipif(
    not REFERENCE_DIR or not (Path(REFERENCE_DIR) / "eval.py").is_file(),
    reason="set TAM_REFERENCE_DIR to the reference release's folder",
)
COCO = Path(__file__).parent / "fixtures" / "coco2014_mini"
VOCABULARY = [
    "A", " man", " person", " dog", "s", " and", " the", " frisbee", " on", " grass", ".", " a", " white",
    " horse", " cat", " bed", " it", " sits", " ball", " banana", " his", " tie",
]  # fmt: skip


@pytest.fixture(scope="module")
def reference(monkeypatch_module):
    import nltk

    rouge = types.ModuleType("rouge")
    rouge.Rouge = type("Rouge", (), {"get_scores": lambda self, hyp, ref: [{"rouge-l": {"f": 0.0}}]})
    monkeypatch_module.setitem(sys.modules, "rouge", rouge)
    monkeypatch_module.setattr(nltk, "download", lambda *args, **kwargs: False)
    with warnings.catch_warnings():
        return load_reference_module(REFERENCE_DIR, "eval")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


class Processor:
    """Decodes word ids to VOCABULARY; its tokenizer splits the decoded text back into the same pieces."""

    @property
    def tokenizer(self):
        return self

    def batch_decode(self, sequences, skip_special_tokens=False, **_):
        joiner = "" if skip_special_tokens else "\x00"
        return [joiner.join(VOCABULARY[int(i)] for i in ids) for ids in sequences]

    def tokenize(self, text):
        return text.split("\x00")

    def convert_tokens_to_ids(self, piece):
        return VOCABULARY.index(piece)

    def decode(self, token_id):
        return VOCABULARY[int(token_id)]


def blob_maps(rng, count, shape=(12, 16)):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    maps = []
    for _ in range(count):
        center = rng.uniform((0, 0), shape)
        width = rng.uniform(1.5, 5.0)
        blob = np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * width**2))
        maps.append(np.clip((blob + 0.2 * rng.random(shape)) / 1.2 * 255, 0, 255).astype(np.uint8))
    return np.stack(maps)


@pytest.mark.parametrize("seed", range(12))
def test_same_obj_func_precision_recall_and_meteor_as_the_reference(reference, seed):
    rng = np.random.default_rng(seed)
    sample = json.loads((COCO / "annotations" / "instances_minival2014.json").read_text())["images"][seed % 10]
    mask_path = COCO / "seg_label" / f"{sample['id']:012d}.png"
    categories = {
        c["name"]: c["id"]
        for c in json.loads((COCO / "annotations/instances_minival2014.json").read_text())["categories"]
    }
    import cv2

    present = set(np.unique(cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)).tolist())
    while True:
        ids = [0, *rng.integers(1, len(VOCABULARY), size=int(rng.integers(8, 20)))]
        texts = [VOCABULARY[i] for i in ids]
        words = group_words(texts)
        kinds = [word_kind(w.text) for w in words]
        labels = [
            match_category(w.text, categories, rule="reference") if k == "noun" else None
            for w, k in zip(words, kinds, strict=True)
        ]
        # The reference merges unrelated entries when two consecutive words name a category absent from the mask.
        if not any(a is not None and a == b and a not in present for a, b in zip(labels, labels[1:], strict=False)):
            break
    maps = blob_maps(rng, len(ids))
    references = ["A man throws a frisbee to his dog on the grass.", "A dog and a man on a field."]
    obj, func, _, theirs_meteor, precision, recall = reference.evaluate(
        list(maps), [ids], Processor(), references, str(mask_path), categories
    )
    ours = score_answer(words, kinds, labels, maps, cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE))
    answer = "".join(texts)
    np.testing.assert_allclose([o.iou for o in ours.objects], obj)
    np.testing.assert_allclose([o.precision for o in ours.objects], precision)
    np.testing.assert_allclose([o.recall for o in ours.objects], recall)
    np.testing.assert_allclose([f.score for f in ours.functions], func)
    assert meteor(answer, references) == pytest.approx(theirs_meteor[0])
    assert ours.functions  # never an empty comparison: "A" opens every answer and nouns abound
