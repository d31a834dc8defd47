import numpy as np
import pytest
import torch

from tam.metrics.faithfulness import (
    FaithfulnessAccumulator,
    area_under_curve,
    faithfulness_curves,
    fill_picture,
    perturbed_picture,
    pixel_ranking,
    pointing_hit,
    removal_counts,
    saliency_on_picture,
)


def _picture(height=8, width=8, seed=0):
    return np.random.default_rng(seed).integers(1, 256, size=(height, width, 3), dtype=np.uint8)


def test_ranking_puts_the_highest_first_and_breaks_ties_by_row_major_order():
    saliency = np.array([[0.5, 0.9, 0.5], [0.9, 0.1, 0.5]])
    assert pixel_ranking(saliency).tolist() == [1, 3, 0, 2, 5, 4]


@pytest.mark.parametrize("fraction_step", [1, 3, 5])
def test_deletion_removes_exactly_the_top_fraction(fraction_step):
    picture = _picture()
    saliency = np.arange(64, dtype=float).reshape(8, 8)[::-1]  # row 7 ranks first
    ranking = pixel_ranking(saliency)
    count = removal_counts(64, steps=8)[fraction_step]
    deleted = perturbed_picture(picture, fill_picture(picture), ranking, int(count), "deletion")
    removed = np.all(deleted == 0, axis=2)
    expected = np.zeros(64, dtype=bool)
    expected[np.argsort(-saliency.ravel())[:count]] = True
    assert removed.sum() == count == fraction_step * 8
    np.testing.assert_array_equal(removed.ravel(), expected)
    np.testing.assert_array_equal(deleted[~removed], picture[~removed])


def test_insertion_keeps_exactly_the_top_pixels_and_leaves_inputs_unchanged():
    picture = _picture()
    copy = picture.copy()
    filled = fill_picture(picture)
    saliency = np.zeros((8, 8))
    saliency[2:4, 5:8] = 1.0
    inserted = perturbed_picture(picture, filled, pixel_ranking(saliency), 6, "insertion")
    kept = np.zeros((8, 8), dtype=bool)
    kept[2:4, 5:8] = True
    np.testing.assert_array_equal(inserted[kept], picture[kept])
    assert not inserted[~kept].any()
    np.testing.assert_array_equal(picture, copy)
    assert not filled.any()


def test_blur_fill_keeps_a_flat_picture_and_smooths_an_edge():
    flat = np.full((32, 32, 3), 90, dtype=np.uint8)
    np.testing.assert_array_equal(fill_picture(flat, "blur"), flat)
    edge = np.zeros((32, 32, 3), dtype=np.uint8)
    edge[:, 16:] = 255
    blurred = fill_picture(edge, "blur")
    assert 0 < blurred[16, 15, 0] < 255


def test_unknown_fill_names_the_choices():
    with pytest.raises(ValueError, match=r"fill must be one of \('black', 'blur'\), got 'grey'"):
        fill_picture(_picture(), "grey")


def test_removal_counts_run_from_none_to_all():
    counts = removal_counts(4096, steps=64)
    assert counts[0] == 0 and counts[-1] == 4096 and len(counts) == 65
    assert np.all(np.diff(counts) == 64)


def test_area_under_curve_matches_hand_computed_trapezoids():
    # points at 0, 1/4, 1/2, 3/4, 1: (0.2+0.6)/2/4 + (0.6+0.6)/2/4 + (0.6+1.0)/2/4 + (1.0+0.4)/2/4 = 0.625
    assert area_under_curve([0.2, 0.6, 0.6, 1.0, 0.4]) == pytest.approx(0.625)
    assert area_under_curve([1.0, 1.0]) == 1.0


def test_saliency_is_resized_bilinearly_to_the_picture():
    saliency = saliency_on_picture(np.array([[0.0, 1.0]]), (1, 4))
    # OpenCV's half-pixel bilinear: centres at 0.25 and 0.75 of the width
    np.testing.assert_allclose(saliency, [[0.0, 0.25, 0.75, 1.0]])


def test_pointing_game_hits_when_the_maximum_lies_on_the_object():
    token_map = np.zeros((4, 4))
    token_map[1, 2] = 1.0
    target = np.zeros((40, 40), dtype=bool)
    target[10:20, 20:30] = True
    assert pointing_hit(token_map, target)
    assert not pointing_hit(token_map, ~target)


@pytest.mark.parametrize("steps", [1, 1025])
def test_removal_counts_refuse_steps_out_of_range_before_allocating(steps):
    with pytest.raises(ValueError, match=f"steps must be from 2 to 1024 .*got {steps}"):
        removal_counts(100, steps=steps)


@pytest.mark.parametrize("value", [0.0, -3.0])
def test_a_map_of_one_value_points_at_nothing(value):
    target = np.zeros((40, 40), dtype=bool)
    target[:10, :10] = True  # the top-left pixel, where the first of equal values lies
    assert not pointing_hit(np.full((4, 4), value), target)


class RegionModel(torch.nn.Module):
    """A classifier over 4 tokens whose token 0 logit is the mean brightness of one region only."""

    def __init__(self, rows: slice, cols: slice):
        super().__init__()
        self.rows, self.cols = rows, cols

    def forward(self, pictures: torch.Tensor) -> torch.Tensor:
        region = pictures[:, self.rows, self.cols].float().mean(dim=(1, 2, 3)) / 255.0
        logits = torch.zeros(len(pictures), 4)
        logits[:, 0] = 8.0 * region
        return logits


def _region_scorer(model):
    def scorer(pictures: np.ndarray) -> np.ndarray:
        logits = model(torch.from_numpy(pictures))
        return (logits[:, 0] - torch.logsumexp(logits, dim=-1)).exp().numpy()

    return scorer


def test_the_region_the_model_reads_is_most_faithful_random_between_inverted_worst():
    picture = np.full((64, 64, 3), 220, dtype=np.uint8)
    model = RegionModel(slice(16, 40), slice(24, 48))  # cells [2:5, 3:6] of an 8 x 8 grid of 8 px
    region = np.zeros((8, 8))
    region[2:5, 3:6] = 1.0
    maps = {
        "region": region,
        "random": np.random.default_rng(0).random((8, 8)),
        "inverted": 1.0 - region,
    }
    rankings = {name: pixel_ranking(saliency_on_picture(grid, (64, 64))) for name, grid in maps.items()}
    calls = []

    def scorer(pictures):
        calls.append(len(pictures))
        return _region_scorer(model)(pictures)

    curves = faithfulness_curves(scorer, picture, rankings, steps=16, batch_size=7)
    deletion = {name: c.deletion_auc for name, c in curves.items()}
    insertion = {name: c.insertion_auc for name, c in curves.items()}
    assert deletion["region"] < deletion["random"] < deletion["inverted"]
    assert insertion["region"] > insertion["random"] > insertion["inverted"]
    assert sum(calls) == 2 + 3 * 2 * 15 and max(calls) == 7
    for c in curves.values():
        assert c.deletion[0] == c.insertion[-1] and c.deletion[-1] == c.insertion[0]


def test_curves_reject_a_scorer_that_returns_the_wrong_count():
    picture = _picture()
    ranking = {"m": pixel_ranking(np.zeros((8, 8)))}
    with pytest.raises(ValueError, match=r"one probability per picture, 2, got shape \(1,\)"):
        faithfulness_curves(lambda p: np.zeros(1), picture, ranking, steps=4, batch_size=2)


def test_accumulator_pools_curves_aucs_and_hits():
    accumulator = FaithfulnessAccumulator()
    accumulator.update([1.0, 0.0], [0.0, 1.0], True)
    accumulator.update([1.0, 1.0], [0.0, 0.0], None)
    accumulator.update([0.0, 0.0], [1.0, 1.0], False)
    summary = accumulator.summary()
    assert summary["deletion_auc"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert summary["insertion_auc"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert summary["pointing"] == 0.5 and summary["pointed"] == 2 and summary["tokens"] == 3
    assert summary["deletion_curve"] == pytest.approx([2 / 3, 1 / 3])
    assert FaithfulnessAccumulator().summary()["insertion_auc"] is None
