import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tam.filters import rank_gaussian_filter


def filter_by_definition(grid, size=3):
    """The spec's per-cell definition, written plainly, as the oracle."""
    pad = size // 2
    padded = np.pad(grid.astype(np.float64), pad, mode="reflect")
    out = np.zeros(grid.shape)
    n = size * size
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            window = np.sort(padded[i : i + size, j : j + size].ravel())
            mu, sd = window.mean(), window.std()
            if mu <= 0:
                continue
            if sd == 0:
                out[i, j] = window[n // 2]
                continue
            weights = np.exp(-((np.arange(n) - n // 2) ** 2) / (2 * (sd / mu) ** 2))
            out[i, j] = (weights / weights.sum() * window).sum()
    return out


grids = arrays(
    np.float64, st.tuples(st.integers(1, 7), st.integers(1, 7)), elements=st.floats(0, 1, allow_nan=False, width=32)
)


def test_hand_computed_window():
    # Centre cell of [[0,0,0],[0,9,0],[0,0,0]] * 1: window sorted = eight 0s and one 1.
    # mu = 1/9, sd = sqrt(8)/9, sigma = sqrt(8); weight of rank 8 (offset 4) vs total.
    grid = np.zeros((3, 3))
    grid[1, 1] = 1.0
    offsets = np.arange(9) - 4
    weights = np.exp(-(offsets**2) / (2 * 8.0))
    expected_centre = weights[8] / weights.sum()
    assert rank_gaussian_filter(grid)[1, 1] == pytest.approx(expected_centre)


def test_reflect_101_padding_at_the_corner():
    grid = np.arange(1.0, 10.0).reshape(3, 3)
    # The corner's window under reflect-101 mirrors row/col 1, never repeats the edge.
    padded = np.pad(grid, 1, mode="reflect")
    assert padded[0, 0] == grid[1, 1]
    assert rank_gaussian_filter(grid)[0, 0] == pytest.approx(filter_by_definition(grid)[0, 0])


def test_flat_window_keeps_its_value_not_nan():
    out = rank_gaussian_filter(np.full((4, 5), 0.25))
    assert np.all(out == 0.25)


def test_zero_map_gives_zero():
    assert np.all(rank_gaussian_filter(np.zeros((3, 4))) == 0)


def test_batch_equals_each_grid():
    rng = np.random.default_rng(0)
    batch = rng.random((5, 6, 7))
    out = rank_gaussian_filter(batch)
    for grid, filtered in zip(batch, out, strict=True):
        np.testing.assert_allclose(filtered, rank_gaussian_filter(grid))


def test_larger_window():
    grid = np.random.default_rng(1).random((6, 6))
    np.testing.assert_allclose(rank_gaussian_filter(grid, size=5), filter_by_definition(grid, size=5))


@pytest.mark.parametrize("bad, message", [(np.zeros(5), "at least 2 dimensions"), (np.array([[np.nan, 0.0]]), "NaN")])
def test_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        rank_gaussian_filter(bad)


@pytest.mark.parametrize("size", [0, 2, -3, 1.5])
def test_bad_size(size):
    with pytest.raises(ValueError, match="odd"):
        rank_gaussian_filter(np.zeros((3, 3)), size=size)


@settings(max_examples=200, deadline=None)
@given(grids)
def test_matches_the_definition(grid):
    np.testing.assert_allclose(rank_gaussian_filter(grid), filter_by_definition(grid), atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(grids)
def test_properties(grid):
    before = grid.copy()
    out = rank_gaussian_filter(grid)
    np.testing.assert_array_equal(grid, before)  # input untouched
    assert out.dtype == np.float64 and out.shape == grid.shape
    assert np.all(np.isfinite(out))
    # a weighted average of its window: between the window's min and max, so in [0, 1]
    assert np.all(out >= 0) and np.all(out <= grid.max() + 1e-12)


@settings(max_examples=100, deadline=None)
@given(grids, st.floats(0.01, 100))
def test_scale_equivariant(grid, factor):
    # sigma = sd / mu does not change with scale, so the filter commutes with scaling
    np.testing.assert_allclose(
        rank_gaussian_filter(grid * factor), rank_gaussian_filter(grid) * factor, rtol=1e-9, atol=1e-12
    )


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.floats(0, 1))
def test_constant_stays_constant(h, w, value):
    np.testing.assert_allclose(rank_gaussian_filter(np.full((h, w), value)), value)
