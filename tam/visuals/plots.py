"""Plots of relevance over the answer, with matplotlib, in the figures' style.

Two views of one result, as bars over the answer's tokens, coloured with the same JET
scale and written in the same Noto fonts as :mod:`tam.visuals.figure`:

- with no span: how strongly each answer token looks at the picture, the peak of its
  vision map (one bar group per method);
- with a span (a word, phrase or token): the relevance of every earlier token to it,
  the same reduction of its tokens' text relevances as its map
  (:meth:`~tam.TokenActivationResult.span_text_relevance`), the span's own tokens
  labelled white on black.

Several methods are told apart by hatching, since the colour is the value.

Figures are built on :class:`matplotlib.figure.Figure` directly (no ``pyplot``
state), so plotting never opens a window or touches global settings. A bare ``Figure``
has no picture of itself for a notebook (it shows ``<Figure size 600x220 ...>`` until
pyplot's inline backend is set up), so they are made by :func:`self_showing_figure`,
whose ``_repr_png_`` draws them with the Agg canvas.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np

from tam.files import write_atomically
from tam.visuals.fonts import FONT_CHAIN, _font_path
from tam.visuals.overlay import jet_colours
from tam.visuals.text import visible_lines
from tam.visuals.token_visual import token_labels
from tam.words import WORD_REDUCTION, has_cjk, is_special_token

__all__ = ["relevance_plot", "save_relevance_plot", "self_showing_figure"]

_INSTALL = "pip install matplotlib==3.11.2"
_FAMILIES = ["Noto Sans", "Noto Emoji", "Noto Sans Symbols"]
_HATCHES = ("", "///", "...", "xxx", "\\\\\\")
_CJK_FAMILY = "Noto Sans CJK SC"  # matplotlib knows its variable font at weight 100 only: used when needed


@functools.cache
def _self_showing_figure_class():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    class SelfShowingFigure(Figure):
        """A matplotlib Figure that a notebook shows as its PNG, with no pyplot and no backend set up."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            FigureCanvasAgg(self).print_png(buffer)
            return buffer.getvalue()

    return SelfShowingFigure


def self_showing_figure(**options):
    """Make a :class:`matplotlib.figure.Figure` (``options`` as its constructor's) that notebooks show as PNG."""
    return _self_showing_figure_class()(**options)


@functools.cache
def _register_fonts() -> None:
    """Make the packaged Noto fonts known to matplotlib (once per process)."""
    from matplotlib import font_manager

    for package, filename, _ in FONT_CHAIN:
        font_manager.fontManager.addfont(str(_font_path(package, filename)))


def relevance_plot(
    result,
    span=None,
    methods=("tam",),
    *,
    reduction: str = WORD_REDUCTION,
    width: float = 6.0,
    height: float = 2.2,
    font_size: float = 8.0,
):
    """Bar plot of relevance over the answer's tokens.

    Parameters
    ----------
    result : TokenActivationResult
    span : Span, str, int, or sequence, optional
        Plot the relevance of the earlier tokens to this word or phrase (see
        :meth:`~tam.TokenActivationResult.span_tokens`); by default, each answer
        token's peak vision relevance.
    methods : sequence of str
        One bar per method and token (with a span, only the first is used).
    reduction : {"mean", "max", "first", "weighted"}
        How a span's tokens' relevances become one.
    width, height : float
        Size in inches.
    font_size : float
        Text size in points.

    Returns
    -------
    matplotlib.figure.Figure
        Made without ``pyplot``; it shows itself as PNG in a notebook.
    """
    try:
        from matplotlib.patches import Patch
    except ImportError as error:
        raise ImportError(f"relevance plots are drawn with matplotlib: {_INSTALL}") from error
    _register_fonts()
    methods = list(methods)
    if not methods:
        raise ValueError("`methods` is empty: name at least one map method to plot")
    labels = token_labels(result)
    shown = [i for i in range(result.num_prompt_tokens, len(result)) if not is_special_token(labels[i])]
    families = _FAMILIES[:1] + [_CJK_FAMILY] * any(has_cjk(labels[i]) for i in shown) + _FAMILIES[1:]
    figure = self_showing_figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(shown))
    tokens: tuple[int, ...] = ()
    if span is None:
        bar_width = 0.8 / len(methods)
        for number, method in enumerate(methods):
            peaks = result.maps(method)[shown].max(axis=1)
            offset = (number - (len(methods) - 1) / 2) * bar_width
            hatch = _HATCHES[number % len(_HATCHES)] if len(methods) > 1 else None
            axes.bar(positions + offset, peaks, bar_width, color=jet_colours(peaks) / 255, hatch=hatch, label=method)
        axes.set_ylabel("peak of the map", fontsize=font_size, family=families)
        if len(methods) > 1:
            handles = [
                Patch(facecolor="white", edgecolor="black", hatch=_HATCHES[number % len(_HATCHES)], label=method)
                for number, method in enumerate(methods)
            ]
            axes.legend(handles=handles, prop={"family": families, "size": font_size}, frameon=False)
    else:
        tokens = result.span_tokens(span)
        relevance = result.span_text_relevance(tokens, methods[0], reduction)
        values = np.array([relevance[i] if i < tokens[0] else 0.0 for i in shown])
        axes.bar(positions, values, 0.8, color=jet_colours(values) / 255)
        span_text = " ".join("".join(labels[i] for i in tokens).split())
        axes.set_ylabel(f"relevance to \u201c{span_text}\u201d", fontsize=font_size, family=families)
    axes.set_ylim(0, 1)
    axes.set_xlim(-0.6, len(shown) - 0.4)
    axes.set_xticks(positions, ["".join(visible_lines(labels[i])).strip() or "\u2423" for i in shown])
    axes.tick_params(axis="x", labelrotation=90, labelsize=font_size, length=0)
    axes.tick_params(axis="y", labelsize=font_size)
    for label in [*axes.get_xticklabels(), *axes.get_yticklabels()]:
        label.set_family(families)
    for label, index in zip(axes.get_xticklabels(), shown, strict=True):
        if index in tokens:  # the span, white on black as in the figures
            label.set_color("white")
            label.set_bbox({"facecolor": "black", "edgecolor": "none", "pad": 1})
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def save_relevance_plot(result, path: str | os.PathLike, span=None, *, overwrite: bool = False, **options) -> Path:
    """Write :func:`relevance_plot` to ``path`` (PDF, SVG, PNG: by the suffix), whole or not at all.

    PDF and SVG keep the text as text (fonts embedded in the PDF).
    """
    figure = relevance_plot(result, span, **options)
    suffix = Path(path).suffix.lower()
    if suffix not in (".pdf", ".svg", ".png"):
        raise ValueError(f"a plot is written as .pdf/.svg/.png, got {str(path)!r}")
    from matplotlib import rc_context

    def write(staging: Path) -> None:
        # TrueType fonts in the PDF and text elements in the SVG: the words stay selectable text
        with rc_context({"pdf.fonttype": 42, "svg.fonttype": "none"}):
            figure.savefig(staging, format=suffix[1:], dpi=300)

    return write_atomically(path, write, overwrite=overwrite)
