"""What explaining costs beside a real-size model's own generation, each way in its own process.

The model is a released checkpoint's real configuration (``benchmarks/configs/*.json``,
written from its public ``config.json``; Qwen2-VL-2B-Instruct by default) with random
weights in ``--dtype`` (bfloat16 by default) on ``--device``, and the family's real
processor class around the tiny twins' tokenizer (tam.models.twins). One picture
(``imgs/demo.jpg`` resized to ``--picture``, 448x336 by default: 192 vision tokens) and
"Describe this image." go in; exactly ``--answer-tokens`` tokens (24) come out, made of
the tokenizer's printable pieces, no pair twice (see :func:`build`), so the answer
decodes to words, as a real model's does.

Each way of running is a fresh process that builds the model (not timed), calls the
way once cold (the *first call*), then ``--repeats`` times warm (min and median quoted):

- ``generate``: the processor (``adapter.prepare``) and plain greedy ``model.generate``;
- ``tam.explain``: generation and every token's maps, the default methods;
- ``tam.explain + attention, gradcam``: the same with the two baselines from the model;
- ``eval, faithfulness off`` / ``on``: ``tam.evaluation.evaluate_one``, the evaluation's
  per-sample code (explain, score every ablation against a mask, the answer against a
  caption), without and with faithfulness (``--faithfulness-steps``, the nouns scored).
  The mask's one category is the answer's rarest noun (so a noun is scored, as on a real
  caption); finding it costs one untimed explanation first, so this row has no cold call;
- ``reference``: with ``--reference-dir``, the reference release's way: ``generate`` with
  every layer's hidden states, ``lm_head`` over all of them, its ``TAM()`` per token
  (``eval_only``, nothing drawn).

Each call's wall seconds and its process's CPU seconds (``time.process_time``, all its
threads) are kept, with the load average before and after each way's calls: on a shared
machine the wall time follows the other jobs' load, the CPU time much less, so the ratio
to plain is given in both. Peak extra memory is the peak during a call less the memory
before it: resident memory sampled every 5 ms (psutil, in a thread) on the CPU,
``torch.cuda.max_memory_allocated`` on CUDA. ``--scaling`` measures ``generate`` and
``tam.explain`` over answer lengths, picture sizes and decoder layer counts instead.

    python benchmarks/bench_real_size.py                              # the table: 10 to 30 min on 2 cores
    python benchmarks/bench_real_size.py --reference-dir ../TAM --out real-size
    python benchmarks/bench_real_size.py --scaling --answer-lengths 16,64 --vision-tokens 192,768
    python benchmarks/bench_real_size.py --device cuda --out real-size-gpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = ROOT / "benchmarks" / "configs"
PROMPT = "Describe this image."
BASELINES = ("attention", "gradcam")
CASES = {
    "generate": "`generate`",
    "explain": "`tam.explain`",
    "explain+baselines": "`tam.explain` + attention, gradcam",
    "eval": "eval, faithfulness off",
    "eval+faithfulness": "eval, faithfulness on",
    "reference": "reference's way",
}
"""Each way of running, and its name in the table."""
SCALED_CASES = ("generate", "explain")
TINY = "tiny"
"""``--config tiny``: Qwen2-VL-2B's configuration shrunk to a few thousand weights per layer, for the tests."""


@dataclass(frozen=True)
class Settings:
    """One measurement's settings, as the worker processes receive them."""

    config: str = "qwen2-vl-2b-instruct"
    device: str = "cpu"
    dtype: str = "bfloat16"
    picture: tuple[int, int] = (448, 336)  # width, height in pixels
    answer_tokens: int = 24
    repeats: int = 2
    faithfulness_steps: int = 2
    reference_dir: str | None = None
    layers: int | None = None  # decoder layers of the language model; None: the configuration's own


def language_config(spec: dict) -> dict:
    """The language model's part of a spec's config (its ``text_config``, or the config itself)."""
    return spec["config"].get("text_config", spec["config"])


def with_layers(spec: dict, layers: int | None) -> dict:
    """The spec with ``layers`` decoder layers in its language model (the configuration's own for None)."""
    if layers is not None:
        language_config(spec)["num_hidden_layers"] = layers
    return spec


def model_spec(name: str) -> dict:
    """The spec of ``benchmarks/configs/<name>.json``, or Qwen2-VL-2B's shrunk to tiny widths for ``"tiny"``."""
    if name != TINY:
        return json.loads((CONFIGS / f"{name}.json").read_text())
    spec = json.loads((CONFIGS / "qwen2-vl-2b-instruct.json").read_text())
    spec["config"].update(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        max_window_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},  # sums to half the head width (8)
    )
    spec["config"]["vision_config"].update(depth=1, embed_dim=16, hidden_size=32, num_heads=2, mlp_ratio=2)
    return spec


def build(settings: Settings):
    """Random-weight model of the spec's class and real configuration, and its processor; answers forced.

    Every generation of the model is ``settings.answer_tokens`` long (``min_new_tokens``)
    and made of the tokenizer's printable word pieces, no pair of tokens twice
    (``no_repeat_ngram_size=2``: a random-weight model would otherwise repeat one token),
    so the answer decodes to words, as a real model's does. The real tokenizer is not
    shipped: the ``lm_head`` rows (tied to the input embeddings) of the ids beyond the tiny
    one's, of its markers and of its pieces that show nothing are zero, so their logit 0
    stays below the best piece's. ``suppress_tokens`` would do the same at a cost a real
    checkpoint does not pay: a look-up of every one of the 151,936 ids at every step (10 to
    400 ms on a 2-core CPU). Every step still computes all the logits.
    """
    import torch

    from benchmarks.bench_models import build as build_model

    spec = with_layers(model_spec(settings.config), settings.layers)
    model, processor = build_model(spec, settings.device, getattr(torch, settings.dtype), False)
    tokenizer = processor.tokenizer
    unreadable = [token for token in range(len(tokenizer)) if not readable(tokenizer.decode([token]))]
    with torch.no_grad():
        rows = model.get_output_embeddings().weight
        rows[len(tokenizer) :] = 0
        rows[sorted({*tokenizer.all_special_ids, *unreadable})] = 0
    model.generation_config.update(
        do_sample=False,
        min_new_tokens=settings.answer_tokens,
        max_new_tokens=settings.answer_tokens,
        no_repeat_ngram_size=2,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model, processor


def readable(piece: str) -> bool:
    """Whether a decoded token shows something: not blank, no control character, no broken UTF-8 byte."""
    return bool(piece.strip()) and piece.isprintable() and "\ufffd" not in piece


def picture_for(vision_tokens: int, spec: dict) -> tuple[int, int]:
    """Width and height in pixels of a picture of ``vision_tokens`` tokens, as near 4:3 as they divide."""
    vision = spec["config"]["vision_config"]
    side = vision["patch_size"] * vision["spatial_merge_size"]  # pixels per vision token side
    rows = min(
        (rows for rows in range(1, vision_tokens + 1) if vision_tokens % rows == 0),
        key=lambda rows: abs(vision_tokens / rows / rows - 4 / 3),
    )
    return side * (vision_tokens // rows), side * rows


def write_files(folder: Path, picture: tuple[int, int]) -> tuple[Path, Path]:
    """``imgs/demo.jpg`` resized to ``picture`` (PNG), and a mask of the same size: label 1 in its middle."""
    import numpy as np
    from PIL import Image

    width, height = picture
    image_path, mask_path = folder / "picture.png", folder / "mask.png"
    Image.open(ROOT / "imgs" / "demo.jpg").convert("RGB").resize((width, height)).save(image_path)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1
    Image.fromarray(mask).save(mask_path)
    return image_path, mask_path


class PeakMemory:
    """Peak extra memory of a block, in bytes: sampled resident memory on the CPU, peak allocation on CUDA."""

    INTERVAL_SECONDS = 0.005

    def __init__(self, device: str):
        self.device = device
        self.extra = 0

    def __enter__(self) -> PeakMemory:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            return self
        import psutil

        process = psutil.Process()
        self.start = self.peak = process.memory_info().rss
        self.done = threading.Event()

        def sample():
            while not self.done.wait(self.INTERVAL_SECONDS):
                self.peak = max(self.peak, process.memory_info().rss)

        self.sampler = threading.Thread(target=sample, daemon=True)
        self.sampler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.extra = torch.cuda.max_memory_allocated() - self.start
            return
        self.done.set()
        self.sampler.join()
        import psutil

        self.extra = max(self.peak, psutil.Process().memory_info().rss) - self.start


class StepTimer:
    """Add up the seconds spent in ``tam.pipeline.explain_generation`` (``tam.explain`` calls it) while entered."""

    def __enter__(self) -> StepTimer:
        import tam.pipeline

        self.seconds, self.calls = 0.0, 0
        self.original = original = tam.pipeline.explain_generation

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        tam.pipeline.explain_generation = timed
        return self

    def __exit__(self, *exc_info) -> None:
        import tam.pipeline

        tam.pipeline.explain_generation = self.original

    def take(self) -> float | None:
        """Seconds since the last take (None when it was not called), and start again."""
        seconds, self.seconds, calls, self.calls = self.seconds, 0.0, self.calls, 0
        return seconds if calls else None


def reference_markers(tokenizer) -> dict:
    """The reference release's ``special_ids`` for Qwen2-VL, spelled with this tokenizer's ids."""

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    start, end = ids("<|vision_start|>"), ids("<|vision_end|>")
    return {
        "img_id": [start, end],
        "prompt_id": [end, ids("<|im_end|>\n<|im_start|>assistant")],
        "answer_id": [ids("\n<|im_start|>assistant\n"), -1],
    }


def way_of_running(case: str, model, processor, image: Path, mask: Path, settings: Settings):
    """The call that ``case`` times, taking no argument and returning what it made (counts, as a dict)."""
    import torch

    import tam
    from tam.models import adapter_for

    adapter = adapter_for(model, processor)
    messages = [{"role": "user", "content": [{"type": "image", "image": str(image)}, {"type": "text", "text": PROMPT}]}]

    def prepared_inputs():
        prepared = adapter.prepare(messages)
        return prepared, prepared.inputs.to(device=model.device, dtype=model.dtype)

    if case == "generate":

        def call():
            _, inputs = prepared_inputs()
            with torch.inference_mode():
                sequences = model.generate(**inputs)
            return {"answer_tokens": sequences.shape[1] - inputs["input_ids"].shape[1]}

        return call
    if case in ("explain", "explain+baselines"):
        methods = BASELINES if case == "explain+baselines" else ()

        def call():
            result = tam.explain(model, processor, messages, max_new_tokens=settings.answer_tokens, methods=methods)
            return {"answer_tokens": len(result) - result.num_prompt_tokens, "vision_tokens": result.layout.num_tokens}

        return call
    if case in ("eval", "eval+faithfulness"):
        return evaluation_call(case, model, processor, image, mask, settings)
    if case == "reference":
        from tam.testing import load_reference_module

        reference = load_reference_module(Path(settings.reference_dir))
        special_ids = reference_markers(processor.tokenizer)
        lm_head = model.get_output_embeddings()

        def call():
            prepared, inputs = prepared_inputs()
            with torch.inference_mode():
                output = model.generate(**inputs, output_hidden_states=True, return_dict_in_generate=True)
                logits = [lm_head(states[-1]) for states in output.hidden_states]
            tokens = output.sequences[0].tolist()
            records = []
            for round_index in range(len(logits)):
                reference.TAM(
                    tokens,
                    adapter.vision_shape(prepared),
                    logits,
                    special_ids,
                    prepared.pictures[0],
                    processor,
                    "",
                    round_index,
                    records,
                    True,
                )
            return {"answer_tokens": len(logits)}

        return call
    raise ValueError(f"case must be one of {sorted(CASES)}, got {case!r}")


def evaluation_call(case: str, model, processor, image: Path, mask: Path, settings: Settings):
    """One sample through ``evaluate_one``; the mask's category is the answer's rarest noun (found here, untimed)."""
    from tam.evaluation.datasets import Sample
    from tam.evaluation.faithfulness import FaithfulnessOptions
    from tam.evaluation.models import ModelExplainer
    from tam.evaluation.runner import evaluate_one
    from tam.evaluation.scoring import answer_words
    from tam.methods import ABLATIONS

    explainer = ModelExplainer(model, processor, layer=-1, round0="own", max_new_tokens=settings.answer_tokens)
    sample = Sample(0, "real-size", image, PROMPT, ("a picture of a street",), mask, {})
    words, kinds, _ = answer_words(explainer([str(image)], PROMPT).result, sample)
    nouns = [word.text.strip() for word, kind in zip(words, kinds, strict=True) if kind == "noun"]
    # the rarest noun of the answer names the mask's object, so one or few tokens are scored
    sample = replace(sample, categories={min(nouns, key=nouns.count): 1} if nouns else {})
    options = FaithfulnessOptions(steps=settings.faithfulness_steps) if case == "eval+faithfulness" else None

    def call():
        record = evaluate_one(explainer, sample, ABLATIONS, faithfulness=options)
        if "error" in record:
            raise RuntimeError(f"the sample failed: {record['error']}")
        made = {}
        if options is not None:
            scored = len(record["faithfulness"]["tokens"])
            made["faithfulness_tokens"] = scored
            made["faithfulness_pictures"] = scored * (2 + 2 * (options.steps - 1) * len(ABLATIONS))
        return made

    return call


def run_case(case: str, settings: Settings) -> dict:
    """Build the model, then time ``case`` once cold and ``settings.repeats`` times warm, in this process."""
    import torch

    torch.manual_seed(0)
    start = time.perf_counter()
    model, processor = build(settings)
    build_seconds = time.perf_counter() - start
    calls = []
    with tempfile.TemporaryDirectory() as folder, StepTimer() as steps:
        image, mask = write_files(Path(folder), settings.picture)
        call = way_of_running(case, model, processor, image, mask, settings)
        steps.take()  # the evaluation's untimed explanation that found the noun
        load_before = os.getloadavg()[0]
        for _ in range(settings.repeats + 1):
            with PeakMemory(settings.device) as memory:
                start, cpu_start = time.perf_counter(), time.process_time()
                made = call()
                if settings.device.startswith("cuda"):
                    torch.cuda.synchronize()
                seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            calls.append(
                {
                    "seconds": seconds,
                    "cpu_seconds": cpu_seconds,
                    "peak_extra_bytes": memory.extra,
                    "explain_generation_s": steps.take(),
                }
            )
    return {
        "case": case,
        "build_s": build_seconds,
        "first": calls[0],
        "warm": calls[1:],
        "made": made,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def run_in_process(case: str, settings: Settings) -> dict:
    """:func:`run_case` in a fresh Python process (so each way pays its own first call), its JSON back."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        case,
        "--settings",
        json.dumps(asdict(settings)),
    ]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    if finished.returncode:
        last = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the {case!r} process failed (exit {finished.returncode}): {last}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def summary(run: dict, plain: dict | None, answer_tokens: int) -> dict:
    """One table row from a run: min and median seconds, ratio and added time to plain, peak memory, first call."""
    seconds = [call["seconds"] for call in run["warm"]]
    median = statistics.median(seconds)
    cpu_median = statistics.median(call["cpu_seconds"] for call in run["warm"])
    row = {
        "case": run["case"],
        "way": CASES[run["case"]],
        "min_s": min(seconds),
        "median_s": median,
        "cpu_median_s": cpu_median,
        "load_average": run["load_average"],
        "peak_extra_mb": max(call["peak_extra_bytes"] for call in run["warm"]) / 2**20,
        "ms_per_answer_token": 1000 * median / answer_tokens,
        "first_s": None if run["case"].startswith("eval") else run["first"]["seconds"],
        "first_peak_extra_mb": run["first"]["peak_extra_bytes"] / 2**20,
        **run["made"],
    }
    steps = [call["explain_generation_s"] for call in run["warm"] if call["explain_generation_s"] is not None]
    if steps:
        row["explain_generation_first_s"] = run["first"]["explain_generation_s"]
        row["explain_generation_median_s"] = statistics.median(steps)
    if plain is not None:
        plain_median = statistics.median(call["seconds"] for call in plain["warm"])
        row["ratio_to_plain"] = median / plain_median
        row["cpu_ratio_to_plain"] = cpu_median / statistics.median(call["cpu_seconds"] for call in plain["warm"])
        row["added_ms_per_answer_token"] = 1000 * (median - plain_median) / answer_tokens
        row["added_mb"] = row["peak_extra_mb"] - max(call["peak_extra_bytes"] for call in plain["warm"]) / 2**20
    return row


def machine(device: str) -> dict:
    """The machine and software, named: CPU model, cores, load average, versions (and the GPU on CUDA)."""
    import torch
    import transformers

    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    found = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if device.startswith("cuda"):
        found["gpu"] = torch.cuda.get_device_name()
    return found


def measure_table(settings: Settings, run=run_in_process) -> dict:
    """Every way (the reference's with ``reference_dir``), each by ``run``, summarised against plain ``generate``."""
    cases = [case for case in CASES if case != "reference" or settings.reference_dir]
    before = machine(settings.device)
    runs = {case: run(case, settings) for case in cases}
    rows = [
        summary(runs[case], None if case == "generate" else runs["generate"], settings.answer_tokens) for case in cases
    ]
    return {
        "settings": asdict(settings),
        "vision_tokens": runs["explain"]["made"]["vision_tokens"],
        "machine": before,
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
        "rows": rows,
        "build_s": statistics.median(run["build_s"] for run in runs.values()),
    }


def measure_scaling(settings: Settings, vision_tokens, answer_lengths, layer_counts=(), run=run_in_process) -> dict:
    """``generate`` and ``tam.explain`` over answer lengths, picture sizes and decoder layer counts.

    The answer lengths are measured at the first picture size, the other picture sizes at the
    first answer length, and ``layer_counts`` (other than the configuration's own) at the first
    of both, so each axis is read against the same first point.
    """
    spec = model_spec(settings.config)
    own = language_config(spec)["num_hidden_layers"]
    points = [(vision_tokens[0], length, own) for length in answer_lengths]
    points += [(tokens, answer_lengths[0], own) for tokens in vision_tokens[1:]]
    points += [(vision_tokens[0], answer_lengths[0], layers) for layers in layer_counts if layers != own]
    before = machine(settings.device)
    rows = []
    for tokens, length, layers in points:
        point = replace(settings, picture=picture_for(tokens, spec), answer_tokens=length, layers=layers)
        plain, explained = (run(case, point) for case in SCALED_CASES)
        row = summary(explained, plain, length)
        plain_row = summary(plain, None, length)
        rows.append(
            {
                "vision_tokens": explained["made"]["vision_tokens"],
                "answer_tokens": length,
                "layers": layers,
                "picture": list(point.picture),
                "generate_s": plain_row["median_s"],
                "explain_s": row["median_s"],
                "added_s": row["median_s"] - plain_row["median_s"],
                "added_percent": 100 * (row["ratio_to_plain"] - 1),
                "cpu_added_percent": 100 * (row["cpu_ratio_to_plain"] - 1),
                "load_average": [*plain["load_average"], *explained["load_average"]],
                "added_ms_per_answer_token": row["added_ms_per_answer_token"],
                "explain_generation_s": row.get("explain_generation_median_s"),
                "generate_peak_extra_mb": plain_row["peak_extra_mb"],
                "explain_peak_extra_mb": row["peak_extra_mb"],
                "added_mb": row["added_mb"],
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {
        "settings": asdict(settings),
        "machine": before,
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
        "scaling": rows,
    }


def _loads(loads) -> str:
    """Load averages over a way's calls (one minute), as ``before-after``."""
    return "-".join(f"{load:.1f}" for load in loads)


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def describe(report: dict) -> str:
    """The line naming what was measured, on which machine."""
    settings, found = report["settings"], report["machine"]
    gpu = f", {found['gpu']}" if "gpu" in found else ""
    return (
        f"{settings['config']}, random {settings['dtype']} weights on {settings['device']}{gpu}; "
        f"{found['cpu']}, {found['cores']} cores, load average {found['load_average'][0]} before and "
        f"{report['load_average_after'][0]} after; Python {found['python']}, torch {found['torch']}, "
        f"transformers {found['transformers']}; median of {settings['repeats']} warm calls after a cold one"
    )


def markdown(report: dict) -> str:
    """The report as markdown: the line naming the run, then its table (the ways, or the scaling points)."""
    lines = [describe(report), ""]
    if "scaling" in report:
        lines += [
            "| vision tokens | answer tokens | layers | `generate` (s) | `tam.explain` (s) | added time (wall / CPU) "
            "| added per answer token (ms) | `explain_generation` (s) | `generate` peak extra (MB) "
            "| `tam.explain` peak extra (MB) | added (MB) | load average |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for row in report["scaling"]:
            lines.append(
                f"| {row['vision_tokens']} | {row['answer_tokens']} | {row['layers']} | {row['generate_s']:.2f} "
                f"| {row['explain_s']:.2f} "
                f"| {row['added_percent']:+.1f}% / {row['cpu_added_percent']:+.1f}% "
                f"| {row['added_ms_per_answer_token']:+.0f} "
                f"| {_number(row['explain_generation_s'], 3)} | {row['generate_peak_extra_mb']:.0f} "
                f"| {row['explain_peak_extra_mb']:.0f} | {row['added_mb']:+.0f} | {_loads(row['load_average'])} |"
            )
        return "\n".join(lines) + "\n"
    settings = report["settings"]
    width, height = settings["picture"]
    lines[0] += (
        f". A {width}x{height} picture ({report['vision_tokens']} vision tokens), "
        f"{settings['answer_tokens']} answer tokens."
    )
    lines += [
        "| way | seconds (min / median) | CPU seconds | ratio to plain (wall / CPU) | peak extra memory (MB) "
        "| added memory (MB) | ms per answer token | added per answer token (ms) | first call (s) | load average |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report["rows"]:
        ratio = row.get("ratio_to_plain")
        ratio_text = "1x" if ratio is None else f"{ratio:.2f}x / {row['cpu_ratio_to_plain']:.2f}x"
        lines.append(
            f"| {row['way']} | {row['min_s']:.2f} / {row['median_s']:.2f} | {row['cpu_median_s']:.2f} | {ratio_text} "
            f"| {row['peak_extra_mb']:.0f} | {_number(row.get('added_mb'), 0)} | {row['ms_per_answer_token']:.0f} "
            f"| {_number(row.get('added_ms_per_answer_token'), 0)} | {_number(row['first_s'], 2)} "
            f"| {_loads(row['load_average'])} |"
        )
    for row in report["rows"]:
        if "explain_generation_median_s" in row:
            # an eval row's process has already explained once, untimed, to find its noun
            first = "its first timed call" if row["case"].startswith("eval") else "the first call of its process"
            lines.append(
                f"\n{row['way']}: `explain_generation` took {1000 * row['explain_generation_first_s']:.0f} ms in "
                f"{first}, {1000 * row['explain_generation_median_s']:.0f} ms warm."
            )
        if "faithfulness_tokens" in row:
            lines.append(
                f"\n{row['way']}: {row['faithfulness_tokens']} noun(s) scored at {settings['faithfulness_steps']} "
                f"steps, {row['faithfulness_pictures']} pictures through the model."
            )
    return "\n".join(lines) + "\n"


def _numbers(text: str) -> list[int]:
    values = [int(value) for value in text.split(",") if value.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def _picture(text: str) -> tuple[int, int]:
    try:
        width, height = (int(value) for value in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, such as 448x336, got {text!r}") from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table (or the scaling), and write it with ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    configs = [TINY, *sorted(path.stem for path in CONFIGS.glob("*.json"))]
    parser.add_argument("--config", default=Settings.config, choices=configs, help="model configuration")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default=Settings.dtype, choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--picture", type=_picture, default=Settings.picture, help="WIDTHxHEIGHT (default 448x336)")
    parser.add_argument("--answer-tokens", type=int, default=Settings.answer_tokens, help="answer length (default 24)")
    parser.add_argument("--repeats", type=int, default=Settings.repeats, help="warm calls per way (default 2)")
    parser.add_argument("--faithfulness-steps", type=int, default=Settings.faithfulness_steps)
    parser.add_argument("--reference-dir", type=Path, help="folder of the reference release (holds tam.py)")
    parser.add_argument("--scaling", action="store_true", help="generate and tam.explain over the sizes below")
    parser.add_argument("--answer-lengths", type=_numbers, default=[16, 64, 256], help="for --scaling")
    parser.add_argument("--vision-tokens", type=_numbers, default=[192, 768, 3000], help="for --scaling")
    parser.add_argument(
        "--layer-counts", type=_numbers, default=[7, 14], help="for --scaling: decoder layers besides the config's own"
    )
    parser.add_argument("--out", type=Path, help="write OUT.md and OUT.json")
    parser.add_argument("--worker", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        settings = json.loads(args.settings)
        settings["picture"] = tuple(settings["picture"])
        print(json.dumps(run_case(args.worker, Settings(**settings))))
        return 0
    problem = None
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            problem = "--device cuda: no CUDA GPU is visible to torch"
    if args.reference_dir is not None and not (args.reference_dir / "tam.py").is_file():
        problem = f"--reference-dir {args.reference_dir}: no tam.py there (clone github.com/xmed-lab/TAM)"
    if min(args.answer_tokens, args.repeats, args.faithfulness_steps, *args.picture) < 1:
        problem = "--answer-tokens, --repeats, --faithfulness-steps and --picture must be positive"
    if not args.scaling and problem is None:  # the eval ways tag the answer's nouns: stop now, not after the others
        from tam.metrics.language import MissingNLTKDataError, require_nltk_data

        try:
            require_nltk_data()
        except MissingNLTKDataError as error:
            problem = f"the eval ways need NLTK's data: {error}"
    if problem:
        print(f"bench_real_size.py: {problem}", file=sys.stderr)
        return 2
    settings = Settings(
        config=args.config,
        device=args.device,
        dtype=args.dtype,
        picture=args.picture,
        answer_tokens=args.answer_tokens,
        repeats=args.repeats,
        faithfulness_steps=args.faithfulness_steps,
        reference_dir=None if args.reference_dir is None else str(args.reference_dir.resolve()),
    )
    if args.scaling:
        report = measure_scaling(settings, args.vision_tokens, args.answer_lengths, args.layer_counts)
    else:
        report = measure_table(settings)
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
