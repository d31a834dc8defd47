"""Write the golden outputs of the reference release that the tests compare with on every run.

Run it with a clone of xmed-lab/TAM (its code is run here, never copied into this repository):

    git clone https://github.com/xmed-lab/TAM ../TAM
    python tools/make_golden.py ../TAM

It writes ``tests/fixtures/golden/`` (numbers only):

- ``maps.json`` + ``maps.npz``: for each fixed synthetic generation (one image, a large
  image, a video, several images; repeated words in every answer, so ECI's same-word rule
  is exercised) its settings, the digest of its inputs (:func:`tam.testing.generation_digest`)
  and the uint8 map that the reference's ``TAM()`` returns in every round, flattened over
  the grids in token order: ``<case>`` of shape (rounds, M).
- ``metrics.json`` + ``metrics.npz``: for fixed answers (token texts of
  :data:`tam.testing.WORD_VOCABULARY`) with fixed uint8 token maps, against masks of the COCO
  fixture, what the reference's ``evaluate()`` returns (Obj-IoU, precision and recall per
  matched noun, Func-IoU per function word, ROUGE-L of the ``rouge`` package, METEOR) and
  the words, kinds and category labels its helpers give: ``<case>`` of shape (tokens, 12, 16).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
COCO = ROOT / "tests" / "fixtures" / "coco2014_mini"
MAP_CASES = [
    {"vision_shape": shape, "seed": seed, "word_pool": 10, "num_answer": 16}
    for shape in [[4, 5], [20, 27], [3, 4, 5], [[4, 5], [3, 3]], [[6, 2], [2, 2], [3, 5]]]
    for seed in (0, 1)
]
METRIC_SEEDS = range(12)
REFERENCE_CAPTIONS = ["A man throws a frisbee to his dog on the grass.", "A dog and a man on a field."]


def vision_shape(value):
    """Turn the JSON form of a vision shape (lists) into the one tam and the reference take."""
    return [tuple(grid) for grid in value] if isinstance(value[0], list) else tuple(value)


def case_name(case: dict) -> str:
    """``image_4x5_seed0``, ``video_3x4x5_seed1``, ``images_4x5+3x3_seed0``."""
    shape = case["vision_shape"]
    if isinstance(shape[0], list):
        kind, size = "images", "+".join("x".join(map(str, grid)) for grid in shape)
    else:
        kind, size = ("video" if len(shape) == 3 else "image"), "x".join(map(str, shape))
    return f"{kind}_{size}_seed{case['seed']}"


def blank_vision_input(shape):
    """Stand-in pictures in the form the reference's ``TAM()`` takes for each kind of shape (it only draws them)."""
    image = np.zeros((28, 28, 3), np.uint8)
    if isinstance(shape, list):
        return [image] * len(shape)
    return [[image] * shape[0]] if len(shape) == 3 else image


def reference_maps(reference, case: dict) -> tuple[str, np.ndarray]:
    """(input digest, uint8 maps of shape (rounds, M)) of the reference's ``TAM()`` on one generation."""
    from tam.testing import generation_digest, make_generation

    shape = vision_shape(case["vision_shape"])
    generation = make_generation(shape, seed=case["seed"], word_pool=case["word_pool"], num_answer=case["num_answer"])
    answer = generation.tokens[-case["num_answer"] :]
    if len(set(answer)) == len(answer):
        raise SystemExit(f"make_golden.py: error: case {case_name(case)} repeats no answer word; pick another seed")
    logits = generation.logits()
    records, rounds = [], []
    for round_index in range(len(logits)):
        maps = reference.TAM(
            generation.tokens,
            shape,
            logits,
            generation.special_ids,
            blank_vision_input(shape),
            generation.processor,
            "",
            round_index,
            records,
            True,
        )
        rounds.append(np.concatenate([m.ravel() for m in maps]) if isinstance(maps, list) else maps.ravel())
    return generation_digest(generation), np.stack(rounds).astype(np.uint8)


def reference_labels(reference, words: list[str], categories: dict) -> tuple[list[str], list[int]]:
    """Return the reference's kind of each word and its label: category id, -1 other noun, -2 function, -3 other."""
    kinds, labels = [], []
    for word in words:
        kind = reference.get_word_type(word)
        matches = [v for k, v in categories.items() if kind == "noun" and reference.words_match(k, word)]
        kinds.append(kind)
        labels.append(matches[-1] if matches else {"noun": -1, "function": -2}.get(kind, -3))
    return kinds, labels


def metric_case(reference, seed: int, images: list, categories: dict) -> tuple[dict, np.ndarray]:
    """One fixed answer with fixed maps against a fixture mask, and what the reference's ``evaluate()`` makes of it."""
    import cv2

    from tam.testing import WORD_VOCABULARY, WordProcessor, blob_maps

    rng = np.random.default_rng(seed)
    image = images[seed % len(images)]
    mask_name = f"{image['id']:012d}.png"
    present = set(np.unique(cv2.imread(str(COCO / "seg_label" / mask_name), cv2.IMREAD_GRAYSCALE)).tolist())
    while True:
        ids = [0, *rng.integers(1, len(WORD_VOCABULARY), size=int(rng.integers(8, 20))).tolist()]
        words, token_groups = reference.ids_to_word_groups([ids], WordProcessor())
        kinds, labels = reference_labels(reference, words, categories)
        # The reference merges unrelated entries when two consecutive words name a category absent from the mask.
        if not any(a > 0 and a == b and a not in present for a, b in zip(labels, labels[1:], strict=False)):
            break
    maps = blob_maps(rng, len(ids))
    obj, func, rouge_l, meteor, precision, recall = reference.evaluate(
        list(maps), [ids], WordProcessor(), REFERENCE_CAPTIONS, str(COCO / "seg_label" / mask_name), categories
    )
    case = {
        "seed": seed,
        "mask": mask_name,
        "texts": [WORD_VOCABULARY[i] for i in ids],
        "references": REFERENCE_CAPTIONS,
        "words": words,
        "word_tokens": token_groups,
        "kinds": kinds,
        "labels": labels,
        "obj_iou": [float(v) for v in obj],
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "func_iou": [float(v) for v in func],
        "rouge_l": float(rouge_l[0]),
        "meteor": float(meteor[0]),
    }
    return case, maps


def load_reference(folder: Path, name: str):
    """Import the reference's ``tam.py`` or ``eval.py``, with its import-time NLTK download turned off."""
    import nltk

    from tam.testing import load_reference_module

    download, nltk.download = nltk.download, lambda *args, **kwargs: False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_reference_module(folder, name)
    finally:
        nltk.download = download


def main(argv=None) -> int:
    """Write ``tests/fixtures/golden/`` from the reference release in ``reference_dir``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference_dir", type=Path, help="a clone of github.com/xmed-lab/TAM")
    args = parser.parse_args(argv)
    if not (args.reference_dir / "tam.py").is_file() or not (args.reference_dir / "eval.py").is_file():
        parser.error(f"{args.reference_dir} holds no tam.py and eval.py; give a clone of xmed-lab/TAM")
    GOLDEN.mkdir(parents=True, exist_ok=True)

    reference_tam = load_reference(args.reference_dir, "tam")
    map_cases, map_arrays = [], {}
    for case in MAP_CASES:
        digest, maps = reference_maps(reference_tam, case)
        map_cases.append({"name": case_name(case), **case, "inputs_sha256": digest})
        map_arrays[case_name(case)] = maps
        print(f"{case_name(case)}: {maps.shape[0]} rounds of {maps.shape[1]} cells", file=sys.stderr)
    np.savez_compressed(GOLDEN / "maps.npz", **map_arrays)
    (GOLDEN / "maps.json").write_text(json.dumps({"cases": map_cases}, indent=1) + "\n")

    reference_eval = load_reference(args.reference_dir, "eval")
    annotations = json.loads((COCO / "annotations" / "instances_minival2014.json").read_text())
    categories = {c["name"]: c["id"] for c in annotations["categories"]}
    metric_cases, metric_arrays = [], {}
    for seed in METRIC_SEEDS:
        case, maps = metric_case(reference_eval, seed, annotations["images"], categories)
        metric_cases.append({"name": f"answer_seed{seed}", **case})
        metric_arrays[f"answer_seed{seed}"] = maps
        print(f"answer_seed{seed}: {len(case['words'])} words, {len(case['obj_iou'])} objects", file=sys.stderr)
    np.savez_compressed(GOLDEN / "metrics.npz", **metric_arrays)
    (GOLDEN / "metrics.json").write_text(json.dumps({"cases": metric_cases}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
