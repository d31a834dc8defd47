"""How long the HTML report of a 256-token answer with four methods takes to open in Chromium.

A synthetic generation (16 prompt and 256 answer tokens, one-token words, a 20x27 grid,
a 756x560 picture) is written with ``save_html`` and opened from disk in Debian's
Chromium (headless, via Playwright) ``--repeats`` times; the page records when it is
ready (``performance.now()`` from navigation start, every control drawn).

    python benchmarks/bench_report.py --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tam.testing import make_generation
from tam.visuals import save_html
from tests.report_browser import open_report


def main(argv=None) -> int:
    """Write the report, open it several times, print the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    generation = make_generation((20, 27), num_prompt=16, num_answer=256, seed=4)
    result = generation.explain()
    texts = [f" w{index % 97}" + ("s" if index % 5 else ".") for index in range(len(result))]
    result = dataclasses.replace(result, texts=texts, images=[np.zeros((560, 756, 3), np.uint8)], _cache={})
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = save_html(result, Path(folder) / "index.html")
        written = time.perf_counter() - started
        times = []
        for _ in range(args.repeats):
            with open_report(path) as (page, problems):
                times.append(int(page.get_attribute("body", "data-ready-ms")))
            assert not problems, problems
        size = path.stat().st_size
    print(f"report: {size / 1e6:.2f} MB, written in {written:.2f} s")
    print(f"ready after (ms): {times}; median {statistics.median(times):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
