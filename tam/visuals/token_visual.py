"""One picture per explained token: maps over the pictures above the coloured text.

The layout follows the reference release (spec section 7) without TeX: the JET map
blended with each image or frame, side by side; below, every earlier token coloured by
its relevance to the explained token (JET), the explained token white on black, later
tokens grey, and the top-3 candidates for the explained token's position with their
probabilities over the whole vocabulary.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tam.files import write_atomically
from tam.visuals.overlay import jet_colours, overlay_panels
from tam.visuals.text import draw_text_block, layout_text, visible_lines
from tam.words import WORD_REDUCTION

__all__ = [
    "LATER_TOKEN_GREY",
    "candidate_labels",
    "draw_token_visual",
    "render_span_visual",
    "render_token_visual",
    "save_picture",
    "save_span_visual",
    "save_token_visual",
    "save_token_visuals",
    "token_labels",
]

LATER_TOKEN_GREY = (190, 190, 190)
"""RGB colour of the tokens after the explained one."""

_LABEL_COLOUR = (70, 70, 70)
_MIN_TEXT_WIDTH = 400


def check_index(result, index: int) -> int:
    """Return ``index`` as a non-negative explained-token index, or raise ``IndexError``."""
    count = len(result)
    if not -count <= int(index) < count:
        raise IndexError(f"token `index` must be in [{-count}, {count}) for this result of {count} tokens, got {index}")
    return int(index) % count


def token_labels(result) -> list[str]:
    """Text of every explained token: ``result.texts``, or ``[id]`` when it has none."""
    if result.texts is not None:
        return list(result.texts)
    return [f"[{int(token)}]" for token in result.token_ids]


def candidate_labels(result, tokenizer=None) -> list[list[tuple[str, float]]] | None:
    """Text and vocabulary probability of the top-3 candidates of every explained token.

    Parameters
    ----------
    result : TokenActivationResult
    tokenizer : optional
        Its ``decode([id])`` names the candidates. Without it a candidate takes the
        text of an explained token with the same id, else ``[id]``.

    Returns
    -------
    list (one per explained token) of list of (str, float), or None
        ``None`` when the result has no candidates.
    """
    if result.candidates is None:
        return None
    return [_token_candidates(result, index, tokenizer) for index in range(len(result))]


def _token_candidates(result, index: int, tokenizer) -> list[tuple[str, float]] | None:
    """:func:`candidate_labels` of one token (decodes three ids, not all of them)."""
    candidates = result.candidates
    if candidates is None:
        return None
    named = []
    for token, probability in zip(candidates.ids[index], candidates.probabilities[index], strict=True):
        token = int(token)
        if tokenizer is not None:
            name = tokenizer.decode([token])
        else:
            matches = np.flatnonzero(result.token_ids == token)
            name = token_labels(result)[matches[0]] if len(matches) else f"[{token}]"
        named.append((name, float(probability)))
    return named


def draw_token_visual(
    pictures,
    grids,
    texts,
    relevance,
    index: int | range,
    *,
    candidates=None,
    answer_start: int | None = None,
    font_size: int = 18,
    panel_height: int | None = None,
    text_width: int = 800,
) -> np.ndarray:
    """Draw one explained token from arrays: its map over each picture above the coloured text.

    Parameters
    ----------
    pictures : sequence of ndarray of shape (H, W, 3), uint8, RGB, or None
        One per grid; ``None`` draws the text only.
    grids : sequence of ndarray of shape (h, w), float in [0, 1], or None
        The token's map on each picture.
    texts : sequence of str
        Every token of the line, decoded.
    relevance : ndarray of shape (first,), float in [0, 1]
        Relevance of each token before the explained one(s), coloured with JET.
    index : int or range
        The explained token among ``texts``, or the consecutive tokens of a word or
        phrase (``first = index.start``), drawn white on black; later ones are grey.
    candidates : sequence of (str, float), optional
        Candidate next tokens with their probability, listed below the text.
    answer_start : int, optional
        Token that starts a new line (the first answer token).
    font_size : int, default 18
        Text size in pixels.
    panel_height : int, optional
        Height of the map panels; by default the first picture's height.
    text_width : int, default 800
        Width of the picture when there are no pictures.

    Returns
    -------
    ndarray of shape (H_out, W_out, 3), uint8, RGB
        ``W_out`` is the width of the panels side by side (at least 400); ``H_out`` their
        height plus the text block's, which grows with the number of lines.
    """
    texts = tuple(texts)
    selected = index if isinstance(index, range) else range(int(index), int(index) + 1)
    if not selected or selected.step != 1 or not 0 <= selected.start < selected.stop <= len(texts):
        raise IndexError(f"`index` must be in [0, {len(texts)}) for {len(texts)} texts, got {index}")
    first = selected.start
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.shape != (first,):
        raise ValueError(f"`relevance` must hold one value per earlier token, shape ({first},), got {relevance.shape}")
    panels = None if pictures is None else overlay_panels(pictures, grids, height=panel_height)
    width = max(_MIN_TEXT_WIDTH, text_width if panels is None else panels.shape[1])
    line_width = width - 20

    colours = np.empty((len(texts), 3), dtype=np.uint8)
    colours[:first] = jet_colours(relevance)
    colours[first:] = LATER_TOKEN_GREY
    breaks = frozenset({answer_start}) if answer_start is not None and 0 < answer_start < len(texts) else frozenset()
    paragraphs = [(layout_text(texts, line_width, font_size, breaks), colours, selected)]
    if candidates:
        label = [f"{word} " for word in "Top-3 candidates (probability over the vocabulary):".split()]
        named = [f" \u201c{''.join(visible_lines(text))}\u201d {probability:.1%} " for text, probability in candidates]
        items = label + named
        item_colours = np.vstack([[_LABEL_COLOUR] * len(label), jet_colours([p for _, p in candidates])])
        paragraphs.append((layout_text(tuple(items), line_width, font_size), item_colours, None))

    text = draw_text_block(paragraphs, width)
    if panels is None:
        return text
    if panels.shape[1] < width:
        padding = width - panels.shape[1]
        panels = np.pad(panels, ((0, 0), (padding // 2, padding - padding // 2), (0, 0)), constant_values=255)
    return np.concatenate([panels, text], axis=0)


def render_token_visual(
    result,
    index: int,
    method: str = "tam",
    *,
    tokenizer=None,
    font_size: int = 18,
    panel_height: int | None = None,
    text_width: int = 800,
) -> np.ndarray:
    """Draw explained token ``index`` of a result: its map over each picture above the coloured text.

    Parameters
    ----------
    result : TokenActivationResult
    index : int
        Explained token (prompt tokens first, then answer tokens; negative counts from the end).
    method : str
        Which maps and text relevances to show: one of ``result.methods`` (:mod:`tam.methods`).
    tokenizer : optional
        Names the candidates (see :func:`candidate_labels`).
    font_size, panel_height, text_width
        As in :func:`draw_token_visual`.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8, RGB
        See :func:`draw_token_visual`; the answer starts on a new line.
    """
    options = {"tokenizer": tokenizer, "font_size": font_size, "panel_height": panel_height, "text_width": text_width}
    return render_span_visual(result, check_index(result, index), method, **options)


def save_token_visual(
    result, index: int, path: str | os.PathLike, method: str = "tam", *, overwrite: bool = False, **options
) -> Path:
    """Write :func:`render_token_visual` of token ``index`` to ``path`` (format from the suffix).

    The file is written beside the target and moved into place, so a failed write
    leaves nothing half-written; an existing file is replaced only with ``overwrite``.
    ``options`` go to :func:`render_token_visual`.
    """
    return save_picture(render_token_visual(result, index, method, **options), path, overwrite=overwrite)


def render_span_visual(
    result,
    span,
    method: str = "tam",
    *,
    reduction: str = WORD_REDUCTION,
    tokenizer=None,
    font_size: int = 18,
    panel_height: int | None = None,
    text_width: int = 800,
) -> np.ndarray:
    """Draw a word, phrase or sentence of a result: its map over each picture above the text.

    Parameters
    ----------
    result : TokenActivationResult
    span : Span, str, int, or sequence of int or of Span
        See :meth:`~tam.TokenActivationResult.span_tokens` (``result.words[5]``, ``"red circle"``).
    method : str
        Whose maps and text relevances.
    reduction : {"mean", "max", "first", "weighted"}
        How the tokens' maps and text relevances become one (:func:`tam.words.reduce_rows`).
    tokenizer : optional
        Names the candidates of a one-token span (longer spans show none).
    font_size, panel_height, text_width
        As in :func:`draw_token_visual`.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8, RGB
        See :func:`draw_token_visual`: the span's tokens are white on black.
    """
    tokens = result.span_tokens(span)
    if tokens[-1] - tokens[0] + 1 != len(tokens):
        raise ValueError(f"a span to draw must be consecutive tokens, got {tokens}")
    return draw_token_visual(
        result.images,
        result.layout.picture_maps(result.span_map(tokens, method, reduction)) if result.images else None,
        token_labels(result),
        result.span_text_relevance(tokens, method, reduction),
        range(tokens[0], tokens[-1] + 1),
        candidates=_token_candidates(result, tokens[0], tokenizer) if len(tokens) == 1 else None,
        answer_start=result.num_prompt_tokens,
        font_size=font_size,
        panel_height=panel_height,
        text_width=text_width,
    )


def save_picture(picture: np.ndarray, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an RGB picture to ``path`` (format from the suffix), whole or not at all."""
    from PIL import Image

    image = Image.fromarray(picture)
    # Fast PNG compression: level 6 (Pillow's default) takes 25 times as long as drawing, for 15% less.
    settings = {".png": {"compress_level": 1}, ".jpg": {"quality": 90}, ".jpeg": {"quality": 90}}
    extra = settings.get(Path(path).suffix.lower(), {})
    return write_atomically(path, lambda staging: image.save(staging, **extra), overwrite=overwrite)


def save_span_visual(
    result, span, path: str | os.PathLike, method: str = "tam", *, overwrite: bool = False, **options
) -> Path:
    """Write :func:`render_span_visual` of ``span`` to ``path``; ``options`` go to it."""
    return save_picture(render_span_visual(result, span, method, **options), path, overwrite=overwrite)


def save_token_visuals(
    result,
    directory: str | os.PathLike,
    method: str = "tam",
    *,
    suffix: str = ".jpg",
    overwrite: bool = False,
    **options,
) -> list[Path]:
    """Write the visual of every answer token to ``directory/<index>.jpg``; return the paths.

    ``index`` counts explained tokens (prompt tokens first), as everywhere in tam.
    """
    directory = Path(directory)
    return [
        save_token_visual(result, index, directory / f"{index:04d}{suffix}", method, overwrite=overwrite, **options)
        for index in range(result.num_prompt_tokens, len(result))
    ]
