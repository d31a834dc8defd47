"""The fonts the visuals draw text with: a fallback chain of Noto fonts from PyPI.

No system font is read, so a token renders the same on every machine. The fonts come
from two pinned packages (SIL Open Font License):

- ``manimgx-fonts``: Noto Sans (Latin, Greek, Cyrillic, U+FFFD), Noto Emoji
  (monochrome, so an emoji takes its token's colour) and Noto Sans Symbols (arrows);
- ``manimgx-fonts-cjk``: Noto Sans CJK SC (Chinese, Japanese kana, Korean Hangul,
  and symbols such as ``⏎``).

Each character is drawn with the first font of the chain that has it; a character
that none has stays in the run before it (joiners, variation selectors) or, first in a
text, is drawn with Noto Sans's missing-glyph box. Every font is set bold.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FONT_CHAIN", "FontFace", "font_chain", "font_subsets", "split_by_font"]

FONT_CHAIN = (
    ("manimgx_fonts", "NotoSans[wght].ttf", 0),
    ("manimgx_fonts_cjk", "NotoSansCJK-VF.otf.ttc", 2),  # index 2 of the collection: Simplified Chinese
    ("manimgx_fonts", "NotoEmoji[wght].ttf", 0),
    ("manimgx_fonts", "NotoSansSymbols[wght].ttf", 0),
)
"""(package, file, face index) of each font, in the order characters look for a glyph."""

_INSTALL = "pip install manimgx-fonts==2026.9.26.post1 manimgx-fonts-cjk==2026.9.26.post1 fonttools==4.68.0"
_BOLD = 700


@dataclass(frozen=True, eq=False)
class FontFace:
    """One font of the chain at one size.

    Attributes
    ----------
    font : PIL.ImageFont.FreeTypeFont
        Set to bold where the font has a weight axis.
    codepoints : frozenset of int
        The characters it has a glyph for.
    """

    font: object
    codepoints: frozenset


def _font_path(package: str, filename: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ImportError(f"tam.visuals draws text with the Noto fonts of PyPI packages; {_INSTALL}") from error
    path = Path(module.__file__).parent / filename
    if not path.is_file():
        raise FileNotFoundError(f"font file {path} is missing from package {package}; reinstall it: {_INSTALL}")
    return path


@functools.cache
def _codepoints(package: str, filename: str, index: int) -> frozenset:
    try:
        from fontTools.ttLib import TTFont
    except ImportError as error:
        raise ImportError(f"tam.visuals reads the fonts' character maps with fontTools; {_INSTALL}") from error
    with TTFont(_font_path(package, filename), fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


@functools.cache
def font_chain(size: int) -> tuple[FontFace, ...]:
    """Load the fonts of :data:`FONT_CHAIN` at ``size`` pixels (cached per size).

    The first call reads the character maps (about 0.2 s, mostly the CJK font).

    Raises
    ------
    ImportError
        If the font packages or fontTools are not installed; the message says what to install.
    """
    from PIL import ImageFont

    if size < 1:
        raise ValueError(f"font `size` must be a positive number of pixels, got {size}")
    faces = []
    for package, filename, index in FONT_CHAIN:
        font = ImageFont.truetype(str(_font_path(package, filename)), size, index=index)
        weight = font.get_variation_axes()[0]
        font.set_variation_by_axes([min(max(_BOLD, weight["minimum"]), weight["maximum"])])
        faces.append(FontFace(font, _codepoints(package, filename, index)))
    return tuple(faces)


@functools.lru_cache(maxsize=4096)
def split_by_font(text: str, size: int) -> tuple[tuple[str, object], ...]:
    """Cut ``text`` into runs that one font of the chain draws.

    Parameters
    ----------
    text : str
    size : int
        Font size in pixels.

    Returns
    -------
    tuple of (str, FreeTypeFont)
        Consecutive runs whose concatenation is ``text``.
    """
    faces = font_chain(size)
    runs: list[list] = []
    for character in text:
        code = ord(character)
        face = next((face for face in faces if code in face.codepoints), None)
        if runs and (face is None or runs[-1][1] is face.font):
            # a character no font has (a joiner, a variation selector) stays with its neighbour
            runs[-1][0] += character
        else:
            runs.append([character, (face or faces[0]).font])
    return tuple((run, font) for run, font in runs)


def font_subsets(text: str) -> list[tuple[bytes, str]]:
    """Cut the fonts of the chain down to the characters of ``text``, for embedding in a page.

    Each character goes to the first font that has it, as in :func:`split_by_font`;
    a font that draws none of them is left out. Subsets keep the weight axis.

    Parameters
    ----------
    text : str
        Every character the page shows.

    Returns
    -------
    list of (bytes, str)
        The font file (OpenType) and its CSS format (``"truetype"`` or ``"opentype"``),
        in chain order.
    """
    assigned: list[set] = [set() for _ in FONT_CHAIN]
    for code in {ord(character) for character in text}:
        for chain_index, (package, filename, index) in enumerate(FONT_CHAIN):
            if code in _codepoints(package, filename, index):
                assigned[chain_index].add(code)
                break
    return [_subset(*FONT_CHAIN[number], frozenset(codes)) for number, codes in enumerate(assigned) if codes]


@functools.lru_cache(maxsize=32)
def _subset(package: str, filename: str, index: int, codes: frozenset) -> tuple[bytes, str]:
    """One font cut down to ``codes`` (about 0.2-0.5 s, hence the cache)."""
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.notdef_outline = True
    options.layout_features = ["kern", "liga", "ccmp", "locl", "mark", "mkmk", "vert"]
    with TTFont(_font_path(package, filename), fontNumber=index, recalcTimestamp=False) as font:
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(codes))
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.save(buffer)
        return buffer.getvalue(), "opentype" if "CFF2" in font or "CFF " in font else "truetype"
