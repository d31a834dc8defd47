"""The plot beside an evaluation's summary: mean deletion and insertion curves of every method.

Built on :class:`matplotlib.figure.Figure` directly (no ``pyplot`` state, no window),
written whole or not at all (:func:`tam.files.write_atomically`) as PNG and as a vector PDF
without a creation date, so a resumed run writes the same files as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tam.files import write_atomically
from tam.metrics.faithfulness import RANDOM_ORDER

__all__ = ["plot_faithfulness_curves"]


def plot_faithfulness_curves(faithfulness: Mapping[str, Mapping], stem: Path) -> list[Path]:
    """Plot the mean deletion and insertion curves of each method, side by side.

    Parameters
    ----------
    faithfulness : mapping of str to dict
        Per method, :func:`~tam.evaluation.faithfulness.summarize_faithfulness`'s figures
        (``deletion_curve``, ``insertion_curve``, ``deletion_auc``, ``insertion_auc``);
        a method without scored tokens is left out.
    stem : Path
        The files are ``<stem>.png`` and ``<stem>.pdf``.

    Returns
    -------
    list of Path
        The two files written.
    """
    from matplotlib.figure import Figure  # without pyplot: no global backend or figure state is touched

    figure = Figure(figsize=(10, 5.2), layout="constrained")
    deletion_axes, insertion_axes = figure.subplots(1, 2, sharey=True)
    panels = ((deletion_axes, "deletion", "removed", "lower"), (insertion_axes, "insertion", "inserted", "higher"))
    for number, (method, figures) in enumerate(faithfulness.items()):
        if not figures.get("tokens"):
            continue
        # methods whose maps rank pixels alike draw the same curve: line styles keep each visible
        style = {"linestyle": ("-", "--", "-.", ":")[number % 4], "linewidth": 2.0 - 0.3 * (number % 4)}
        if method == RANDOM_ORDER:
            style = {"linestyle": (0, (6, 2)), "color": "black", "linewidth": 1.2}
        label = f"{method} (deletion {figures['deletion_auc']:.3f}, insertion {figures['insertion_auc']:.3f})"
        for axes, kind, _, _ in panels:
            curve = np.asarray(figures[f"{kind}_curve"])
            axes.plot(np.linspace(0.0, 1.0, len(curve)), curve, label=label if axes is deletion_axes else None, **style)
    for axes, kind, verb, better in panels:
        axes.set_title(f"{kind.capitalize()} ({better} is better)")
        axes.set_xlabel(f"fraction of pixels {verb}, in each map's order")
        axes.set_xlim(0.0, 1.0)
        axes.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize="small", title="method (AUC)")
    deletion_axes.set_ylabel("probability of the explained token (mean)")
    stem = Path(stem)
    undated = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
    return [
        write_atomically(
            stem.with_name(f"{stem.name}.{kind}"),
            lambda staging, kind=kind: figure.savefig(staging, format=kind, dpi=150, metadata=undated[kind]),
            overwrite=True,
        )
        for kind in ("png", "pdf")
    ]
