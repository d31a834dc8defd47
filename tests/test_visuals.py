import numpy as np
import pytest

import tam
from tam.testing import make_generation
from tam.visuals import map_panels, save_token_visual, show_map_on_image


def test_show_map_on_image_blends_jet_over_the_image():
    image = np.full((4, 6, 3), 100, np.uint8)
    hot = show_map_on_image(image, np.ones((2, 3)))
    cold = show_map_on_image(image, np.zeros((2, 3)))
    assert hot.shape == image.shape and hot.dtype == np.uint8
    # JET: 1 is dark red, 0 is dark blue; blended 50/50 with grey 100
    assert hot[0, 0, 0] > hot[0, 0, 2] and cold[0, 0, 2] > cold[0, 0, 0]
    np.testing.assert_array_equal(image, 100)  # input untouched


def test_show_map_on_image_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
        show_map_on_image(np.zeros((4, 6)), np.zeros((2, 3)))


def test_panels_side_by_side(tmp_path):
    generation = make_generation([(4, 5), (3, 3)], seed=0)
    images = [np.zeros((40, 50, 3), np.uint8), np.zeros((20, 20, 3), np.uint8)]
    result = tam.explain_generation(
        generation.tokens,
        generation.hidden_states,
        generation.lm_head,
        generation.special_ids,
        generation.vision_shape,
        images=images,
    )
    assert map_panels(result, 2).shape == (40, 50 + 40, 3)
    save_token_visual(result, 2, tmp_path / "2.png")
    assert (tmp_path / "2.png").stat().st_size > 0
