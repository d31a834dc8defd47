import json

import numpy as np
import pytest
from PIL import Image

from tam.metrics import otsu_threshold, resize_map
from tam.toy.check import foreground_offsets, score_maps
from tam.toy.scenes import CATEGORIES, SIDE, caption_of, compose_scene, draw_scene, write_coco14


def test_one_seed_draws_one_scene():
    first, second = draw_scene(np.random.default_rng(5)), draw_scene(np.random.default_rng(5))
    assert first.caption == second.caption
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert not np.array_equal(draw_scene(np.random.default_rng(6)).image, first.image)


def test_scene_labels_hold_exactly_the_captioned_shapes():
    rng = np.random.default_rng(0)
    for _ in range(50):
        scene = draw_scene(rng)
        assert scene.image.shape == (SIDE, SIDE, 3) and scene.image.dtype == np.uint8
        named = [category for _colour, category in scene.shapes]
        assert sorted(np.unique(scene.labels).tolist()) == sorted([0] + [CATEGORIES[c] for c in named])
        assert scene.caption == caption_of(named)
        assert [CATEGORIES[c] for c in named] == sorted(CATEGORIES[c] for c in named)  # category order
        for category in named:  # no shape is hidden under another
            assert (scene.labels == CATEGORIES[category]).sum() > 100


def test_a_shape_is_painted_where_it_is_placed():
    scene = compose_scene([("red", "square", (130, 40), 20, 0.0)])
    ys, xs = np.nonzero(scene.labels == CATEGORIES["square"])
    assert abs(xs.mean() - 130) < 1 and abs(ys.mean() - 40) < 1
    np.testing.assert_array_equal(scene.image[40, 130], [220, 30, 30])
    np.testing.assert_array_equal(scene.image[120, 40], [225, 225, 225])


def test_compose_scene_names_what_is_wrong():
    with pytest.raises(ValueError, match="distinct categories"):
        compose_scene([("red", "circle", (40, 40), 10, 0.0), ("blue", "circle", (120, 120), 10, 0.0)])
    with pytest.raises(ValueError, match="unknown colours"):
        compose_scene([("teal", "circle", (40, 40), 10, 0.0)])
    with pytest.raises(ValueError, match="at least one shape"):
        caption_of([])


def test_write_coco14_layout_reads_back(tmp_path):
    root = write_coco14(tmp_path / "toy", 4, seed=3)
    instances = json.loads((root / "annotations" / "instances_minival2014.json").read_text())
    captions = json.loads((root / "annotations" / "captions_val2014.json").read_text())
    assert [image["id"] for image in instances["images"]] == [1, 2, 3, 4]
    assert {c["name"]: c["id"] for c in instances["categories"]} == CATEGORIES
    rng = np.random.default_rng(3)
    shapes = 0
    for image_id in range(1, 5):
        scene = draw_scene(rng)
        shapes += len(scene.shapes)
        name = f"{image_id:012d}"
        np.testing.assert_array_equal(np.asarray(Image.open(root / "seg_label" / f"{name}.png")), scene.labels)
        jpeg = np.asarray(Image.open(root / "image" / f"{name}.jpg"), dtype=float)
        assert np.abs(jpeg - scene.image).mean() < 3
        assert captions["annotations"][image_id - 1] == {"id": image_id, "image_id": image_id, "caption": scene.caption}
    assert len(instances["annotations"]) == shapes
    with pytest.raises(FileExistsError, match="already holds a data set"):
        write_coco14(root, 1, seed=3)


def test_category_names_are_wordnet_nouns():
    wordnet = pytest.importorskip("nltk.corpus").wordnet
    try:
        lemmas = {name: wordnet.morphy(name, wordnet.NOUN) for name in CATEGORIES}
    except LookupError:
        pytest.skip("NLTK's WordNet is not installed (set NLTK_DATA to the project's nltk_data)")
    assert lemmas == {name: name for name in CATEGORIES}


def test_score_maps_on_hand_made_maps():
    labels = np.zeros((4, 4), np.uint8)
    labels[:2, :2] = CATEGORIES["circle"]
    hit = np.zeros((2, 2), np.uint8)
    hit[0, 0] = 255
    quiet = np.zeros((2, 2), np.uint8)
    maps = np.stack([quiet, hit, quiet, hit[::-1]])
    ious, fractions = score_maps(maps, ["a", " circle", " and", " square"], labels, CATEGORIES)
    assert len(ious) == 1  # the square is not in the scene
    _, foreground = otsu_threshold(resize_map(hit, (4, 4)))
    expected = (foreground & (labels > 0)).sum() / (foreground | (labels > 0)).sum()
    assert ious[0] == pytest.approx(expected) and ious[0] > 0.2
    assert fractions == [1.0, 1.0]  # the function words light up nothing


def test_foreground_offsets_measure_a_map_moved_by_one_cell():
    scene = compose_scene([("red", "square", (70, 98), 30, 0.0), ("blue", "circle", (126, 28), 20, 0.0)])
    cell = SIDE // 12
    grid = scene.labels.reshape(12, cell, 12, cell).transpose(0, 2, 1, 3).reshape(12, 12, -1)
    maps = np.stack([(grid == CATEGORIES[name]).mean(axis=2) * 255 for name in ("circle", "square")]).astype(np.uint8)
    words = [" circle", " square"]
    np.testing.assert_allclose(foreground_offsets(maps, words, scene.labels, CATEGORIES), 0, atol=2)
    moved_left = np.roll(maps, -1, axis=2)  # what a vision span read one token late does
    offsets = foreground_offsets(moved_left, words, scene.labels, CATEGORIES)
    np.testing.assert_allclose(offsets[:, 1], -cell, atol=2)
    np.testing.assert_allclose(offsets[:, 0], 0, atol=2)
    assert foreground_offsets(maps, [" star", " and"], scene.labels, CATEGORIES).shape == (0, 2)
