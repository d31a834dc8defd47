"""Evaluation throughput: ``eval.py`` on held-out toy scenes at several batch sizes, on the CPU.

Each batch size runs ``python eval.py toy-shapes DIR --batch-size B`` in its own process,
from launch to exit, while the results file is watched: a record's time is when its line
appears. Per batch size:

- samples per second after start-up: the samples after the first batch, over the time
  from the first batch's records to the last record;
- start-up: the time to the first batch's records less that batch's share of the steady
  rate (``B / rate``), i.e. the fixed cost before the first sample (imports, NLTK data,
  model loading, the first call's warm-up).

Both are printed as ratios to batch size 1. The scenes are made as
``python tools/make_toy_data.py DIR --count N --seed 1`` makes them (held out from training).

    python benchmarks/bench_eval.py --scenes 96
    python benchmarks/bench_eval.py --compare-with /path/to/older/checkout   # its eval.py at its defaults too
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_visuals import processor_name  # noqa: E402


def time_run(repo: Path, dataset: Path, results: Path, extra: list[str], max_new_tokens: int) -> dict:
    """Run one evaluation and return its record times (seconds from launch) and total time."""
    command = [sys.executable, str(repo / "eval.py"), "toy-shapes", str(dataset), "--results", str(results)]
    command += ["--max-new-tokens", str(max_new_tokens), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo)}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stamps: list[float] = []
    while process.poll() is None:
        lines = results.read_text().count("\n") if results.exists() else 0
        stamps += [time.perf_counter() - start] * (lines - len(stamps))
        time.sleep(0.005)
    total = time.perf_counter() - start
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    lines = results.read_text().count("\n")
    stamps += [total] * (lines - len(stamps))
    return {"stamps": stamps, "total": total}


def figures(stamps: list[float], batch_size: int) -> tuple[float, float]:
    """(start-up seconds, samples per second after start-up) from the record times of one run."""
    first = stamps[min(batch_size, len(stamps)) - 1]
    later = len(stamps) - min(batch_size, len(stamps))
    if later == 0 or stamps[-1] <= first:
        raise ValueError(f"too few scenes for batch size {batch_size}: give --scenes well above it")
    rate = later / (stamps[-1] - first)
    return first - min(batch_size, len(stamps)) / rate, rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=96, help="held-out toy scenes (default 96)")
    parser.add_argument("--batch-sizes", default="1,4,8,16", help="comma-separated (default 1,4,8,16)")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--compare-with", type=Path, help="an older checkout: also time its eval.py at its defaults")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.batch_sizes.split(",")]

    from tam.toy.scenes import write_coco14

    print(f"machine: {processor_name()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(f"load average before: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        dataset = write_coco14(Path(folder) / "heldout", args.scenes, seed=1)
        rows = []
        if args.compare_with is not None:
            run = time_run(args.compare_with.resolve(), dataset, Path(folder) / "before.jsonl", [], args.max_new_tokens)
            rows.append(("before (its default)", 1, run))
        for size in sizes:
            results = Path(folder) / f"batch{size}.jsonl"
            run = time_run(ROOT, dataset, results, ["--batch-size", str(size)], args.max_new_tokens)
            rows.append((str(size), size, run))
    print(f"load average after: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    print(f"{args.scenes} scenes, --max-new-tokens {args.max_new_tokens}")

    measured = [(label, *figures(run["stamps"], size), run["total"]) for label, size, run in rows]
    by_label = {label: (startup, rate) for label, startup, rate, _ in measured}
    base_startup, base_rate = by_label.get("1", measured[0][1:3])
    print("| batch size | start-up (s) | start-up vs batch 1 | samples/s after start-up | vs batch 1 | total (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, startup, rate, total in measured:
        print(
            f"| {label} | {startup:.2f} | {startup / base_startup:.2f}x | {rate:.2f} | {rate / base_rate:.2f}x "
            f"| {total:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
