"""Figures for papers: chosen words' maps, method by method, above their coloured text.

A figure is a grid: one column per word (or phrase, sentence, token), one row per map
method, each cell the span's map over the picture(s). Under each column the answer is
written out as the reference's visuals do (earlier tokens coloured by their relevance
to that word with JET, the word white on black, later tokens grey), and a JET scale
closes the figure. No TeX: :func:`build_figure` places everything in points, and
:func:`write_figure` draws it with PyMuPDF into a vector PDF whose text is real,
selectable text in the packaged Noto fonts (cut down to the characters shown) and whose
maps are embedded pictures. The same page gives a PNG (rendered by PyMuPDF) and an SVG
(text as outlines).
"""

from __future__ import annotations

import io
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tam.errors import TAMError
from tam.files import write_atomically
from tam.visuals.fonts import font_subsets
from tam.visuals.overlay import jet_colours, overlay_panels
from tam.visuals.text import visible_lines
from tam.visuals.token_visual import LATER_TOKEN_GREY, token_labels
from tam.words import WORD_REDUCTION, is_special_token

__all__ = [
    "FIGURE_SUFFIXES",
    "MAX_COLUMNS",
    "MAX_DPI",
    "SCALES",
    "Figure",
    "FigureImage",
    "FigureText",
    "build_figure",
    "save_figure",
    "write_figure",
]

FIGURE_SUFFIXES = (".pdf", ".png", ".svg")
"""The formats :func:`write_figure` writes, chosen by the file's suffix."""

MAX_COLUMNS = 64
"""Most words (columns) and methods (rows) of a figure: a page of a paper holds far fewer,
and thousands would take minutes to lay out and draw before anyone could see them."""

MAX_DPI = 1200
"""Highest resolution of a figure's pictures: print needs 300 to 600; at 100000 dpi one map
alone would be gigapixels."""

SCALES = ("shared", "own")
"""Colour scale of each map: the result's joint [0, 1] scale, or stretched to its own maximum."""

_INSTALL = "pip install pymupdf==1.28.2"
_GAP = 4.0
_MARGIN = 6.0
_SCALE_BAR = (120.0, 6.0)


@dataclass(frozen=True)
class FigureImage:
    """A picture placed on the page.

    Attributes
    ----------
    rect : (float, float, float, float)
        ``(x0, y0, x1, y1)`` in points from the page's top-left corner.
    pixels : ndarray of shape (H, W, 3), uint8, RGB
    label : str
        What it shows (``"circle / tam"``, ``"colour scale"``).
    """

    rect: tuple[float, float, float, float]
    pixels: np.ndarray
    label: str


@dataclass(frozen=True)
class FigureText:
    """A run of text placed on the page: ``(x, y)`` is the start of its baseline, in points.

    ``box`` is a rectangle filled black behind it (the explained word), or None.
    """

    x: float
    y: float
    text: str
    size: float
    colour: tuple[int, int, int]
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Figure:
    """Everything a figure shows, placed in points on a ``width`` x ``height`` page."""

    width: float
    height: float
    images: tuple[FigureImage, ...]
    texts: tuple[FigureText, ...]


class _Fonts:
    """The chain's fonts cut down to the characters shown, loaded in PyMuPDF to measure and draw."""

    def __init__(self, text: str) -> None:
        try:
            import pymupdf
        except ImportError as error:
            raise ImportError(f"figures are drawn with PyMuPDF: {_INSTALL}") from error
        self.buffers = [font for font, _ in font_subsets(text + "0123456789")]
        self.fonts = [pymupdf.Font(fontbuffer=buffer) for buffer in self.buffers]

    def runs(self, text: str) -> list[tuple[str, int]]:
        """Cut ``text`` into runs that one font draws: ``(run, font number)``."""
        runs: list[list] = []
        for character in text:
            number = next((k for k, font in enumerate(self.fonts) if font.has_glyph(ord(character))), 0)
            if runs and runs[-1][1] == number:
                runs[-1][0] += character
            else:
                runs.append([character, number])
        return [(run, number) for run, number in runs]

    def length(self, text: str, size: float) -> float:
        return sum(self.fonts[number].text_length(run, fontsize=size) for run, number in self.runs(text))


def _colour(value: float) -> tuple[int, int, int]:
    return tuple(int(c) for c in jet_colours([value])[0])


def _span_header(result, tokens: tuple[int, ...], asked) -> str:
    if isinstance(asked, str):
        return asked
    return " ".join("".join(token_labels(result)[i] for i in tokens).split())


def _text_lines(fonts: _Fonts, items: list[str], width: float, size: float) -> list[list[tuple[int, float, str]]]:
    """Wrap items (token texts) into lines of at most ``width`` points: per line, ``(item, x, text)``."""
    lines: list[list[tuple[int, float, str]]] = [[]]
    x = 0.0
    for item, text in enumerate(items):
        for number, piece in enumerate(visible_lines(text)):
            if number:
                lines.append([])
                x = 0.0
            length = fonts.length(piece, size)
            if x > 0 and x + length > width:
                lines.append([])
                x = 0.0
                piece = piece.lstrip() or piece
                length = fonts.length(piece, size)
            lines[-1].append((item, x, piece))
            x += length
    return lines


def build_figure(
    result,
    words,
    methods=("tam",),
    *,
    reduction: str = WORD_REDUCTION,
    scale: str = "shared",
    alpha: float = 0.5,
    column_width: float = 144.0,
    font_size: float = 8.0,
    text: bool = True,
    dpi: int = 300,
) -> Figure:
    """Place a figure of the chosen words' maps and text, in points.

    Parameters
    ----------
    result : TokenActivationResult
        Must carry its pictures (``images``) and token texts.
    words : sequence
        One column each: a word or phrase by its text (``"circle"``, ``"red circle"``),
        a :class:`~tam.words.Span` (``result.words[5]``), a token index, or token indices.
    methods : sequence of str
        One row each (``result.maps(name)``), labelled on the left when more than one.
    reduction : {"mean", "max", "first", "weighted"}
        How a span's token maps become one (:func:`tam.words.reduce_rows`).
    scale : {"shared", "own"}
        ``own`` stretches each map to its maximum, so faint maps show their shape.
    alpha : float
        Weight of the JET map over the picture (0.5: the paper's blend).
    column_width : float
        Width of a column in points (144 = 2 inches).
    font_size : float
        Text size in points.
    text : bool
        Write the answer under each column, coloured by relevance to its word.
    dpi : int
        Resolution of the map pictures embedded in the page.

    Returns
    -------
    Figure
    """
    _check_dpi(dpi)
    if not result.images:
        raise ValueError("the result carries no images; a figure shows maps over its pictures")
    if scale not in SCALES:
        raise ValueError(f"`scale` must be one of {SCALES}, got {scale!r}")
    words, methods = list(words), list(methods)
    if not words or not methods:
        raise ValueError(f"a figure needs at least one word and one method, got words={words}, methods={methods}")
    if len(words) > MAX_COLUMNS or len(methods) > MAX_COLUMNS:
        raise TAMError(
            f"a figure takes at most {MAX_COLUMNS} words and {MAX_COLUMNS} methods (tam.visuals.figure.MAX_COLUMNS), "
            f"got {len(words)} words and {len(methods)} methods: choose fewer"
        )
    spans = [result.span_tokens(word) for word in words]
    for tokens in spans:
        if tokens[-1] - tokens[0] + 1 != len(tokens):
            raise ValueError(f"a figure's word must be consecutive tokens, got {tokens}")
    headers = [_span_header(result, tokens, asked) for tokens, asked in zip(spans, words, strict=True)]
    labels = token_labels(result)
    fonts = _Fonts("".join(headers + methods + ["".join(visible_lines(t)) for t in labels] + ["relevance"]))

    aspect = sum(image.shape[1] / image.shape[0] for image in result.images)
    cell_height = column_width / aspect
    label_width = max(fonts.length(name, font_size) for name in methods) + _GAP if len(methods) > 1 else 0.0
    left = _MARGIN + label_width
    top = _MARGIN + font_size * 1.6
    images, texts = [], []
    pixel_height = max(8, round(cell_height * dpi / 72))
    for column, (tokens, header) in enumerate(zip(spans, headers, strict=True)):
        x0 = left + column * (column_width + _GAP)
        header_x = x0 + max(0.0, (column_width - fonts.length(header, font_size)) / 2)
        texts.append(FigureText(header_x, _MARGIN + font_size, header, font_size, (0, 0, 0)))
        for row, method in enumerate(methods):
            span_map = result.span_map(tokens, method, reduction)
            if scale == "own" and span_map.max() > 0:
                span_map = span_map / span_map.max()
            pixels = overlay_panels(
                result.images, result.layout.picture_maps(span_map), height=pixel_height, alpha=alpha
            )
            y0 = top + row * (cell_height + _GAP)
            images.append(FigureImage((x0, y0, x0 + column_width, y0 + cell_height), pixels, f"{header} / {method}"))
    if len(methods) > 1:
        for row, method in enumerate(methods):
            baseline = top + row * (cell_height + _GAP) + cell_height / 2 + font_size / 3
            texts.append(FigureText(_MARGIN, baseline, method, font_size, (0, 0, 0)))
    bottom = top + len(methods) * (cell_height + _GAP)

    line_height = font_size * 1.35
    if text:
        lines_used = 0
        for column, tokens in enumerate(spans):
            in_prompt = tokens[0] < result.num_prompt_tokens
            part = range(0, result.num_prompt_tokens) if in_prompt else range(result.num_prompt_tokens, len(result))
            relevance = result.span_text_relevance(tokens, methods[0], reduction)
            part = [i for i in part if not is_special_token(labels[i])]  # <|im_end|> is no part of the answer read
            x0 = left + column * (column_width + _GAP)
            lines = _text_lines(fonts, [labels[i] for i in part], column_width, font_size)
            for number, line in enumerate(lines):
                baseline = bottom + font_size + number * line_height
                for item, x, piece in line:
                    index = part[item]
                    box = None
                    colour = _colour(relevance[index]) if index < tokens[0] else LATER_TOKEN_GREY
                    if index in tokens:
                        start = x0 + x + fonts.length(piece[: len(piece) - len(piece.lstrip())], font_size)
                        end = x0 + x + fonts.length(piece, font_size)
                        box = (start - 0.5, baseline - font_size, end + 0.5, baseline + font_size * 0.3)
                        colour = (255, 255, 255)
                    texts.append(FigureText(x0 + x, baseline, piece, font_size, colour, box))
            lines_used = max(lines_used, len(lines))
        bottom += lines_used * line_height + _GAP

    bar_width, bar_height = _SCALE_BAR
    bar_pixels = np.repeat(jet_colours(np.linspace(0, 1, 256))[None], 4, axis=0)
    bar_x = left + fonts.length("0", font_size) + 2
    bar_y = bottom + 2
    images.append(FigureImage((bar_x, bar_y, bar_x + bar_width, bar_y + bar_height), bar_pixels, "colour scale"))
    baseline = bar_y + bar_height
    texts.append(FigureText(left, baseline, "0", font_size, (0, 0, 0)))
    texts.append(FigureText(bar_x + bar_width + 2, baseline, "1 relevance", font_size, (0, 0, 0)))
    width = left + len(spans) * (column_width + _GAP) - _GAP + _MARGIN
    width = max(width, bar_x + bar_width + fonts.length("1 relevance", font_size) + _MARGIN + 2)
    return Figure(width, bar_y + bar_height + font_size * 0.5 + _MARGIN, tuple(images), tuple(texts))


def _pdf(figure: Figure) -> bytes:
    """Draw ``figure`` on one PDF page; return the file's bytes."""
    import pymupdf
    from PIL import Image

    fonts = _Fonts("".join(text.text for text in figure.texts))
    document = pymupdf.open()
    page = document.new_page(width=figure.width, height=figure.height)
    for image in figure.images:
        buffer = io.BytesIO()
        Image.fromarray(image.pixels).save(buffer, format="JPEG", quality=92)
        page.insert_image(pymupdf.Rect(image.rect), stream=buffer.getvalue(), keep_proportion=False)
    for text in figure.texts:
        if text.box is not None:
            page.draw_rect(pymupdf.Rect(text.box), color=None, fill=(0, 0, 0), width=0)
    for text in figure.texts:
        writer = pymupdf.TextWriter(page.rect)
        x = text.x
        for run, number in fonts.runs(text.text):
            writer.append((x, text.y), run, font=fonts.fonts[number], fontsize=text.size)
            x += fonts.fonts[number].text_length(run, fontsize=text.size)
        writer.write_text(page, color=tuple(c / 255 for c in text.colour))
    return document.tobytes(garbage=3, deflate=True)


def _check_dpi(dpi) -> None:
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Integral) or not 1 <= dpi <= MAX_DPI:
        raise TAMError(f"dpi must be an integer from 1 to {MAX_DPI} (tam.visuals.figure.MAX_DPI), got {dpi!r}")


def write_figure(figure: Figure, path: str | os.PathLike, *, overwrite: bool = False, dpi: int = 300) -> Path:
    """Write ``figure`` as PDF, PNG (rendered at ``dpi``) or SVG, by the suffix of ``path``.

    The file is written beside the target and moved into place; an existing file is
    replaced only with ``overwrite``.
    """
    _check_dpi(dpi)
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise ValueError(f"a figure is written as {'/'.join(FIGURE_SUFFIXES)}, got {str(path)!r}")
    pdf = _pdf(figure)

    def write(staging: Path) -> None:
        if suffix == ".pdf":
            staging.write_bytes(pdf)
            return
        import pymupdf

        with pymupdf.open(stream=pdf, filetype="pdf") as document:
            page = document[0]
            if suffix == ".png":
                page.get_pixmap(dpi=dpi).save(str(staging))
            else:
                staging.write_text(page.get_svg_image(text_as_path=True), encoding="utf-8")

    return write_atomically(path, write, overwrite=overwrite)


def save_figure(
    result, path: str | os.PathLike, words, methods=("tam",), *, overwrite: bool = False, **options
) -> Path:
    """Build a figure of ``words`` x ``methods`` (:func:`build_figure`, ``options``) and write it to ``path``.

    ``path`` ends in ``.pdf`` (vector, selectable text), ``.png`` or ``.svg``.
    """
    dpi = options.get("dpi", 300)
    return write_figure(build_figure(result, words, methods, **options), path, overwrite=overwrite, dpi=dpi)
