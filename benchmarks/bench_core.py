"""Time and memory of tam.explain_generation against the reference release, side by side.

One synthetic generation at Qwen2-VL-2B size (hidden 1536, vocabulary 151,936, a 20x27
vision grid, 40 answer tokens) is explained three ways, each in its own process:

- ``reference``: full logits for every round (``lm_head(h)``, as the seed README does)
  and the reference's ``TAM()`` once per round, maps only (no LaTeX);
- ``tam``: ``explain_generation`` (maps of every prompt and answer token);
- ``tam+candidates``: the same, also computing the top-3 candidates of every token
  over the whole vocabulary (what the visuals need).

The reference is not shipped: clone it (github.com/xmed-lab/TAM) and pass its folder to
time it too; without ``--reference-dir`` only tam's two ways run (speed-ups against ``tam``).

    python benchmarks/bench_core.py --reference-dir ../TAM
    python benchmarks/bench_core.py                        # tam alone

Peak extra memory is the process's peak resident memory during the explained part
minus its resident memory before it (on CUDA: peak allocated bytes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tam  # noqa: E402
from tam.testing import load_reference_module, make_generation  # noqa: E402

SIZES = {
    "qwen2-vl-2b": {
        "vision_shape": (20, 27),
        "num_prompt": 16,
        "num_answer": 40,
        "vocab_size": 151_936,
        "hidden_size": 1536,
    },
    "tiny": {
        "vision_shape": (4, 6),
        "num_prompt": 3,
        "num_answer": 5,
        "vocab_size": 64,
        "hidden_size": 16,
    },  # the tests'
}


def resident_bytes(field: str) -> int:
    """Read ``VmRSS`` or ``VmHWM`` (peak) from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


class PeakMemory:
    """Peak extra memory of a block: CUDA allocations, or resident memory on the CPU."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
            self.start = resident_bytes("VmRSS")
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.extra = torch.cuda.max_memory_allocated() - self.start
        else:
            self.extra = resident_bytes("VmHWM") - self.start


def worker(method: str, reference_dir: str | None, device: str, repeats: int, size: dict) -> dict:
    torch.manual_seed(0)
    generation = make_generation(**size, seed=0)
    generation.lm_head.to(device)
    generation.hidden_states = [h.to(device) for h in generation.hidden_states]
    image = __import__("numpy").zeros((28 * size["vision_shape"][0], 28 * size["vision_shape"][1], 3), "uint8")

    if method == "reference":
        reference = load_reference_module(Path(reference_dir))

        def run():
            with torch.no_grad():
                logits = [generation.lm_head(states) for states in generation.hidden_states]
            records = []
            for round_index in range(len(logits)):
                reference.TAM(
                    generation.tokens,
                    size["vision_shape"],
                    logits,
                    generation.special_ids,
                    image,
                    generation.processor,
                    "",
                    round_index,
                    records,
                    True,
                )
    else:

        def run():
            result = tam.explain_generation(
                generation.tokens,
                generation.hidden_states,
                generation.lm_head,
                generation.special_ids,
                size["vision_shape"],
            )
            if method == "tam+candidates":
                result.candidates  # noqa: B018 - computed on first access

    run()  # warm-up: imports, allocator, first-call costs
    times, peaks = [], []
    for _ in range(repeats):
        with PeakMemory(device) as memory:
            start = time.perf_counter()
            run()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        peaks.append(memory.extra)
    return {"method": method, "seconds": statistics.median(times), "peak_extra_bytes": max(peaks)}


def main(argv: list[str] | None = None) -> int:
    """Run every way in its own process and print the table; return the exit status (2 after one line)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reference-dir", type=Path, help="folder of the reference release (holds tam.py); without it, tam alone"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="qwen2-vl-2b", choices=list(SIZES), help="generation size (tiny: the tests')")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = SIZES[args.size]

    if args.worker:
        reference_dir = args.reference_dir and str(args.reference_dir)
        print(json.dumps(worker(args.worker, reference_dir, args.device, args.repeats, size)))
        return 0
    if args.reference_dir is not None and not (args.reference_dir / "tam.py").is_file():
        print(
            f"bench_core.py: error: --reference-dir {str(args.reference_dir)!r} holds no tam.py: pass a clone of "
            "github.com/xmed-lab/TAM, or leave --reference-dir out to time tam alone",
            file=sys.stderr,
        )
        return 2

    methods = ("reference",) * (args.reference_dir is not None) + ("tam", "tam+candidates")
    rows = {}
    for method in methods:
        command = [sys.executable, __file__, "--worker", method, "--device", args.device]
        command += ["--repeats", str(args.repeats), "--size", args.size]
        command += ["--reference-dir", str(args.reference_dir)] if args.reference_dir is not None else []
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows[method] = json.loads(output.strip().splitlines()[-1])

    base_name = methods[0]
    base = rows[base_name]
    print(
        f"{args.size} size: hidden {size['hidden_size']}, vocab {size['vocab_size']}, grid {size['vision_shape']}, "
        f"{size['num_prompt']} prompt + {size['num_answer']} answer tokens; device {args.device}, "
        f"median of {args.repeats}; speed-up and memory against {base_name}"
    )
    print(f"{'method':<16}{'time (s)':>10}{'speed-up':>10}{'peak extra (MB)':>17}{'memory ratio':>14}")
    for method, row in rows.items():
        ratio = row["peak_extra_bytes"] / base["peak_extra_bytes"] if base["peak_extra_bytes"] > 0 else float("nan")
        print(
            f"{method:<16}{row['seconds']:>10.4f}{base['seconds'] / row['seconds']:>9.1f}x"
            f"{row['peak_extra_bytes'] / 2**20:>17.1f}{ratio:>13.2%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
