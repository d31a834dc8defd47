import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tam
import tam.evaluation.faithfulness
from tam.evaluation.faithfulness import FaithfulnessOptions, token_faithfulness, token_scorer
from tam.models import TWINS, UnsupportedInputError, load_model
from tam.toy import TOY_MODELS

PICTURE = np.random.default_rng(0).integers(0, 256, size=(60, 80, 3), dtype=np.uint8)


def chat(*entries, text="Describe this image."):
    return [{"role": "user", "content": [*entries, {"type": "text", "text": text}]}]


def image():
    return {"type": "image", "image": Image.fromarray(PICTURE)}


@pytest.fixture(scope="module", params=[*TWINS, *TOY_MODELS])
def explained(request):
    model, processor = load_model(request.param)
    messages = chat(image())
    return model, processor, messages, tam.explain(model, processor, messages, max_new_tokens=3)


def test_the_untouched_picture_gives_the_generation_s_own_probability(explained):
    model, processor, messages, result = explained
    candidates = result.candidates
    compared = 0
    for index in range(result.num_prompt_tokens, len(result)):
        scorer = token_scorer(model, processor, messages, result, index)
        probability = scorer(PICTURE[None])
        # the generated token is among the top candidates (a twin's generation config may suppress the first)
        (rank,) = np.flatnonzero(candidates.ids[index] == result.token_ids[index])
        np.testing.assert_allclose(probability, [candidates.probabilities[index, rank]], rtol=1e-4)
        compared += 1
    assert compared == len(result) - result.num_prompt_tokens > 0


def test_every_family_gives_finite_curves_for_each_method(explained):
    model, processor, messages, result = explained
    scores = tam.faithfulness(
        model, processor, messages, result, -1, methods=["tam", "raw", "random-order"], steps=4, batch_size=5
    )
    assert list(scores) == ["tam", "raw", "random-order"]
    for score in scores.values():
        assert score.curves.deletion.shape == score.curves.insertion.shape == (5,)
        assert np.isfinite(score.curves.deletion).all() and np.isfinite(score.curves.insertion).all()
        assert 0 <= score.deletion_auc <= 1 and 0 <= score.insertion_auc <= 1
        assert score.hit is None


def test_progress_counts_every_picture_scored(monkeypatch):
    import tqdm.auto

    bars = []

    class Recorded(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    model, processor = load_model("toy-shapes")
    messages = chat(image())
    result = tam.explain(model, processor, messages, max_new_tokens=3)
    scored = []
    real_scorer = tam.evaluation.faithfulness.token_scorer

    def counting_scorer(*args):
        inner = real_scorer(*args)
        return lambda pictures: scored.append(len(pictures)) or inner(pictures)

    monkeypatch.setattr(tam.evaluation.faithfulness, "token_scorer", counting_scorer)
    tam.faithfulness(model, processor, messages, result, -1, methods=["tam", "raw"], steps=4, progress=True)
    (bar,) = [bar for bar in bars if bar.desc == "faithfulness"]
    assert bar.n == bar.total == sum(scored) == 2 + 2 * 3 * 2  # the two ends, then 3 inner steps per curve and map


def test_maps_of_the_model_methods_are_scored_too():
    model, processor = load_model("tiny-llava")
    messages = chat(image())
    result = tam.explain(model, processor, messages, max_new_tokens=2, methods=["attention", "gradcam"])
    scores = tam.faithfulness(model, processor, messages, result, -1, methods=["attention", "gradcam"], steps=2)
    assert all(np.isfinite(score.curves.insertion).all() for score in scores.values())


def test_a_prompt_token_is_scored_at_its_own_position():
    model, processor = load_model("tiny-qwen2-vl")
    messages = chat(image())
    result = tam.explain(model, processor, messages, max_new_tokens=2)
    scorer = token_scorer(model, processor, messages, result, 1)
    two = scorer(np.stack([PICTURE, PICTURE]))
    assert two.shape == (2,) and two[0] == two[1] and 0 < two[0] < 1


@pytest.mark.parametrize(
    "entries",
    [
        [image(), image()],
        [{"type": "video", "video": [f"imgs/frames/{index:04d}.jpg" for index in range(4)]}],
    ],
    ids=["two images", "video"],
)
def test_videos_and_several_pictures_are_not_supported_yet(entries):
    model, processor = load_model("tiny-qwen2-vl")
    messages = chat(*entries)
    result = tam.explain(model, processor, messages, max_new_tokens=1)
    with pytest.raises(UnsupportedInputError, match="exactly one image, got .*not supported yet"):
        token_scorer(model, processor, messages, result, -1)


def test_pointing_game_and_random_order_with_a_model_that_reads_one_region():
    picture = np.full((32, 32, 3), 200, dtype=np.uint8)

    def scorer(pictures):  # the token's probability is the brightness of rows 0-7, columns 0-7
        return pictures[:, :8, :8].mean(axis=(1, 2, 3)) / 255.0

    corner = -np.add.outer(np.arange(4.0), np.arange(4.0))  # highest at the top left, falling away from it
    target = np.zeros((32, 32), dtype=bool)
    target[:8, :8] = True
    maps = {"corner": corner, "elsewhere": corner[::-1, ::-1], "random-order": None}
    scores = token_faithfulness(scorer, picture, maps, target=target, steps=8, rng=np.random.default_rng(3))
    assert scores["corner"].hit and not scores["elsewhere"].hit
    assert scores["corner"].deletion_auc < scores["random-order"].deletion_auc < scores["elsewhere"].deletion_auc
    again = token_faithfulness(scorer, picture, maps, target=target, steps=8, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(again["random-order"].curves.deletion, scores["random-order"].curves.deletion)


def test_a_target_of_another_size_is_refused():
    with pytest.raises(ValueError, match=r"target must have the picture's size \(32, 32\), got shape \(8, 8\)"):
        token_faithfulness(lambda p: np.ones(len(p)), np.zeros((32, 32, 3), np.uint8), {}, target=np.ones((8, 8)))


def test_eval_py_scores_faithfulness_on_a_held_out_toy_scene(tmp_path, capsys):
    from tam.evaluation.cli import main
    from tam.toy.scenes import write_coco14

    dataset = write_coco14(tmp_path / "heldout", 1, seed=1)
    results = tmp_path / "toy.jsonl"
    argv = ["toy-shapes", str(dataset), "--max-new-tokens", "40", "--methods", "tam,gradcam", "--baselines"]
    argv += ["--faithfulness", "--faithfulness-steps", "2", "--results", str(results)]
    assert main(argv) == 0
    assert "Ins-AUC" in capsys.readouterr().out
    summary = json.loads(Path(f"{results}.summary.json").read_text())
    assert list(summary["faithfulness"]) == ["tam", "gradcam", "random-order"]
    for row in summary["faithfulness"].values():
        assert row["tokens"] >= 1 and row["pointed"] == row["tokens"]  # every scored noun names a shape of the mask
        assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1 and 0 <= row["pointing"] <= 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 0}, r"steps must be from 2 to 1024 \(tam.metrics.faithfulness.MAX_STEPS\), got 0"),
        ({"steps": 1}, "steps must be from 2 to 1024 .*got 1"),  # insertion would equal deletion
        ({"steps": 10**12}, "steps must be from 2 to 1024 .*got 1000000000000"),  # 2 * 10**12 forward passes
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"tokens": "verbs"}, r"tokens must be one of \('nouns', 'all'\), got 'verbs'"),
        ({"fill": "grey"}, r"fill must be one of \('black', 'blur'\), got 'grey'"),
    ],
)
def test_bad_faithfulness_options_name_the_choice(options, message):
    with pytest.raises(ValueError, match=message):
        FaithfulnessOptions(**options)
