"""Time of one token's picture (maps over the image above the coloured text), against the reference.

One synthetic generation at Qwen2-VL-2B's vision size (a 20x27 grid over one 560x756
picture: ``imgs/demo.jpg`` scaled to 756 wide, 560 high), 16 prompt and 40 answer
tokens of English words, is drawn token by token with ``tam.visuals``:

- ``render``: ``render_token_visual`` (the RGB array);
- ``render + PNG`` / ``render + JPEG``: the same, written to a file as
  ``save_token_visual`` does.

The reference draws the text through XeLaTeX and PyMuPDF: 0.69 s per token measured on
this kind of machine (TAM-SPEC section 9). TeX cannot be installed here, so that figure
is the baseline of the ratio. With ``--reference-dir`` (a clone of github.com/xmed-lab/TAM)
the reference's own non-TeX part is timed too: its ``multimodal_process`` per token,
which normalises, filters, colours and blends the map, then tries XeLaTeX, finds it
missing and returns the picture without text.

    python benchmarks/bench_visuals.py [--reference-dir ../TAM]

The first picture also loads the fonts (once per process); it is reported apart.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tam.testing import load_reference_module, make_generation  # noqa: E402
from tam.visuals import render_token_visual, save_token_visual  # noqa: E402

REFERENCE_TEX_SECONDS = 0.69
"""The reference's XeLaTeX text rendering per token, measured on this kind of machine (TAM-SPEC 9)."""

WORDS = (
    " The image shows two pugs sitting in round chairs in front of a shelf with jars , bottles and"
    " boxes . One dog looks at the camera while the other rests its head ."
).split(" ")[1:]


class WordTokenizer:
    """Decode word id ``10 + k`` to `` WORDS[k]``, other ids to ``<id>``."""

    def decode(self, ids, **_) -> str:
        return "".join(f" {WORDS[i - 10]}" if 0 <= i - 10 < len(WORDS) else f"<{i}>" for i in map(int, ids))

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.decode([i]) for i in ids]


def make_result():
    from tam.images import load_image

    picture = load_image(Path(__file__).resolve().parents[1] / "imgs" / "demo.jpg")
    image = np.asarray(picture.resize((756, 560)))
    # The picture does not depend on the vocabulary size: a small one keeps the candidates quick.
    generation = make_generation(
        (20, 27), num_prompt=16, num_answer=40, vocab_size=4096, hidden_size=64, word_pool=len(WORDS), seed=0
    )
    result = generation.explain(
        tokenizer=WordTokenizer(),
        images=[image],
    )
    result.candidates  # noqa: B018 - computed once, before timing
    return result


def per_token(draw, indices, repeats: int) -> float:
    """Median over ``repeats`` of the mean seconds per token of ``draw(index)``."""
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for index in indices:
            draw(index)
        rounds.append((time.perf_counter() - start) / len(indices))
    return statistics.median(rounds)


def time_reference(folder: Path, result, indices, repeats: int, workdir: Path) -> tuple[float, str]:
    """Seconds per token of the reference's multimodal_process, and what it printed."""
    import cv2
    import torch

    reference = load_reference_module(folder)
    bgr = cv2.cvtColor(result.images[0], cv2.COLOR_RGB2BGR)
    texts = list(result.texts)
    candidates = result.candidates
    printed = io.StringIO()

    def draw(index: int) -> None:
        reference.multimodal_process(
            bgr,
            (20, 27),
            result.eci_maps[index].astype(np.float64),
            result.context_scores[index, : index + 1].astype(np.float64),
            texts,
            [texts[0]] * 3,
            torch.from_numpy(candidates.probabilities[index]),
            index,
            str(workdir / f"{index}.jpg"),
            eval_only=False,
            vis_width=500,
        )

    with contextlib.redirect_stdout(printed):
        seconds = per_token(draw, indices, repeats)
    lines = sorted({line for line in printed.getvalue().splitlines() if line})
    return seconds, "; ".join(lines)


def processor_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-dir", type=Path, help="folder of the reference release (holds tam.py)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    result = make_result()
    answer = range(result.num_prompt_tokens, len(result))
    start = time.perf_counter()
    first = render_token_visual(result, answer[0])
    first_seconds = time.perf_counter() - start

    print(f"machine: {processor_name()}, {os.cpu_count()} cores; CPU only")
    print(
        f"one 560x756 picture, {len(answer)} answer tokens ({len(result)} explained), "
        f"picture {first.shape[1]}x{first.shape[0]}; median of {args.repeats}"
    )
    print(f"first picture, fonts loaded: {first_seconds * 1000:.0f} ms (once per process)")
    rows = [("render (RGB array)", per_token(lambda i: render_token_visual(result, i), answer, args.repeats))]
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("png", "jpg"):
            path = Path(folder) / f"token.{suffix}"
            seconds = per_token(
                lambda i, path=path: save_token_visual(result, i, path, overwrite=True), answer, args.repeats
            )
            rows.append((f"render + {suffix.upper()} file", seconds))
        reference_printed = None
        if args.reference_dir is not None:
            seconds, reference_printed = time_reference(args.reference_dir, result, answer, args.repeats, Path(folder))
            rows.append(("reference, its non-TeX part", seconds))

    print("TeX is not installed here (and cannot be): the reference's XeLaTeX step is taken as")
    print(f"its measured {REFERENCE_TEX_SECONDS:.2f} s per token (TAM-SPEC section 9), plus its non-TeX part if timed.")
    reference_total = REFERENCE_TEX_SECONDS + (rows[-1][1] if args.reference_dir is not None else 0.0)
    print(f"\n| {'what':<30} | ms per token | reference's time / ours |")
    print(f"| {'-' * 30} | -----------: | ----------------------: |")
    for name, seconds in rows:
        ratio = "-" if name.startswith("reference") else f"{reference_total / seconds:.0f}x"
        print(f"| {name:<30} | {seconds * 1000:12.1f} | {ratio:>23} |")
    print(f"\nreference total per token: {reference_total * 1000:.0f} ms")
    if reference_printed is not None:
        print(f"the reference printed (XeLaTeX missing): {reference_printed or 'nothing'}")
    budget = rows[0][1] * 1000
    print(f"budget of the issue: <= 50 ms per token visual: {'met' if budget <= 50 else 'NOT met'} ({budget:.1f} ms)")


if __name__ == "__main__":
    main()
