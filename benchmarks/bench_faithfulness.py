"""Cost per sample of each map method and of faithfulness scoring, on the toy world.

On ``--count`` held-out toy scenes (``tools/make_toy_data.py``'s, seed 1) with the shipped
``toy-shapes`` model, one sample at a time:

- ``explain``: :func:`tam.explain` alone (one generation; ``tam``, ``raw``, ``eci`` and
  ``rgf`` all come from it), then the extra time of each model method asked for beside it;
- ``faithfulness``: :func:`tam.faithfulness` of one method on each noun the caption names,
  at ``--steps``, per scored token and per picture through the model.

Medians over the samples; prints one JSON object.

    python benchmarks/bench_faithfulness.py --count 4 --steps 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tam  # noqa: E402
from tam.evaluation import load_dataset  # noqa: E402
from tam.models import load_model  # noqa: E402
from tam.toy.scenes import write_coco14  # noqa: E402

SHAPE_WORDS = ("circle", "square", "triangle", "star")


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """Wall time of ``function(*args, **kwargs)`` and what it returned."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def main() -> None:
    """Measure and print the costs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4, help="held-out scenes (default 4)")
    parser.add_argument("--steps", type=int, default=16, help="faithfulness curve steps (default 16)")
    parser.add_argument("--model-methods", default="attention,gradcam,dexar", help="model methods timed")
    args = parser.parse_args()
    model, processor = load_model("toy-shapes")
    model_methods = [name for name in args.model_methods.split(",") if name]
    explain_times, extra = [], {name: [] for name in model_methods}
    token_times, picture_times = [], []
    with tempfile.TemporaryDirectory() as folder:
        dataset = load_dataset(write_coco14(Path(folder) / "heldout", args.count, seed=1))
        for sample in dataset.samples:
            content = [{"type": "image", "image": str(sample.image)}, {"type": "text", "text": sample.prompt}]
            messages = [{"role": "user", "content": content}]
            took, result = timed(tam.explain, model, processor, messages, max_new_tokens=40)
            explain_times.append(took)
            for name in model_methods:
                took_with, _ = timed(tam.explain, model, processor, messages, max_new_tokens=40, methods=[name])
                extra[name].append(took_with - took)
            nouns = [i for i, text in enumerate(result.texts) if text.strip() in SHAPE_WORDS]
            for index in nouns[:1]:
                took, _ = timed(tam.faithfulness, model, processor, messages, result, index, steps=args.steps)
                token_times.append(took)
                picture_times.append(took / (2 * (args.steps - 1) + 2))
    print(
        json.dumps(
            {
                "samples": len(explain_times),
                "explain_s": statistics.median(explain_times),
                "extra_s": {name: statistics.median(times) for name, times in extra.items()},
                "faithfulness_steps": args.steps,
                "faithfulness_per_token_and_method_s": statistics.median(token_times),
                "seconds_per_picture": statistics.median(picture_times),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
