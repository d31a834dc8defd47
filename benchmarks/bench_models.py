"""Time that TAM adds to ``generate`` at real model size, for each supported family.

Each family is built at its real size from the config numbers of a released checkpoint
(``benchmarks/configs/*.json``, copied from the checkpoints' ``config.json``), with
random weights, in bfloat16 on the GPU. Its processor is the family's real processor
class at the real image size (around the tiny twins' tokenizer, whose special-token ids
are written into the config). One image (``imgs/demo.jpg``) and "Describe this image."
go in; exactly ``--new-tokens`` tokens (default 256) come out.

Three timings, medians of ``--repeats`` after one warm-up:

- ``generate``: plain greedy ``model.generate`` (what a user runs anyway);
- ``generate+states``: the same with ``output_hidden_states`` and ``output_logits``
  (what TAM needs from the model);
- ``explain``: :func:`tam.explain_generation` on that output (maps of every prompt and
  answer token, and the top-3 candidates from the logits).

TAM's added cost is ``(generate+states - generate) + explain``, reported as a ratio of
``generate`` (the issue's target is <= 5%).

With ``--twins`` it times every tiny twin instead (:data:`tam.models.twins.TWINS`: one per
family and class, random weights, its real processor at the checkpoint's settings), on a
1024 x 768 picture: the processor and ``model.generate`` against ``tam.explain`` (both
exactly ``--new-tokens`` long), and drawing every answer token's map over the user's picture
at its own size (``result.picture_map``, each family's tiles and crops). The twins' models
are tiny, so this measures tam's own work per family, not its share of a real generation.

    python benchmarks/bench_models.py                         # every family, on CUDA
    python benchmarks/bench_models.py --only qwen2-vl-2b-instruct --repeats 5
    python benchmarks/bench_models.py --device cpu --smoke    # 1 layer, 4 tokens: checks the script only
    python benchmarks/bench_models.py --twins [--only tiny-internvl] [--device cuda]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tam  # noqa: E402
from tam.models import adapter_for  # noqa: E402
from tam.models.twins import internvl_processor, llava_processor, qwen_processor  # noqa: E402

CONFIGS = ROOT / "benchmarks" / "configs"
MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "image", "image": str(ROOT / "imgs" / "demo.jpg")},
            {"type": "text", "text": "Describe this image."},
        ],
    }
]


def build_processor(kind: list, max_vision_tokens: int | None = None):
    """The family's real processor class at the real image size (see the spec's ``processor``).

    ``max_vision_tokens``: a Qwen-VL checkpoint's bound on an image's tokens, from its
    preprocessor_config.json (16384 for Qwen2-VL / 2.5-VL); None keeps transformers' default (1280).
    """
    family, setting = kind
    if family == "qwen":
        return qwen_processor(setting, max_tokens=max_vision_tokens)
    if family == "llava":
        return llava_processor(setting)
    return internvl_processor(setting)


def token_ids(config: dict, tokenizer, family: str) -> dict:
    """Write the tokenizer's special-token ids where the config keeps them."""
    ids = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if family == "qwen":
        names = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
        keys = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
        config.update(dict(zip(keys, tokenizer.convert_tokens_to_ids(list(names)), strict=True)))
    else:
        config["image_token_id"] = tokenizer.convert_tokens_to_ids("<image>" if family == "llava" else "<IMG_CONTEXT>")
    (config.get("text_config") or config).update(ids)
    return config


def shrink(config: dict) -> dict:
    """One decoder layer and one vision layer, widths and vocabulary kept (for --smoke)."""
    text = config.get("text_config") or config
    text["num_hidden_layers"] = 1
    text["max_window_layers"] = 1
    vision = config["vision_config"]
    for key in ("depth", "num_hidden_layers"):
        if key in vision:
            vision[key] = 1
    if "deepstack_visual_indexes" in vision:
        vision["deepstack_visual_indexes"] = [0]
    if "fullatt_block_indexes" in vision:
        vision["fullatt_block_indexes"] = [0]
    return config


def build(spec: dict, device: str, dtype: torch.dtype, smoke: bool):
    """Random-weight model of the spec's class and config, and its processor."""
    import transformers

    processor = build_processor(spec["processor"], spec.get("max_vision_tokens"))
    config_dict = token_ids(copy.deepcopy(spec["config"]), processor.tokenizer, spec["processor"][0])
    if smoke:
        config_dict = shrink(config_dict)
    config = transformers.AutoConfig.for_model(**config_dict)
    model_class = getattr(transformers, spec["class"])
    torch.manual_seed(0)
    with torch.device(device):
        model = model_class._from_config(config, dtype=dtype)
    return model.eval(), processor


def timed(function, device: str) -> tuple[float, object]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = function()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, value


def measure(spec: dict, device: str, dtype: torch.dtype, new_tokens: int, repeats: int, smoke: bool) -> dict:
    model, processor = build(spec, device, dtype, smoke)
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(MESSAGES)
    inputs = prepared.inputs.to(device=model.device, dtype=model.dtype)
    fixed_length = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False}

    def plain():
        with torch.inference_mode():
            return model.generate(**inputs, **fixed_length)

    def with_states():
        return adapter.generate(prepared, new_tokens, min_new_tokens=new_tokens)

    def explain(output):
        tokens = output.sequences[0]
        result = tam.explain_generation(
            tokens,
            [states[-1] for states in output.hidden_states],
            adapter.lm_head,
            adapter.find_spans(tokens.cpu().numpy(), prepared, MESSAGES),
            adapter.vision_shape(prepared),
            logits=output.logits,
        )
        result.candidates  # noqa: B018 - the visuals read them; they come from the logits
        return result

    times = {"generate": [], "generate+states": [], "explain": []}
    for attempt in range(repeats + 1):  # the first round warms up and is not counted
        plain_time, plain_output = timed(plain, device)
        states_time, output = timed(with_states, device)
        explain_time, result = timed(lambda output=output: explain(output), device)
        if attempt:
            times["generate"].append(plain_time)
            times["generate+states"].append(states_time)
            times["explain"].append(explain_time)
        del plain_output, output
    median = {name: statistics.median(values) for name, values in times.items()}
    added = median["generate+states"] - median["generate"] + median["explain"]
    return {
        "model": spec["source"].split(" ")[0],
        "vision_tokens": int(result.layout.num_tokens),
        "new_tokens": int(len(result) - result.num_prompt_tokens),
        **{f"{name}_s": round(value, 4) for name, value in median.items()},
        "added_ratio": round(added / median["generate"], 4),
    }


def twin_picture(folder: Path) -> Path:
    """``imgs/demo.jpg`` at 1024 x 768, where tiling processors make several tiles of it."""
    from PIL import Image

    path = folder / "picture-1024x768.png"
    Image.open(ROOT / "imgs" / "demo.jpg").convert("RGB").resize((1024, 768)).save(path)
    return path


def measure_twin(name: str, picture: Path, device: str, new_tokens: int, repeats: int) -> dict:
    """Median milliseconds of plain generation, of ``tam.explain`` and of every answer token's picture map."""
    from tam.models import load_model

    model, processor = load_model(name, device=device)
    adapter = adapter_for(model, processor)
    messages = [{"role": "user", "content": [{"type": "image", "image": str(picture)}, *MESSAGES[0]["content"][1:]]}]
    fixed_length = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}

    def plain():
        prepared = adapter.prepare(messages)
        inputs = prepared.inputs.to(device=model.device, dtype=model.dtype)  # as tam.explain gives them
        with torch.inference_mode():
            return model.generate(**inputs, do_sample=False, **fixed_length)

    def explain():
        fixed = {"min_new_tokens": new_tokens}
        return tam.explain(model, processor, messages, max_new_tokens=new_tokens, generate_kwargs=fixed)

    def picture_maps(result):
        return [result.picture_map(index) for index in range(result.num_prompt_tokens, len(result))]

    times = {"generate": [], "explain": [], "picture_maps": []}
    for attempt in range(repeats + 1):  # the first round warms up and is not counted
        plain_time, _ = timed(plain, device)
        explain_time, result = timed(explain, device)
        maps_time, maps = timed(lambda result=result: picture_maps(result), device)
        if attempt:
            for key, value in zip(times, (plain_time, explain_time, maps_time), strict=True):
                times[key].append(value)
    median = {key: 1000 * statistics.median(values) for key, values in times.items()}
    answer_tokens = len(result) - result.num_prompt_tokens
    return {
        "twin": name,
        "class": type(model).__name__,
        "tiles": len(result.layout.tiles),
        "vision_tokens": int(result.layout.num_tokens),
        "answer_tokens": int(answer_tokens),
        "map_size": list(maps[0].shape),
        "generate_ms": round(median["generate"], 1),
        "explain_ms": round(median["explain"], 1),
        "added_ms": round(median["explain"] - median["generate"], 1),
        "picture_map_ms_per_token": round(median["picture_maps"] / answer_tokens, 3),
    }


def run_twins(names: list[str], device: str, new_tokens: int, repeats: int) -> int:
    """Print one row per twin, then the table."""
    import platform
    import tempfile

    from tam.models import TWINS

    unknown = [name for name in names if name not in TWINS]
    if unknown:
        sys.exit(f"--only {', '.join(unknown)}: not a twin; the twins are {', '.join(TWINS)}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        picture = twin_picture(Path(folder))
        for name in names or list(TWINS):
            try:
                rows.append(measure_twin(name, picture, device, new_tokens, repeats))
            except Exception as error:  # noqa: BLE001 - one family's failure (an upstream bug) is a row, not the end
                rows.append({"twin": name, "error": f"{type(error).__name__}: {error}".splitlines()[0][:200]})
            print(json.dumps(rows[-1]), flush=True)
    machine = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "CPU"
    print(f"\n{machine} ({device}), 1024 x 768 picture, {new_tokens} answer tokens, median of {repeats}\n")
    print("| twin | class | tiles | vision tokens | generate (ms) | tam.explain (ms) | added (ms) | map (ms/token) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        if "error" in row:
            print(f"| {row['twin']} | failed: {row['error']} | | | | | | |")
            continue
        print(
            f"| {row['twin']} | {row['class']} | {row['tiles']} | {row['vision_tokens']} | {row['generate_ms']:.0f} "
            f"| {row['explain_ms']:.0f} | {row['added_ms']:+.0f} | {row['picture_map_ms_per_token']:.2f} |"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="config name(s) in benchmarks/configs (default: all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else None)
    parser.add_argument("--new-tokens", type=int, help="answer length (default 256, 32 with --twins)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="1 layer and 4 new tokens: check the script on a CPU")
    parser.add_argument("--twins", action="store_true", help="time every tiny twin (--only names twins), on the CPU")
    args = parser.parse_args(argv)
    if args.twins:
        return run_twins(args.only or [], args.device or "cpu", args.new_tokens or 32, args.repeats)
    if args.device is None:
        sys.exit("bench_models.py needs a CUDA GPU for real-size models; on a CPU run it with --device cpu --smoke")
    names = args.only or sorted(path.stem for path in CONFIGS.glob("*.json"))
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    new_tokens = 4 if args.smoke else args.new_tokens or 256
    repeats = 1 if args.smoke else args.repeats
    rows = []
    for name in names:
        spec = json.loads((CONFIGS / f"{name}.json").read_text())
        rows.append(measure(spec, args.device, dtype, new_tokens, repeats, args.smoke))
        print(json.dumps(rows[-1]), flush=True)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"\n{device_name}, {dtype}, {new_tokens} new tokens, median of {repeats}\n")
    print("| model | vision tokens | generate (s) | + hidden states (s) | explain (s) | TAM adds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['model']} | {row['vision_tokens']} | {row['generate_s']:.3f} | {row['generate+states_s']:.3f} "
            f"| {row['explain_s']:.3f} | {100 * row['added_ratio']:.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
