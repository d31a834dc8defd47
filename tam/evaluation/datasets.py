"""The evaluation data sets in the reference release's formats, detected from the folder (spec section 8).

- COCO14: ``annotations/instances_minival2014.json`` (images and categories),
  ``annotations/captions_val2014.json`` when present (references for ROUGE-L and
  METEOR), ``image/<12-digit id>.jpg`` and ``seg_label/<12-digit id>.png`` whose pixel
  values are COCO category ids.
- GranDf and OpenPSG: ``anno.json``, a list of ``[image path, description, seg label
  path, {category name: label value}]`` with paths relative to the folder (absolute
  paths and ``..`` are refused: an annotation file cannot reach outside it, nor can a
  symbolic link inside the folder). Which of the
  two is read from the folder's name, as the reference does, or given explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FORMATS", "PROMPTS", "Dataset", "DatasetError", "Sample", "detect_format", "load_dataset"]

PROMPTS = {
    "coco14": "Write a one-sentence caption for this image:",
    "grandf": "Write a description for this image using around two sentences:",
    "openpsg": "Write a description for this image using around three sentences:",
}
"""The reference's prompt for each data set."""

FORMATS = tuple(PROMPTS)

COCO_INSTANCES = Path("annotations/instances_minival2014.json")
COCO_CAPTIONS = Path("annotations/captions_val2014.json")
ANNO_JSON = Path("anno.json")


class DatasetError(ValueError):
    """The data set folder is missing, of no known format, empty or unreadable."""


@dataclass(frozen=True)
class Sample:
    """One image to caption and score.

    Attributes
    ----------
    index : int
        Position in the data set; results are keyed by it.
    id : str
        A readable name (COCO's 12-digit id, or the image's file stem).
    image : Path
    prompt : str
    references : tuple of str
        Reference captions or descriptions; empty when the data set has none.
    mask : Path
        Segmentation labels: a single-channel PNG whose values are category labels.
    categories : mapping of str to int
        Category name to its label value in ``mask``.
    """

    index: int
    id: str
    image: Path
    prompt: str
    references: tuple[str, ...]
    mask: Path
    categories: Mapping[str, int]


@dataclass(frozen=True)
class Dataset:
    """A data set folder read into samples."""

    format: str
    root: Path
    samples: tuple[Sample, ...]

    def __len__(self) -> int:
        return len(self.samples)


def detect_format(root: str | Path) -> str:
    """Which format the folder holds: ``"coco14"``, ``"grandf"`` or ``"openpsg"``.

    Raises
    ------
    DatasetError
        The folder is missing or holds neither annotation file; or it holds
        ``anno.json`` but its name says neither GranDf nor OpenPSG.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {str(root)!r} does not exist or is not a folder")
    if (root / COCO_INSTANCES).is_file():
        return "coco14"
    if (root / ANNO_JSON).is_file():
        name = root.resolve().name.lower()
        for dataset_format in ("grandf", "openpsg"):
            if dataset_format in name:
                return dataset_format
        raise DatasetError(
            f"{root} holds anno.json but its name says neither GranDf nor OpenPSG, which sets the prompt: "
            "rename it or give the format (grandf or openpsg) explicitly"
        )
    raise DatasetError(
        f"{root} is no known data set: expected {COCO_INSTANCES} (COCO14) or {ANNO_JSON} (GranDf, OpenPSG)"
    )


def load_dataset(root: str | Path, dataset_format: str | None = None) -> Dataset:
    """Read a data set folder.

    Parameters
    ----------
    root : str or Path
    dataset_format : {"coco14", "grandf", "openpsg"}, optional
        Detected from the folder when not given (:func:`detect_format`).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Missing folder, unknown format, unreadable or malformed annotations, no samples.
    """
    root = Path(root)
    if dataset_format is None:
        dataset_format = detect_format(root)
    elif dataset_format not in FORMATS:
        raise DatasetError(f"dataset format must be one of {FORMATS}, got {dataset_format!r}")
    elif not root.is_dir():
        raise DatasetError(f"dataset folder {str(root)!r} does not exist or is not a folder")
    samples = _coco14(root) if dataset_format == "coco14" else _anno_json(root, PROMPTS[dataset_format])
    if not samples:
        raise DatasetError(f"{root} holds no samples: its annotations list no images")
    _check_inside(root, samples)
    return Dataset(dataset_format, root, tuple(samples))


def _check_inside(root: Path, samples: list[Sample]) -> None:
    """Raise :class:`DatasetError` when a sample's picture or mask is a symbolic link leading out of ``root``.

    A link inside the folder is followed; one to elsewhere (dangling or not) would read,
    and with a vis_dir copy, a file the user did not name as part of the data set.
    """
    real_root = root.resolve()
    for sample in samples:
        for path in (sample.image, sample.mask):
            try:
                real = path.resolve()
            except RuntimeError:  # a loop of links
                raise DatasetError(f"sample {sample.index} ({sample.id}): {path} is a loop of symbolic links") from None
            if not real.is_relative_to(real_root):
                raise DatasetError(
                    f"sample {sample.index} ({sample.id}): {path} is a symbolic link to {str(real)!r}, outside the "
                    f"data set folder {str(real_root)!r}; copy the file into the folder"
                )


def _nameable(name: str) -> bool:
    """Tell whether a file may have the name ``name``: no NUL character, no lone surrogate (not UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in name


MAX_LABEL = 255
"""Largest label value a category may have: masks hold 8-bit labels, 0 being the background."""


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: damaged UTF-8 or JSON, an integer of too many digits
        raise DatasetError(f"cannot read annotation file {path}: {error}") from None
    except RecursionError:
        raise DatasetError(f"cannot read annotation file {path}: its JSON is nested too deeply") from None


def _integer(value, what: str, path: Path, *, label: bool = False) -> int:
    """``value`` if it is a JSON integer (not 1.9, "2" or true), within 1 .. MAX_LABEL for a label."""
    if type(value) is not int or (label and not 1 <= value <= MAX_LABEL) or (not label and value < 0):
        expected = f"an integer from 1 to {MAX_LABEL} (a mask's label)" if label else "a non-negative integer"
        raise DatasetError(f"{path}: {what} must be {expected}, got {json.dumps(value)[:40]}")
    return value


def _coco14(root: Path) -> list[Sample]:
    path = root / COCO_INSTANCES
    instances = _read_json(path)
    try:
        categories = {
            str(c["name"]): _integer(c["id"], f"category {c['name']!r}'s id", path, label=True)
            for c in instances["categories"]
        }
        image_ids = [_integer(image["id"], "an image id", path) for image in instances["images"]]
    except (KeyError, TypeError, AttributeError) as error:
        raise DatasetError(f"{path} is no COCO instances file (images with ids, categories): {error!r}") from None
    captions: dict[int, list[str]] = {}
    if (root / COCO_CAPTIONS).is_file():
        try:
            for annotation in _read_json(root / COCO_CAPTIONS)["annotations"]:
                image_id = _integer(annotation["image_id"], "a caption's image_id", root / COCO_CAPTIONS)
                captions.setdefault(image_id, []).append(str(annotation["caption"]))
        except (KeyError, TypeError, AttributeError) as error:
            raise DatasetError(f"{root / COCO_CAPTIONS} is no COCO captions file: {error!r}") from None
    samples = []
    for index, image_id in enumerate(image_ids):
        name = str(image_id).zfill(12)
        samples.append(
            Sample(
                index=index,
                id=name,
                image=root / "image" / f"{name}.jpg",
                prompt=PROMPTS["coco14"],
                references=tuple(captions.get(image_id, ())),
                mask=root / "seg_label" / f"{name}.png",
                categories=categories,
            )
        )
    return samples


def _anno_json(root: Path, prompt: str) -> list[Sample]:
    path = root / ANNO_JSON
    entries = _read_json(path)
    if not isinstance(entries, list):
        raise DatasetError(f"{path} must hold a list of samples, got {type(entries).__name__}")
    samples = []
    for index, entry in enumerate(entries):
        if not (
            isinstance(entry, list)
            and len(entry) == 4
            and all(isinstance(item, str) for item in entry[:3])
            and isinstance(entry[3], dict)
        ):
            raise DatasetError(
                f"{path}: entry {index} must be [image path, description, seg label path, "
                f"{{category: label value}}], got {json.dumps(entry)[:120]}"
            )
        image, description, mask, categories = entry
        for name, value in categories.items():
            _integer(value, f"entry {index}'s label of {name!r}", path, label=True)
        for inside in (image, mask):
            if not _nameable(inside):
                raise DatasetError(
                    f"{path}: entry {index} names {inside!r}, which no file can be named (a NUL character or a "
                    "lone surrogate); give the file's name in UTF-8"
                )
            if Path(inside).is_absolute() or ".." in Path(inside).parts:
                raise DatasetError(
                    f"{path}: entry {index} names {inside!r}, outside the data set folder; "
                    "paths must be relative to it, without '..'"
                )
        samples.append(
            Sample(
                index=index,
                id=Path(image).stem,
                image=root / image,
                prompt=prompt,
                references=(description,),
                mask=root / mask,
                categories=dict(categories),
            )
        )
    return samples
