"""The result of explaining one generation: every map of every explained token.

One object serves the demo, the visuals and the evaluation. It keeps the raw vision
maps, the maps after ECI and the context scores, so the ablations (``raw``, ``eci``,
``rgf``, ``tam``) all come from it without running the model or the scores again, and
the maps of any method computed from the model (:mod:`tam.methods`: ``attention``,
``gradcam``, ``lens@L``, ...) when explaining.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tam._threads import single_threaded
from tam.layout import VisionLayout
from tam.methods import ABLATIONS, MaskMethod, MethodMaps, ResultMethod, UnavailableMethodError, get_method

__all__ = ["METHODS", "Candidates", "TokenActivationResult"]

METHODS = ABLATIONS
"""The map methods every result gives: full TAM, raw activations, ECI only, rank Gaussian filter only."""

_ARRAYS = ("token_ids", "class_ids", "positions", "raw_maps", "eci_maps", "context_scores", "context_mask")
# Model methods' maps are saved as ``method_maps/<name>`` (T, M) and ``method_text/<name>`` (T, T).


@dataclass(frozen=True)
class Candidates:
    """The top-k next-token candidates at the position that predicted each token.

    Attributes
    ----------
    ids : ndarray of shape (T, k), int64
    probabilities : ndarray of shape (T, k), float32
        Softmax probabilities over the whole vocabulary (not over the k values only, as
        the reference shows them).
    """

    ids: np.ndarray
    probabilities: np.ndarray


def to_uint8(maps: np.ndarray) -> np.ndarray:
    """Scale [0, 1] maps to 0..255 and truncate, as the reference does for display and evaluation."""
    return np.clip(np.asarray(maps) * 255.0, 0, 255).astype(np.uint8)


@dataclass
class TokenActivationResult:
    """Token activation maps of every explained token of one generation.

    Explained tokens are the prompt text tokens (first ``num_prompt_tokens``) followed by
    the answer tokens, in sequence order; index ``i`` below runs over them.

    Attributes
    ----------
    token_ids : ndarray of shape (T,), int64
        The explained token ids.
    class_ids : ndarray of shape (T,), int64
        The class whose activation makes each map; equal to ``token_ids`` except in the
        reference's round-0 mode.
    positions : ndarray of shape (T,), int64
        Position of each explained token in the sequence.
    num_prompt_tokens : int
        How many of the explained tokens are prompt tokens.
    layout : VisionLayout
        The grid(s) of the vision tokens.
    raw_maps : ndarray of shape (T, M), float32, >= 0
        Raw token activation maps: ``max(0, h_p . W[c])`` at the vision positions.
    eci_maps : ndarray of shape (T, M), float32, >= 0
        The raw maps after estimated causal inference.
    context_scores : ndarray of shape (T, T), float32, >= 0
        ``[i, j]``: activation of token i's class at the slot of explained token j (its
        own position for prompt tokens, the position that predicted it for answer
        tokens).
    context_mask : ndarray of shape (T, T), bool
        Slots normalised together with token i's map: the earlier tokens for answer
        tokens; all prompt slots for prompt tokens (as the reference does).
    texts : list of str or None
        Decoded text of each explained token, when a tokenizer was given (for display).
    pieces : list of str or None
        The tokenizer's own piece of each explained token (``convert_ids_to_tokens``:
        ``"Ġthe"``, ``"▁the"``), which tells where words start.
    images : list of ndarray of shape (H, W, 3), uint8 RGB, or None
        The picture behind each grid, in layout order (one per image or per temporal
        slice of a video), for visuals; not used by the method.
    options : dict
        The settings that made the result (layer, round-0 mode, filter size, versions).
    method_maps : dict of str to MethodMaps
        Maps of the methods computed from the model when explaining (``attention``,
        ``gradcam``, ``lens@L``, ...), by method name, in [0, 1].
    """

    token_ids: np.ndarray
    class_ids: np.ndarray
    positions: np.ndarray
    num_prompt_tokens: int
    layout: VisionLayout
    raw_maps: np.ndarray
    eci_maps: np.ndarray
    context_scores: np.ndarray
    context_mask: np.ndarray
    texts: list[str] | None = None
    pieces: list[str] | None = None
    images: list[np.ndarray] | None = None
    options: dict = field(default_factory=dict)
    method_maps: dict[str, MethodMaps] = field(default_factory=dict)
    candidate_source: Callable[[], Candidates] | None = field(default=None, repr=False)
    _candidates: Candidates | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def answer_slice(self) -> slice:
        """Indices of the answer tokens among the explained tokens."""
        return slice(self.num_prompt_tokens, len(self))

    @property
    def methods(self) -> tuple[str, ...]:
        """Names of the map methods this result gives maps for: the ablations, then those computed from the model."""
        return (*METHODS, *self.method_maps)

    @single_threaded
    def processed(self, method: str = "tam") -> MethodMaps:
        """Vision maps and text relevances of every explained token by ``method``.

        Returns
        -------
        MethodMaps
            ``vision`` (T, M) and ``text`` (T, T), in [0, 1].

        Raises
        ------
        UnknownMethodError
            If no method has the name.
        UnavailableMethodError
            If the method needs the model and was not computed for this result.
        """
        if method in self.method_maps:
            return self.method_maps[method]
        entry = get_method(method)
        if isinstance(entry, MaskMethod):
            raise UnavailableMethodError(
                f"{method!r} maps are made from a segmentation mask by the evaluation (eval.py --baselines); "
                f"this result has {', '.join(self.methods)}"
            )
        if not isinstance(entry, ResultMethod):
            raise UnavailableMethodError(
                f"this result has no {method!r} maps (it has {', '.join(self.methods)}); "
                f"explain with methods=[{method!r}] to compute them"
            )
        if method not in self._cache:
            self._cache[method] = entry.maps(self)
        return self._cache[method]

    def maps(self, method: str = "tam") -> np.ndarray:
        """Vision maps of every explained token.

        Parameters
        ----------
        method : str
            One of :attr:`methods`: ``"tam"`` full TAM, ``"raw"`` raw activations,
            ``"eci"`` ECI without filter, ``"rgf"`` filter without ECI (these four are
            jointly normalised with the text relevances), or a method computed from the
            model (:mod:`tam.methods`).

        Returns
        -------
        ndarray of shape (T, M), float, in [0, 1]
        """
        return self.processed(method).vision

    def maps_uint8(self, method: str = "tam") -> np.ndarray:
        """:meth:`maps` scaled by 255 and truncated to uint8, shape (T, M)."""
        return to_uint8(self.maps(method))

    def grids(self, index: int, method: str = "tam") -> list[np.ndarray]:
        """Fold the map of explained token ``index`` per image or frame: a list of (h, w) arrays."""
        return self.layout.split(self.maps(method)[index])

    def text_relevance(self, index: int, method: str = "tam") -> np.ndarray:
        """Relevance of each earlier explained token to token ``index``, in [0, 1].

        Returns
        -------
        ndarray of shape (index,), float64
            On the same scale as that token's vision map.
        """
        return self.processed(method).text[index, :index]

    @property
    def candidates(self) -> Candidates | None:
        """Top-3 candidates per explained token, computed on first access when needed."""
        if self._candidates is None and self.candidate_source is not None:
            self._candidates = self.candidate_source()
            self.candidate_source = None
        return self._candidates

    def save_token_visual(self, index: int, path: str | os.PathLike, method: str = "tam", **options) -> Path:
        """Write token ``index``'s picture to ``path``: :func:`tam.visuals.save_token_visual`."""
        from tam.visuals import save_token_visual

        return save_token_visual(self, index, path, method, **options)

    def to_html(self, **options) -> str:
        """Build the self-contained HTML report as a string: :func:`tam.visuals.report_html`."""
        from tam.visuals import report_html

        return report_html(self, **options)

    def save_html(self, path: str | os.PathLike, **options) -> Path:
        """Write the self-contained HTML report to ``path``: :func:`tam.visuals.save_html`."""
        from tam.visuals import save_html

        return save_html(self, path, **options)

    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result to ``directory`` (``arrays.npz`` and ``meta.json``).

        The folder is written beside the target and moved into place, so a failed save
        leaves nothing half-written. Refuses to replace an existing folder unless
        ``overwrite`` is true.
        """
        target = Path(directory)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            arrays = {name: getattr(self, name) for name in _ARRAYS}
            candidates = self.candidates
            if candidates is not None:
                arrays["candidate_ids"] = candidates.ids
                arrays["candidate_probabilities"] = candidates.probabilities
            for index, image in enumerate(self.images or []):
                arrays[f"image_{index}"] = image
            for name, (vision, text) in self.method_maps.items():
                arrays[f"method_maps/{name}"], arrays[f"method_text/{name}"] = vision, text
            np.savez_compressed(staging / "arrays.npz", **arrays)
            meta = {
                "num_prompt_tokens": self.num_prompt_tokens,
                "vision_shape": self.layout.shape,
                "layout_kind": self.layout.kind,
                "num_images": len(self.images or []),
                "texts": self.texts,
                "pieces": self.pieces,
                "options": self.options,
            }
            (staging / "meta.json").write_text(json.dumps(meta, indent=1))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TokenActivationResult:
        """Read a result written by :meth:`save`."""
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        with np.load(directory / "arrays.npz") as data:
            arrays = {name: data[name] for name in data.files}
        images = [arrays.pop(f"image_{index}") for index in range(meta["num_images"])] or None
        candidates = None
        if "candidate_ids" in arrays:
            candidates = Candidates(arrays.pop("candidate_ids"), arrays.pop("candidate_probabilities"))
        names = [key.removeprefix("method_maps/") for key in arrays if key.startswith("method_maps/")]
        method_maps = {
            name: MethodMaps(arrays.pop(f"method_maps/{name}"), arrays.pop(f"method_text/{name}")) for name in names
        }
        shape = meta["vision_shape"]
        layout = VisionLayout.from_shape([tuple(g) for g in shape] if meta["layout_kind"] == "images" else tuple(shape))
        return cls(
            num_prompt_tokens=meta["num_prompt_tokens"],
            layout=layout,
            texts=meta["texts"],
            pieces=meta["pieces"],
            images=images,
            options=meta["options"],
            method_maps=method_maps,
            _candidates=candidates,
            **arrays,
        )
