"""Pictures a hostile or careless user may hand to tam, written on demand for the tests."""

from pathlib import Path

import numpy as np
from PIL import Image


def sixteen_bit_png(path: Path) -> Path:
    """A 64x48 16-bit grey ramp (mode ``I;16``) from black to almost white, left to right."""
    ramp = np.tile(np.linspace(0, 60000, 64, dtype=np.uint16), (48, 1))
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "I;16"
    return path


def huge_png(path: Path) -> Path:
    """A 16000x12000 black-and-white PNG: a few kilobytes on disk, 192 megapixels decoded."""
    Image.new("1", (16000, 12000)).save(path)
    return path


def truncated_jpeg(path: Path, source: Path) -> Path:
    """The first half of a real JPEG: its header reads, its pixels do not."""
    data = Path(source).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def frames_of_two_sizes(folder: Path) -> Path:
    """Four frames, the last two of another size and aspect than the first two."""
    folder.mkdir()
    for index, size in enumerate([(64, 48), (64, 48), (30, 60), (30, 60)]):
        Image.new("RGB", size, (40 * index, 90, 160)).save(folder / f"{index:04d}.png")
    return folder


def long_video(path: Path, frames: int) -> Path:
    """An MPEG-4 file of ``frames`` frames of 16x16 pixels (needs PyAV); its header states the count."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), index % 255, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
