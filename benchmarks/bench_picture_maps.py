"""Cost of drawing maps in the frame of the user's picture, for a tiled layout.

A 1024 x 768 picture laid out as InternVL's processor tiles it by default: its own
``get_optimal_tiled_canvas`` picks a 4 x 3 canvas of 448-pixel tiles, plus the thumbnail
(13 tiles of 16 x 16 cells, 3,328 vision tokens). Random maps of ``--tokens`` tokens are
painted onto the picture at its own size (``result.picture_map`` does this per token)
and, for the report, at its 48-cell display grid:

- ``per token``: ``VisionLayout.paint`` one token at a time;
- ``all tokens``: one call for every token (the report's way), reported per token.

    python benchmarks/bench_picture_maps.py [--tokens 256] [--repeats 5]

Aim (issue 22): under 5 ms per token at the picture's size. The reference has no tiled
layout to compare with; a single-grid layout (Qwen-VL) is timed beside it as the base.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tam.layout import Tile, VisionLayout  # noqa: E402
from tam.models.geometry import tile_boxes  # noqa: E402
from tam.visuals.report import display_grids  # noqa: E402


def tiled_layout(height: int = 768, width: int = 1024) -> VisionLayout:
    """The layout InternVL's processor gives a ``height x width`` picture at its defaults (1..12 tiles of 448)."""
    from transformers.models.got_ocr2.image_processing_got_ocr2 import get_optimal_tiled_canvas

    columns, rows = get_optimal_tiled_canvas((height, width), (448, 448), 1, 12)
    tiles = [Tile(0, box) for box in tile_boxes(height, width, columns, rows)]
    tiles.append(Tile(0, (0.0, 0.0, float(width), float(height)), "global"))
    return VisionLayout.from_tiles([(16, 16)] * len(tiles), tiles, [(height, width)])


def whole_layout(height: int = 768, width: int = 1024) -> VisionLayout:
    """One 28 x 37 grid over the whole picture, as Qwen2-VL sees 1024 x 768 at its default pixel budget."""
    return VisionLayout.from_shape((28, 37)).with_pictures([(height, width)])


def seconds(work, repeats: int) -> list[float]:
    """Wall-clock seconds of ``work()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, layout: VisionLayout, tokens: int, repeats: int, rng) -> None:
    """Print the milliseconds per token of painting ``tokens`` random maps of ``layout``, both ways."""
    grids = layout.split(rng.random((tokens, layout.num_tokens)).astype(np.float32))
    cases = {"per token, picture size": lambda: [layout.paint([grid[i] for grid in grids], 0) for i in range(tokens)]}
    if not layout.is_whole_pictures():  # the report draws a single grid's maps as they are
        cases["all tokens, display grid"] = lambda: layout.paint(grids, 0, size=display_grids(layout)[0])
    for case, work in cases.items():
        per_token = [1000 * value / tokens for value in seconds(work, repeats)]
        low, middle, high = min(per_token), statistics.median(per_token), max(per_token)
        print(f"{name:20s} {case:26s} {middle:7.3f} ({low:.3f}-{high:.3f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{args.tokens} tokens, 1024 x 768 picture, median of {args.repeats} (min-max), ms per token")
    report("InternVL, 13 tiles", tiled_layout(), args.tokens, args.repeats, rng)
    report("Qwen-VL, one grid", whole_layout(), args.tokens, args.repeats, rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
