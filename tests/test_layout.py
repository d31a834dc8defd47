import numpy as np
import pytest
import torch

from tam.errors import ShapeError
from tam.layout import VisionLayout


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


def test_split_checks_length():
    with pytest.raises(ShapeError, match="expected 6 vision values"):
        VisionLayout.from_shape((2, 3)).split(np.zeros(5))
