"""The command line of ``eval.py``: parse, load, run, print the table.

``python eval.py MODEL DATASET_DIR [VIS_DIR]``; on several GPUs ``accelerate launch
eval.py ...``, on several CPU processes ``torchrun --nproc_per_node N eval.py ...``.
Bad input (a missing or unknown data set folder, an empty data set, an unreadable
annotation file, missing NLTK data, a model that cannot be loaded, a results file that
is not to be resumed or is in use by another run, an output folder that cannot be
written) ends with one line on stderr and exit status 2; all but the model are checked
before the model loads.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tam.evaluation.datasets import FORMATS, DatasetError, load_dataset
from tam.evaluation.faithfulness import SCORED_TOKENS, FaithfulnessOptions
from tam.evaluation.models import ModelLoadError, load_explainer
from tam.evaluation.runner import EvaluationError, curves_path, format_table, start_evaluation, summary_path
from tam.methods import ABLATIONS, MaskMethod, ModelMethod, UnknownMethodError, get_method, method_names
from tam.metrics.faithfulness import FILLS, MAX_STEPS
from tam.metrics.language import CATEGORY_RULES, MissingNLTKDataError, require_nltk_data
from tam.metrics.text import ROUGE_L_PACKAGES
from tam.models.base import add_processor_option_argument

__all__ = ["build_parser", "default_results_path", "main", "process_state"]

PROGRAM = "eval.py"

DEFAULT_BATCH_SIZE = 8
"""Samples per generate call, chosen by measurement (docs/benchmarks.md, "Evaluation throughput")."""


def _methods(text: str) -> list[str]:
    methods = [name.strip() for name in text.split(",") if name.strip()]
    if not methods or len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"expected distinct method names, comma-separated, got {text!r}")
    for name in methods:
        try:
            get_method(name)
        except UnknownMethodError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return methods


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _curve_steps(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"expected at least 2 (with 1 step the deletion and insertion curves are the same), got {text}"
        )
    if value > MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_STEPS} (two forward passes per step, map and token), got {text}"
        )
    return value


def _seed(text: str) -> int:
    from tam.evaluation.models import MAX_SEED

    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED} (2**64 - 1), got {text}")
    return value


def _new_tokens(text: str) -> int:
    from tam.models.explain import MAX_NEW_TOKENS

    value = int(text)
    if not 1 <= value <= MAX_NEW_TOKENS:
        raise argparse.ArgumentTypeError(
            f"expected 1 to {MAX_NEW_TOKENS} (the states of every answer token are kept), got {text}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``eval.py``."""
    from tam.pipeline import ROUND0_MODES

    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Score token activation maps against segmentation masks (Obj-IoU, Func-IoU, F1-IoU) "
        "and answers against references (ROUGE-L, METEOR), as in the TAM paper.",
    )
    parser.add_argument("model", help="model name or folder, as the model adapters know it")
    parser.add_argument("dataset_dir", type=Path, help="a COCO14, GranDf or OpenPSG folder in the reference's format")
    parser.add_argument("vis_dir", type=Path, nargs="?", help="save each sample's maps (result.save) here")
    parser.add_argument("--limit", type=_positive, help="evaluate only the first N samples")
    parser.add_argument(
        "--max-new-tokens", type=_new_tokens, default=256, help="longest answer, at most 2048 (default 256)"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        help=f"samples generated together in one call (default {DEFAULT_BATCH_SIZE}; the results are those of 1, "
        "and a batch too large for the free memory is split)",
    )
    parser.add_argument(
        "--methods",
        type=_methods,
        default=list(ABLATIONS),
        help=f"map methods scored from each generation, comma-separated (default {','.join(ABLATIONS)}; "
        f"from the model: {','.join(method_names(ModelMethod))}, a layer after @ as in attention@-2 or lens@4; "
        f"from the mask: {','.join(method_names(MaskMethod))}; see docs/methods.md)",
    )
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also score chance maps (uniform, random) and the best maps the grid can hold "
        "(each cell's share of the object, unfiltered and after the rank Gaussian filter)",
    )
    parser.add_argument(
        "--faithfulness",
        action="store_true",
        help="also score deletion AUC, insertion AUC and the pointing game of each map method: costly, "
        "2 x steps forward passes per method and scored token (with --baselines, a random-order row too)",
    )
    parser.add_argument(
        "--faithfulness-steps",
        type=_curve_steps,
        default=64,
        help="points of each faithfulness curve, 2 to 1024 (default 64)",
    )
    parser.add_argument(
        "--faithfulness-tokens",
        choices=SCORED_TOKENS,
        default="nouns",
        help="tokens scored for faithfulness: the nouns Obj-IoU scores ('nouns', default) or every answer token",
    )
    parser.add_argument(
        "--faithfulness-fill", choices=FILLS, default="black", help="what removed pixels become (default black)"
    )
    parser.add_argument(
        "--faithfulness-batch", type=_positive, default=16, help="pictures per forward pass (default 16)"
    )
    parser.add_argument("--results", type=Path, help="JSON lines file (default out/eval/<dataset>_<model>.jsonl)")
    parser.add_argument("--resume", action="store_true", help="continue the results file, skipping its samples")
    parser.add_argument(
        "--retry-failed", action="store_true", help="with --resume, compute the samples recorded as failed again"
    )
    parser.add_argument("--layer", type=int, default=-1, help="decoder layer read for the maps (default -1)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed, 0 to 2**64 - 1 (default 0)")
    add_processor_option_argument(parser)
    parser.add_argument(
        "--round0",
        choices=ROUND0_MODES,
        default="own",
        help="first answer token: its own map ('own', default) or the reference's round-0 map, "
        "which the paper's table used ('reference', which also explains the closing end-of-turn token)",
    )
    parser.add_argument(
        "--category-match",
        choices=CATEGORY_RULES,
        default="whole-name",
        help="a noun naming several categories: a category named by the word alone first ('whole-name', "
        "default), or the last match as the reference did, which the paper's table used ('reference')",
    )
    parser.add_argument(
        "--rouge-l",
        choices=ROUGE_L_PACKAGES,
        default="rouge-score",
        help="ROUGE-L of rouge-score, the original script's measure ('rouge-score', default), or of the rouge "
        "package as the reference computed it, which the paper's table used ('rouge')",
    )
    parser.add_argument("--dataset-format", choices=FORMATS, help="skip detection from the folder")
    return parser


def process_state():
    """Return this process's place among those of ``accelerate launch`` or ``torchrun`` (or alone).

    Without a GPU the processes meet over gloo on the CPU (``torchrun --nproc_per_node N
    eval.py ...``), which ``accelerate.PartialState`` sets up only when told to use the CPU.
    """
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def default_results_path(dataset_dir: Path, model: str) -> Path:
    """``out/eval/<dataset folder>_<model with / as -->.jsonl``."""
    model_slug = re.sub(r"[^A-Za-z0-9._-]+", "--", model.strip("/"))
    return Path("out") / "eval" / f"{dataset_dir.resolve().name}_{model_slug}.jsonl"


def main(argv: Sequence[str] | None = None, *, load: Callable = load_explainer) -> int:
    """Run ``eval.py``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name; ``sys.argv[1:]`` when None.
    load : callable
        ``load(model, device=, layer=, round0=, max_new_tokens=, seed=, methods=) -> Explainer``;
        :func:`~tam.evaluation.models.load_explainer` unless a caller supplies its own.

    Returns
    -------
    int
        0 on success, 2 on bad input (one line on stderr).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(format=f"{PROGRAM}: %(message)s")
    results = args.results or default_results_path(args.dataset_dir, args.model)
    try:
        dataset = load_dataset(args.dataset_dir, args.dataset_format)
        require_nltk_data()
        state = process_state()
        # The results file is taken and the outputs tried before the model loads (tens of seconds).
        with start_evaluation(
            dataset,
            results,
            methods=args.methods
            + [kind for kind in method_names(MaskMethod) if args.baselines and kind not in args.methods],
            limit=args.limit,
            resume=args.resume,
            retry_failed=args.retry_failed,
            category_rule=args.category_match,
            rouge_l_package=args.rouge_l,
            settings={
                "model": args.model,
                "layer": args.layer,
                "round0": args.round0,
                "max_new_tokens": args.max_new_tokens,
                "seed": args.seed,
                # only when given: runs at the processor's defaults keep the settings they always had
                **({"preprocessing": dict(args.processor_options)} if args.processor_options else {}),
            },
            vis_dir=args.vis_dir,
            state=state,
            faithfulness=FaithfulnessOptions(
                steps=args.faithfulness_steps,
                tokens=args.faithfulness_tokens,
                fill=args.faithfulness_fill,
                batch_size=args.faithfulness_batch,
                random_order=args.baselines,
            )
            if args.faithfulness
            else None,
        ) as run:
            explainer = load(
                args.model,
                device=str(state.device),
                layer=args.layer,
                round0=args.round0,
                max_new_tokens=args.max_new_tokens,
                seed=args.seed,
                methods=[name for name in args.methods if isinstance(get_method(name), ModelMethod)],
                # a loader of one's own need not know processor options unless they are used
                **({"processor_kwargs": dict(args.processor_options)} if args.processor_options else {}),
            )
            run.add_settings(getattr(explainer, "settings", {}))  # the generation settings the model runs with
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm():  # failed samples are logged above the progress bar, not through it
                summary = run.evaluate(explainer, progress=True, batch_size=args.batch_size)
    except (DatasetError, EvaluationError, MissingNLTKDataError, ModelLoadError) as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an output that fails late (the summary on a full disk): what was written is kept
        print(f"{PROGRAM}: error: {error}; rerun with --resume to finish", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # every record appended so far is whole (tam.evaluation.results.append_record)
        print(
            f"{PROGRAM}: error: interrupted; the records written so far are kept in {results}: "
            "rerun with --resume to continue",
            file=sys.stderr,
        )
        return 2
    if summary is not None:
        print(format_table(summary))
        print(f"results: {results}\nsummary: {summary_path(results)}")
        if args.faithfulness:
            print(f"curves: {curves_path(results)}.png, .pdf")
    return 0
