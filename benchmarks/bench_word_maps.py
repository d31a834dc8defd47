"""Which reduction makes the best word and phrase maps: Obj-IoU of each, on two worlds.

A word or phrase map is one reduction of its tokens' TAM maps (``mean``, ``max``,
``first``, ``weighted``; :func:`tam.words.reduce_rows`). Each is scored as the paper
scores a noun (Otsu foreground of the map resized to the mask, IoU against the mask of
its category), pooled over all scored spans. ``best token`` is the paper's own Obj-IoU:
the best of the word's tokens, chosen with the mask (an oracle, not a map one can show).

- toy world: ``toy-shapes`` on held-out scenes (seed 1) describes them itself; every
  caption word is one token, so the words' rows only check that the four reductions
  agree there, and the phrases ``a <shape>`` (a function word, then the noun) compare them;
- COCO fixture (``tests/fixtures/coco2014_mini``) with the random-weight twin
  ``tiny-qwen2-vl``: its answer is forced to ``a <category> and a <category>.`` for the
  categories in the mask (one-word names), which its 300-piece tokenizer cuts into
  several tokens per word. Its maps are noise: this row shows what chance gives.

    python benchmarks/bench_word_maps.py --scenes 60
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict

import numpy as np

from tam.metrics import best_token_overlap
from tam.result import to_uint8
from tam.words import REDUCTIONS

COLUMNS = (*REDUCTIONS, "best token")


def span_ious(result, tokens, target) -> dict[str, float]:
    """IoU of each reduction's map of ``tokens`` (and of the best single token) with ``target``."""
    (grid_shape,) = result.layout.grids  # one picture
    scores = {}
    for reduction in REDUCTIONS:
        grid = to_uint8(result.span_map(list(tokens), "tam", reduction)).reshape(1, *grid_shape)
        scores[reduction] = best_token_overlap(grid, target).iou
    token_grids = to_uint8(result.maps("tam")[list(tokens)]).reshape(len(tokens), *grid_shape)
    scores["best token"] = best_token_overlap(token_grids, target).iou
    return scores


def toy_world(count: int) -> dict[str, list[dict]]:
    """Scores of the shape words and of the phrases ``a <shape>`` on ``count`` held-out toy scenes."""
    from PIL import Image

    from tam.evaluation.datasets import load_dataset
    from tam.evaluation.models import load_explainer
    from tam.toy.scenes import write_coco14

    rows = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        dataset = load_dataset(write_coco14(folder, count, seed=1))
        explainer = load_explainer("toy-shapes", device="cpu", max_new_tokens=40)
        for sample in dataset.samples:
            result, _ = explainer([sample.image], sample.prompt)
            mask = np.asarray(Image.open(sample.mask))
            answer = [word for word in result.words if word.tokens[0] >= result.num_prompt_tokens]
            for position, word in enumerate(answer):
                label = sample.categories.get(word.text.lower())
                if label is None or not (mask == label).any():
                    continue
                rows["toy words"].append(span_ious(result, word.tokens, mask == label))
                if position and answer[position - 1].text.lower() == "a":
                    phrase = answer[position - 1].tokens + word.tokens
                    rows["toy phrases 'a <shape>'"].append(span_ious(result, phrase, mask == label))
    return rows


def coco_twin() -> dict[str, list[dict]]:
    """Scores of the category words of forced answers of the random-weight twin on the COCO fixture."""
    from PIL import Image

    from tam.evaluation.datasets import load_dataset
    from tam.models import load_model
    from tam.models.explain import explain

    model, processor = load_model("tiny-qwen2-vl", device="cpu")
    tokenizer = processor.tokenizer
    dataset = load_dataset("tests/fixtures/coco2014_mini")
    scores, lengths = [], []
    for sample in dataset.samples:
        mask = np.asarray(Image.open(sample.mask))
        present = [name for name, label in sample.categories.items() if " " not in name and (mask == label).any()]
        if not present:
            continue
        caption = " and ".join(f"a {name}" for name in present[:2]) + "."
        forced = tokenizer(caption, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        start = []

        def allowed(_batch, ids, forced=forced, start=start):
            start.append(len(ids)) if not start else None
            step = len(ids) - start[0]
            return [forced[min(step, len(forced) - 1)]]

        messages = [{"role": "user", "content": [{"type": "image", "image": str(sample.image)}]}]
        messages[0]["content"].append({"type": "text", "text": sample.prompt})
        result = explain(
            model,
            processor,
            messages,
            max_new_tokens=len(forced),
            generate_kwargs={"prefix_allowed_tokens_fn": allowed},
        )
        for word in result.words:
            label = sample.categories.get(word.text.lower().rstrip("."))
            if word.tokens[0] >= result.num_prompt_tokens and label is not None:
                scores.append(span_ious(result, word.tokens, mask == label))
                lengths.append(len(word.tokens))
    return {f"COCO fixture, tiny-qwen2-vl, category words ({np.mean(lengths):.1f} tokens each)": scores}


def main(argv=None) -> int:
    """Measure and print one table row per world."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60, help="held-out toy scenes (default: 60)")
    args = parser.parse_args(argv)
    rows = {**toy_world(args.scenes), **coco_twin()}
    print(f"| spans | n | {' | '.join(COLUMNS)} |")
    print(f"|---|---|{'---|' * len(COLUMNS)}")
    for name, scores in rows.items():
        means = [np.mean([score[column] for score in scores]) for column in COLUMNS]
        print(f"| {name} | {len(scores)} | " + " | ".join(f"{value:.3f}" for value in means) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
