"""Train ``toy-shapes``: a tiny real Qwen2-VL that captions scenes of coloured shapes (docs/toy-world.md).

    python tools/train_toy.py --out tam/toy/toy-shapes

Two phases, one fixed seed, on the CPU: first captions only (next-token loss on the
caption), then captions plus the alignment loss: every vision position's ``lm_head``
logits are trained toward the word of the shape that its 14 x 14 pixel cell shows
(the cell's majority label in the scene's mask), or toward the padding token on the
background, and every shape word's logit is pushed above zero where its shape is and
below zero elsewhere. Images are 168 px, patches 7 px, merged 2 x 2: a 12 x 12 grid.
The phase-1 model can be kept (``--caption-only-out``) to reproduce the finding that
captions alone do not align the vision states with the words.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from tam.models.twins import qwen_processor
from tam.toy.scenes import CATEGORIES, COLOURS, PROMPTS, SIDE, caption_of, draw_scene

PATCH = 7  # pixels per ViT patch side
MERGE = 2  # patches per vision token side
CELL = PATCH * MERGE  # pixels per vision token side
GRID = SIDE // CELL  # vision tokens per side
BACKGROUND_TOKEN = "<|endoftext|>"  # the alignment target of background cells: never in an answer


def parse_args(argv=None) -> argparse.Namespace:
    """Read the command line (``python tools/train_toy.py --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the trained model and its processor")
    parser.add_argument("--caption-steps", type=int, default=300, help="phase 1: steps of caption loss only")
    parser.add_argument("--align-steps", type=int, default=4500, help="phase 2: steps of caption + alignment loss")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of AdamW")
    parser.add_argument("--align-weight", type=float, default=1.0, help="weight of the alignment loss in phase 2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is steadier on shared cores)")
    parser.add_argument("--caption-only-out", help="also save the model at the end of phase 1 here")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    return parser.parse_args(argv)


def vocabulary_corpus() -> list[str]:
    """Sentences for the tokenizer: every caption word, the prompts and the chat template's words, often."""
    sentences = [caption_of([category]) for category in CATEGORIES] + [caption_of(list(CATEGORIES))]
    sentences += [" ".join(COLOURS)]
    sentences += list(PROMPTS) + ["system You are a helpful assistant. user assistant"]
    return sentences * 50


def build_processor():
    """Qwen2-VL's real processor for 168 px images in 7 px patches, around a tokenizer of the toy words."""
    return qwen_processor(
        "qwen2-vl", max_tokens=GRID * GRID, patch_size=PATCH, corpus=vocabulary_corpus(), vocab_size=400
    )


def build_model(tokenizer):
    """Build a freshly initialised ``Qwen2VLForConditionalGeneration`` of about a million parameters."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    special = [i for i in tokenizer.all_special_ids if i != tokenizer.eos_token_id]
    names = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    image, video, start, end = tokenizer.convert_tokens_to_ids(list(names))
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": 2,
        "embed_dim": 64,
        "num_heads": 4,
        "mlp_ratio": 2,
        "hidden_size": 128,
        "patch_size": PATCH,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": 2,
    }
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=image,
        video_token_id=video,
        vision_start_token_id=start,
        vision_end_token_id=end,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.suppress_tokens = special
    model.generation_config.do_sample = False
    return model


def cell_targets(labels: np.ndarray, word_ids: dict[int, int], background_id: int) -> np.ndarray:
    """Alignment target of each vision token: the word of its cell's majority label.

    Parameters
    ----------
    labels : ndarray of shape (SIDE, SIDE), uint8
        Category id per pixel, 0 for the background.
    word_ids : dict of int to int
        Category id -> token id of its word.
    background_id : int
        Token id that background cells are trained toward.

    Returns
    -------
    ndarray of shape (GRID * GRID,), int64
        Row-major over the grid, the order of the vision tokens.
    """
    cells = labels.reshape(GRID, CELL, GRID, CELL).transpose(0, 2, 1, 3).reshape(GRID * GRID, CELL * CELL)
    counts = np.stack([(cells == value).sum(axis=1) for value in range(max(CATEGORIES.values()) + 1)], axis=1)
    majority = counts.argmax(axis=1)
    lookup = np.array([background_id] + [word_ids[value] for value in range(1, counts.shape[1])], dtype=np.int64)
    return lookup[majority]


class Batches:
    """Seeded training batches: processor inputs, caption labels and alignment targets."""

    def __init__(self, processor, seed: int):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.rng = np.random.default_rng(seed)
        self.image_token_id = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.word_ids = {value: self._word_id(name) for name, value in CATEGORIES.items()}
        self.background_id = self.tokenizer.convert_tokens_to_ids(BACKGROUND_TOKEN)
        self.prompt_texts = [
            processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}],
                add_generation_prompt=True,
            )
            for prompt in PROMPTS
        ]

    def _word_id(self, word: str) -> int:
        ids = self.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"the tokenizer splits {word!r} into {len(ids)} tokens; the toy words must be whole")
        return ids[0]

    def next(self, batch_size: int) -> dict:
        """Draw ``batch_size`` scenes and return the model's inputs with ``labels`` and ``align_labels``."""
        from PIL import Image

        rows, pixel_values, grids = [], [], []
        for _ in range(batch_size):
            scene = draw_scene(self.rng)
            text = self.prompt_texts[self.rng.integers(len(self.prompt_texts))]
            inputs = self.processor(text=[text], images=[Image.fromarray(scene.image)], return_tensors="pt")
            prompt_ids = inputs["input_ids"][0]
            answer_ids = self.tokenizer(scene.caption + self.tokenizer.eos_token, add_special_tokens=False)["input_ids"]
            ids = torch.cat([prompt_ids, torch.tensor(answer_ids)])
            labels = torch.full_like(ids, -100)
            labels[len(prompt_ids) :] = torch.tensor(answer_ids)  # the model shifts labels itself
            align = torch.full_like(ids, -100)
            vision = ids == self.image_token_id
            align[vision] = torch.from_numpy(cell_targets(scene.labels, self.word_ids, self.background_id))
            token_types = torch.zeros_like(ids)
            token_types[: len(prompt_ids)] = inputs["mm_token_type_ids"][0]
            rows.append((ids, labels, align, token_types))
            pixel_values.append(inputs["pixel_values"])
            grids.append(inputs["image_grid_thw"])
        length = max(len(row[0]) for row in rows)
        pad = self.tokenizer.pad_token_id

        def padded(index: int, value: int) -> torch.Tensor:
            return torch.stack(
                [torch.nn.functional.pad(r[index], (0, length - len(r[index])), value=value) for r in rows]
            )

        input_ids = padded(0, pad)
        attention_mask = torch.stack([torch.arange(length) < len(r[0]) for r in rows]).long()
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "mm_token_type_ids": padded(3, 0),
            "pixel_values": torch.cat(pixel_values),
            "image_grid_thw": torch.cat(grids),
            "labels": padded(1, -100),
            "align_labels": padded(2, -100),
        }


def losses(model, batch: dict, shape_word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Caption loss (next token, on the answer) and alignment loss (own position, on the vision tokens).

    The alignment loss is the cross-entropy of each vision position's logits against its
    cell's word, plus a per-word logistic loss on the shape words' logits (positive for
    the cell's shape, negative for the others): the raw map is ``max(0, logit)``, so a
    shape word's logit must also be below zero where its shape is not.
    """
    inputs = {key: value for key, value in batch.items() if key not in ("labels", "align_labels")}
    logits = model(**inputs).logits.float()
    vocab = logits.shape[-1]
    caption = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, vocab), batch["labels"][:, 1:].reshape(-1), ignore_index=-100
    )
    vision = batch["align_labels"] != -100
    targets = batch["align_labels"][vision]
    vision_logits = logits[vision]
    shown = (targets[:, None] == shape_word_ids[None, :]).float()
    align = torch.nn.functional.cross_entropy(vision_logits, targets) + (
        torch.nn.functional.binary_cross_entropy_with_logits(vision_logits[:, shape_word_ids], shown)
    )
    return caption, align


def learning_rate(step: int, total: int, peak: float, warmup: int = 100) -> float:
    """Linear warm-up then cosine decay to a tenth of ``peak``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def save(model, processor, folder: Path, overwrite: bool, info: dict) -> None:
    """Write the model in float16 safetensors, its processor and how it was trained."""
    if (folder / "config.json").exists() and not overwrite:
        raise FileExistsError(f"{folder} already holds a model; pass --overwrite or another --out")
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    model.to(torch.float32)
    processor.save_pretrained(folder)
    (folder / "training.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    """Train, print the losses as it goes, save the model(s)."""
    from tqdm import tqdm

    args = parse_args(argv)
    out = Path(args.out)
    if (out / "config.json").exists() and not args.overwrite:
        raise SystemExit(f"train_toy.py: error: {out} already holds a model; pass --overwrite or another --out")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    processor = build_processor()
    model = build_model(processor.tokenizer).train()
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    batches = Batches(processor, args.seed)
    shape_word_ids = torch.tensor(list(batches.word_ids.values()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = args.caption_steps + args.align_steps
    started = time.time()
    info = {"args": {k: v for k, v in vars(args).items() if k not in ("out", "caption_only_out", "overwrite")}}
    progress = tqdm(range(total), desc="training", unit="step")
    for step in progress:
        if step == args.caption_steps and args.caption_only_out:
            save(model, processor, Path(args.caption_only_out), args.overwrite, {**info, "phase": "captions only"})
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total, args.lr)
        caption, align = losses(model, batches.next(args.batch_size), shape_word_ids)
        aligning = step >= args.caption_steps
        loss = caption + args.align_weight * align if aligning else caption
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        progress.set_postfix(phase=2 if aligning else 1, caption=f"{caption.item():.3f}", align=f"{align.item():.3f}")
    info["minutes"] = round((time.time() - started) / 60, 1)
    save(model.eval(), processor, out, args.overwrite, {**info, "phase": "captions then alignment"})
    print(f"trained {total} steps in {info['minutes']} min; saved to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
