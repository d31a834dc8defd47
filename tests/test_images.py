"""The one picture loader: every Pillow mode, EXIF rotation, the pixel limit, frames of several sizes."""

import numpy as np
import pytest
from PIL import Image

from tam.errors import ImageFileError
from tam.images import MAX_PIXELS, load_frames, load_image
from tests.hostile_files import frames_of_two_sizes, huge_png, sixteen_bit_png, truncated_jpeg

DEMO_JPEG = "imgs/demo.jpg"


def pixels(picture) -> np.ndarray:
    assert picture.mode == "RGB"
    return np.asarray(picture)


def test_sixteen_bit_pictures_are_scaled_not_clipped_to_white(tmp_path):
    picture = pixels(load_image(sixteen_bit_png(tmp_path / "ramp.png")))
    assert picture.shape == (48, 64, 3)
    assert picture[0, 0, 0] == 0 and picture[0, -1, 0] == round(60000 / 65535 * 255)
    assert np.all(np.diff(picture[0, :, 0].astype(int)) >= 0)  # still a ramp


@pytest.mark.parametrize(
    "mode, value, expected",
    [
        ("1", 1, (255, 255, 255)),
        ("L", 100, (100, 100, 100)),
        ("I", 65535, (255, 255, 255)),
        ("I;16B", 32768, (128, 128, 128)),
        ("F", 0.5, (128, 128, 128)),
        ("RGBA", (200, 0, 0, 0), (255, 255, 255)),  # fully transparent: the white background
        ("RGBA", (200, 0, 0, 255), (200, 0, 0)),
        ("LA", (0, 128), (127, 127, 127)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("HSV", (0, 255, 255), (255, 0, 0)),
        ("LAB", (100, 128, 128), (93, 93, 93)),  # L* 39: sRGB grey 94
    ],
)
def test_every_mode_becomes_the_rgb_a_person_sees(mode, value, expected):
    picture = pixels(load_image(Image.new(mode, (3, 2), value)))
    np.testing.assert_allclose(picture[1, 2], expected, atol=2)


def test_a_palette_with_a_transparent_colour_is_laid_over_white(tmp_path):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 250, 10, 10] + [0] * 762)
    palette.save(tmp_path / "p.png", transparency=1)
    assert tuple(pixels(load_image(tmp_path / "p.png"))[0, 0]) == (255, 255, 255)


def test_exif_orientation_turns_the_picture_upright(tmp_path):
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # red on the left half as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = pixels(load_image(tmp_path / "phone.jpg"))
    assert upright.shape == (40, 20, 3)
    assert upright[5, 10, 0] > 200 and upright[35, 10, 0] < 50  # the red half is now on top


def test_pictures_over_the_pixel_limit_are_refused_before_decoding(tmp_path):
    with pytest.raises(ImageFileError, match=r"bomb.png' is over the pixel limit of 67108864: shrink it first"):
        load_image(huge_png(tmp_path / "bomb.png"))
    with pytest.raises(ImageFileError, match="20x10 = 200 pixels, over the pixel limit of 100"):
        load_image(Image.new("RGB", (20, 10)), max_pixels=100)
    assert MAX_PIXELS == 8192 * 8192


def test_a_truncated_jpeg_is_refused_with_its_name(tmp_path):
    with pytest.raises(ImageFileError, match=r"cut.jpg' is not an image that can be read whole \(image file is"):
        load_image(truncated_jpeg(tmp_path / "cut.jpg", DEMO_JPEG))


@pytest.mark.parametrize(
    "source, message",
    [("nowhere.png", "no image file at 'nowhere.png'"), ("https://example.org/a.jpg", "download it first")],
)
def test_what_is_no_picture_file(source, message):
    with pytest.raises(ImageFileError, match=message):
        load_image(source)


def test_frames_of_several_sizes_take_the_first_frames_size(tmp_path):
    frames = load_frames(frames_of_two_sizes(tmp_path / "frames"))
    assert [frame.size for frame in frames] == [(64, 48)] * 4
    assert tuple(pixels(frames[3])[10, 10]) == (120, 90, 160)


def test_an_empty_frames_folder(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(ImageFileError, match="frames' holds no .jpg/"):
        load_frames(tmp_path / "frames")
