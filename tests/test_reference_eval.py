"""The metrics against the reference release's ``eval.py``, when a copy of it is at hand.

Set ``TAM_REFERENCE_DIR`` to a folder holding the reference's ``eval.py``; skipped without
it. Its import-time NLTK download is turned off. ``tests/test_golden.py`` compares with
stored outputs of the same function on every run.
"""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tam.metrics import group_words, match_category, meteor, rouge_l, score_answer, word_kind
from tam.testing import WORD_VOCABULARY, WordProcessor, blob_maps, load_reference_module

REFERENCE_DIR = os.environ.get("TAM_REFERENCE_DIR")
pytestmark = pytest.mark.skipif(
    not REFERENCE_DIR or not (Path(REFERENCE_DIR) / "eval.py").is_file(),
    reason="set TAM_REFERENCE_DIR to the reference release's folder",
)
COCO = Path(__file__).parent / "fixtures" / "coco2014_mini"


@pytest.fixture(scope="module")
def reference(monkeypatch_module):
    import nltk

    monkeypatch_module.setattr(nltk, "download", lambda *args, **kwargs: False)
    with warnings.catch_warnings():
        return load_reference_module(REFERENCE_DIR, "eval")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("seed", range(12))
def test_same_obj_func_precision_recall_rouge_and_meteor_as_the_reference(reference, seed):
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
        ids = [0, *rng.integers(1, len(WORD_VOCABULARY), size=int(rng.integers(8, 20)))]
        texts = [WORD_VOCABULARY[i] for i in ids]
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
    obj, func, theirs_rouge, theirs_meteor, precision, recall = reference.evaluate(
        list(maps), [ids], WordProcessor(), references, str(mask_path), categories
    )
    ours = score_answer(words, kinds, labels, maps, cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE))
    answer = "".join(texts)
    np.testing.assert_allclose([o.iou for o in ours.objects], obj)
    np.testing.assert_allclose([o.precision for o in ours.objects], precision)
    np.testing.assert_allclose([o.recall for o in ours.objects], recall)
    np.testing.assert_allclose([f.score for f in ours.functions], func)
    assert meteor(answer, references) == pytest.approx(theirs_meteor[0])
    assert rouge_l(answer, references, "rouge") == pytest.approx(theirs_rouge[0])
    assert ours.functions  # never an empty comparison: "A" opens every answer and nouns abound
