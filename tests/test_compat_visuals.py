import numpy as np
import pytest
from PIL import Image

import tam
from tam.testing import make_generation

SHAPES = {"image": (4, 5), "video": (3, 4, 5), "images": [(4, 5), (3, 3)]}


def vision_input(shape):
    picture = np.full((56, 70, 3), 120, np.uint8)
    if isinstance(shape, list):
        return [picture] * len(shape)
    return [[picture] * (2 * shape[0])] if len(shape) == 3 else Image.fromarray(picture)


def run_rounds(generation, folder, eval_only):
    logits = generation.logits()
    records = []
    return [
        tam.TAM(
            generation.tokens,
            generation.vision_shape,
            logits,
            generation.special_ids,
            vision_input(generation.vision_shape),
            generation.processor,
            "" if folder is None else str(folder / f"{r}.jpg"),
            r,
            records,
            eval_only,
        )
        for r in range(len(logits))
    ]


def flat(maps):
    return np.concatenate([m.ravel() for m in maps]) if isinstance(maps, list) else maps.ravel()


@pytest.mark.parametrize("kind", SHAPES)
def test_save_fn_writes_a_visual_per_answer_token_but_the_last(kind, tmp_path):
    generation = make_generation(SHAPES[kind], seed=0, num_answer=4)
    drawn = run_rounds(generation, tmp_path, eval_only=False)
    silent = run_rounds(generation, None, eval_only=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]
    for ours, plain in zip(drawn, silent, strict=True):
        np.testing.assert_array_equal(flat(ours), flat(plain))  # drawing leaves the maps as they were
    width, height = Image.open(tmp_path / "1.jpg").size
    assert width == 500 * len(tam.VisionLayout.from_shape(SHAPES[kind]).grids)  # 500 wide per panel
    assert height > 400  # the 56x70 picture at 500 wide, then the text


def test_eval_only_writes_nothing(tmp_path):
    run_rounds(make_generation((4, 5), seed=0, num_answer=3), tmp_path, eval_only=True)
    assert list(tmp_path.iterdir()) == []


def test_vision_input_must_be_rgb_pictures(tmp_path):
    generation = make_generation((4, 5), seed=0, num_answer=3)
    logits = generation.logits()
    with pytest.raises(ValueError, match=r"RGB pictures.*got shape \(56, 70\), dtype float64"):
        tam.TAM(
            generation.tokens,
            (4, 5),
            logits,
            generation.special_ids,
            np.zeros((56, 70)),
            generation.processor,
            str(tmp_path / "1.jpg"),
            1,
            [],
        )
