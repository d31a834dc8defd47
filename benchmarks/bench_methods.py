"""Time of each map method beside TAM: one generation explained, then each method alone.

    python benchmarks/bench_methods.py                          # toy-shapes on imgs/toy-shapes.jpg
    python benchmarks/bench_methods.py --model Qwen/Qwen2-VL-2B-Instruct --image imgs/demo.jpg

The generation with TAM and its ablations is timed as ``tam.explain(...)``; each method
as its own ``compute`` call inside ``tam.explain(..., methods=[m])`` (wrapped here with a
timer), median over ``--repeats``. Prints one JSON line per method.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tam  # noqa: E402
from tam.models import load_model  # noqa: E402

METHODS = ["attention", "gradcam", "dexar", "lens@1"]


def seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(compute, spent: dict):
    """Wrap a method's ``compute`` so that each call's seconds are appended to ``spent[name]``."""

    def wrapper(method, run):
        start = time.perf_counter()
        maps = compute(method, run)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        spent.setdefault(method.name, []).append(time.perf_counter() - start)
        return maps

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy-shapes")
    parser.add_argument("--image", default="imgs/toy-shapes.jpg")
    parser.add_argument("--prompt", default="Describe this image.")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device")
    args = parser.parse_args()
    model, processor = load_model(args.model, device=args.device)
    content = [{"type": "image", "image": args.image}, {"type": "text", "text": args.prompt}]
    messages = [{"role": "user", "content": content}]

    def explain(methods=()):
        return tam.explain(model, processor, messages, max_new_tokens=args.max_new_tokens, methods=methods)

    spent = {}
    for kind in {type(tam.get_method(method)) for method in METHODS}:
        kind.compute = timed(kind.compute, spent)
    result = explain()
    base = seconds(explain, args.repeats)
    shape = {"tokens": len(result), "vision_tokens": result.layout.num_tokens, "length": int(result.positions[-1]) + 1}
    print(json.dumps({"method": "tam (generation + all four ablations)", "seconds": round(base, 3), **shape}))
    for method in METHODS:
        for _ in range(args.repeats):
            explain([method])
        extra = statistics.median(spent[method])
        print(json.dumps({"method": method, "extra_seconds": round(extra, 3), "cost": tam.get_method(method).cost}))


if __name__ == "__main__":
    main()
