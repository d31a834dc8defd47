import cv2
import numpy as np
import pytest
import torch

from tam.errors import ShapeError
from tam.layout import Tile, VisionLayout


@pytest.mark.parametrize(
    "shape, grids, kind",
    [
        ((2, 3), ((2, 3),), "image"),
        ((torch.tensor(2), torch.tensor(3)), ((2, 3),), "image"),
        ((2, 3, 4), ((3, 4), (3, 4)), "video"),
        ([(2, 3), (1, 4)], ((2, 3), (1, 4)), "images"),
    ],
)
def test_forms(shape, grids, kind):
    layout = VisionLayout.from_shape(shape)
    assert layout.grids == grids and layout.kind == kind
    assert layout.num_tokens == sum(h * w for h, w in grids)


def test_split_and_join_round_trip():
    layout = VisionLayout.from_shape([(2, 3), (1, 4)])
    flat = np.arange(20.0).reshape(2, 10)
    first, second = layout.split(flat)
    assert first.shape == (2, 2, 3) and second.shape == (2, 1, 4)
    np.testing.assert_array_equal(first[1], [[10, 11, 12], [13, 14, 15]])
    np.testing.assert_array_equal(layout.join([first, second]), flat)


@pytest.mark.parametrize("shape", [(3,), (1, 2, 3, 4), (0, 3), [(2, 3), (2,)], "ab"])
def test_bad_shapes(shape):
    with pytest.raises(ShapeError, match="vision_shape"):
        VisionLayout.from_shape(shape)


@pytest.mark.parametrize("shape", [(4.5, 3), (4.0, 3), (True, 3), [(2, 3), (2, 3.5)], (2, 3, 1.5), (np.float32(2), 3)])
def test_sizes_that_are_not_integers_are_refused_not_truncated(shape):
    with pytest.raises(ShapeError, match=r"vision_shape must be .* of integers; got "):
        VisionLayout.from_shape(shape)


def test_integer_sizes_of_numpy_and_torch_are_read():
    import torch

    assert VisionLayout.from_shape((np.int64(2), torch.tensor(3))).grids == ((2, 3),)
    assert VisionLayout.from_shape(torch.tensor([2, 4, 5])).grids == ((4, 5), (4, 5))


def test_split_checks_length():
    with pytest.raises(ShapeError, match="expected 6 vision values"):
        VisionLayout.from_shape((2, 3)).split(np.zeros(5))


def test_a_tile_is_painted_on_its_rectangle_and_nothing_else():
    layout = VisionLayout.from_tiles([(1, 1)], [Tile(0, (2.0, 1.0, 6.0, 3.0))], [(4, 8)])
    painted = layout.paint([np.array([[0.5]])], 0)
    expected = np.zeros((4, 8), np.float32)
    expected[1:3, 2:6] = 0.5
    np.testing.assert_array_equal(painted, expected)
    assert layout.seen_box(0) == (2, 1, 6, 3)


def test_overlapping_tiles_are_averaged_and_kinds_drawn_alone():
    tiles = [Tile(0, (0.0, 0.0, 4.0, 2.0)), Tile(0, (0.0, 0.0, 4.0, 2.0), "global")]
    layout = VisionLayout.from_tiles([(1, 1), (1, 1)], tiles, [(2, 4)])
    grids = [np.array([[1.0]]), np.array([[0.0]])]
    np.testing.assert_array_equal(layout.paint(grids, 0), np.full((2, 4), 0.5, np.float32))
    np.testing.assert_array_equal(layout.paint(grids, 0, tiles="local"), np.ones((2, 4), np.float32))
    np.testing.assert_array_equal(layout.paint(grids, 0, tiles="global"), np.zeros((2, 4), np.float32))


def test_a_rectangle_past_the_picture_is_cut_at_its_edge():
    # a padded square: the tile's upper half lies above the picture
    layout = VisionLayout.from_tiles([(2, 1)], [Tile(0, (0.0, -2.0, 2.0, 2.0))], [(2, 2)])
    painted = layout.paint([np.array([[0.0], [1.0]])], 0)
    # the tile is resized to its 2 x 4 rectangle; the picture shows its lower two rows
    full = cv2.resize(np.array([[0.0], [1.0]], np.float32), (2, 4), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(painted, full[2:])


def test_a_picture_without_tiles_of_a_kind_names_the_kinds_it_has():
    layout = VisionLayout.from_shape((2, 2)).with_pictures([(4, 4)])
    with pytest.raises(ValueError, match="no global tile; its tiles are local"):
        layout.paint([np.zeros((2, 2))], 0, tiles="global")


def test_painting_many_tokens_at_once_equals_one_at_a_time():
    tiles = [Tile(0, (0.0, 0.0, 5.0, 7.0)), Tile(0, (5.0, 0.0, 10.0, 7.0)), Tile(0, (0.0, 0.0, 10.0, 7.0), "global")]
    layout = VisionLayout.from_tiles([(2, 2), (2, 2), (3, 3)], tiles, [(7, 10)])
    rng = np.random.default_rng(0)
    grids = [rng.random((300, 2, 2)), rng.random((300, 2, 2)), rng.random((300, 3, 3))]
    together = layout.paint(grids, 0)
    for token in (0, 137, 299):
        np.testing.assert_allclose(together[token], layout.paint([grid[token] for grid in grids], 0), atol=1e-6)


def test_whole_picture_layouts_keep_the_grids_as_they_were():
    layout = VisionLayout.from_shape([(2, 3), (4, 4)]).with_pictures([(20, 30), (8, 8)])
    assert layout.is_whole_pictures()
    flat = np.arange(22, dtype=float)
    assert [grid.shape for grid in layout.picture_maps(flat)] == [(2, 3), (4, 4)]
    tiled = VisionLayout.from_tiles([(2, 3)], [Tile(0, (0.0, 0.0, 15.0, 20.0))], [(20, 30)])
    assert not tiled.is_whole_pictures() and [m.shape for m in tiled.picture_maps(flat[:6])] == [(20, 30)]
