"""Faithfulness of a map: deletion and insertion curves and the pointing game (pure part).

Plausibility (Obj-IoU) asks whether a map covers the named object; faithfulness asks
whether the model needed the region the map points at. Deletion and insertion (Petsiuk
et al., RISE, BMVC 2018; as EAGLE scores explanations) answer it by perturbing the
picture in the map's order:

- the map is resized bilinearly to the picture and its pixels ranked, most salient
  first (ties go to the earlier pixel in row-major order, so a ranking is reproducible);
- step ``k`` of ``steps`` perturbs the first ``k * H * W / steps`` pixels (rounded):
  *deletion* sets them to a fill (black, or the picture blurred), *insertion* starts
  from the fully filled picture and puts them back;
- a scorer gives the probability of the explained token for each picture, and the
  area under each curve (trapezoid rule over fractions 0 .. 1) sums it up: a faithful
  map has a low deletion AUC and a high insertion AUC.

The model only turns pictures into probabilities; :func:`faithfulness_curves` takes that
as one callable and batches the pictures of every map of a token together, scoring the
untouched and the fully filled picture (shared by every map's curves) once.
The pointing game (Zhang et al., ECCV 2016) counts a hit when the map's maximum lies on
the object's mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FILLS",
    "MAX_STEPS",
    "RANDOM_ORDER",
    "Curves",
    "FaithfulnessAccumulator",
    "area_under_curve",
    "faithfulness_curves",
    "fill_picture",
    "perturbed_picture",
    "pixel_ranking",
    "pointing_hit",
    "removal_counts",
    "saliency_on_picture",
]

FILLS = ("black", "blur")
"""What removed pixels become: black, or the picture blurred (a Gaussian of sigma ``H / 16``)."""

MAX_STEPS = 1024
"""Most points of a curve: each step costs two forward passes per map and token, and more
steps than that measure nothing a finer curve of a few hundred would not."""

RANDOM_ORDER = "random-order"
"""Name of the chance row of the faithfulness columns: pixels taken in a random order."""

PictureScorer = Callable[[np.ndarray], np.ndarray]
"""``scorer(pictures)``: pictures ``(B, H, W, 3)`` uint8 RGB to the explained token's probabilities ``(B,)``."""


def saliency_on_picture(token_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a map to the picture's size with bilinear interpolation.

    Parameters
    ----------
    token_map : ndarray of shape (h, w), float or integer
    size : (H, W)

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    import cv2

    token_map = np.asarray(token_map, dtype=np.float32)
    if token_map.ndim != 2:
        raise ValueError(f"token_map must be a 2-D (h, w) array, got shape {token_map.shape}")
    height, width = size
    return cv2.resize(token_map, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def pixel_ranking(saliency: np.ndarray) -> np.ndarray:
    """Rank the pixels of a map, most salient first; ties keep row-major order.

    Parameters
    ----------
    saliency : ndarray of shape (H, W)

    Returns
    -------
    ndarray of shape (H * W,), int64
        Flat pixel indices.

    >>> pixel_ranking(np.array([[0.0, 2.0], [2.0, 1.0]])).tolist()
    [1, 2, 3, 0]
    """
    saliency = np.asarray(saliency)
    if saliency.ndim != 2:
        raise ValueError(f"saliency must be a 2-D (H, W) array, got shape {saliency.shape}")
    return np.argsort(-saliency.ravel(), kind="stable").astype(np.int64)


def removal_counts(num_pixels: int, steps: int = 64) -> np.ndarray:
    """How many pixels step ``k`` perturbs, for ``k = 0 .. steps``.

    Returns
    -------
    ndarray of shape (steps + 1,), int64
        ``k * num_pixels / steps`` rounded half up: 0 first, ``num_pixels`` last.

    >>> removal_counts(10, steps=4).tolist()
    [0, 3, 5, 8, 10]
    """
    if not 2 <= steps <= MAX_STEPS:  # with one step the deletion and insertion curves hold the same two points
        raise ValueError(f"steps must be from 2 to {MAX_STEPS} (tam.metrics.faithfulness.MAX_STEPS), got {steps}")
    return np.floor(np.arange(steps + 1) * num_pixels / steps + 0.5).astype(np.int64)


def fill_picture(picture: np.ndarray, fill: str = "black") -> np.ndarray:
    """Return the picture with every pixel removed: what perturbed pixels are set to.

    Parameters
    ----------
    picture : ndarray of shape (H, W, 3), uint8 RGB
    fill : {"black", "blur"}
        Black pixels, or the picture under a Gaussian blur of sigma ``H / 16`` (which
        keeps colours and removes shapes).

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
    """
    import cv2

    picture = _picture(picture)
    if fill == "black":
        return np.zeros_like(picture)
    if fill == "blur":
        return cv2.GaussianBlur(picture, (0, 0), sigmaX=picture.shape[0] / 16)
    raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")


def perturbed_picture(
    picture: np.ndarray, filled: np.ndarray, ranking: np.ndarray, count: int, kind: str
) -> np.ndarray:
    """One picture of a deletion or insertion curve.

    Parameters
    ----------
    picture : ndarray of shape (H, W, 3), uint8
        The untouched picture.
    filled : ndarray of shape (H, W, 3), uint8
        :func:`fill_picture` of it.
    ranking : ndarray of shape (H * W,), int
        :func:`pixel_ranking` of the map.
    count : int
        How many of the top-ranked pixels are perturbed.
    kind : {"deletion", "insertion"}
        Deletion: those pixels take the fill; insertion: only those pixels keep the
        picture, the rest take the fill.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        A new array; the inputs are unchanged.
    """
    picture, filled = _picture(picture), _picture(filled)
    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion', got {kind!r}")
    start, source = (picture, filled) if kind == "deletion" else (filled, picture)
    out = start.reshape(-1, 3).copy()
    top = ranking[:count]
    out[top] = source.reshape(-1, 3)[top]
    return out.reshape(picture.shape)


def area_under_curve(scores: Sequence[float]) -> float:
    """Area under a curve sampled at evenly spaced fractions 0 .. 1, by the trapezoid rule.

    >>> area_under_curve([1.0, 0.5, 0.0])
    0.5
    >>> area_under_curve([0.0, 1.0, 1.0, 1.0])
    0.8333333333333333
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) < 2:
        raise ValueError(f"scores must be a 1-D curve of at least 2 points, got shape {scores.shape}")
    return float(np.trapezoid(scores, dx=1.0 / (len(scores) - 1)))


def pointing_hit(token_map: np.ndarray, target: np.ndarray) -> bool:
    """Play the pointing game: say whether the map's maximum lies on the object.

    The map is resized bilinearly to the mask; its maximum is the first maximal pixel
    in row-major order (:func:`pixel_ranking`). A map of one value everywhere (all zeros:
    a token with no positive evidence in the picture) has no maximum and points at
    nothing: a miss, not a hit for the top-left pixel.

    Parameters
    ----------
    token_map : ndarray of shape (h, w)
    target : ndarray of shape (H, W), bool
        The matched object's mask.

    Returns
    -------
    bool
    """
    target = np.asarray(target, dtype=bool)
    if target.ndim != 2:
        raise ValueError(f"target must be a 2-D (H, W) mask, got shape {target.shape}")
    saliency = saliency_on_picture(token_map, target.shape)
    if saliency.max() <= saliency.min():
        return False
    return bool(target.ravel()[pixel_ranking(saliency)[0]])


@dataclass(frozen=True)
class Curves:
    """The deletion and insertion curves of one map, at fractions ``k / steps``.

    Attributes
    ----------
    deletion, insertion : ndarray of shape (steps + 1,), float64
        Probability of the explained token after perturbing each fraction.
    """

    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve: lower is more faithful."""
        return area_under_curve(self.deletion)

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve: higher is more faithful."""
        return area_under_curve(self.insertion)


def faithfulness_curves(
    scorer: PictureScorer,
    picture: np.ndarray,
    rankings: Mapping[str, np.ndarray],
    *,
    steps: int = 64,
    fill: str = "black",
    batch_size: int = 16,
) -> dict[str, Curves]:
    """Compute the deletion and insertion curves of several maps of one token.

    Each map costs ``2 * (steps - 1)`` pictures; the untouched and the fully filled
    picture, the ends of every curve, are scored once for all maps.

    Parameters
    ----------
    scorer : callable
        ``scorer(pictures)``: ``(B, H, W, 3)`` uint8 to probabilities ``(B,)``, with
        ``B <= batch_size``.
    picture : ndarray of shape (H, W, 3), uint8 RGB
    rankings : mapping of str to ndarray of shape (H * W,), int
        Pixel order of each map (:func:`pixel_ranking` of :func:`saliency_on_picture`).
    steps : int
    fill : {"black", "blur"}
    batch_size : int

    Returns
    -------
    dict of str to Curves
        In the order of ``rankings``.
    """
    picture = _picture(picture)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    filled = fill_picture(picture, fill)
    counts = removal_counts(picture.shape[0] * picture.shape[1], steps)
    for name, ranking in rankings.items():
        if np.shape(ranking) != (picture.shape[0] * picture.shape[1],):
            raise ValueError(
                f"ranking {name!r} must order the picture's {picture.shape[0] * picture.shape[1]} pixels, "
                f"got shape {np.shape(ranking)}"
            )

    def pictures() -> Iterator[np.ndarray]:
        yield picture
        yield filled
        for ranking in rankings.values():
            for kind in ("deletion", "insertion"):
                for count in counts[1:-1]:
                    yield perturbed_picture(picture, filled, ranking, int(count), kind)

    scores = _score_in_batches(scorer, pictures(), batch_size)
    whole, empty = scores[:2]
    inner = scores[2:].reshape(len(rankings), 2, steps - 1)
    return {
        name: Curves(
            deletion=np.concatenate([[whole], inner[row, 0], [empty]]),
            insertion=np.concatenate([[empty], inner[row, 1], [whole]]),
        )
        for row, name in enumerate(rankings)
    }


def _score_in_batches(scorer: PictureScorer, pictures: Iterator[np.ndarray], batch_size: int) -> np.ndarray:
    scores, batch = [], []
    for picture in pictures:
        batch.append(picture)
        if len(batch) == batch_size:
            scores.append(_checked_scores(scorer, batch))
            batch = []
    if batch:
        scores.append(_checked_scores(scorer, batch))
    return np.concatenate(scores)


def _checked_scores(scorer: PictureScorer, batch: list[np.ndarray]) -> np.ndarray:
    scores = np.asarray(scorer(np.stack(batch)), dtype=np.float64)
    if scores.shape != (len(batch),):
        raise ValueError(f"the scorer must return one probability per picture, {len(batch)}, got shape {scores.shape}")
    return scores


def _picture(picture: np.ndarray) -> np.ndarray:
    picture = np.asarray(picture)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise ValueError(
            f"picture must be an (H, W, 3) uint8 RGB array, got shape {picture.shape}, dtype {picture.dtype}"
        )
    return picture


class FaithfulnessAccumulator:
    """Pool the faithfulness of one map method over the scored tokens of a data set.

    ``update(deletion, insertion, hit)`` per scored token; :meth:`summary` gives the
    mean AUCs, the pointing-game accuracy over the tokens with an object, and the mean
    curves (plotted beside an evaluation's summary).
    """

    def __init__(self) -> None:
        self._deletion: list[np.ndarray] = []
        self._insertion: list[np.ndarray] = []
        self._hits: list[bool] = []

    def update(self, deletion: Sequence[float], insertion: Sequence[float], hit: bool | None) -> None:
        """Add one scored token: its two curves, and its pointing-game hit (None without an object)."""
        deletion, insertion = np.asarray(deletion, dtype=np.float64), np.asarray(insertion, dtype=np.float64)
        if self._deletion and (deletion.shape != self._deletion[0].shape or insertion.shape != deletion.shape):
            raise ValueError(f"every curve must have {len(self._deletion[0])} points, got {len(deletion)}")
        self._deletion.append(deletion)
        self._insertion.append(insertion)
        if hit is not None:
            self._hits.append(bool(hit))

    def summary(self) -> dict:
        """Pooled figures; one with nothing to pool is None.

        Returns
        -------
        dict
            ``insertion_auc`` and ``deletion_auc`` (means over the tokens), ``pointing``
            (share of hits), ``tokens`` and ``pointed`` (how many were pooled), and the
            mean ``insertion_curve`` and ``deletion_curve`` (lists of ``steps + 1`` floats).
        """
        scored = bool(self._deletion)
        return {
            "insertion_auc": float(np.mean([area_under_curve(c) for c in self._insertion])) if scored else None,
            "deletion_auc": float(np.mean([area_under_curve(c) for c in self._deletion])) if scored else None,
            "pointing": float(np.mean(self._hits)) if self._hits else None,
            "tokens": len(self._deletion),
            "pointed": len(self._hits),
            "insertion_curve": np.mean(self._insertion, axis=0).tolist() if scored else None,
            "deletion_curve": np.mean(self._deletion, axis=0).tolist() if scored else None,
        }
