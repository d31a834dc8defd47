"""Drawing token activation maps: pure functions of a result, RGB arrays out.

Nothing here touches the model; everything reads a
:class:`~tam.result.TokenActivationResult`.

- :mod:`tam.visuals.overlay`: the JET map blended with each picture
  (:func:`show_map_on_image`, :func:`map_panels`);
- :mod:`tam.visuals.fonts` and :mod:`tam.visuals.text`: token text drawn with
  packaged Noto fonts, coloured per token;
- :mod:`tam.visuals.token_visual`: one picture per explained token, word, phrase or
  sentence (:func:`render_token_visual`, :func:`render_span_visual`, :func:`save_span_visual`);
- :mod:`tam.visuals.report`: the self-contained HTML report (:func:`save_html`);
- :mod:`tam.visuals.notebook`: that report inline in a notebook, in a sandboxed frame
  (``result.show``), and a span's maps as a matplotlib figure (``result.plot``);
- :mod:`tam.visuals.figure`: figures for papers, vector PDF with selectable text
  (:func:`save_figure`);
- :mod:`tam.visuals.plots`: relevance over the answer as bars, with matplotlib
  (:func:`save_relevance_plot`).
"""

from tam.visuals.figure import build_figure, save_figure, write_figure
from tam.visuals.overlay import jet_colours, jet_table, map_panels, overlay_panels, show_map_on_image
from tam.visuals.plots import relevance_plot, save_relevance_plot
from tam.visuals.report import report_html, save_html
from tam.visuals.token_visual import (
    candidate_labels,
    draw_token_visual,
    render_span_visual,
    render_token_visual,
    save_span_visual,
    save_token_visual,
    save_token_visuals,
)

__all__ = [
    "build_figure",
    "candidate_labels",
    "draw_token_visual",
    "jet_colours",
    "jet_table",
    "map_panels",
    "overlay_panels",
    "relevance_plot",
    "render_span_visual",
    "render_token_visual",
    "report_html",
    "save_figure",
    "save_html",
    "save_relevance_plot",
    "save_span_visual",
    "save_token_visual",
    "save_token_visuals",
    "show_map_on_image",
    "write_figure",
]
