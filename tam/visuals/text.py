"""Token text as an image: visible whitespace, line wrapping, per-token colours.

Text is drawn with Pillow and the fonts of :mod:`tam.visuals.fonts`, token by token,
so any token text renders: LaTeX specials are ordinary characters here, a newline is
drawn as ``⏎`` and breaks the line, a tab as ``→``, other control characters as
``<0x0D>``, and a lone byte of a byte-level BPE piece (decoded to U+FFFD) as ``�``.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np

from tam.visuals.fonts import font_chain, split_by_font

__all__ = ["NEWLINE_MARK", "TAB_MARK", "TextLayout", "draw_text_block", "layout_text", "visible_lines"]

NEWLINE_MARK = "\u23ce"  # ⏎
TAB_MARK = "\u2192"  # →


def visible_lines(text: str) -> list[str]:
    r"""Split one token's text into the lines to draw, whitespace made visible.

    Parameters
    ----------
    text : str
        Decoded token text.

    Returns
    -------
    list of str
        One entry per line: each newline ends a line with ``⏎``.

    Examples
    --------
    >>> visible_lines("a\tb\n")
    ['a→b⏎', '']
    >>> visible_lines("\r")
    ['<0x0D>']
    """
    shown = []
    for character in text:
        if character == "\t":
            shown.append(TAB_MARK)
        elif character != "\n" and unicodedata.category(character) == "Cc":
            shown.append(f"<0x{ord(character):02X}>")
        else:
            shown.append(character)
    lines = "".join(shown).split("\n")
    return [line + NEWLINE_MARK for line in lines[:-1]] + [lines[-1]]


@dataclass(frozen=True)
class TextLayout:
    """Where each item's text goes, in pixels from the block's top-left text corner.

    Attributes
    ----------
    runs : tuple of (int, int, float, str, FreeTypeFont)
        ``(item, line, x, text, font)`` of every run to draw.
    boxes : tuple of tuple of (int, float, float)
        Per item, ``(line, x0, x1)`` of each line it covers.
    num_lines : int
    line_height : int
        Pixels from one line's top to the next.
    ascent : int
        Pixels from a line's top to its baseline.
    """

    runs: tuple
    boxes: tuple
    num_lines: int
    line_height: int
    ascent: int


@functools.lru_cache(maxsize=64)
def layout_text(items: tuple[str, ...], width: int, size: int, breaks_before: frozenset = frozenset()) -> TextLayout:
    """Lay items (token texts) out left to right, wrapping at ``width`` pixels.

    An item that fits on no line is cut between characters; an empty item gets a box
    of a third of the font size, so it can still be highlighted.

    Parameters
    ----------
    items : tuple of str
        Raw texts; :func:`visible_lines` makes them drawable.
    width : int
        Line width in pixels.
    size : int
        Font size in pixels.
    breaks_before : frozenset of int
        Items that start a new line.

    Returns
    -------
    TextLayout
    """
    if width < size:
        raise ValueError(f"text `width` ({width} px) must be at least the font size ({size} px)")
    ascent, descent = font_chain(size)[0].font.getmetrics()
    runs, boxes = [], []
    line, x = 0, 0.0
    for item, text in enumerate(items):
        if item in breaks_before and x > 0:
            line, x = line + 1, 0.0
        item_boxes = []
        for piece_index, piece in enumerate(visible_lines(text)):
            if piece_index > 0:
                line, x = line + 1, 0.0
            pieces = [(run, font, font.getlength(run)) for run, font in split_by_font(piece, size)]
            total = sum(length for _, _, length in pieces) if piece else size / 3
            if x > 0 and x + total > width:
                line, x = line + 1, 0.0
            start = x
            if x + total <= width:
                for run, font, length in pieces:
                    runs.append((item, line, x, run, font))
                    x += length
                x = start + total
            else:
                for run, font, _ in pieces:
                    for character in run:
                        length = font.getlength(character)
                        if x > 0 and x + length > width:
                            item_boxes.append((line, start, x))
                            line, x, start = line + 1, 0.0, 0.0
                        runs.append((item, line, x, character, font))
                        x += length
            item_boxes.append((line, start, x))
        boxes.append(tuple(item_boxes))
    return TextLayout(
        runs=tuple(runs),
        boxes=tuple(boxes),
        num_lines=line + 1 if items else 0,
        line_height=ascent + descent + max(2, size // 4),
        ascent=ascent + max(1, size // 8),
    )


def draw_text_block(
    lines: list[tuple[TextLayout, np.ndarray, int | None]],
    width: int,
    *,
    margin: int = 10,
    paragraph_gap: int = 6,
) -> np.ndarray:
    """Draw laid-out paragraphs one below the other on white.

    Parameters
    ----------
    lines : list of (TextLayout, ndarray of shape (N, 3) uint8 RGB, int, range or None)
        Each paragraph's layout, the text colour of each of its ``N`` items, and the
        item (or the range of items: a word, a phrase) drawn white on a black box
        (``None`` for none).
    width : int
        Width of the block in pixels, margins included.
    margin : int
        White border in pixels.
    paragraph_gap : int
        Pixels between paragraphs.

    Returns
    -------
    ndarray of shape (height, width, 3), uint8, RGB
        ``height`` grows with the number of lines.
    """
    from PIL import Image, ImageDraw

    height = 2 * margin + sum(layout.num_lines * layout.line_height for layout, _, _ in lines)
    height += paragraph_gap * max(0, len(lines) - 1)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    top = margin
    for layout, colours, highlighted in lines:
        if len(colours) != len(layout.boxes):
            raise ValueError(f"got {len(colours)} colours for {len(layout.boxes)} laid-out items")
        highlighted = (
            ()
            if highlighted is None
            else range(highlighted, highlighted + 1)
            if isinstance(highlighted, int)
            else highlighted
        )
        for item in highlighted:
            for line, x0, x1 in layout.boxes[item]:
                y0 = top + line * layout.line_height
                draw.rectangle((margin + x0 - 1, y0, margin + x1, y0 + layout.line_height - 1), fill=(0, 0, 0))
        for item, line, x, text, font in layout.runs:
            colour = (255, 255, 255) if item in highlighted else tuple(int(c) for c in colours[item])
            draw.text(
                (margin + x, top + line * layout.line_height + layout.ascent), text, font=font, fill=colour, anchor="ls"
            )
        top += layout.num_lines * layout.line_height + paragraph_gap
    return np.asarray(canvas)
