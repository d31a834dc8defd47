"""Explain a multimodal LLM's answer word by word: one picture per word, and the saved result.

    python demo.py                                  # Qwen2-VL-2B on imgs/demo.jpg (needs the weights)
    python demo.py --model tiny-qwen2-vl            # offline, a tiny random-weight twin
    python demo.py --model toy-shapes               # offline, a tiny Qwen2-VL trained on shapes (imgs/toy-shapes.jpg)
    python demo.py --model toy-shapes --unit token  # one picture per token (sentence: per sentence)
    python demo.py --model toy-shapes --figure "circle square star"   # figure.pdf and figure.png for a paper
    python demo.py --model tiny-qwen2.5-vl --video imgs/frames --prompt "Describe this video."
    python demo.py --model toy-shapes --methods attention,gradcam,lens@2   # baselines beside TAM in the report

Without --out, everything goes to vis_results/MODEL_INPUT (say vis_results/toy-shapes_toy-shapes),
replacing what an earlier run of the same model on the same input left there. The folder is written
whole beside its place and swapped in at the end, locked (OUT.lock beside it) while a run writes it.
Bad input ends with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"
DEFAULT_IMAGE = HERE / "imgs" / "demo.jpg"
MODEL_IMAGES = {"toy-shapes": HERE / "imgs" / "toy-shapes.jpg"}  # models that know only their own kind of picture
DEFAULT_PROMPT = "Describe this image."
DEFAULT_OUT = Path("vis_results")


class InputError(ValueError):
    """A command-line input that cannot be used; its message is shown as is."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line (see ``python demo.py --help``)."""
    from tam.models import model_choices
    from tam.models.base import add_processor_option_argument
    from tam.result import UNITS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"{model_choices()} (default: %(default)s)")
    parser.add_argument("--image", action="append", default=[], help="an image file; repeat for several images")
    parser.add_argument(
        "--video", help="a folder of frames (sorted by name; resized to the first frame's size) or a video file"
    )
    parser.add_argument("--prompt", help=f"the question (default: {DEFAULT_PROMPT!r})")
    parser.add_argument(
        "--max-new-tokens", type=int, default=64, help="answer tokens to generate, at most 2048 (default: 64)"
    )
    parser.add_argument("--layer", type=int, default=-1, help="decoder layer to read, -1 the last (default: -1)")
    parser.add_argument(
        "--methods",
        default="",
        help="map methods computed from the model beside TAM, comma-separated: attention, gradcam, dexar, "
        "lens@L (a layer after @, as in attention@-2); the report switches between all (docs/methods.md)",
    )
    parser.add_argument("--visual-method", default="tam", help="the method the token pictures show (default: tam)")
    parser.add_argument(
        "--out",
        help=f"folder for the visuals and the result (default: {DEFAULT_OUT}/MODEL_INPUT, named after the model "
        "and the pictures or video, replaced by a later run of the same model on the same input)",
    )
    add_processor_option_argument(parser)
    parser.add_argument("--device", help="cpu, cuda, cuda:1... (default: accelerate's device_map='auto')")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier result in --out (its pictures and report too)"
    )
    parser.add_argument("--no-report", dest="report", action="store_false", help="skip the HTML report (index.html)")
    parser.add_argument(
        "--unit",
        choices=UNITS,
        default="word",
        help="one picture per token, word or sentence, named by its first token and its text (default: %(default)s)",
    )
    parser.add_argument(
        "--figure",
        metavar="WORDS",
        help='also write figure.pdf and .png of these answer words ("circle square") or phrases ("a circle, a star")',
    )
    parser.add_argument(
        "--figure-methods", default="tam", help="the figure's rows, comma-separated map methods (default: %(default)s)"
    )
    return parser.parse_args(argv)


def check_image(path: str) -> str:
    """Return ``path`` if it names a picture :func:`tam.images.load_image` reads whole, else raise."""
    from tam.images import load_image

    load_image(path)
    return path


def video_entry(path: str) -> dict:
    """Build the chat entry of a folder of frames (each read; sizes may differ) or of a video file."""
    source = Path(path)
    if source.is_dir():
        from tam.images import frame_paths, load_frames

        frames = [str(frame) for frame in frame_paths(source)]
        load_frames(frames)
        return {"type": "video", "video": frames}
    if not source.is_file():
        raise InputError(f"no video file or frames folder at {path!r}")
    from tam.images import check_video_file

    check_video_file(source)  # counted from the header before any frame is decoded
    if not has_video_reader():
        raise InputError(
            f"cannot read the video file {path!r} here: qwen-vl-utils (Qwen-VL) reads video files with decord or "
            "torchcodec, transformers (the other families) with PyAV: pip install one, or pass a folder of frames"
        )
    return {"type": "video", "video": str(source)}


def has_video_reader() -> bool:
    """Tell whether some family can read a video file here: qwen-vl-utils' readers or transformers' PyAV.

    Which one the model needs is known once it has loaded; its adapter then names a missing one.
    """
    import importlib.util

    import torchvision.io

    readers = ("decord", "torchcodec", "av")
    return any(importlib.util.find_spec(name) for name in readers) or hasattr(torchvision.io, "read_video")


def check_device(device: str | None) -> None:
    """Raise :class:`InputError` if ``device`` is not a torch device this machine has."""
    if device is None:
        return
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise InputError(f"--device {device!r} is not a device name; use cpu, cuda or cuda:N") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device!r}: no CUDA GPU is visible here; use --device cpu")


def method_list(text: str) -> list[str]:
    """Split a comma-separated ``--methods`` / ``--figure-methods`` value."""
    return [name.strip() for name in text.split(",") if name.strip()]


def check_methods(args: argparse.Namespace) -> list[str]:
    """Return ``--methods`` after checking every method option against the registry, before the model loads.

    What only the model can tell (a layer out of range, attention the model does not give)
    is checked when it has loaded.
    """
    import tam
    from tam.methods import ABLATIONS, ModelMethod, get_method

    methods = method_list(args.methods)
    for name in methods:
        try:
            method = get_method(name)
        except tam.errors.TAMError as error:
            raise InputError(f"--methods: {error}") from None
        if name not in ABLATIONS and not isinstance(method, ModelMethod):
            raise InputError(f"--methods: {name!r} is made from a segmentation mask: only eval.py scores it")
    computed = (*tam.METHODS, *methods)
    choices = f"choose among {', '.join(tam.METHODS)} or a method named in --methods"
    if args.visual_method not in computed:
        raise InputError(f"--visual-method {args.visual_method!r} is not computed: {choices}")
    figure_methods = method_list(args.figure_methods)
    if args.figure is not None and not figure_methods:
        raise InputError(f"--figure-methods is empty: {choices}")
    for name in figure_methods:
        if name not in computed:
            raise InputError(f"--figure-methods: {name!r} is not computed: {choices}")
    return methods


def build_messages(args: argparse.Namespace) -> list[dict]:
    """Build the one-turn chat of the images or the video, and the prompt."""
    images = args.image or ([] if args.video else [str(MODEL_IMAGES.get(args.model, DEFAULT_IMAGE))])
    content = [{"type": "image", "image": check_image(path)} for path in images]
    if args.video:
        content.append(video_entry(args.video))
    prompt = args.prompt if args.prompt is not None else DEFAULT_PROMPT
    if not prompt.strip():
        raise InputError("--prompt is empty: give the model a question to answer")
    content.append({"type": "text", "text": prompt})
    from tam.models.chats import check_chat

    return check_chat([{"role": "user", "content": content}])  # the library's checks, before the model loads


def default_out(model: str, inputs: list[str]) -> Path:
    """Name the folder of a run without ``--out``: the model's last name part and the input files' stems.

    >>> default_out("Qwen/Qwen2-VL-2B-Instruct", ["imgs/demo.jpg"]).as_posix()
    'vis_results/Qwen2-VL-2B-Instruct_demo'
    >>> default_out("/models/my model/", ["a.png", "b.png"]).as_posix()
    'vis_results/my-model_a+b'
    """
    names = [Path(model.rstrip("/\\")).name, "+".join(Path(path.rstrip("/\\")).stem for path in inputs)]
    return DEFAULT_OUT / "_".join(re.sub(r"[^\w.+-]+", "-", name)[:60] for name in names)


OWN_FILES = re.compile(r"\d{3}(-.*)?\.jpg|index\.html|figure\.(pdf|png)|result")
"""The names a run writes in ``--out``: token pictures ``NNN[-text].jpg``, the report, the figure, the result."""


def check_out(out: Path, overwrite: bool) -> None:
    """Raise :class:`InputError` unless ``out`` is a folder (or can be made one) that a run may replace whole.

    The run replaces the folder as one unit (:func:`write_outputs`), so it must hold only
    what an earlier run wrote (:data:`OWN_FILES`), and only with ``overwrite``; it must not
    hold the current folder. Nothing is created: a failed run leaves no empty folder behind.
    """
    for path in (out, out / "result"):
        if path.is_symlink():
            raise InputError(
                f"--out: {str(path)!r} is a symbolic link; the demo writes only where you name: name the real folder"
            )
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise InputError(f"--out {str(out)!r} holds the current folder; the demo replaces --out whole: name a new one")
    if out.is_dir():
        names = sorted(path.name for path in out.iterdir())
        foreign = [name for name in names if not OWN_FILES.fullmatch(name)]
        if foreign:
            raise InputError(
                f"--out {str(out)!r} holds files the demo did not write ({', '.join(map(repr, foreign[:3]))}"
                f"{', ...' if len(foreign) > 3 else ''}); the demo replaces --out whole: name a new or empty folder"
            )
        if names and not overwrite:
            earlier = "result" if "result" in names else names[0]
            raise InputError(f"{out / earlier} exists; pass --overwrite or another --out")
    existing = next(folder for folder in (out, *out.parents) if folder.exists() or folder == Path(folder.anchor))
    if not existing.is_dir():
        raise InputError(f"--out {str(out)!r}: {str(existing)!r} is a file, not a folder; name a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {str(out)!r}: the folder {str(existing)!r} is not writable; choose another --out")


def out_lock_path(out: Path) -> Path:
    """``OUT.lock`` beside the real path of ``out``, held by the run writing there (a second name: the same lock)."""
    from tam.files import fit_name

    real = out.resolve()
    return real.with_name(f"{fit_name(real.name, len('.lock'))}.lock")  # within 255 bytes for a name that fills them


def take_out(out: Path, overwrite: bool):
    """Check ``out`` (:func:`check_out`), lock it against other runs, and return the held lock.

    The folders above ``out`` are made for the lock file. Staging folders that a killed
    run left beside ``out`` are removed: no other run can be writing them while the lock is held.
    """
    from tam.files import take_lock

    check_out(out, overwrite)
    lock_file = out_lock_path(out)
    if lock_file.is_symlink() or (lock_file.exists() and not lock_file.is_file()):
        raise InputError(
            f"--out: its lock file {str(lock_file)!r} is a symbolic link or no regular file; the demo writes only "
            "where you name: remove it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = take_lock(lock_file, f"--out {str(out)!r} is in use by another run", "--out")
    try:
        check_out(out, overwrite)  # again: an earlier run may have finished before the lock was free
        for leftover in out.parent.glob(f"{glob.escape(staging_prefix(out))}*"):
            shutil.rmtree(leftover)
    except BaseException:
        lock.release()
        raise
    return lock


def staging_prefix(out: Path) -> str:
    """``.<out>.demo-``: the start of the hidden staging folders of ``out``, beside it."""
    from tam.files import fit_name

    return f".{fit_name(out.name, 40)}.demo-"


def picture_name(span) -> str:
    """``005-circle.jpg``: the span's first explained token, then its text made safe for file names."""
    text = re.sub(r"\W+", "-", span.text).strip("-")[:40]
    return f"{span.tokens[0]:03d}{'-' if text else ''}{text}.jpg"


def figure_words(text: str) -> list[str]:
    """Split ``--figure`` into the figure's columns: phrases at commas, else one word each."""
    parts = text.split(",") if "," in text else text.split()
    words = [part.strip() for part in parts if part.strip()]
    if not words:
        raise InputError("--figure is empty: name the answer words to show, e.g. --figure 'circle square'")
    from tam.visuals.figure import MAX_COLUMNS

    if len(words) > MAX_COLUMNS:
        raise InputError(f"--figure names {len(words)} words; a figure takes at most {MAX_COLUMNS}: choose fewer")
    return words


FIGURE_FILES = ("figure.pdf", "figure.png")


def split_found(result, words: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split the ``--figure`` words into those the answer holds and, for the others, why not."""
    found, missing = [], {}
    for word in words:
        try:
            result.span_tokens(word)
            found.append(word)
        except (LookupError, ValueError) as error:
            missing[word] = str(error)
    return found, missing


def write_outputs(result, tokenizer, spans, figure_columns: list[str], args: argparse.Namespace, out: Path) -> None:
    """Write the pictures, the figure, the report and the result into a staging folder, then swap it in as ``out``.

    The staging folder sits beside ``out`` (:func:`staging_prefix`) and replaces the whole
    of ``out`` in one step (:func:`tam.files.replace_directory`): a reader, a failed or a
    killed run sees the earlier run's folder or this one's, never a mix. A failed run
    removes its staging folder.
    """
    from tqdm import tqdm

    from tam.files import replace_directory

    staging = out.with_name(f"{staging_prefix(out)}{secrets.token_hex(4)}")
    try:
        staging.mkdir()
        for span in tqdm(spans, desc=f"{args.unit} visuals", unit=args.unit):
            result.save_span_visual(span, staging / picture_name(span), tokenizer=tokenizer)
        if figure_columns:
            methods = method_list(args.figure_methods)
            try:
                for name in FIGURE_FILES:
                    result.save_figure(staging / name, figure_columns, methods)
            except (LookupError, ValueError) as error:
                raise InputError(f"--figure: {error}") from None
        if args.report:
            result.save_html(staging / "index.html", tokenizer=tokenizer)
        result.save(staging / "result")
        replace_directory(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def run(args: argparse.Namespace) -> Path:
    """Check the inputs, take ``--out`` (:func:`take_out`), load the model, explain, write the visuals and the result.

    ``--out`` stays locked until the run ends, so a second run on it stops at once.
    """
    from tam.models.explain import MAX_NEW_TOKENS

    if not 1 <= args.max_new_tokens <= MAX_NEW_TOKENS:
        raise InputError(
            f"--max-new-tokens must be between 1 and {MAX_NEW_TOKENS}, got {args.max_new_tokens} "
            "(the states of every answer token are kept until the maps are made)"
        )
    check_device(args.device)
    columns = None if args.figure is None else figure_words(args.figure)
    methods = check_methods(args)
    messages = build_messages(args)
    if args.out is None:  # a run of the same model on the same input replaces its own earlier run
        images = [entry["image"] for entry in messages[0]["content"] if entry["type"] == "image"]
        args.out, args.overwrite = default_out(args.model, images + ([args.video] if args.video else [])), True
    out = Path(args.out)
    lock = take_out(out, args.overwrite)
    try:
        return explain_and_write(args, messages, methods, columns, out)
    finally:
        lock.release()


def explain_and_write(
    args: argparse.Namespace, messages: list[dict], methods: list[str], columns: list[str] | None, out: Path
) -> Path:
    """Load the model, explain the chat ``messages``, and write the visuals and the result to ``out``."""
    import tam
    from tam.models import load_model
    from tam.models.explain import check_layer
    from tam.models.loading import decoder_layers

    layers = decoder_layers(args.model)
    if layers is not None:  # before the weights load (minutes for a real model)
        check_layer(args.layer, layers, args.model)
    model, processor = load_model(args.model, device=args.device)
    result = tam.explain(
        model,
        processor,
        messages,
        max_new_tokens=args.max_new_tokens,
        layer=args.layer,
        methods=methods,
        progress=True,
        processor_kwargs=dict(args.processor_options),
    )
    spans = result.spans(args.unit)
    found, missing = ([], {}) if columns is None else split_found(result, columns)
    write_outputs(result, processor.tokenizer, spans, found, args, out)
    answer = processor.tokenizer.decode(result.token_ids[result.answer_slice].tolist(), skip_special_tokens=True)
    print(f"answer: {answer}")
    generation = ", ".join(f"{key}={value}" for key, value in result.options["generation"].items())
    print(f"generation settings (the checkpoint's generation_config, greedy): {generation}")
    if not result.options["explain_end_of_turn"]:
        print("the end-of-turn tokens closing the answer are not explained")
    answered = sum(span.tokens[0] >= result.num_prompt_tokens for span in spans)
    print(
        f"wrote {len(spans)} {args.unit} visuals ({len(spans) - answered} prompt, {answered} answer), the result"
        + (f", the report {out / 'index.html'}" if args.report else "")
        + (f", the figure {out / 'figure.pdf'} and figure.png" if found else "")
        + f" to {out}"
    )
    if missing:
        shown = f"the figure shows {', '.join(map(repr, found))}" if found else "no figure was written"
        raise InputError(
            f"--figure: {', '.join(map(repr, missing))} not found ({next(iter(missing.values()))}). "
            f"Everything else is written and {shown}; to change the words, rerun with --overwrite"
        )
    return out


def quiet_libraries() -> None:
    """Keep transformers' and the hub's warnings and retries off the terminal (errors still show)."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as transformers_logging

    hub_logging.set_verbosity_error()
    logging.getLogger("qwen_vl_utils").setLevel(logging.ERROR)
    transformers_logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status (0, or 2 after one line on stderr)."""
    from tam.errors import TAMError

    args = parse_args(argv)
    quiet_libraries()
    try:
        run(args)
    except (InputError, TAMError, OSError) as error:
        print(f"demo.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # --out keeps the earlier run's folder, or none: the run wrote nothing there
        print(
            f"demo.py: error: interrupted; {args.out or 'the output folder'} is as it was before the run",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
