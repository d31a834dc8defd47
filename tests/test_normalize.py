import numpy as np

from tam.normalize import normalize_jointly


def test_vision_and_text_share_one_scale():
    vision = np.array([[1.0, 3.0]])
    text = np.array([[5.0, 100.0]])
    mask = np.array([[True, False]])  # the masked-out slot does not set the maximum
    v, t = normalize_jointly(vision, text, mask)
    np.testing.assert_allclose(v, [[0.0, 0.5]])
    np.testing.assert_allclose(t, [[1.0, 0.0]])


def test_flat_row_gives_zeros_not_nan():
    v, t = normalize_jointly(np.full((1, 4), 2.0), np.full((1, 2), 2.0), np.ones((1, 2), bool))
    assert np.all(v == 0) and np.all(t == 0)


def test_no_text_slots():
    v, _ = normalize_jointly(np.array([[0.0, 2.0, 4.0]]), np.zeros((1, 0)), np.zeros((1, 0), bool))
    np.testing.assert_allclose(v, [[0.0, 0.5, 1.0]])
