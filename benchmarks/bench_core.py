"""Time and memory of tam.explain_generation against the reference release, side by side.

One synthetic generation at Qwen2-VL-2B size (hidden 1536, vocabulary 151,936, a 20x27
vision grid, 40 answer tokens) is explained three ways, each in its own process:

- ``reference``: full logits for every round (``lm_head(h)``, as the seed README does)
  and the reference's ``TAM()`` once per round, maps only (no LaTeX);
- ``tam``: ``explain_generation`` (maps of every prompt and answer token);
- ``tam+candidates``: the same, also computing the top-3 candidates of every token
  over the whole vocabulary (what the visuals need).

The reference is not shipped: clone it (github.com/xmed-lab/TAM) and pass its folder.

    python benchmarks/bench_core.py --reference-dir ../TAM

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

SIZE = {"vision_shape": (20, 27), "num_prompt": 16, "num_answer": 40, "vocab_size": 151_936, "hidden_size": 1536}


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


def worker(method: str, reference_dir: str | None, device: str, repeats: int) -> dict:
    torch.manual_seed(0)
    generation = make_generation(**SIZE, seed=0)
    generation.lm_head.to(device)
    generation.hidden_states = [h.to(device) for h in generation.hidden_states]
    image = __import__("numpy").zeros((560, 756, 3), "uint8")

    if method == "reference":
        reference = load_reference_module(Path(reference_dir))

        def run():
            with torch.no_grad():
                logits = [generation.lm_head(states) for states in generation.hidden_states]
            records = []
            for round_index in range(len(logits)):
                reference.TAM(
                    generation.tokens,
                    SIZE["vision_shape"],
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
                SIZE["vision_shape"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-dir", type=Path, help="folder of the reference release (holds tam.py)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(
            json.dumps(worker(args.worker, args.reference_dir and str(args.reference_dir), args.device, args.repeats))
        )
        return
    if args.reference_dir is None or not (args.reference_dir / "tam.py").is_file():
        sys.exit("Pass --reference-dir: a clone of github.com/xmed-lab/TAM (the folder holding tam.py).")

    rows = {}
    for method in ("reference", "tam", "tam+candidates"):
        command = [
            sys.executable,
            __file__,
            "--worker",
            method,
            "--device",
            args.device,
            "--repeats",
            str(args.repeats),
            "--reference-dir",
            str(args.reference_dir),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows[method] = json.loads(output.strip().splitlines()[-1])

    base = rows["reference"]
    print(
        f"Qwen2-VL-2B size: hidden {SIZE['hidden_size']}, vocab {SIZE['vocab_size']}, grid {SIZE['vision_shape']}, "
        f"{SIZE['num_prompt']} prompt + {SIZE['num_answer']} answer tokens; device {args.device}, "
        f"median of {args.repeats}"
    )
    print(f"{'method':<16}{'time (s)':>10}{'speed-up':>10}{'peak extra (MB)':>17}{'memory ratio':>14}")
    for method, row in rows.items():
        print(
            f"{method:<16}{row['seconds']:>10.4f}{base['seconds'] / row['seconds']:>9.1f}x"
            f"{row['peak_extra_bytes'] / 2**20:>17.1f}{row['peak_extra_bytes'] / base['peak_extra_bytes']:>13.2%}"
        )


if __name__ == "__main__":
    main()
