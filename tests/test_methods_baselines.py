import numpy as np
import pytest

from tam.methods import MaskMethod, chance_maps, get_method, method_names, perfect_maps
from tam.metrics import otsu_threshold, overlap, resize_map


def test_chance_maps():
    rng = np.random.default_rng(0)
    assert (chance_maps("uniform", 2, (3, 4), rng) == 255).all()
    random = chance_maps("random", 2, (3, 4), rng)
    assert random.shape == (2, 3, 4) and random.dtype == np.uint8 and random.std() > 0
    with pytest.raises(ValueError, match="'uniform' or 'random'"):
        chance_maps("zeros", 1, (2, 2), rng)


def test_perfect_map_holds_each_cells_share_of_the_object():
    mask = np.zeros((6, 9), np.uint8)
    mask[0:3, 0:3] = 5  # fills cell (0, 0) of a 2 x 3 grid
    mask[3:6, 6:7] = 5  # a third of cell (1, 2)
    mask[3:6, 3:6] = 2  # another object
    maps = perfect_maps([5, None, 2, 9], mask, (2, 3))
    assert maps.shape == (4, 2, 3) and maps.dtype == np.uint8
    np.testing.assert_array_equal(maps[0], [[255, 0, 0], [0, 0, 85]])
    assert not maps[1].any() and not maps[3].any()  # no label, a label the mask lacks
    np.testing.assert_array_equal(maps[2], [[0, 0, 0], [0, 255, 0]])


def test_otsu_finds_the_object_in_its_perfect_map():
    mask = np.zeros((8, 8), np.uint8)
    mask[4:8, 0:4] = 1
    (token_map,) = perfect_maps([1], mask, (2, 2))
    _, foreground = otsu_threshold(resize_map(token_map, mask.shape))
    assert overlap(foreground, mask == 1)[0] > 0.5


def test_filtered_perfect_map_spreads_and_peaks_at_255():
    mask = np.zeros((12, 12), np.uint8)
    mask[4:8, 4:8] = 1
    plain, filtered = perfect_maps([1], mask, (6, 6)), perfect_maps([1], mask, (6, 6), filter_size=3)
    assert filtered.max() == 255
    assert (filtered > 0).sum() > (plain > 0).sum()


def baseline_maps(kind, labels, mask, grid, seed, filter_size=3):
    return get_method(kind).answer_maps(labels, mask, grid, seed=seed, filter_size=filter_size)


def test_mask_methods_are_the_chance_and_ceiling_maps_in_the_order_eval_resumes_with():
    assert method_names(MaskMethod) == ("uniform", "random", "perfect", "perfect+rgf")
    assert all(get_method(name).needs == {"mask"} for name in method_names(MaskMethod))


def test_baseline_maps_of_every_kind():
    mask = np.zeros((4, 4), np.uint8)
    mask[:2, :2] = 3
    for kind in method_names(MaskMethod):
        maps = baseline_maps(kind, [None, 3], mask, (2, 2), seed=1)
        assert maps.shape == (2, 2, 2) and maps.dtype == np.uint8
    np.testing.assert_array_equal(
        baseline_maps("random", [None, 3], mask, (2, 2), seed=1),
        baseline_maps("random", [None, 3], mask, (2, 2), seed=1),
    )
    one_cell_window = baseline_maps("perfect+rgf", [3], mask, (2, 2), seed=0, filter_size=1)  # changes nothing
    np.testing.assert_array_equal(one_cell_window, baseline_maps("perfect", [3], mask, (2, 2), seed=0))
    with pytest.raises(ValueError, match="unknown map method 'oracle'; known methods: tam, raw"):
        baseline_maps("oracle", [3], mask, (2, 2), seed=0)
