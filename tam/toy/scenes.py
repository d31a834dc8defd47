"""Seeded scenes of coloured shapes with a caption and a mask per shape category.

A scene holds one to three shapes of distinct categories (circle, square, triangle,
star) in distinct colours and several sizes, on a plain or textured light background;
shapes do not overlap. The caption names the shapes in the fixed category order, e.g.
``"a circle, a square and a star."`` (colours are left out: binding each colour to its
shape is what a tiny model learns slowest). The label image holds, per pixel, the
category id of the shape there (0 for the background), as COCO14's ``seg_label`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CATEGORIES",
    "COLOURS",
    "PROMPTS",
    "SIDE",
    "Scene",
    "caption_of",
    "compose_scene",
    "draw_scene",
    "write_coco14",
]

SIDE = 168
"""Side of every scene in pixels: a 12 x 12 grid of 14-pixel cells for the toy model."""

CATEGORIES = {"circle": 1, "square": 2, "triangle": 3, "star": 4}
"""Shape category name (a WordNet noun) -> its id, the label value in the masks."""

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 200, 0),
    "purple": (140, 40, 170),
    "black": (20, 20, 20),
}
"""Colour name -> RGB; all far from the light backgrounds."""

PROMPTS = ("Write a one-sentence caption for this image:", "Describe this image.")
"""The questions the toy model answers with the caption (the COCO14 prompt and the demo's)."""

# Smallest and largest shape radius in pixels: at least about 2.5 cells across, so that a
# perfect map keeps an Obj-IoU above 0.6 after the rank Gaussian filter on the 12 x 12 grid
# (0.48 with radii from 10 px: the filter's 3 x 3 window spreads small shapes).
_RADII = (18, 44)
_ATTEMPTS = 200  # placements tried per shape
_MARGIN = 4  # least gap between shapes, and between a shape and the border, in pixels


@dataclass(frozen=True)
class Scene:
    """One drawn scene.

    Attributes
    ----------
    image : ndarray of shape (SIDE, SIDE, 3), uint8 RGB
    labels : ndarray of shape (SIDE, SIDE), uint8
        Category id of the shape at each pixel (see :data:`CATEGORIES`), 0 elsewhere.
    shapes : tuple of (str, str)
        ``(colour, category)`` of each shape, in caption order.
    caption : str
    """

    image: np.ndarray
    labels: np.ndarray
    shapes: tuple[tuple[str, str], ...]
    caption: str


def caption_of(categories) -> str:
    """Return the caption naming ``categories``, a sequence of shape names, in that order.

    >>> caption_of(["circle", "square", "star"])
    'a circle, a square and a star.'
    >>> caption_of(["triangle"])
    'a triangle.'
    """
    phrases = [f"a {category}" for category in categories]
    if not phrases:
        raise ValueError("a caption needs at least one shape, got none")
    head = ", ".join(phrases[:-1])
    return (f"{head} and {phrases[-1]}" if head else phrases[-1]) + "."


def _outline(category: str, centre: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Vertices of a polygonal shape, shape (K, 2), int32 (x, y) pixels."""
    if category == "square":
        angles = angle + np.pi / 4 + np.arange(4) * np.pi / 2
        distances = np.full(4, radius)
    elif category == "triangle":
        angles = angle - np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        distances = np.full(3, radius)
    elif category == "star":
        angles = angle - np.pi / 2 + np.arange(10) * np.pi / 5
        distances = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    else:
        raise ValueError(f"no outline for category {category!r}; polygons are square, triangle and star")
    points = centre + distances[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.round(points).astype(np.int32)


def _paint(canvas: np.ndarray, category: str, centre: np.ndarray, radius: float, angle: float, value) -> None:
    import cv2

    if category == "circle":
        x, y = (int(round(c)) for c in centre)
        cv2.circle(canvas, (x, y), int(round(radius)), value, thickness=-1, lineType=cv2.LINE_8)
    else:
        cv2.fillPoly(canvas, [_outline(category, centre, radius, angle)], value, lineType=cv2.LINE_8)


def _background(rng: np.random.Generator) -> np.ndarray:
    """Draw a light background: plain, noisy or striped, shape (SIDE, SIDE, 3), uint8."""
    base = rng.integers(200, 246, size=3)
    kind = rng.integers(3)
    image = np.broadcast_to(base, (SIDE, SIDE, 3)).astype(np.int16)
    if kind == 1:
        image = image + rng.integers(-12, 13, size=(SIDE, SIDE, 1))
    elif kind == 2:
        period = int(rng.integers(6, 16))
        stripes = (np.arange(SIDE) // period) % 2 * 14
        image = image - (stripes[None, :, None] if rng.integers(2) else stripes[:, None, None])
    return np.ascontiguousarray(np.clip(image, 0, 255), dtype=np.uint8)


def compose_scene(shapes, background: np.ndarray | None = None) -> Scene:
    """Draw given shapes at given places.

    Parameters
    ----------
    shapes : sequence of (str, str, (float, float), float, float)
        ``(colour, category, (x, y) centre in pixels, radius in pixels, angle in radians)``
        per shape, in distinct categories; the caption lists them in category order.
    background : ndarray of shape (SIDE, SIDE, 3), uint8 RGB, optional
        Plain light grey by default; not modified.

    Returns
    -------
    Scene

    >>> scene = compose_scene([("blue", "star", (40, 120), 20, 0.0), ("red", "circle", (120, 40), 16, 0.0)])
    >>> scene.caption, scene.shapes, sorted(np.unique(scene.labels).tolist())
    ('a circle and a star.', (('red', 'circle'), ('blue', 'star')), [0, 1, 4])
    """
    categories = [category for _colour, category, *_ in shapes]
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown or len(set(categories)) != len(categories):
        raise ValueError(f"shapes must have distinct categories among {list(CATEGORIES)}, got {categories}")
    unknown_colours = sorted({colour for colour, *_ in shapes} - set(COLOURS))
    if unknown_colours:
        raise ValueError(f"unknown colours {unknown_colours}; known: {list(COLOURS)}")
    image = np.full((SIDE, SIDE, 3), 225, dtype=np.uint8) if background is None else np.array(background, np.uint8)
    if image.shape != (SIDE, SIDE, 3):
        raise ValueError(f"background must have shape ({SIDE}, {SIDE}, 3), got {image.shape}")
    labels = np.zeros((SIDE, SIDE), dtype=np.uint8)
    ordered = sorted(shapes, key=lambda shape: CATEGORIES[shape[1]])
    for colour, category, centre, radius, angle in ordered:
        centre = np.asarray(centre, dtype=float)
        _paint(image, category, centre, radius, angle, COLOURS[colour])
        _paint(labels, category, centre, radius, angle, CATEGORIES[category])
    described = tuple((colour, category) for colour, category, *_ in ordered)
    return Scene(image=image, labels=labels, shapes=described, caption=caption_of([c for _, c in described]))


def draw_scene(rng: np.random.Generator) -> Scene:
    """Draw one random scene from ``rng``: one to three shapes that do not overlap.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness: one seed gives one scene.

    Returns
    -------
    Scene
    """
    count = int(rng.integers(1, 4))
    categories = sorted(rng.choice(list(CATEGORIES), size=count, replace=False), key=CATEGORIES.get)
    colours = rng.choice(list(COLOURS), size=count, replace=False)
    background = _background(rng)
    shapes, placed = [], []
    for category, colour in zip(categories, colours, strict=True):
        for attempt in range(_ATTEMPTS):
            # the largest radius allowed shrinks with each failed attempt, so a crowded scene still fits
            largest = _RADII[1] - (_RADII[1] - _RADII[0]) * attempt / _ATTEMPTS
            radius = float(rng.uniform(_RADII[0], largest))
            centre = rng.uniform(radius + _MARGIN, SIDE - radius - _MARGIN, size=2)
            if all(np.hypot(*(centre - other)) > radius + r + _MARGIN for other, r in placed):
                break
        else:
            raise RuntimeError(f"no room for a {category} after {_ATTEMPTS} attempts; the radii {_RADII} are too large")
        placed.append((centre, radius))
        shapes.append((str(colour), str(category), tuple(centre), radius, float(rng.uniform(-0.3, 0.3))))
    return compose_scene(shapes, background)


def write_coco14(directory: str | Path, count: int, seed: int, *, overwrite: bool = False) -> Path:
    """Write ``count`` scenes in the COCO14 layout that ``eval.py`` reads.

    Writes ``annotations/instances_minival2014.json`` (images, categories and one
    annotation per shape with its box and area), ``annotations/captions_val2014.json``,
    ``image/<12-digit id>.jpg`` (JPEG quality 95) and ``seg_label/<12-digit id>.png``
    (pixel value = category id). Image ids are 1..count.

    Parameters
    ----------
    directory : str or Path
    count : int
        Number of scenes, at least 1.
    seed : int
        Seed of the scenes: the same seed writes the same data set.
    overwrite : bool, default False
        Write into a folder that already holds a data set.

    Returns
    -------
    Path
        The folder.
    """
    from PIL import Image

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    root = Path(directory)
    instances_path = root / "annotations" / "instances_minival2014.json"
    if instances_path.exists() and not overwrite:
        raise FileExistsError(f"{root} already holds a data set; pass overwrite=True or another folder")
    for folder in ("annotations", "image", "seg_label"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations, captions = [], [], []
    for image_id in range(1, count + 1):
        scene = draw_scene(rng)
        name = f"{image_id:012d}"
        Image.fromarray(scene.image).save(root / "image" / f"{name}.jpg", quality=95)
        Image.fromarray(scene.labels).save(root / "seg_label" / f"{name}.png")
        images.append({"id": image_id, "file_name": f"{name}.jpg", "width": SIDE, "height": SIDE})
        captions.append({"id": image_id, "image_id": image_id, "caption": scene.caption})
        for _colour, category in scene.shapes:
            ys, xs = np.nonzero(scene.labels == CATEGORIES[category])
            box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": CATEGORIES[category],
                    "bbox": box,
                    "area": int(len(xs)),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": cid, "name": name, "supercategory": "shape"} for name, cid in CATEGORIES.items()]
    instances = {"images": images, "annotations": annotations, "categories": categories}
    instances_path.write_text(json.dumps(instances), encoding="utf-8")
    (root / "annotations" / "captions_val2014.json").write_text(
        json.dumps({"images": images, "annotations": captions}), encoding="utf-8"
    )
    return root
