"""A self-contained HTML report of one result: open it from disk, no network needed.

The page shows the picture(s) with the map of the selected word (or token, or phrase),
the prompt and the answer as clickable tokens coloured by their relevance to it, the
top-3 candidates at its first token, and every map method the result holds
(:attr:`TokenActivationResult.methods`, named by :mod:`tam.methods`). A researcher compares there:
click a word to select all of it, shift-click or drag for a phrase (its map is the
chosen reduction of its tokens' maps, :mod:`tam.words`); arrow keys step (Shift
extends), Home/End jump, Tab reaches every token; the methods side by side; an
opacity slider; JET (the paper's) or viridis colours; each selection stretched to its
maximum (the default) or one shared colour scale, the scale bar naming which; the value
under the cursor; captions naming each image or time step; a strip of small maps of every answer word; "download PNG" of
the current view. It opens on the answer's first content word.

Everything is inside the one file: the pictures as JPEG data URIs, the maps as uint8
grids (``maps_uint8``: the values the paper evaluates) compressed with zlib and
coloured in the browser with the same tables as the PNG visuals. Grids are far
smaller than one picture per token and variant (22 prompt and 40 answer tokens on a
20x27 grid take about 85 KB for all four variants, where 248 JPEG overlays would take
megabytes), and the page draws any selection in any variant at once: a 256-token
answer with four methods opens in about half a second (``benchmarks/bench_report.py``).
Token text is carried as JSON data and put into the page as text nodes, never as
markup, so a token ``<script>`` shows as text. The fonts of the PNG visuals are
embedded too, cut down to the characters shown.
"""

from __future__ import annotations

import base64
import io
import json
import os
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from tam.files import write_atomically
from tam.methods import get_method
from tam.visuals.fonts import font_subsets
from tam.visuals.overlay import jet_table, viridis_table
from tam.visuals.text import visible_lines
from tam.visuals.token_visual import candidate_labels, token_labels
from tam.words import REDUCTIONS, WORD_REDUCTION, Word, first_content_word

__all__ = ["COLOUR_MAPS", "grid_labels", "report_data", "report_html", "save_html"]

COLOUR_MAPS = {"jet": jet_table, "viridis": viridis_table}
"""The report's colour maps: JET as in the paper, and the perceptually uniform viridis."""

_DATA_MARKER = "__TAM_REPORT_DATA__"
_FONTS_MARKER = "/*__TAM_REPORT_FONTS__*/"


def _packed(values: np.ndarray) -> str:
    """Flatten uint8 values, compress them with zlib and encode them in base64."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(values, dtype=np.uint8).tobytes(), 9)).decode("ascii")


DISPLAY_CELLS = 48
"""Cells along a tiled picture's longer side in the report (:func:`display_grids`)."""

MIN_IMAGE_SIDE = 384  # small model inputs (tiny twins, 168-pixel toys) would show as thumbnails


def _jpeg_data_uri(image: np.ndarray, max_side: int) -> str:
    from PIL import Image

    picture = Image.fromarray(image)
    longer = max(picture.size)
    scale = min(max_side, max(longer, MIN_IMAGE_SIDE)) / longer
    if scale != 1:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def report_data(
    result,
    *,
    tokenizer=None,
    method: str = "tam",
    methods=None,
    unit: str = "word",
    opacity: float = 0.5,
    max_image_side: int = 768,
) -> dict:
    """Everything the report page shows, as JSON-ready values.

    Parameters
    ----------
    result : TokenActivationResult
    tokenizer : optional
        Names the candidates (see :func:`~tam.visuals.candidate_labels`).
    method : str
        The method selected when the page opens, one of ``methods``.
    methods : sequence of str, optional
        The methods the page offers, in order; by default every one of ``result.methods``.
    unit : {"word", "token"}
        What a click selects when the page opens.
    opacity : float
        Opacity of the map over the picture when the page opens, in [0, 1].
    max_image_side : int
        Pictures are scaled down to at most this many pixels on their longer side (and
        small ones up to ``MIN_IMAGE_SIDE``, or ``max_image_side`` if that is smaller).

    Returns
    -------
    dict
        ``tokens`` (text and visible lines of each of the ``T`` explained tokens),
        ``numPrompt``, ``words`` (``[first, last]`` token of each word of
        :attr:`~tam.TokenActivationResult.words`, or one per token without texts),
        ``grids`` (``[h, w]`` each), ``gridLabels`` (:func:`grid_labels`), ``images`` (data URIs),
        ``methods`` (per method offered: ``maps``, the ``(T, M)`` uint8
        maps, and ``text``, the ``(T, T)`` uint8 text relevances, row ``i`` filled left
        of ``i``; both zlib-compressed base64), ``methodNames`` (the registry's title of
        each), ``method``, ``unit`` and ``opacity`` (the opening choices), ``candidates`` (per token, up to
        three ``[text, probability]``, or None), ``reductions`` and ``reduction`` (the
        default for words), ``colourMaps`` (:data:`COLOUR_MAPS`, 256 RGB triples each) and
        ``initial`` (the first token of the answer's first content word, else the
        first answer token).
    """
    offered = list(result.methods if methods is None else dict.fromkeys(methods))
    unknown = [name for name in offered if name not in result.methods]
    if unknown or not offered:
        raise ValueError(f"`methods` must be some of the result's methods {result.methods}, got {offered}")
    if method not in offered:
        raise ValueError(f"method must be one of the result's methods {tuple(offered)}, got {method!r}")
    if unit not in ("word", "token"):
        raise ValueError(f"`unit` must be 'word' or 'token', got {unit!r}")
    if not 0 <= opacity <= 1:
        raise ValueError(f"`opacity` must be in [0, 1], got {opacity}")
    if max_image_side < 16:
        raise ValueError(f"`max_image_side` must be at least 16 pixels, got {max_image_side}")
    count = len(result)
    methods = {}
    for variant in offered:
        relevance = np.zeros((count, count), dtype=np.float64)
        for index in range(1, count):
            relevance[index, :index] = result.text_relevance(index, variant)
        methods[variant] = {
            "maps": _packed(display_maps(result, variant)),
            "text": _packed(np.clip(relevance * 255.0, 0, 255).astype(np.uint8)),
        }
    candidates = candidate_labels(result, tokenizer)
    words = result.words if result.texts is not None else [Word("", (index,)) for index in range(count)]
    return {
        "tokens": [{"text": text, "lines": visible_lines(text)} for text in token_labels(result)],
        "numPrompt": int(result.num_prompt_tokens),
        "words": [[word.tokens[0], word.tokens[-1]] for word in words],
        "grids": [list(grid) for grid in display_grids(result.layout)],
        "gridLabels": grid_labels(result.layout),
        "images": [_jpeg_data_uri(image, max_image_side) for image in result.images or []],
        "methods": methods,
        "methodNames": {name: get_method(name).title for name in offered},
        "method": method,
        "unit": unit,
        "opacity": float(opacity),
        "reductions": list(REDUCTIONS),
        "reduction": WORD_REDUCTION,
        "candidates": None
        if candidates is None
        else [[["".join(visible_lines(text)), probability] for text, probability in row] for row in candidates],
        "colourMaps": {name: table().tolist() for name, table in COLOUR_MAPS.items()},
        "initial": _initial_token(result),
    }


def display_grids(layout) -> list[tuple[int, int]]:
    """Return the grid the report draws over each picture: the model's, or a picture-shaped one when tiled.

    Where pictures are tiled, cropped or padded the report shows each picture's map
    (:meth:`~tam.layout.VisionLayout.paint`) on a grid of :data:`DISPLAY_CELLS` cells
    along the picture's longer side, which the page smooths as it does the model's grids.
    """
    if layout.is_whole_pictures():
        return list(layout.grids)
    sizes = [layout.picture_size(picture) for picture in range(layout.num_pictures)]
    return [
        (
            max(1, round(height * DISPLAY_CELLS / max(height, width))),
            max(1, round(width * DISPLAY_CELLS / max(height, width))),
        )
        for height, width in sizes
    ]


def display_maps(result, method: str) -> np.ndarray:
    """``(T, cells)`` uint8: every token's map on :func:`display_grids`, pictures one after another."""
    layout = result.layout
    if layout.is_whole_pictures():
        return result.maps_uint8(method)
    grids = layout.split(result.maps(method))
    painted = [
        # scaled and truncated as result.maps_uint8 does for the model's grids
        np.clip(layout.paint(grids, picture, size=size) * 255.0, 0, 255).astype(np.uint8).reshape(len(result), -1)
        for picture, size in enumerate(display_grids(layout))
    ]
    return np.concatenate(painted, axis=1)


def grid_labels(layout) -> list[str]:
    """Caption of each grid's picture: ``image``, ``image 2``, or ``time step 3 of 8`` (a video's slice).

    >>> from tam.layout import VisionLayout
    >>> grid_labels(VisionLayout.from_shape([(2, 2), (3, 3)])), grid_labels(VisionLayout.from_shape((2, 4, 4)))
    (['image 1', 'image 2'], ['time step 1 of 2', 'time step 2 of 2'])
    """
    count = len(layout.grids) if layout.is_whole_pictures() else layout.num_pictures
    if layout.kind == "video":
        return [f"time step {k + 1} of {count}" for k in range(count)]
    return ["image"] if count == 1 else [f"image {k + 1}" for k in range(count)]


def _initial_token(result) -> int:
    """Pick the first token of the answer's first content word (:func:`tam.words.first_content_word`)."""
    answer_start = int(result.num_prompt_tokens) % len(result)
    if result.texts is None:
        return answer_start
    answer = [word for word in result.words if word.tokens[0] >= answer_start]
    found = first_content_word(answer)
    return answer_start if found is None else answer[found].tokens[0]


def _font_faces(data: dict) -> str:
    """CSS ``@font-face`` rules of the packaged fonts, cut down to the characters the page shows."""
    shown = [line for token in data["tokens"] for line in token["lines"]]
    shown += [text for row in data["candidates"] or [] for text, _ in row]
    rules = []
    for number, (font, kind) in enumerate(font_subsets("".join(shown))):
        source = f"data:font/{'otf' if kind == 'opentype' else 'ttf'};base64,{base64.b64encode(font).decode('ascii')}"
        rules.append(
            f'@font-face {{ font-family: "tam-text-{number}"; src: url({source}) format("{kind}"); '
            "font-weight: 100 900; }"
        )
    families = ", ".join(f'"tam-text-{number}"' for number in range(len(rules)))
    rules.append(f".tokens, #token-shown, #candidates {{ font-family: {families}, system-ui, sans-serif; }}")
    return "\n".join(rules)


def report_html(result, **options) -> str:
    """Build the report page as one HTML string; ``options`` go to :func:`report_data`.

    The fonts of :mod:`tam.visuals.fonts` are embedded, cut down to the characters of
    the tokens, so any browser draws CJK, emoji and symbols without system fonts.
    """
    data = report_data(result, **options)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Inside <script>, "</script>" or "<!--" in a token would end the data early: escape < > &.
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    template = resources.files("tam.visuals").joinpath("report.html").read_text(encoding="utf-8")
    return template.replace(_FONTS_MARKER, _font_faces(data)).replace(_DATA_MARKER, payload)


def save_html(result, path: str | os.PathLike, *, overwrite: bool = False, **options) -> Path:
    """Write the report of ``result`` to ``path`` (e.g. ``out/index.html``).

    The file is written beside the target and moved into place, so a failed write
    leaves nothing half-written; an existing file is replaced only with ``overwrite``.
    ``options`` go to :func:`report_data`. Open the file in any browser; it needs no
    server and loads nothing from the network.
    """
    page = report_html(result, **options)
    return write_atomically(path, lambda staging: staging.write_text(page, encoding="utf-8"), overwrite=overwrite)
