"""Score a model's token maps on a toy data set in the COCO14 layout (README.md, "A toy world").

    python tools/score_toy.py toy-shapes /tmp/toy-heldout --json scores.json

For each scene: the COCO14 prompt, a greedy answer, its token maps (``tam.explain``);
captions are exact when the answer equals the reference caption; Obj-IoU and Func-IoU of
the shape words and function words (:mod:`tam.toy.check`) for the raw maps, ECI only,
the rank Gaussian filter only and full TAM, and for uniform and random maps of the same
answers (the chance rows). Scores are pooled over all words of the data set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

METHODS = ("raw", "eci", "rgf", "tam")
CHANCE = ("uniform", "random")
PROMPT = "Write a one-sentence caption for this image:"  # COCO14's, as eval.py asks


def parse_args(argv=None) -> argparse.Namespace:
    """Read the command line (``python tools/score_toy.py --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="toy-shapes, or a folder of a saved model")
    parser.add_argument("dataset", help="a folder in the COCO14 layout (tools/make_toy_data.py writes one)")
    parser.add_argument("--limit", type=int, help="score only the first N scenes")
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random maps")
    return parser.parse_args(argv)


def read_coco14(root: Path) -> tuple[list[tuple[Path, Path, str]], dict[str, int]]:
    """Scenes ``(image, seg label, reference caption)`` and the categories of a COCO14 folder."""
    instances = json.loads((root / "annotations" / "instances_minival2014.json").read_text(encoding="utf-8"))
    captions = json.loads((root / "annotations" / "captions_val2014.json").read_text(encoding="utf-8"))
    reference = {entry["image_id"]: entry["caption"] for entry in captions["annotations"]}
    categories = {entry["name"]: int(entry["id"]) for entry in instances["categories"]}
    scenes = []
    for image in instances["images"]:
        name = f"{int(image['id']):012d}"
        scenes.append((root / "image" / f"{name}.jpg", root / "seg_label" / f"{name}.png", reference[image["id"]]))
    return scenes, categories


def summary(object_ious: dict, function_fractions: dict, exact: int, count: int) -> dict:
    """Pooled means per method."""
    rows = {
        method: {
            "obj_iou": float(np.mean(object_ious[method])) if object_ious[method] else float("nan"),
            "func_iou": float(np.mean(function_fractions[method])) if function_fractions[method] else float("nan"),
            "shape_words": len(object_ious[method]),
            "function_words": len(function_fractions[method]),
        }
        for method in (*METHODS, *CHANCE)
    }
    return {"scenes": count, "captions_exact": exact / count, "methods": rows}


def main(argv=None) -> int:
    """Explain every scene, print the table, write the JSON summary when asked."""
    import torch
    from PIL import Image
    from tqdm import tqdm

    import tam
    from tam.models import load_model
    from tam.toy.check import chance_maps, score_maps

    args = parse_args(argv)
    torch.set_num_threads(1)
    scenes, categories = read_coco14(Path(args.dataset))
    scenes = scenes[: args.limit]
    model, processor = load_model(args.model, device="cpu")
    rng = np.random.default_rng(args.seed)
    object_ious = {method: [] for method in (*METHODS, *CHANCE)}
    function_fractions = {method: [] for method in (*METHODS, *CHANCE)}
    exact = 0
    for image, seg_label, caption in tqdm(scenes, desc="scenes", unit="scene"):
        messages = [
            {"role": "user", "content": [{"type": "image", "image": str(image)}, {"type": "text", "text": PROMPT}]}
        ]
        result = tam.explain(model, processor, messages, max_new_tokens=40)
        answer_ids = result.token_ids[result.answer_slice]
        exact += processor.tokenizer.decode(answer_ids, skip_special_tokens=True).strip() == caption
        words = result.texts[result.answer_slice]
        labels = np.asarray(Image.open(seg_label))
        grid = result.layout.grids[0]
        maps = {method: result.maps_uint8(method)[result.answer_slice].reshape(-1, *grid) for method in METHODS}
        maps |= {kind: chance_maps(kind, len(words), grid, rng) for kind in CHANCE}
        for method, method_maps in maps.items():
            ious, fractions = score_maps(method_maps, words, labels, categories)
            object_ious[method] += ious
            function_fractions[method] += fractions
    scores = summary(object_ious, function_fractions, exact, len(scenes))
    print(f"{args.model} on {len(scenes)} scenes of {args.dataset}: captions exact {scores['captions_exact']:.1%}")
    print("| maps | Obj-IoU | Func-IoU | shape words | function words |")
    print("| --- | --- | --- | --- | --- |")
    for method, row in scores["methods"].items():
        counts = f"{row['shape_words']} | {row['function_words']}"
        print(f"| {method} | {row['obj_iou']:.3f} | {row['func_iou']:.3f} | {counts} |")
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
