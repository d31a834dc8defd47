"""The one picture loader: every Pillow mode, EXIF rotation, the pixel limit, frames of several sizes."""

import numpy as np
import pytest
import torch
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


@pytest.mark.parametrize(
    "size, limit",
    [((201, 1), "MAX_ASPECT_RATIO"), ((1, 100000), "MAX_ASPECT_RATIO"), ((65501, 400), "MAX_SIDE")],
)
def test_pictures_too_thin_or_too_long_are_refused_before_decoding(size, limit):
    with pytest.raises(ImageFileError, match=rf"the picture is {size[0]}x{size[1]} pixels, .*tam.images.{limit}"):
        load_image(Image.new("1", size))


def test_the_thinnest_picture_accepted_is_200_to_1():
    assert load_image(Image.new("RGB", (200, 1))).size == (200, 1)
    assert load_image(Image.new("RGB", (1, 200))).size == (1, 200)


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


def demo_pixels() -> np.ndarray:
    return np.array(pixels(load_image(DEMO_JPEG)))  # writable, for torch.from_numpy


@pytest.mark.parametrize(
    "as_array",
    [
        pytest.param(lambda rgb: rgb, id="numpy HxWx3 uint8"),
        pytest.param(lambda rgb: rgb.transpose(2, 0, 1).copy(), id="numpy 3xHxW uint8"),
        pytest.param(lambda rgb: rgb / 255.0, id="numpy float64 in [0, 1]"),
        pytest.param(lambda rgb: (rgb / 255.0).astype(np.float16), id="numpy float16 in [0, 1]"),
        pytest.param(lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), id="numpy RGBA opaque"),
        pytest.param(lambda rgb: torch.from_numpy(rgb).permute(2, 0, 1) / 255, id="torch 3xHxW float"),
        pytest.param(lambda rgb: (torch.from_numpy(rgb).permute(2, 0, 1) / 255).bfloat16(), id="torch bfloat16"),
        pytest.param(lambda rgb: torch.from_numpy(rgb), id="torch HxWx3 uint8"),
    ],
)
def test_arrays_and_tensors_give_the_pictures_pixels(as_array):
    rgb = demo_pixels()
    tolerance = 2 if "float" in str(as_array(rgb[:1, :1]).dtype) else 0  # float16/bfloat16 round a level off
    np.testing.assert_allclose(pixels(load_image(as_array(rgb))), rgb, atol=tolerance)


def test_grey_arrays_become_grey_rgb():
    grey = np.array([[0, 100, 255, 30, 1]], dtype=np.uint8)  # 5 wide: (1, 1, 5) can only be channels first
    expected = np.repeat(grey[:, :, None], 3, axis=2)
    for array in (grey, grey[:, :, None], grey[None], torch.from_numpy(grey)[None], grey.astype(bool)):
        picture = pixels(load_image(array))
        np.testing.assert_array_equal(picture, expected if array.dtype != bool else (expected > 0) * 255)


@pytest.mark.parametrize(
    "source, message",
    [
        (
            np.zeros((5, 6, 2), np.uint8),
            r"array must have shape \(H, W\), \(H, W, C\) or \(C, H, W\), C in 1, 3, 4; got \(5, 6, 2\)",
        ),
        (np.zeros((2, 4, 5, 3), np.uint8), r"got \(2, 4, 5, 3\)"),
        (np.zeros((0, 5), np.uint8), r"got \(0, 5\)"),
        (np.full((4, 5), 255.0), r"a float image array must hold values in \[0, 1\] \(no NaN\), got 255 to 255"),
        (np.full((4, 5), np.nan), r"\(no NaN\), got nan to nan"),
        (np.zeros((4, 5), np.int64), "must be uint8, bool or float in \\[0, 1\\], got dtype int64"),
        (
            torch.zeros(4, 5, dtype=torch.int32),
            "an image tensor must be uint8, bool or float in \\[0, 1\\], got dtype int32",
        ),
        (b"\x89PNG", "an image must be a file path, a PIL image, or a numpy array / torch tensor .* got bytes"),
        ([[0, 1]], "got list"),
    ],
)
def test_other_arrays_and_types_are_refused_naming_what_is_accepted(source, message):
    with pytest.raises(ImageFileError, match=message):
        load_image(source)


def test_an_array_over_the_pixel_limit_is_refused():
    with pytest.raises(ImageFileError, match="the picture array is 20x10 = 200 pixels, over the pixel limit of 100"):
        load_image(np.zeros((10, 20, 3), np.uint8), max_pixels=100)


def test_a_video_array_is_read_frame_by_frame():
    video = np.zeros((2, 4, 5, 3), np.uint8)
    video[1] = 200
    frames = load_frames(video)
    assert [frame.size for frame in frames] == [(5, 4)] * 2
    assert tuple(pixels(frames[1])[0, 0]) == (200, 200, 200)
