"""``TAM()``: the reference release's call, for code written against the seed README.

Same arguments, same return value: the uint8 map(s) of one generation round, computed
from full logits, with the caller-owned ``img_scores_list`` carrying the raw maps that
estimated causal inference needs from one call to the next. Its numbers follow the
reference release, quirks included (spec section 3):

- round 0 explains every prompt token and returns the map of the first prompt slot,
  whose class is the greedy prediction at that slot;
- the first answer token is explained with the class of the last input token;
- token texts for the same-word rule of ECI come from decoding and re-tokenising;
- each prompt token is normalised together with all prompt slots.

What differs, on purpose: a missing marker raises :class:`~tam.errors.SpanError`
instead of indexing -1; a flat map or window gives zeros or the window value instead
of NaN; a token whose every earlier token has the same text skips ECI instead of
crashing; ``eval_only=True`` writes nothing. The visual written to ``save_fn`` is drawn
by :func:`tam.visuals.draw_token_visual` instead of XeLaTeX: each token's own decoded
text, later tokens grey, and candidate probabilities over the whole vocabulary (the
reference renormalises them over the top 3). Use :func:`tam.explain_generation` for
new code: it computes every round at once, without full logits.
"""

from __future__ import annotations

import numpy as np
import torch

from tam.causal import estimated_causal_inference
from tam.layout import VisionLayout
from tam.methods import postprocess
from tam.result import to_uint8
from tam.spans import locate_spans

__all__ = ["TAM"]


def TAM(  # noqa: N802 - the reference's name, kept for porting
    tokens,
    vision_shape,
    logit_list,
    special_ids,
    vision_input,
    processor,
    save_fn,
    target_token,
    img_scores_list,
    eval_only=False,
):
    """Token activation map of one generation round, as the reference release computes it.

    Parameters
    ----------
    tokens : list of int
        Input followed by generated ids.
    vision_shape : (h, w), (t, h, w) or list of (h, w)
        Grid(s) of the vision tokens.
    logit_list : list of Tensor
        Logits per generation round: ``[1, L0, V]`` then ``[1, 1, V]`` per new token.
    special_ids : dict
        Marker ids (see :mod:`tam.spans`).
    vision_input : image(s) or frames
        RGB pictures for the visual: a PIL image or (H, W, 3) uint8 array; a list of
        them for several images; ``[frames]`` for a video (one frame per temporal
        slice is drawn).
    processor : transformers processor
        Its ``batch_decode`` and ``tokenizer.tokenize`` give the token texts.
    save_fn : str
        Where the visual of the explained answer token is written (as the reference,
        not for the last token, and never with ``eval_only``); ``""`` for none.
    target_token : int or (0, int)
        Round to explain; ``(0, j)`` explains prompt token ``j`` (used by round 0).
    img_scores_list : list
        Raw maps of the tokens explained so far; start each generation with ``[]``.
    eval_only : bool
        Evaluation only: nothing is written.

    Returns
    -------
    ndarray of uint8, shape (h, w) for an image or (t, h, w) for a video; for several
    images a list of (h, w) arrays.
    """
    ids = [int(t) for t in (tokens.tolist() if isinstance(tokens, torch.Tensor) else tokens)]
    spans = locate_spans(ids, special_ids)
    layout = VisionLayout.from_shape(vision_shape)
    input_length = logit_list[0].shape[1]
    texts = _retokenize(processor, ids[spans.prompt[0] : spans.prompt[-1] + 1] if len(spans.prompt) else [])
    num_prompt_texts = len(texts)
    texts += _retokenize(processor, ids[spans.answer_start :])

    if isinstance(target_token, int):
        round_index = target_token
        if round_index == 0:
            maps = [
                TAM(
                    ids,
                    vision_shape,
                    logit_list,
                    special_ids,
                    vision_input,
                    processor,
                    save_fn if slot == num_prompt_texts else "",
                    (0, slot),
                    img_scores_list,
                    eval_only,
                )
                for slot in range(num_prompt_texts + 1)
            ]
            return maps[0]
        class_id = ids[spans.answer_start + round_index]
        explained = num_prompt_texts + round_index
    else:
        round_index, slot = target_token
        explained = slot
        if slot == num_prompt_texts:
            class_id = ids[input_length - 1]
        elif slot == 0:
            class_id = int(logit_list[0][0, spans.prompt[0]].argmax())
        else:
            class_id = ids[spans.prompt[0] + slot]

    scores = torch.cat([logit_list[r][0, :, class_id] for r in range(round_index + 1)]).float()
    scores = scores.clamp(min=0).detach().cpu().numpy()
    text_scores = np.concatenate(
        [scores[spans.prompt], scores[input_length - 1 : input_length], scores[spans.answer_start :]]
    )
    vision = scores[spans.vision]
    img_scores_list.append(vision)

    if len(img_scores_list) > 1 and explained < len(texts):
        context = [i for i in range(explained) if texts[i] != texts[explained]]
        if context:
            history = np.stack([img_scores_list[i] for i in context])
            cleaned, _ = estimated_causal_inference(
                vision[None], history, text_scores[context][None], np.ones((1, len(context)), dtype=bool)
            )
            vision = cleaned[0]

    own_slot_dropped = text_scores[:-1]
    final, text_relevance = postprocess(
        vision[None], own_slot_dropped[None], np.ones((1, len(own_slot_dropped)), dtype=bool), layout, filtered=True
    )
    # Only answer tokens get a visual: round 0 passes save_fn to its first answer slot alone.
    if save_fn and not eval_only and explained == num_prompt_texts + round_index:
        _save_visual(
            save_fn,
            vision_input,
            layout,
            final,
            text_relevance[0],
            processor,
            ids[spans.prompt[0] : spans.prompt[-1] + 1] if len(spans.prompt) else [],
            ids[spans.answer_start :],
            round_index,
            logit_list[round_index][0, -1],
        )
    grids = [grid[0] for grid in layout.split(to_uint8(final))]
    if layout.kind == "image":
        return grids[0]
    if layout.kind == "video":
        return np.stack(grids)
    return grids


def _retokenize(processor, ids: list[int]) -> list[str]:
    """Token texts the reference's way: decode the ids, then tokenise the text again."""
    text = processor.batch_decode([ids], skip_special_tokens=False, clean_up_tokenization_spaces=False)[0]
    return processor.tokenizer.tokenize(text)


def _save_visual(path, vision_input, layout, maps, relevance, processor, prompt_ids, answer_ids, round_index, logits):
    """Write answer token ``round_index``'s visual to ``path``, as the reference's ``TAM()`` does.

    ``maps`` is the final map, shape (1, M), in [0, 1]; ``relevance`` the normalised
    text scores. Token texts are each id decoded on its own, so they line up with the
    relevance slots; the last generated token gets no visual (as in the reference).
    """
    from tam.files import write_atomically
    from tam.visuals import draw_token_visual

    ids = [*prompt_ids, *answer_ids]
    explained = len(prompt_ids) + round_index
    if explained >= len(ids) - 1:
        return
    texts = processor.batch_decode([[token] for token in ids], skip_special_tokens=False)
    probabilities, candidates = torch.softmax(logits.detach().float().cpu(), dim=-1).topk(3)
    names = processor.batch_decode([[int(token)] for token in candidates], skip_special_tokens=False)
    pictures = _pictures(vision_input, layout)
    picture = draw_token_visual(
        pictures,
        [grid[0] for grid in layout.split(maps)],
        texts,
        relevance[:explained],
        explained,
        candidates=list(zip(names, probabilities.tolist(), strict=True)),
        answer_start=len(prompt_ids),
        panel_height=round(500 * pictures[0].shape[0] / pictures[0].shape[1]),  # 500 wide, as the reference
    )

    def write(staging):
        from PIL import Image

        Image.fromarray(picture).save(staging)

    write_atomically(path, write, overwrite=True)


def _pictures(vision_input, layout: VisionLayout) -> list[np.ndarray]:
    """One (H, W, 3) uint8 RGB picture per grid from the reference's ``vision_input``."""
    if layout.kind == "image":
        items = [vision_input]
    elif layout.kind == "images":
        items = list(vision_input)
    else:
        frames = list(vision_input[0])
        items = [frames[k * len(frames) // len(layout.grids)] for k in range(len(layout.grids))]
    pictures = []
    for item in items:
        picture = np.asarray(item.convert("RGB") if hasattr(item, "convert") else item)
        if picture.ndim == 4 and picture.shape[0] == 1:
            picture = picture[0]
        if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
            raise ValueError(
                f"vision_input must hold RGB pictures, (H, W, 3) uint8 arrays or PIL images, to draw the visual; "
                f"got shape {picture.shape}, dtype {picture.dtype}"
            )
        pictures.append(picture)
    if len(pictures) != len(layout.grids):
        raise ValueError(f"vision_input holds {len(pictures)} pictures for {len(layout.grids)} grids")
    return pictures
