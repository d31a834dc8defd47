"""The result of explaining one generation: every map of every explained token.

One object serves the demo, the visuals and the evaluation. It keeps the raw vision
maps, the maps after ECI and the context scores, so the ablations (``raw``, ``eci``,
``rgf``, ``tam``) all come from it without running the model or the scores again, and
the maps of any method computed from the model (:mod:`tam.methods`: ``attention``,
``gradcam``, ``lens@L``, ...) when explaining.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tam._threads import single_threaded
from tam.errors import ResultFileError, ShapeError
from tam.files import fit_name, replace_directory
from tam.layout import Tile, VisionLayout
from tam.methods import ABLATIONS, MaskMethod, MethodMaps, ResultMethod, UnavailableMethodError, get_method
from tam.words import (
    WORD_REDUCTION,
    Sentence,
    Span,
    Word,
    find_phrase,
    group_sentences,
    group_words,
    is_special_token,
    reduce_rows,
)

__all__ = ["METHODS", "SAVED_ARRAYS", "UNITS", "Candidates", "TokenActivationResult"]

METHODS = ABLATIONS
"""The map methods every result gives: full TAM, raw activations, ECI only, rank Gaussian filter only."""

SAVED_ARRAYS = {
    "token_ids": ("iu", ("T",)),
    "class_ids": ("iu", ("T",)),
    "positions": ("iu", ("T",)),
    "raw_maps": ("f", ("T", "M")),
    "eci_maps": ("f", ("T", "M")),
    "context_scores": ("f", ("T", "T")),
    "context_mask": ("b", ("T", "T")),
    "candidate_ids": ("iu", ("T", "k")),
    "candidate_probabilities": ("f", ("T", "k")),
    r"image_\d+": ("u", ("H", "W", 3)),
    "method_maps/.+": ("f", ("T", "M")),
    "method_text/.+": ("f", ("T", "T")),
}
"""Every array name ``arrays.npz`` may hold (a regular expression), with its dtype kinds
(numpy ``dtype.kind`` letters) and its shape: ``T`` explained tokens, ``M`` vision tokens,
``k`` candidates, ``H, W`` a picture's size; a model method's maps are
``method_maps/<name>`` and ``method_text/<name>`` (:class:`~tam.methods.MethodMaps`).
:meth:`TokenActivationResult.load` refuses any other name, kind or shape."""

UNITS = ("token", "word", "sentence")
"""The spans a result can be read in (:meth:`TokenActivationResult.spans`)."""

_ARRAYS = ("token_ids", "class_ids", "positions", "raw_maps", "eci_maps", "context_scores", "context_mask")
"""The arrays every saved result holds."""


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
        The user's pictures in chat order (each image; each temporal slice of a video),
        upright and before any resize, crop or pad: the frame of :meth:`picture_map`, for
        visuals; not used by the method.
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

    def __repr__(self) -> str:
        """Describe the tokens, the layout and the methods in one line (no arrays)."""
        answer = ""
        if self.texts is not None:
            text = self.answer if len(self.answer) <= 80 else f"{self.answer[:40]}...{self.answer[-37:]}"
            answer = f": {text!r}"
        grids = ", ".join(f"{h}x{w}" for h, w in dict.fromkeys(self.layout.grids))
        frames = f"{len(self.layout.grids)} frames of " if self.layout.kind == "video" else ""
        return (
            f"<TokenActivationResult: {len(self)} tokens ({self.num_prompt_tokens} prompt, "
            f"{len(self) - self.num_prompt_tokens} answer{answer}), layout {self.layout.kind} {frames}{grids} "
            f"({self.layout.num_tokens} vision tokens), methods {', '.join(self.methods)}>"
        )

    @property
    def answer(self) -> str:
        """The answer's text: its explained tokens' texts joined, special tokens left out.

        A SentencePiece piece that starts a word (``"▁dog"``, decoded alone as ``"dog"``)
        gets its space back, as the tokenizer's ``decode`` gives it. A character whose UTF-8
        bytes are split over two tokens shows as ``"�"`` (each token is decoded alone).
        """
        texts = self._require_texts()
        parts = []
        for index in range(self.num_prompt_tokens, len(self)):
            text = texts[index]
            if is_special_token(text):
                continue
            if parts and self.pieces is not None and self.pieces[index].startswith("▁") and not text[:1].isspace():
                text = " " + text
            parts.append(text)
        return "".join(parts).strip()

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

    def picture_map(
        self,
        index_or_span,
        method: str = "tam",
        picture: int = 0,
        size: tuple[int, int] | None = None,
        *,
        tiles: str = "all",
        reduction: str = WORD_REDUCTION,
    ) -> np.ndarray:
        """Return the map of a token or a span over one of the user's own pictures.

        Parameters
        ----------
        index_or_span : int, Span, str or sequence
            A row of :meth:`maps` (an int), or a span as :meth:`span_map` takes it.
        method : str
            Whose maps (see :meth:`maps`).
        picture : int
            Which picture: images and video frames counted in chat order.
        size : (H, W), optional
            The map's size; the picture's own pixel size by default.
        tiles : {"all", "local", "global"}
            Draw every tile of the picture, or one kind alone (:meth:`tam.layout.VisionLayout.paint`).
        reduction : str
            How a span's token maps are reduced (:meth:`span_map`).

        Returns
        -------
        ndarray of shape (H, W), float32, in [0, 1]
            0 where the model never saw the picture (outside a centre crop:
            :meth:`seen_box` tells which region it saw).
        """
        if isinstance(index_or_span, (int, np.integer)):
            row = self.maps(method)[int(index_or_span)]
        else:
            row = self.span_map(index_or_span, method, reduction)
        return self.layout.paint(self.layout.split(row), picture, size=size, tiles=tiles)

    def seen_box(self, picture: int = 0) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` in picture ``picture``'s pixels: the region the model saw."""
        return self.layout.seen_box(picture)

    def text_relevance(self, index: int, method: str = "tam") -> np.ndarray:
        """Relevance of each earlier explained token to token ``index``, in [0, 1].

        Returns
        -------
        ndarray of shape (index,), float64
            On the same scale as that token's vision map.
        """
        return self.processed(method).text[index, :index]

    def _require_texts(self) -> list[str]:
        if self.texts is None:
            raise ValueError("the result has no token texts: explain with a tokenizer (tam.explain passes one)")
        return self.texts

    def _grouped(self, group) -> tuple:
        """Apply ``group(texts, pieces, offset)`` to the prompt and to the answer apart, joined."""
        texts = self._require_texts()
        parts = []
        for part in (slice(0, self.num_prompt_tokens), self.answer_slice):
            pieces = None if self.pieces is None else self.pieces[part]
            parts.extend(group(texts[part], pieces, part.start))
        return tuple(parts)

    @functools.cached_property
    def words(self) -> tuple[Word, ...]:
        """Words of the prompt, then of the answer (:func:`tam.words.group_words`, rule ``"tam"``).

        A word never spans the prompt and the answer. Each word's ``tokens`` are
        explained-token indices, so ``result.maps()[list(word.tokens)]`` are its maps.
        """

        def group(texts, pieces, offset):
            return [
                Word(word.text, tuple(offset + i for i in word.tokens))
                for word in group_words(texts, pieces, rule="tam")
            ]

        return self._grouped(group)

    @functools.cached_property
    def sentences(self) -> tuple[Sentence, ...]:
        """Sentences of the prompt, then of the answer (:func:`tam.words.group_sentences`), of whole words."""

        def group(texts, pieces, offset):
            words = group_words(texts, pieces, rule="tam")
            return [
                Sentence(sentence.text, tuple(offset + i for i in sentence.tokens))
                for sentence in group_sentences(texts, words)
            ]

        return self._grouped(group)

    def spans(self, unit: str) -> tuple[Span, ...]:
        """Every explained token, word or sentence, in order.

        Parameters
        ----------
        unit : {"token", "word", "sentence"}

        Returns
        -------
        tuple of Span
            Tokens as one-token spans (text as decoded), or :attr:`words`, or :attr:`sentences`.
        """
        if unit == "token":
            texts = self.texts or [f"[{int(token)}]" for token in self.token_ids]
            return tuple(Span(text, (index,)) for index, text in enumerate(texts))
        if unit == "word":
            return self.words
        if unit == "sentence":
            return self.sentences
        raise ValueError(f"`unit` must be one of {UNITS}, got {unit!r}")

    def find(self, phrase: str) -> Span:
        """Find the first words that read as ``phrase``, in the answer, else in the prompt.

        Case and the amount of whitespace do not matter (:func:`tam.words.find_phrase`).

        Raises
        ------
        LookupError
            If no run of consecutive words reads as ``phrase``; the message lists the answer's words.
        """
        texts = self._require_texts()
        words = self.words
        answer_start = next((k for k, word in enumerate(words) if word.tokens[0] >= self.num_prompt_tokens), len(words))
        for part in (words[answer_start:], words[:answer_start]):
            found = find_phrase(texts, part, phrase) if part else None
            if found is not None:
                chosen = [part[k] for k in found]
                return Span(" ".join(w.text for w in chosen), tuple(i for w in chosen for i in w.tokens))
        shown = " ".join(word.text for word in words[answer_start:])
        raise LookupError(f"no words read {phrase!r} in this result; the answer's words are: {shown}")

    def span_tokens(self, span) -> tuple[int, ...]:
        """Check ``span`` and return its explained-token indices.

        Parameters
        ----------
        span : Span, str, int, or sequence of int or of Span
            A word, sentence or phrase (:class:`~tam.words.Span`); a phrase's text
            (:meth:`find`); a token index; token indices; or consecutive words (a phrase).

        Returns
        -------
        tuple of int
            Ascending, distinct, each in ``[0, T)``.
        """
        if isinstance(span, Span):
            tokens = span.tokens
        elif isinstance(span, str):
            tokens = self.find(span).tokens
        elif isinstance(span, (int, np.integer)):
            tokens = (int(span),)
        elif isinstance(span, Sequence) and span and all(isinstance(item, Span) for item in span):
            tokens = tuple(i for item in span for i in item.tokens)
            if list(tokens) != list(range(tokens[0], tokens[0] + len(tokens))):
                raise ValueError(f"a phrase must be consecutive words, got the tokens {tokens}")
        else:
            tokens = tuple(int(i) for i in np.asarray(span, dtype=np.int64).reshape(-1))
        count = len(self)
        if not tokens or sorted(set(tokens)) != list(tokens) or not 0 <= tokens[0] <= tokens[-1] < count:
            raise ValueError(
                f"a span must be ascending, distinct token indices in [0, {count}) for this result, got {tokens}"
            )
        return tokens

    def span_map(self, span, method: str = "tam", reduction: str = WORD_REDUCTION) -> np.ndarray:
        """One vision map for a set of explained tokens: the stated reduction of their maps.

        Parameters
        ----------
        span : Span, str, int, or sequence of int or of Span
            See :meth:`span_tokens` (``result.words[3]``, ``"red circle"``, ``[5, 6]``).
        method : str
            Whose maps (see :meth:`maps`).
        reduction : {"mean", "max", "first", "weighted"}
            See :func:`tam.words.reduce_rows`; words default to ``WORD_REDUCTION``.

        Returns
        -------
        ndarray of shape (M,), float64, in [0, 1]
            Fold it per picture with ``result.layout.split``.
        """
        tokens = list(self.span_tokens(span))
        return reduce_rows(self.maps(method)[tokens], reduction)

    def span_text_relevance(self, span, method: str = "tam", reduction: str = WORD_REDUCTION) -> np.ndarray:
        """Relevance of each token before ``span`` to it: the same reduction of its tokens' rows.

        Returns
        -------
        ndarray of shape (first,), float64, in [0, 1]
            ``first`` is the span's first token; ``weighted`` weighs each token's row by
            the peak of its vision map, as :meth:`span_map` does.
        """
        tokens = self.span_tokens(span)
        first = tokens[0]
        rows = np.stack([self.text_relevance(i, method)[:first] for i in tokens])
        peaks = self.maps(method)[list(tokens)].max(axis=1)
        return reduce_rows(rows, reduction, peaks=peaks)

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

    def save_span_visual(self, span, path: str | os.PathLike, method: str = "tam", **options) -> Path:
        """Write a word's, phrase's or sentence's picture to ``path``: :func:`tam.visuals.save_span_visual`."""
        from tam.visuals import save_span_visual

        return save_span_visual(self, span, path, method, **options)

    def save_figure(self, path: str | os.PathLike, words, methods=("tam",), **options) -> Path:
        """Write a figure of ``words`` x ``methods`` for a paper (PDF, PNG, SVG): :func:`tam.visuals.save_figure`."""
        from tam.visuals import save_figure

        return save_figure(self, path, words, methods, **options)

    def to_html(self, **options) -> str:
        """Build the self-contained HTML report as a string: :func:`tam.visuals.report_html`."""
        from tam.visuals import report_html

        return report_html(self, **options)

    def save_html(self, path: str | os.PathLike, **options) -> Path:
        """Write the self-contained HTML report to ``path``: :func:`tam.visuals.save_html`."""
        from tam.visuals import save_html

        return save_html(self, path, **options)

    def show(self, **options):
        """Show the report inline in a notebook, with the report's options: :func:`tam.visuals.notebook.inline_report`.

        ``result.show(method="raw", unit="token", opacity=0.7)``; ``result`` alone shows the defaults.
        """
        from tam.visuals.notebook import inline_report

        return inline_report(self, **options)

    def _repr_html_(self) -> str:
        return self.show()._repr_html_()

    def _mime_(self) -> tuple[str, str]:
        """Give marimo the inline report (its display hook)."""
        return self.show()._mime_()

    def plot(self, span, methods=("tam",), **options):
        """Draw ``span``'s maps over the pictures, a matplotlib figure: :func:`tam.visuals.notebook.span_figure`."""
        from tam.visuals.notebook import span_figure

        return span_figure(self, span, methods, **options)

    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result to ``directory`` (``arrays.npz`` and ``meta.json``).

        The folder is written beside the target and swapped into place
        (:func:`tam.files.replace_directory`), so a failed or interrupted save leaves the
        earlier result or the new one, never a part or nothing. Refuses to replace an
        existing folder unless ``overwrite`` is true, and a ``directory`` that is a symbolic link.
        """
        target = Path(directory)
        if target.is_symlink():  # replacing through a link would write, or delete, a folder elsewhere
            raise FileExistsError(f"{target} is a symbolic link; tam saves no result through a link: name a folder")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        if target.exists() and not target.is_dir():
            raise FileExistsError(f"{target} is a file, not a result folder; choose another path")
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{fit_name(target.name, 40)}.{os.getpid()}."  # within NAME_MAX with mkdtemp's random part
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        try:
            np.savez_compressed(staging / "arrays.npz", **self._saved_arrays())
            meta = {
                "num_prompt_tokens": self.num_prompt_tokens,
                "vision_shape": self.layout.shape,
                "layout_kind": self.layout.kind,
                "num_images": len(self.images or []),
                "tiles": [[tile.picture, *tile.box, tile.kind] for tile in self.layout.tiles],
                "picture_sizes": [list(size) for size in self.layout.picture_sizes],
                "texts": self.texts,
                "pieces": self.pieces,
                "options": self.options,
            }
            (staging / "meta.json").write_text(json.dumps(meta, indent=1))
            for name in ("arrays.npz", "meta.json"):
                with (staging / name).open("rb+") as handle:
                    os.fsync(handle.fileno())
            replace_directory(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def _saved_arrays(self) -> dict[str, np.ndarray]:
        """Every array :meth:`save` writes, by its name in ``arrays.npz`` (see :data:`SAVED_ARRAYS`)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        candidates = self.candidates
        if candidates is not None:
            arrays["candidate_ids"] = candidates.ids
            arrays["candidate_probabilities"] = candidates.probabilities
        for index, image in enumerate(self.images or []):
            arrays[f"image_{index}"] = image
        for name, (vision, text) in self.method_maps.items():
            arrays[f"method_maps/{name}"], arrays[f"method_text/{name}"] = vision, text
        return arrays

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TokenActivationResult:
        """Read a result written by :meth:`save`, checking every value it reads.

        Raises
        ------
        ResultFileError
            The folder or a file is missing or damaged, the metadata is not what
            :meth:`save` writes, an array is unknown or of the wrong shape or type.
        """
        return cls(**_read_result_folder(Path(directory)))


_META_TYPES = {
    "num_prompt_tokens": int,
    "vision_shape": list,
    "layout_kind": str,
    "num_images": int,
    "texts": (list, type(None)),
    "pieces": (list, type(None)),
    "options": dict,
}
_META_OPTIONAL = {"tiles": list, "picture_sizes": list}
"""Keys of results written since layouts have tiles; older results lack them."""


def _read_result_folder(directory: Path) -> dict:
    """Read the constructor arguments of the result saved in ``directory``, checking every value.

    Raises
    ------
    ResultFileError
        One line naming the folder and what is wrong in it.
    """

    def bad(problem: str) -> ResultFileError:
        return ResultFileError(f"{directory} is not a saved tam result: {problem}")

    if not directory.is_dir():
        raise bad("no such folder")
    for name in ("meta.json", "arrays.npz"):
        _check_regular_file(directory / name, bad)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: damaged UTF-8 or JSON, an integer of too many digits
        raise bad(f"cannot read meta.json ({error})") from None
    except RecursionError:
        raise bad("cannot read meta.json (nested too deeply)") from None
    if not isinstance(meta, dict) or not set(_META_TYPES) <= set(meta) <= {*_META_TYPES, *_META_OPTIONAL}:
        found = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise bad(f"meta.json must hold the keys {sorted(_META_TYPES)} (and {sorted(_META_OPTIONAL)}), got {found}")
    for key, kind in {**_META_TYPES, **_META_OPTIONAL}.items():
        if key in meta and (not isinstance(meta[key], kind) or isinstance(meta[key], bool)):
            raise bad(f"meta.json {key!r} has the wrong type {type(meta[key]).__name__}")
    arrays = _read_arrays(directory / "arrays.npz", bad)

    shape = meta["vision_shape"]
    sides = [side for grid in shape for side in (grid if isinstance(grid, list) else [grid])]
    if not all(type(side) is int for side in sides):
        raise bad(f"meta.json vision_shape {shape!r} must hold integers only")
    try:
        nested = bool(shape) and all(isinstance(grid, list) for grid in shape)
        layout = VisionLayout.from_shape([tuple(g) for g in shape] if nested else tuple(shape))
        if nested and meta.get("tiles") and meta["layout_kind"] in ("image", "video"):
            layout = dataclasses.replace(layout, kind=meta["layout_kind"])  # tiled pictures: a list of grids
    except (ShapeError, TypeError) as error:
        raise bad(f"meta.json vision_shape {meta['vision_shape']!r}: {error}") from None
    if layout.kind != meta["layout_kind"]:
        raise bad(f"meta.json layout_kind {meta['layout_kind']!r} does not fit vision_shape {layout.shape!r}")
    try:
        layout = _placed_layout(layout, meta.get("tiles", []), meta.get("picture_sizes", []))
    except (ShapeError, TypeError, ValueError) as error:
        raise bad(
            f"meta.json tiles {meta.get('tiles')!r} or picture_sizes {meta.get('picture_sizes')!r}: {error}"
        ) from None
    count = len(arrays["token_ids"]) if arrays["token_ids"].ndim == 1 else -1
    sizes = {"T": count, "M": layout.num_tokens}
    for name, array in arrays.items():
        kinds, dims = next(spec for pattern, spec in SAVED_ARRAYS.items() if re.fullmatch(pattern, name))
        expected = tuple(sizes.get(dim, dim) for dim in dims)
        fits = len(array.shape) == len(dims) and all(
            isinstance(want, str) or got == want for got, want in zip(array.shape, expected, strict=True)
        )
        if array.dtype.kind not in kinds or not fits:
            raise bad(
                f"array {name!r} has shape {array.shape} and dtype {array.dtype}, expected {expected} of kind {kinds}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise bad(f"array {name!r} holds NaN or infinity")
    if not 0 <= meta["num_prompt_tokens"] <= count:
        raise bad(f"num_prompt_tokens is {meta['num_prompt_tokens']}, but the result has {count} tokens")
    for key in ("texts", "pieces"):
        if meta[key] is not None and (len(meta[key]) != count or not all(isinstance(t, str) for t in meta[key])):
            raise bad(f"meta.json {key!r} must be {count} strings, one per token")
        if meta[key] is not None and not all(_encodable(text) for text in meta[key]):
            raise bad(f"meta.json {key!r} holds a lone surrogate (\\ud800 to \\udfff), which is no text")
    num_images = meta["num_images"]
    images = [arrays.pop(f"image_{index}", None) for index in range(num_images)]
    if (
        num_images not in (0, layout.num_pictures)
        or any(image is None for image in images)
        or any(name.startswith("image_") for name in arrays)
    ):
        raise bad(f"num_images is {num_images}, but the layout has {layout.num_pictures} pictures and the file others")
    if images and layout.picture_sizes and [image.shape[:2] for image in images] != list(layout.picture_sizes):
        raise bad(f"the images' sizes differ from the layout's picture_sizes {list(layout.picture_sizes)}")
    candidates = None
    if "candidate_ids" in arrays or "candidate_probabilities" in arrays:
        if not {"candidate_ids", "candidate_probabilities"} <= set(arrays):
            raise bad("candidate_ids and candidate_probabilities come together")
        candidates = Candidates(arrays.pop("candidate_ids"), arrays.pop("candidate_probabilities"))
    names = [name.removeprefix("method_maps/") for name in arrays if name.startswith("method_maps/")]
    if sorted(names) != sorted(name.removeprefix("method_text/") for name in arrays if name.startswith("method_text/")):
        raise bad("every method_maps/<name> array comes with a method_text/<name> array")
    method_maps = {
        name: MethodMaps(arrays.pop(f"method_maps/{name}"), arrays.pop(f"method_text/{name}")) for name in names
    }
    return {
        **arrays,
        "num_prompt_tokens": meta["num_prompt_tokens"],
        "layout": layout,
        "texts": meta["texts"],
        "pieces": meta["pieces"],
        "images": images or None,
        "options": meta["options"],
        "method_maps": method_maps,
        "_candidates": candidates,
    }


def _placed_layout(layout: VisionLayout, tiles: list, picture_sizes: list) -> VisionLayout:
    """``layout`` with the tiles and picture sizes of meta.json (none in results written before tiles)."""
    if not tiles and not picture_sizes:
        return layout
    sizes = [_exact_ints(size, 2) for size in picture_sizes]
    placed = []
    for entry in tiles:
        if not isinstance(entry, list) or len(entry) != 6 or not isinstance(entry[5], str):
            raise ValueError("each tile must be [picture, left, top, right, bottom, kind]")
        (picture,) = _exact_ints(entry[:1], 1)
        box = tuple(
            float(value) for value in entry[1:5] if isinstance(value, (int, float)) and not isinstance(value, bool)
        )
        if len(box) != 4:
            raise ValueError("a tile's box must be four numbers")
        placed.append(Tile(picture, box, entry[5]))
    return VisionLayout(layout.grids, layout.kind, tuple(placed), tuple(sizes))


def _exact_ints(values, count: int) -> tuple[int, ...]:
    """``values`` as ``count`` ints, refusing floats, booleans and other types."""
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"expected a list of {count} integers, got {values!r}")
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        raise ValueError(f"expected integers, got {values!r}")
    return tuple(values)


MAX_LOADED_BYTES = 2**31
"""Most bytes the arrays of a loaded result may take once inflated (2 GiB): checked from the
archive's directory and each array's header before anything is inflated, so a small file
that would inflate to gigabytes (or whose header claims 10**12 cells) is refused at once."""

MAX_META_BYTES = 2**26
"""Largest ``meta.json`` read (64 MiB; the texts of thousands of tokens take well under 1 MiB)."""


def _check_regular_file(path: Path, bad) -> None:
    """Refuse a member of a result folder that is a link, a FIFO, a device or too large, before it is opened."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return  # reported as missing when read
    except OSError as error:
        raise bad(f"cannot read {path.name} ({error})") from None
    if not stat.S_ISREG(info.st_mode):
        raise bad(f"{path.name} is not a regular file (a link, FIFO or device)")
    if path.name == "meta.json" and info.st_size > MAX_META_BYTES:
        raise bad(f"meta.json holds {info.st_size} bytes, over the limit of {MAX_META_BYTES}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_archive_sizes(path: Path, bad) -> None:
    """Refuse an ``arrays.npz`` whose arrays would inflate past :data:`MAX_LOADED_BYTES`, from its headers only."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        total = sum(member.file_size for member in members)
        if total > MAX_LOADED_BYTES:
            raise bad(f"arrays.npz would inflate to {total} bytes, over the limit of {MAX_LOADED_BYTES}")
        for member in members:
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else None
                read_header = read_header or np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(stream)
            claimed = math.prod(shape) * dtype.itemsize
            if dtype.hasobject:
                raise bad(f"array {member.filename!r} holds Python objects (pickled); Object arrays cannot be loaded")
            if claimed > member.file_size:
                raise bad(
                    f"array {member.filename!r} claims shape {shape} of {dtype} ({claimed} bytes) "
                    f"but holds {member.file_size} bytes"
                )


def _read_arrays(path: Path, bad) -> dict[str, np.ndarray]:
    """Read the arrays of ``arrays.npz``, refusing pickled objects, unknown names, missing ones and bombs."""
    try:
        _check_archive_sizes(path, bad)
        with np.load(path, allow_pickle=False) as data:
            unknown = [name for name in data.files if not any(re.fullmatch(p, name) for p in SAVED_ARRAYS)]
            if unknown:
                raise bad(f"arrays.npz holds unknown arrays {unknown[:5]}; known are {list(SAVED_ARRAYS)}")
            arrays = {name: data[name] for name in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        if isinstance(error, ResultFileError):
            raise
        raise bad(f"cannot read arrays.npz ({type(error).__name__}: {error})") from None
    missing = [name for name in _ARRAYS if name not in arrays]
    if missing:
        raise bad(f"arrays.npz lacks {missing}")
    return arrays
