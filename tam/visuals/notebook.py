"""A result in a notebook: the interactive report inline, and a figure of a span's maps.

``result`` as a cell's last expression shows the report of :mod:`tam.visuals.report`
inline (JupyterLab, Notebook 7, VS Code and marimo read :meth:`InlineReport._repr_html_`
or ``_mime_``). The report sits in a sandboxed frame (``<iframe sandbox="allow-scripts"
srcdoc=...>``): its own origin, so its styles and scripts cannot reach the notebook's page
nor another result's frame, and it loads nothing and writes nothing. The page around the
frame only sets the frame's height from the report's own message (its height, nothing
else); without scripts the frame keeps a fixed height and scrolls.

A report larger than :data:`INLINE_LIMIT_BYTES` shows what fits (the opening method
alone, then the first tokens) and a notice naming ``result.save_html(path)``, which
writes all of it.

For notebooks that strip scripts (GitHub's viewer) and for papers, :func:`span_figure`
draws a span's maps over the pictures as a matplotlib figure that renders itself as PNG.
"""

from __future__ import annotations

import dataclasses
import html
import uuid
from dataclasses import dataclass

from tam.methods import MethodMaps, get_method
from tam.visuals.plots import self_showing_figure

__all__ = ["INLINE_LIMIT_BYTES", "InlineReport", "first_tokens", "inline_report", "span_figure"]

INLINE_LIMIT_BYTES = 2_000_000
"""Largest inline report, in bytes of HTML: Jupyter's server passes at most 1 MB/s of output
averaged over 3 s (``iopub_data_rate_limit``), and notebooks stay small enough to share."""

FRAME_HEIGHT = 760
"""Height of the report's frame in pixels until the report tells its own."""


@dataclass(frozen=True)
class InlineReport:
    """The report of a result as a notebook shows it.

    Attributes
    ----------
    html : str
        A ``<div>`` holding the sandboxed frame of the report and, when it was cut to fit,
        the notice saying what is left out.
    shown_tokens : int
        Explained tokens in the embedded report.
    shown_methods : tuple of str
        Methods the embedded report offers.
    complete : bool
        Whether every token and method of the result is in it.
    """

    html: str
    shown_tokens: int
    shown_methods: tuple[str, ...]
    complete: bool

    def _repr_html_(self) -> str:
        return self.html

    def _mime_(self) -> tuple[str, str]:
        """Give marimo the report (its display hook)."""
        return "text/html", self.html


def inline_report(result, *, max_bytes: int = INLINE_LIMIT_BYTES, **options) -> InlineReport:
    """Build the report of ``result`` for a notebook, cut to ``max_bytes`` if it is larger.

    Parameters
    ----------
    result : TokenActivationResult
    max_bytes : int
        Largest HTML embedded, in UTF-8 bytes. A larger report keeps only the opening
        method, then only the first tokens (the prompt and the start of the answer) that fit.
    **options
        The report's options (:func:`tam.visuals.report.report_data`: ``method``,
        ``methods``, ``unit``, ``opacity``, ``tokenizer``, ``max_image_side``).

    Returns
    -------
    InlineReport
    """
    from tam.visuals.report import report_html

    methods = tuple(options.pop("methods", None) or result.methods)
    method = options.setdefault("method", "tam" if "tam" in methods else methods[0])
    count = len(result)
    page = report_html(result, methods=methods, **options)
    shown_tokens, shown_methods = count, methods
    if _frame_bytes(page) > max_bytes and len(methods) > 1:
        shown_methods = (method,)
        page = report_html(result, methods=shown_methods, **options)
    fewest = min(count, result.num_prompt_tokens + 1)
    while _frame_bytes(page) > max_bytes and shown_tokens > fewest:
        # the size grows about linearly with the tokens beyond the pictures and fonts: aim a little under
        shown_tokens = max(fewest, min(shown_tokens - 1, int(shown_tokens * max_bytes / _frame_bytes(page) * 0.9)))
        page = report_html(first_tokens(result, shown_tokens, shown_methods), methods=shown_methods, **options)
    complete = shown_tokens == count and shown_methods == methods
    notice = "" if complete else _notice(result, shown_tokens, shown_methods, methods)
    if _frame_bytes(page) > max_bytes:
        page, shown_tokens, shown_methods = None, 0, ()
        notice = (
            f"This report is too large to show inline even with one method and {fewest} tokens "
            f"(limit {max_bytes:,} bytes). "
        ) + _SAVE_HINT
    return InlineReport(_frame(page, notice), shown_tokens, tuple(shown_methods), complete)


_SAVE_HINT = "Write the whole report with <code>result.save_html(path)</code> and open it in a browser."


def _notice(result, shown_tokens: int, shown_methods, methods) -> str:
    parts = []
    if shown_tokens < len(result):
        answer_shown = shown_tokens - result.num_prompt_tokens
        parts.append(f"the first {answer_shown} of {len(result) - result.num_prompt_tokens} answer tokens")
    if len(shown_methods) < len(methods):
        parts.append(f"only the {html.escape(shown_methods[0])} maps (of {len(methods)} methods)")
    return f"This report is too large to show whole inline: it shows {' and '.join(parts)}. " + _SAVE_HINT


def _frame_bytes(page: str) -> int:
    return len(_frame(page, "").encode("utf-8"))


def _frame(page: str | None, notice: str) -> str:
    """Lay out the notice, then the sandboxed frame of ``page``, sized by the report's height message."""
    notice_html = f'<p class="tam-notice" style="margin:0 0 0.4em;color:#8a4b00">{notice}</p>' if notice else ""
    if page is None:
        return f'<div class="tam-inline">{notice_html}</div>'
    name = f"tam-report-{uuid.uuid4().hex}"  # one per output: two results' frames never share a name
    return (
        f'<div class="tam-inline">{notice_html}'
        f'<iframe id="{name}" class="tam-report" sandbox="allow-scripts" title="token activation maps" '
        f'style="width:100%;height:{FRAME_HEIGHT}px;border:1px solid #ddd" srcdoc="{html.escape(page, quote=True)}">'
        "</iframe><script>(function () {"
        f'const frame = document.getElementById("{name}");'
        'window.addEventListener("message", (event) => {'
        "if (frame && event.source === frame.contentWindow && event.data"
        ' && typeof event.data.tamReportHeight === "number") {'
        'frame.style.height = Math.min(Math.max(event.data.tamReportHeight + 24, 200), 4000) + "px"; }'
        "});})();</script></div>"
    )


def first_tokens(result, count: int, methods=None):
    """Cut ``result`` to its first ``count`` explained tokens, with the same maps.

    A token's map depends only on itself and the tokens before it (and on every prompt
    token), so the first ``count >= num_prompt_tokens`` tokens keep their maps exactly.

    Parameters
    ----------
    result : TokenActivationResult
    count : int
        From ``num_prompt_tokens`` to ``len(result)``.
    methods : sequence of str, optional
        Methods whose maps are carried over already made (default: every one).

    Returns
    -------
    TokenActivationResult
    """
    if not result.num_prompt_tokens <= count <= len(result):
        raise ValueError(f"`count` must be in [{result.num_prompt_tokens}, {len(result)}], got {count}")
    cut = slice(0, count)

    def first(maps: MethodMaps) -> MethodMaps:
        return MethodMaps(maps.vision[cut], maps.text[cut, cut])

    candidates = result.candidates
    return dataclasses.replace(
        result,
        token_ids=result.token_ids[cut],
        class_ids=result.class_ids[cut],
        positions=result.positions[cut],
        raw_maps=result.raw_maps[cut],
        eci_maps=result.eci_maps[cut],
        context_scores=result.context_scores[cut, cut],
        context_mask=result.context_mask[cut, cut],
        texts=None if result.texts is None else result.texts[cut],
        pieces=None if result.pieces is None else result.pieces[cut],
        method_maps={name: first(maps) for name, maps in result.method_maps.items()},
        candidate_source=None,
        _candidates=None
        if candidates is None
        else dataclasses.replace(candidates, ids=candidates.ids[cut], probabilities=candidates.probabilities[cut]),
        _cache={name: first(result.processed(name)) for name in (methods or result.methods)},
    )


def span_figure(result, span, methods=("tam",), *, width: float | None = None, alpha: float = 0.5):
    """Draw a span's maps over the pictures as a matplotlib figure: the methods side by side.

    Parameters
    ----------
    result : TokenActivationResult
        Must carry ``images``.
    span : Span, str, int, or sequence
        A word, phrase or tokens (:meth:`~tam.TokenActivationResult.span_tokens`).
    methods : sequence of str
        Whose maps, one panel each (every picture of the result side by side in it), titled
        with the registry's name of the method.
    width : float, optional
        Width in inches (by default 3 per method); the height follows the pictures.
    alpha : float
        Opacity of the map over the picture, in [0, 1].

    Returns
    -------
    matplotlib.figure.Figure
        Made without ``pyplot`` (no global state); it shows itself as PNG in a notebook.
    """
    from tam.visuals.overlay import overlay_panels
    from tam.visuals.plots import _INSTALL

    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(f"span figures are drawn with matplotlib: {_INSTALL}") from error
    if not result.images:
        raise ValueError("the result carries no images; pass images= to explain_generation to draw maps")
    methods = list(methods)
    if not methods:
        raise ValueError("`methods` is empty: name at least one map method to draw")
    tokens = result.span_tokens(span)
    panels = [
        overlay_panels(result.images, result.layout.split(result.span_map(tokens, m)), alpha=alpha) for m in methods
    ]
    text = " ".join("".join(result.spans("token")[i].text for i in tokens).split())
    panel_height, panel_width = panels[0].shape[:2]
    width = 3.0 * len(methods) if width is None else width
    figure = self_showing_figure(
        figsize=(width, width / len(methods) * panel_height / panel_width + 0.5), layout="constrained"
    )
    figure.suptitle(f"\u201c{text}\u201d", fontsize=10)
    for number, (method, panel) in enumerate(zip(methods, panels, strict=True)):
        axes = figure.add_subplot(1, len(methods), number + 1)
        axes.imshow(panel)
        axes.set_axis_off()
        axes.set_title(get_method(method).title, fontsize=9)
    return figure
