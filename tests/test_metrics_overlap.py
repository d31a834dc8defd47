import numpy as np
import pytest

from tam.metrics import background_fraction, best_token_overlap, otsu_threshold, overlap, resize_map, word_threshold


def two_level(low, high, cells):
    """A 4x4 uint8 map at ``low`` with ``high`` at the given (row, col) cells."""
    token_map = np.full((4, 4), low, np.uint8)
    for row, col in cells:
        token_map[row, col] = high
    return token_map


TOP_LEFT = [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_otsu_splits_a_two_level_map_at_its_lower_level():
    threshold, foreground = otsu_threshold(two_level(50, 200, TOP_LEFT))
    assert threshold == 50.0
    assert foreground.sum() == 4 and foreground[:2, :2].all()


def test_overlap_by_hand():
    prediction = np.zeros((4, 4), bool)
    prediction[:2, :3] = True  # 6 cells
    target = np.zeros((4, 4), bool)
    target[:2, :2] = True  # 4 cells, all inside the prediction
    assert overlap(prediction, target) == (4 / 6, 4 / 6, 1.0)


def test_overlap_of_empty_prediction_is_zero_not_nan():
    target = np.ones((2, 2), bool)
    assert overlap(np.zeros((2, 2), bool), target) == (0.0, 0.0, 0.0)


def test_overlap_needs_one_shape():
    with pytest.raises(ValueError, match=r"one shape, got \(2, 2\) and \(3, 3\)"):
        overlap(np.zeros((2, 2), bool), np.zeros((3, 3), bool))


def test_resize_map_is_bilinear_to_the_mask_size():
    small = np.array([[0, 200], [200, 0]], np.uint8)
    large = resize_map(small, (4, 6))
    assert large.shape == (4, 6) and large.dtype == np.uint8
    assert large[0, 0] == 0 and large[0, -1] == 200 and large[-1, 0] == 200
    np.testing.assert_array_equal(resize_map(small, (2, 2)), small)


def test_resize_map_rejects_float_maps():
    with pytest.raises(ValueError, match="token_map must be a 2-D uint8 array"):
        resize_map(np.zeros((2, 2)), (4, 4))


def test_best_token_is_the_one_of_highest_iou():
    target = np.zeros((4, 4), bool)
    target[:2, :2] = True
    maps = np.stack([two_level(0, 255, [(0, 0), (3, 3)]), two_level(0, 255, TOP_LEFT + [(2, 2)])])
    best = best_token_overlap(maps, target)
    assert best.token == 1
    assert (best.iou, best.precision, best.recall) == (4 / 5, 4 / 5, 1.0)


def test_word_threshold_is_the_largest_over_tokens():
    maps = np.stack([two_level(50, 200, TOP_LEFT), two_level(100, 220, TOP_LEFT)])
    assert word_threshold(maps, (4, 4)) == 100.0


def test_background_fraction_is_averaged_over_tokens():
    maps = np.stack([two_level(60, 70, TOP_LEFT), np.zeros((4, 4), np.uint8)])
    assert background_fraction(maps, 62.5) == pytest.approx((12 / 16 + 1.0) / 2)
