import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tam.evaluation import SampleError, answer_token_maps, load_dataset, score_sample
from tam.evaluation.runner import evaluate_one
from tam.evaluation.scoring import read_mask
from tam.methods import MaskMethod, method_names
from tam.metrics import group_words, score_answer
from tam.result import METHODS
from tests.evaluation_fakes import FakeExplainer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def coco():
    return load_dataset(FIXTURES / "coco2014_mini")


def explain(sample, **options):
    return FakeExplainer(**options)([str(sample.image)], sample.prompt)


def test_answer_maps_are_the_answer_tokens_own_maps(coco):
    result = explain(coco.samples[0]).result
    maps = answer_token_maps(result, "tam")
    count = len(result) - result.num_prompt_tokens
    assert maps.shape == (count, 4, 5) and maps.dtype == np.uint8
    np.testing.assert_array_equal(maps.reshape(count, -1), result.maps_uint8("tam")[result.answer_slice])


def test_reference_round0_scores_the_first_answer_token_with_the_first_prompt_map(coco):
    result = explain(coco.samples[0], round0="reference").result
    maps = answer_token_maps(result, "raw").reshape(len(result) - result.num_prompt_tokens, -1)
    uint8 = result.maps_uint8("raw")
    np.testing.assert_array_equal(maps[0], uint8[0])
    np.testing.assert_array_equal(maps[1:], uint8[result.num_prompt_tokens + 1 :])
    assert not np.array_equal(maps[0], uint8[result.num_prompt_tokens])


def test_score_sample_groups_tags_matches_and_scores_every_method(coco):
    sample = coco.samples[0]  # person, dog and frisbee in its mask
    explanation, mask = explain(sample), read_mask(sample.mask)
    record = score_sample(sample, explanation, mask, METHODS)
    assert record["index"] == 0 and record["id"] == sample.id and record["answer"] == explanation.answer
    assert "".join(record["words"]) == explanation.answer.replace(" ", "")
    assert record["words"] == ["cat", "sheep", "the", "frisbee", "on", "ons", "dog", "sheep", "on", "cat"]
    assert record["kinds"] == ["noun", "noun", "function", "noun", "other", "noun", "noun", "noun", "other", "noun"]
    assert record["labels"] == [17, 20, None, 34, None, None, 18, 20, None, 17]  # cat, sheep, frisbee, dog
    assert record["rouge_l"] is None and record["meteor"] is None  # no captions in the fixture
    assert set(record["methods"]) == set(METHODS)
    for scores in record["methods"].values():
        # of the named categories only frisbee and dog are in the mask (with person); "the" is the function word
        assert [(o["word"], o["label"]) for o in scores["objects"]] == [(3, 34), (6, 18)]
        assert all(0.0 <= o["iou"] <= 1.0 for o in scores["objects"])
        assert [f["word"] for f in scores["functions"]] == [2]
        assert 0.0 <= scores["functions"][0]["score"] <= 1.0
        assert scores["obj_iou"] == pytest.approx(np.mean([o["iou"] for o in scores["objects"]]))
    # one generation serves every method, each scored on its own maps of the same tokens
    result, span = explanation.result, explanation.result.answer_slice
    words = group_words(result.texts[span], result.pieces[span])
    for method in METHODS:
        own = score_answer(words, record["kinds"], record["labels"], answer_token_maps(result, method), mask)
        assert record["methods"][method] == own.to_dict()


def test_references_give_rouge_and_meteor():
    sample = load_dataset(FIXTURES / "GranDf_mini").samples[0]
    record = score_sample(sample, explain(sample), read_mask(sample.mask), ["tam"])
    assert 0.0 < record["rouge_l"] <= 1.0 and 0.0 <= record["meteor"] <= 1.0
    assert list(record["methods"]) == ["tam"]


def test_baselines_are_scored_on_the_same_words_as_the_methods(coco):
    sample = coco.samples[0]
    explanation, mask = explain(sample), read_mask(sample.mask)
    baselines = method_names(MaskMethod)
    record = score_sample(sample, explanation, mask, [*METHODS, *baselines])
    assert list(record["methods"]) == [*METHODS, *baselines]
    scored = record["methods"]
    labels = {method: [o["label"] for o in scores["objects"]] for method, scores in scored.items()}
    assert labels["tam"] and all(found == labels["tam"] for found in labels.values())
    assert scored["perfect"]["obj_iou"] > scored["uniform"]["obj_iou"]
    assert scored["perfect"]["obj_iou"] >= scored["perfect+rgf"]["obj_iou"]
    assert scored["perfect"]["func_iou"] == 1.0  # function words get empty maps
    again = score_sample(sample, explanation, mask, ["random"])  # seeded by the sample: resume gives the same
    assert again["methods"]["random"] == record["methods"]["random"]


def test_exact_answers_are_marked_against_the_references(coco):
    sample = coco.samples[0]
    explanation = explain(sample)
    mask = read_mask(sample.mask)
    assert score_sample(sample, explanation, mask, ["raw"])["exact"] is None  # no references
    same = replace(sample, references=("something else", f" {explanation.answer} "))
    assert score_sample(same, explanation, mask, ["raw"])["exact"] is True
    other = replace(sample, references=("something else",))
    assert score_sample(other, explanation, mask, ["raw"])["exact"] is False


def test_failures_are_recorded_with_their_reason(coco, tmp_path):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    dataset = load_dataset(root)
    corrupt, maskless, empty = dataset.samples[:3]
    corrupt.image.write_bytes(b"not a jpeg")
    maskless.mask.unlink()
    explainer = FakeExplainer(empty_answers={empty.id})
    records = [evaluate_one(explainer, sample, METHODS) for sample in (corrupt, maskless, empty)]
    assert records[0]["error"].startswith(f"ImageFileError: '{corrupt.image}' is not an image that can be read whole")
    assert records[1]["error"] == f"SampleError: no mask: {maskless.mask} does not exist"
    assert records[2]["error"].startswith("SpanError: the answer is empty")
    assert [r["id"] for r in records] == [corrupt.id, maskless.id, empty.id]
    assert explainer.calls == [empty.id]  # no model call for a sample that cannot be scored


def test_a_blank_answer_and_a_result_without_texts_are_sample_errors(coco):
    sample = coco.samples[0]
    result = explain(sample).result
    mask = read_mask(sample.mask)
    with pytest.raises(SampleError, match="empty answer"):
        score_sample(sample, (result, "  "), mask, ["tam"])
    result.texts = None
    with pytest.raises(SampleError, match="must pass a tokenizer"):
        score_sample(sample, (result, "a dog"), mask, ["tam"])


def test_an_undecodable_mask_is_a_sample_error(tmp_path):
    path = tmp_path / "mask.png"
    path.write_bytes(b"\x89PNG broken")
    with pytest.raises(SampleError, match="cannot read mask"):
        read_mask(path)
