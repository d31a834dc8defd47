"""Reading pictures: the one loader behind demo.py, eval.py and the model adapters.

Every file Pillow opens becomes the 8-bit RGB picture a person sees when opening it:

- EXIF orientation is applied (a phone photo stored sideways is turned upright);
- 16-bit and 32-bit integer modes (``I;16``, ``I;16B``, ``I``) are scaled from 0..65535
  to 0..255, and float mode ``F`` from 0..1, instead of being clipped at 255 (which
  turns a 16-bit picture white);
- transparency (``RGBA``, ``LA``, ``PA``, palettes with a transparent colour) is laid
  over white;
- palette, black-and-white, CMYK, YCbCr and HSV pictures are converted by Pillow, CIELAB
  through a colour transform to sRGB.

Arrays are pictures too: a numpy array or a torch tensor, of shape (H, W) grey, or
(H, W, C) / (C, H, W) with C = 1 (grey), 3 (RGB) or 4 (RGBA), of dtype uint8 (0..255),
bool, or float in [0, 1] (torchvision's ``to_tensor`` convention). Numpy arrays are read
channels last unless only their first axis can be channels; torch tensors channels first
unless only their last axis can be. Anything else is refused in one line naming what is
accepted.

A picture of more than :data:`MAX_PIXELS` pixels, with a side over :data:`MAX_SIDE` or
thinner than 1 : :data:`MAX_ASPECT_RATIO` is refused before it is decoded, and
a file that cannot be decoded whole (a truncated JPEG) is refused too: both raise
:class:`~tam.errors.ImageFileError`, one line naming the file.

The frames of a folder may differ in size (a video export that changed resolution, a
cropped frame): :func:`load_frames` resizes every frame to the first frame's size, so
the frames stack into one video.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tam.errors import ImageFileError

__all__ = [
    "ACCEPTED_IMAGES",
    "FRAME_SUFFIXES",
    "MAX_ASPECT_RATIO",
    "MAX_FRAMES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "check_video_file",
    "frame_paths",
    "load_frames",
    "load_image",
]

MAX_PIXELS = 8192 * 8192
"""Largest picture read, in pixels (about 67 megapixels, 200 MB decoded as RGB). The
models see at most a few megapixels, so a larger file is almost surely a mistake or a
decompression bomb."""

MAX_ASPECT_RATIO = 200
"""Longest side over shortest side of a picture read: Qwen-VL's processors refuse more, and
the grid of so thin a picture has one row (or column) of cells at most."""

MAX_SIDE = 65500
"""Longest side of a picture read, in pixels: the largest a JPEG holds, which the demo's token
pictures are."""

MAX_FRAMES = 768
"""Most frames a video may have (qwen-vl-utils' own ceiling when it samples a video): each
frame is decoded in full before the video is sampled, so ten thousand frames would take
minutes and gigabytes first. Counted before any frame is read."""

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
"""Files of a frames folder that are read as frames."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa")
_CHANNELS = (1, 3, 4)
ACCEPTED_IMAGES = (  # what load_image reads, for messages
    "a file path, a PIL image, or a numpy array / torch tensor of shape (H, W), (H, W, C) or (C, H, W) "
    "with C in 1, 3, 4, of dtype uint8, bool or float in [0, 1]"
)


def load_image(source, *, max_pixels: int = MAX_PIXELS):
    """Read a picture as an upright 8-bit RGB ``PIL.Image``.

    Parameters
    ----------
    source : str, PathLike, PIL.Image.Image, ndarray or torch.Tensor
        A file (a ``file://`` prefix is allowed), a picture already opened (converted
        the same way), or an array of shape (H, W), (H, W, C) or (C, H, W), C in 1, 3,
        4, uint8, bool or float in [0, 1] (see the module's notes on the channel axis).
        URLs and base64 strings are refused: download them first.
    max_pixels : int
        Refuse pictures with more pixels than this (:data:`MAX_PIXELS`).

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"``, decoded in full.

    Raises
    ------
    ImageFileError
        No such file, not a picture, truncated or damaged, over ``max_pixels``, an array
        of another shape, dtype or range, or another type.
    """
    from PIL import Image

    if isinstance(source, Image.Image):
        return _to_rgb(_checked_size(source, "the picture", max_pixels))
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    if isinstance(source, np.ndarray) or (torch is not None and isinstance(source, torch.Tensor)):
        return _to_rgb(_checked_size(_array_picture(source), "the picture array", max_pixels))
    if not isinstance(source, (str, os.PathLike)):
        raise ImageFileError(f"an image must be {ACCEPTED_IMAGES}; got {type(source).__name__}")
    if isinstance(source, str) and source.startswith("file://"):
        source = source[len("file://") :]
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        raise ImageFileError(f"tam reads pictures from files or PIL images, got {source[:60]!r}: download it first")
    path = Path(source)
    if not path.is_file():
        raise ImageFileError(f"no image file at {str(path)!r}")
    try:
        with warnings.catch_warnings():  # our limit is below Pillow's warning; refuse in one line instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as image:
            _checked_size(image, repr(str(path)), max_pixels)
            image.load()
            return _to_rgb(image)
    except Image.DecompressionBombError as error:
        raise ImageFileError(
            f"{str(path)!r} is over the pixel limit of {max_pixels}: shrink it first ({error})"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:  # Pillow's decoders raise all three on damaged files
        if isinstance(error, ImageFileError):
            raise
        raise ImageFileError(f"{str(path)!r} is not an image that can be read whole ({error})") from None


def _array_picture(source):
    """PIL picture of a numpy array or torch tensor (see the module notes for the accepted shapes)."""
    from PIL import Image

    channels_first = not isinstance(source, np.ndarray)
    if not channels_first:
        values = source
    else:  # torch: bfloat16 has no numpy dtype, so floats go through float32
        tensor = source.detach().cpu()
        values = (tensor.float() if tensor.is_floating_point() else tensor).numpy()
    kind = "tensor" if channels_first else "array"
    shape = tuple(source.shape)
    if values.ndim == 3:
        first, last = values.shape[0] in _CHANNELS, values.shape[-1] in _CHANNELS
        if first and (channels_first or not last):
            values = np.moveaxis(values, 0, -1)
        elif not last:
            values = values[None]  # no channel axis: refused below
    if values.ndim not in (2, 3) or 0 in values.shape:
        raise ImageFileError(
            f"an image {kind} must have shape (H, W), (H, W, C) or (C, H, W), C in 1, 3, 4; got {shape}"
        )
    if values.dtype == np.bool_:
        values = values.astype(np.uint8) * 255
    elif np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise ImageFileError(
                f"a float image {kind} must hold values in [0, 1] (no NaN), got {values.min():.4g} to "
                f"{values.max():.4g}: divide by 255 or pass uint8"
            )
        values = np.rint(values * 255).astype(np.uint8)
    elif values.dtype != np.uint8:
        raise ImageFileError(
            f"an image {kind} must be uint8, bool or float in [0, 1], got dtype {values.dtype}: convert it first"
        )
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(values))  # Pillow picks L, RGB or RGBA from the shape


def _checked_size(image, name: str, max_pixels: int):
    width, height = image.size
    if width * height > max_pixels:
        raise ImageFileError(
            f"{name} is {width}x{height} = {width * height} pixels, over the pixel limit of {max_pixels} "
            "(tam.images.MAX_PIXELS): shrink it first"
        )
    if max(width, height) > MAX_ASPECT_RATIO * max(min(width, height), 1):
        raise ImageFileError(
            f"{name} is {width}x{height} pixels, its long side over {MAX_ASPECT_RATIO} times its short side "
            "(tam.images.MAX_ASPECT_RATIO: the processors take no thinner picture): crop or pad it first"
        )
    if max(width, height) > MAX_SIDE:
        raise ImageFileError(
            f"{name} is {width}x{height} pixels, a side over {MAX_SIDE} (tam.images.MAX_SIDE, the largest a JPEG "
            "holds): shrink it first"
        )
    return image


def _to_rgb(image):
    """Upright RGB copy of an opened picture of any mode."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if image.mode == "F" else 255.0 / 65535.0
        grey = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _TRANSPARENT_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "LAB":  # Pillow's plain convert copies the channels; CIELAB needs a colour transform
        from PIL import ImageCms

        lab_to_srgb = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(image, lab_to_srgb)
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ImageFileError(f"pictures of mode {image.mode!r} cannot be turned into RGB ({error})") from None


def frame_paths(folder: str | os.PathLike) -> list[Path]:
    """Return the frame files of a folder (:data:`FRAME_SUFFIXES`), sorted by name.

    Raises
    ------
    ImageFileError
        The folder holds none.
    """
    folder = Path(folder)
    frames = sorted(path for path in folder.iterdir() if path.suffix.lower() in FRAME_SUFFIXES)
    if not frames:
        raise ImageFileError(f"the frames folder {str(folder)!r} holds no {'/'.join(FRAME_SUFFIXES)} files")
    return frames


def load_frames(frames: Sequence | str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> list:
    """Read the frames of a video, each with :func:`load_image`, all at the first frame's size.

    Parameters
    ----------
    frames : folder, or sequence of paths, PIL images or arrays (a (T, H, W, C) array too)
        A folder is read with :func:`frame_paths`.
    max_pixels : int
        Per frame, as for :func:`load_image`.

    Returns
    -------
    list of PIL.Image.Image
        RGB frames, all of the first frame's size (others resized with Lanczos filtering).
    """
    from PIL import Image

    if isinstance(frames, (str, os.PathLike)):
        frames = frame_paths(frames)
    if len(frames) > MAX_FRAMES:
        raise ImageFileError(
            f"a video takes at most {MAX_FRAMES} frames (tam.images.MAX_FRAMES), got {len(frames)}: sample fewer"
        )
    pictures = [load_image(frame, max_pixels=max_pixels) for frame in frames]
    if not pictures:
        raise ImageFileError("a video needs at least one frame, got none")
    size = pictures[0].size
    return [picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS) for picture in pictures]


def check_video_file(path: str | os.PathLike) -> None:
    """Refuse a video file of more than :data:`MAX_FRAMES` frames, counted from its header, no frame decoded.

    The count is read with PyAV (``av``, which qwen-vl-utils installs); without it, or for a
    file it cannot open, nothing is checked here and the video reader reports the file.

    Raises
    ------
    ImageFileError
        The file holds more than :data:`MAX_FRAMES` frames.
    """
    try:
        import av
    except ImportError:
        return
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                return
            stream = container.streams.video[0]
            frames = stream.frames  # 0 when the header does not say: estimated from the duration
            if not frames and stream.duration and stream.average_rate:
                frames = round(float(stream.duration * stream.time_base * stream.average_rate))
    except (av.error.FFmpegError, OSError, ValueError):
        return
    if frames > MAX_FRAMES:
        raise ImageFileError(
            f"the video file {os.fspath(path)!r} holds {frames} frames; a video takes at most {MAX_FRAMES} "
            "(tam.images.MAX_FRAMES): cut it or sample its frames into a folder first"
        )
