"""Score one explained answer: from a :class:`TokenActivationResult` to one JSON-ready record.

The answer's tokens are grouped into words, each word sorted into noun, function word or
other and each noun matched to the sample's categories, once; then every map method's
answer maps are scored against the mask (:func:`tam.metrics.score_answer`), beside any
maps made from the mask asked for (chance and the grid's ceiling, :class:`tam.methods.MaskMethod`),
and the answer text against the references (exact match, ROUGE-L, METEOR).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from tam.evaluation.datasets import Sample
from tam.methods import MaskMethod, get_method
from tam.metrics import Word, group_words, match_category, meteor, rouge_l, score_answer, word_kind
from tam.result import TokenActivationResult

__all__ = [
    "Explainer",
    "Explanation",
    "MASK_MODES",
    "SampleError",
    "answer_token_maps",
    "answer_words",
    "read_mask",
    "score_sample",
]


class SampleError(ValueError):
    """A sample cannot be scored: no mask, an empty answer, an unreadable file."""


class Explanation(NamedTuple):
    """What an explainer returns for one sample.

    Attributes
    ----------
    result : TokenActivationResult
        Made with a tokenizer, so that ``texts`` and ``pieces`` are filled.
    answer : str
        The generated answer decoded without special tokens (scored by ROUGE-L and METEOR).
    token_scorer : callable, optional
        ``token_scorer(index)``: the probability of explained token ``index`` as a function
        of the picture (:func:`tam.evaluation.faithfulness.token_scorer`), for faithfulness.
    """

    result: TokenActivationResult
    answer: str
    token_scorer: Callable[[int], Callable[[np.ndarray], np.ndarray]] | None = None


class Explainer(Protocol):
    """Generate an answer for images and a prompt, and explain it: ``explainer(image_paths, prompt)``.

    An explainer that can generate several samples at once also has
    ``explain_batch(requests) -> list``: for each ``(image_paths, prompt)`` its
    Explanation or the error it failed with (:class:`~tam.evaluation.models.ModelExplainer`).
    """

    def __call__(self, image_paths: Sequence[str], prompt: str) -> Explanation:
        """Explain the model's answer to ``prompt`` about the images at ``image_paths``."""


def answer_token_maps(result: TokenActivationResult, method: str) -> np.ndarray:
    """Return the map scored for each answer token, as the evaluation reads them.

    In ``round0="reference"`` mode the first answer token is scored with the first
    prompt token's map, as the reference's per-round ``TAM()`` returns it for round 0
    (spec sections 3 and 8); this is how the paper's table was computed.

    Parameters
    ----------
    result : TokenActivationResult
        Of a single-image generation.
    method : str
        One of ``result.methods``.

    Returns
    -------
    ndarray of shape (N, h, w), uint8
        One map per answer token: on the image's grid where one grid covers the whole
        image (resized to the mask by the metrics, as the reference does), else in the
        picture's frame at its size (tiles placed, 0 outside a crop), so every family
        is scored where its maps lie on the mask.
    """
    layout = result.layout
    if layout.num_pictures != 1:
        raise SampleError(f"the evaluation scores one image per sample, got {layout.num_pictures} pictures")
    rows = np.arange(result.num_prompt_tokens, len(result))
    if result.options.get("round0") == "reference" and result.num_prompt_tokens:
        rows[0] = 0
    maps = result.maps_uint8(method)[rows]
    if layout.is_whole_pictures():
        (grid,) = layout.split(maps)
        return grid
    return np.rint(layout.paint(layout.split(maps), 0)).astype(np.uint8)


MASK_MODES = ("L", "P", "1", "I;16", "I;16L", "I;16B", "I")
"""Pillow modes read as label masks: 8-bit grey (``L``), palette (``P``: the palette indices are
the labels), 1-bit (labels 0 and 1), and 16-bit or 32-bit integer whose values are all at most
255. Colour masks (``RGB``...) and lossy files (JPEG, WebP) are refused: their values are
colours or compression noise, not labels."""

_LOSSY_FORMATS = ("JPEG", "MPO", "WEBP")


def read_mask(path, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a segmentation label image as a 2-D uint8 array of labels.

    8-bit grey masks read as the reference reads them (each pixel's value is its label);
    see :data:`MASK_MODES` for the other modes read. EXIF orientation is applied, as to the
    picture.

    Parameters
    ----------
    path : Path
    image_size : (width, height), optional
        The picture's size (PIL order); the mask must have the same.

    Raises
    ------
    SampleError
        The file is missing, cannot be decoded, is lossy or of a colour mode, holds values
        above 255, is over the pixel limit, or its size differs from ``image_size``; the
        message names the file.
    """
    from PIL import Image, ImageOps

    from tam.images import MAX_PIXELS

    path = Path(path)
    if not path.is_file():
        raise SampleError(f"no mask: {path} does not exist")
    try:
        with Image.open(path) as opened:
            if opened.format in _LOSSY_FORMATS:
                raise SampleError(
                    f"mask {path} is a {opened.format} file, whose compression changes the labels; "
                    "save label masks as PNG"
                )
            if opened.mode not in MASK_MODES:
                raise SampleError(
                    f"mask {path} is a {opened.mode} picture; a mask holds one label per pixel "
                    f"(modes {', '.join(MASK_MODES)}): save it as 8-bit grey"
                )
            if opened.width * opened.height > MAX_PIXELS:
                size = f"{opened.width}x{opened.height}"
                raise SampleError(f"mask {path} is {size}, over the pixel limit of {MAX_PIXELS}")
            labels = np.asarray(ImageOps.exif_transpose(opened))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        if isinstance(error, SampleError):
            raise
        raise SampleError(f"cannot read mask {path} ({error})") from None
    outside = labels[(labels < 0) | (labels > 255)] if labels.dtype.kind in "iu" else labels[:0]
    if outside.size:
        raise SampleError(f"mask {path} holds the value {int(outside[0])}; labels go from 0 to 255")
    mask = labels.astype(np.uint8)
    if image_size is not None and (mask.shape[1], mask.shape[0]) != tuple(image_size):
        width, height = image_size
        raise SampleError(
            f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its picture is {width}x{height}; "
            "a mask must cover its picture pixel for pixel"
        )
    return mask


def answer_words(
    result: TokenActivationResult, sample: Sample, category_rule: str = "whole-name"
) -> tuple[list[Word], list[str], list[int | None]]:
    """Return the answer's words, their kinds, and the mask label each noun names.

    Returns
    -------
    words : list of Word
        Token indices counted from the first answer token.
    kinds : list of {"noun", "function", "other"}
    labels : list of int or None
        The category a noun names (:func:`tam.metrics.match_category`), None otherwise.
    """
    if result.texts is None:
        raise SampleError("the result has no token texts: the explainer must pass a tokenizer to explain_generation")
    span = result.answer_slice
    words = group_words(result.texts[span], None if result.pieces is None else result.pieces[span])
    kinds = [word_kind(word.text) for word in words]
    labels = [
        match_category(word.text, sample.categories, rule=category_rule) if kind == "noun" else None
        for word, kind in zip(words, kinds, strict=True)
    ]
    return words, kinds, labels


def score_sample(
    sample: Sample,
    explanation: Explanation,
    mask: np.ndarray,
    methods: Sequence[str],
    *,
    category_rule: str = "whole-name",
    rouge_l_package: str = "rouge-score",
) -> dict:
    """Score one explained answer with every map method.

    Parameters
    ----------
    sample : Sample
    explanation : Explanation
    mask : ndarray of shape (H, W), uint8
        The sample's segmentation labels.
    methods : sequence of str
        Registered map methods (:mod:`tam.methods`): the result's, and those made from
        the mask (chance and ceiling; random maps are seeded by the sample's index).
    category_rule : {"whole-name", "reference"}
        How a noun naming several categories picks one (:func:`tam.metrics.match_category`).
    rouge_l_package : {"rouge-score", "rouge"}
        Which package computes ROUGE-L (:func:`tam.metrics.rouge_l`).

    Returns
    -------
    dict
        ``index``, ``id``, ``answer``, the answer's ``words`` with their ``kinds`` and
        category ``labels``, ``exact`` (the answer, stripped, equals a reference),
        ``rouge_l`` and ``meteor`` (all three None without references) and, per method,
        the scored words and the answer's own means (:meth:`tam.metrics.AnswerScores.to_dict`).
    """
    result, answer = explanation[:2]
    if not answer.strip():
        raise SampleError("empty answer: the model generated no text")
    words, kinds, labels = answer_words(result, sample, category_rule)
    span = result.answer_slice
    token_labels = [None] * (span.stop - span.start)
    for word, label in zip(words, labels, strict=True):
        for token in word.tokens:
            token_labels[token] = label

    def token_maps(method: str) -> np.ndarray:
        entry = get_method(method)
        if not isinstance(entry, MaskMethod):
            return answer_token_maps(result, method)
        # maps made from the mask lie on the image's grid (a tiled image: its first tile's grid over the whole image)
        grid, filter_size = result.layout.grids[0], result.options.get("filter_size", 3)
        return entry.answer_maps(token_labels, mask, grid, seed=sample.index, filter_size=filter_size)

    scores = {method: score_answer(words, kinds, labels, token_maps(method), mask).to_dict() for method in methods}
    references = [reference.strip() for reference in sample.references]
    return {
        "index": sample.index,
        "id": sample.id,
        "answer": answer,
        "words": [word.text for word in words],
        "kinds": kinds,
        "labels": labels,
        "exact": answer.strip() in references if references else None,
        "rouge_l": rouge_l(answer, sample.references, rouge_l_package) if sample.references else None,
        "meteor": meteor(answer, sample.references) if sample.references else None,
        "methods": scores,
    }
