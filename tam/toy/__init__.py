"""A toy world of coloured shapes that proves the whole pipeline offline.

:mod:`tam.toy.scenes` draws seeded scenes (shapes, a caption naming them, a mask per
shape category) and writes them in the COCO14 layout of the evaluation;
:mod:`tam.toy.check` scores the token maps of shape words against those masks.
``tools/train_toy.py`` trains the model ``toy-shapes`` on them (see ``docs/toy-world.md``).
"""

from pathlib import Path

__all__ = ["TOY_MODELS"]

TOY_MODELS = {"toy-shapes": Path(__file__).resolve().parent / "toy-shapes"}
"""Name -> folder of each trained toy model shipped in the package (``load_model(name)`` reads it)."""
