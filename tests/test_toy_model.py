"""Plumbing tests on the shipped toy-shapes checkpoint: its shape words must light up their shapes.

The maps are folded by the library (``tam.evaluation.scoring.answer_token_maps``, through
``tam/layout.py``) and the masks read back by it (``read_mask``, from the PNG files that
eval.py's data sets hold), so an error in either fails the working-pipeline tests. Each
broken variant breaks the library, not the test, and must score far lower: a layout that
folds each grid transposed, or a mask reader that flips it upside down, falls to chance
level; a vision span read one token late moves every map by one cell (14 pixels), which
on shapes three to six cells wide keeps much of the overlap (a perfect map moved so still
scores about 0.4), so that test measures the move itself: the foregrounds' mean offset
from their shapes, near 0 when working and near one cell to the left when shifted. A wrong
merge factor gives a grid of the wrong size, an error that names both sizes. The fixed
scenes place the shapes away from the grid's diagonal and from its middle row, where a
transposition or a flip would move them onto themselves.
"""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tam
from tam.errors import ShapeError
from tam.evaluation import scoring
from tam.layout import VisionLayout
from tam.methods import chance_maps
from tam.models import load_model
from tam.models.qwen_vl import QwenVLAdapter
from tam.toy.check import foreground_offsets, score_maps
from tam.toy.scenes import CATEGORIES, compose_scene

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Write a one-sentence caption for this image:"
SCENES = [
    [("red", "circle", (124, 36), 20, 0.0), ("blue", "triangle", (40, 124), 24, 0.0)],
    [("green", "square", (126, 50), 20, 0.0), ("purple", "star", (54, 126), 26, 0.0)],
    [("yellow", "circle", (36, 116), 20, 0.0), ("black", "star", (124, 38), 26, 0.1)],
    [("blue", "square", (40, 36), 20, 0.0), ("red", "triangle", (128, 120), 24, 0.0)],
]
GOOD = 0.45  # least mean Obj-IoU of the working pipeline (measured 0.66 raw, 0.58 TAM)
CHANCE = 0.15  # most mean Obj-IoU of a broken grid or mask (measured 0.11-0.12 transposed, 0.00 flipped; uniform 0.03)
CELL = 14  # pixels per vision token side
CENTRED = CELL / 3  # most mean horizontal offset of the working maps (measured 1.2 and 1.3 px; shifted -12.8 and -14.9)


@pytest.fixture(scope="module")
def toy():
    return load_model("toy-shapes")


def explain_scenes(model, processor):
    """(scene, result) for every fixed scene."""
    explained = []
    for shapes in SCENES:
        scene = compose_scene(shapes)
        messages = [
            {
                "role": "user",
                "content": [{"type": "image", "image": Image.fromarray(scene.image)}, {"type": "text", "text": PROMPT}],
            }
        ]
        explained.append((scene, tam.explain(model, processor, messages, max_new_tokens=24)))
    return explained


@pytest.fixture(scope="module")
def explained(toy):
    return explain_scenes(*toy)


@pytest.fixture(scope="module")
def mask_files(tmp_path_factory):
    """The fixed scenes' label images as PNG files, as eval.py's data sets hold them."""
    folder = tmp_path_factory.mktemp("toy-masks")
    for index, shapes in enumerate(SCENES):
        Image.fromarray(compose_scene(shapes).labels).save(folder / f"{index}.png")
    return [folder / f"{index}.png" for index in range(len(SCENES))]


def fold_transposed(patch):
    """Break ``tam/layout.py``: each grid is folded column by column (and flattened back the same way)."""
    split, join = VisionLayout.split, VisionLayout.join
    patch.setattr(VisionLayout, "split", lambda self, flat: [grid.swapaxes(-1, -2) for grid in split(self, flat)])
    patch.setattr(VisionLayout, "join", lambda self, grids: join(self, [grid.swapaxes(-1, -2) for grid in grids]))


@pytest.fixture(scope="module")
def transposed_layout_scores(toy, mask_files):
    """Mean Obj-IoU of raw and TAM maps with the whole pipeline run on a transposed layout."""
    with pytest.MonkeyPatch.context() as patch:
        fold_transposed(patch)
        explained = explain_scenes(*toy)
        return {method: mean_object_iou(explained, mask_files, method) for method in ("raw", "tam")}


@pytest.fixture(scope="module")
def explained_with_shifted_span(toy):
    """The same scenes with the vision span read one token too late (a plumbing error)."""
    find_spans = QwenVLAdapter.find_spans

    def shifted(self, tokens, prepared, messages, **options):
        spans = find_spans(self, tokens, prepared, messages, **options)
        return replace(spans, vision=spans.vision + 1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QwenVLAdapter, "find_spans", shifted)
        return explain_scenes(*toy)


def shape_word_maps(explained, mask_files, method):
    """(labels, maps of shape (N, h, w), words) of every fixed scene's answer, folded and read by the library."""
    for (_, result), mask_file in zip(explained, mask_files, strict=True):
        if method in ("uniform", "random"):
            grid = result.layout.grids[0]
            maps = chance_maps(method, len(result) - result.num_prompt_tokens, grid, np.random.default_rng(0))
        else:
            maps = scoring.answer_token_maps(result, method)
        yield scoring.read_mask(mask_file), maps, result.texts[result.answer_slice]


def mean_object_iou(explained, mask_files, method="raw"):
    ious = []
    for labels, maps, words in shape_word_maps(explained, mask_files, method):
        ious += score_maps(maps, words, labels, CATEGORIES)[0]
    assert len(ious) >= 6, f"the answers name only {len(ious)} of the scenes' 8 shapes"
    return float(np.mean(ious))


def mean_horizontal_offset(explained, mask_files, method):
    offsets = np.concatenate(
        [
            foreground_offsets(maps, words, labels, CATEGORIES)
            for labels, maps, words in shape_word_maps(explained, mask_files, method)
        ]
    )
    assert len(offsets) >= 6, f"only {len(offsets)} of the scenes' 8 shapes have a map"
    return float(offsets[:, 1].mean())


def test_the_toy_model_captions_the_fixed_scenes(explained, toy):
    tokenizer = toy[1].tokenizer
    answers = [tokenizer.decode(r.token_ids[r.answer_slice], skip_special_tokens=True).strip() for _, r in explained]
    exact = [answer == scene.caption for answer, (scene, _) in zip(answers, explained, strict=True)]
    assert sum(exact) >= 3, answers  # all 200 held-out captions are exact (README.md, "A toy world")


@pytest.mark.parametrize("method", ["raw", "tam"])
def test_shape_words_light_up_their_shapes(explained, mask_files, method):
    assert mean_object_iou(explained, mask_files, "uniform") < 0.05
    assert mean_object_iou(explained, mask_files, method) >= GOOD


@pytest.mark.parametrize("method", ["raw", "tam"])
def test_a_transposed_layout_drops_to_chance(explained, mask_files, transposed_layout_scores, method):
    assert mean_object_iou(explained, mask_files, method) >= GOOD
    assert transposed_layout_scores[method] <= CHANCE


@pytest.mark.parametrize("method", ["raw", "tam"])
def test_a_flipped_mask_reader_drops_to_chance(explained, mask_files, method):
    assert mean_object_iou(explained, mask_files, method) >= GOOD
    read_mask = scoring.read_mask
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoring, "read_mask", lambda path: read_mask(path)[::-1])
        assert mean_object_iou(explained, mask_files, method) <= CHANCE


@pytest.mark.parametrize("method", ["raw", "tam"])
def test_vision_span_shifted_by_one_token_moves_every_map_one_cell(
    explained, explained_with_shifted_span, mask_files, method
):
    assert abs(mean_horizontal_offset(explained, mask_files, method)) <= CENTRED
    assert mean_horizontal_offset(explained_with_shifted_span, mask_files, method) <= -CELL + CENTRED
    assert mean_object_iou(explained_with_shifted_span, mask_files, method) < mean_object_iou(
        explained, mask_files, method
    )


@pytest.mark.parametrize("wrong_merge", [1, 4])
def test_a_wrong_merge_factor_is_an_error_naming_the_sizes(toy, wrong_merge):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QwenVLAdapter, "merge_size", property(lambda self: wrong_merge))
        side = 24 // wrong_merge
        with pytest.raises(
            ShapeError, match=rf"holds 144 tokens, but vision_shape \({side}, {side}\) needs {side * side}"
        ):
            explain_scenes(*toy)


def test_eval_py_meets_the_toy_targets_on_held_out_scenes(tmp_path, capsys):
    """The README's results command on the first 20 of its 200 held-out scenes (seed 1)."""
    from tam.evaluation.cli import main
    from tam.toy.scenes import write_coco14

    dataset = write_coco14(tmp_path / "heldout", 20, seed=1)
    results = tmp_path / "toy.jsonl"
    argv = ["toy-shapes", str(dataset), "--max-new-tokens", "40", "--baselines", "--results", str(results)]
    assert main(argv) == 0
    assert "exact answers" in capsys.readouterr().out
    summary = json.loads(Path(f"{results}.summary.json").read_text())
    obj_iou = {method: row["obj_iou"] for method, row in summary["methods"].items()}
    assert summary["n"] == 20 and summary["exact"] >= 0.9  # measured 1.0 (200 scenes: 1.0)
    assert obj_iou["raw"] >= 0.5 and obj_iou["tam"] >= 0.5  # measured 0.725 and 0.590 (200 scenes: 0.711, 0.584)
    assert max(obj_iou["uniform"], obj_iou["random"]) <= 0.15  # measured 0.070 (200 scenes: 0.063, 0.059)
    assert obj_iou["tam"] <= obj_iou["perfect+rgf"] and obj_iou["raw"] <= obj_iou["perfect"]


def test_demo_runs_the_toy_model_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), "--model", "toy-shapes", "--out", "out", "--no-report"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "answer: a circle, a square and a star." in completed.stdout
