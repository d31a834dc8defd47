"""Llama 4 family (``Llama4ForConditionalGeneration``: Llama 4 Scout and Maverick).

Read from the model and its processor:

- vision tokens: ``config.image_token_id`` (``<|patch|>``); the chat template writes one
  ``<|image|>`` per picture, which the processor expands into ``<|image_start|>``, the
  tiles' patches with ``<|tile_x_separator|>`` between tiles of a row and
  ``<|tile_y_separator|>`` after each row, then ``<|image|>`` before the global tile's
  patches and ``<|image_end|>``: those markers are text, never cells;
- grid of one tile: ``vision_config.image_size / patch_size`` patches a side, times
  ``pixel_shuffle_ratio`` after the pixel shuffle (336 / 14 * 0.5 = 12);
- tiles: ``Llama4ImageProcessor`` picks the canvas of whole tiles (at most ``max_patches``)
  with transformers' own ``find_supported_resolutions`` and ``get_best_fit``, resizes the
  picture into it without distortion (``get_max_res_without_distortion``; never upscaled
  past one tile unless ``resize_to_max_canvas``), pads it on the right and bottom and cuts it
  row by row; with more than one tile, a global tile (the whole picture, stretched) follows.
  One tile alone is the padded canvas.

Known upstream: transformers 5.24's ``Llama4ForConditionalGeneration.forward`` reads
``image_outputs`` from its language model's output, which has none, so every forward with
``return_dict=True`` (``generate`` included) raises ``AttributeError``. The adapter runs the
model's passes (:meth:`~Llama4Adapter.generate`, :meth:`~Llama4Adapter.forward`,
:meth:`~Llama4Adapter.run_body`) with a hook that gives that output ``image_outputs=None``,
removed after each pass, so the model is left as it was.
"""

from __future__ import annotations

import contextlib

from tam.layout import Tile, VisionLayout
from tam.models.base import PreparedInputs, SquareGridAdapter
from tam.models.geometry import size_pair, size_settings, tile_boxes

__all__ = ["Llama4Adapter"]


class Llama4Adapter(SquareGridAdapter):
    """Adapter of ``Llama4ForConditionalGeneration``: per image, its tiles (row by row) and a global tile."""

    family = "Llama 4"
    model_classes = ("Llama4ForConditionalGeneration",)

    def placeholder_token_ids(self) -> tuple[int, ...]:
        """Return the id of ``<|image|>`` (the processor's ``fake_image_token``), written once per picture."""
        return (int(self.tokenizer.convert_tokens_to_ids(self.processor.fake_image_token)),)

    @property
    def final_norm(self):
        """The language model's final norm (``language_model.model.norm``)."""
        return self.model.language_model.model.norm

    @property
    def decoder_layers(self):
        """The language model's decoder layers (``language_model.model.layers``)."""
        return self.model.language_model.model.layers

    def tile_grid(self) -> tuple[int, int]:
        """``(h, w)`` of one tile's grid: ``image_size / patch_size * pixel_shuffle_ratio`` on each side."""
        vision = self.model.config.vision_config
        ratio = float(vision.pixel_shuffle_ratio)
        sizes, patches = size_pair(vision.image_size), size_pair(vision.patch_size)
        return tuple(round(size // patch * ratio) for size, patch in zip(sizes, patches, strict=True))

    def vision_shape(self, prepared: PreparedInputs):
        """One ``(h, w)`` tile grid per tile of every image, in token order."""
        grids = list(self.layout(prepared).grids)
        return grids[0] if len(grids) == 1 else grids

    def layout(self, prepared: PreparedInputs) -> VisionLayout:
        """Each image's tiles of its padded canvas (row by row), then its global tile when it has several."""
        import torch
        from transformers.image_utils import SizeDict
        from transformers.models.llama4.image_processing_llama4 import (
            find_supported_resolutions,
            get_best_fit,
            get_max_res_without_distortion,
        )

        settings = self.image_settings("size", "max_patches", "resize_to_max_canvas")
        size = size_settings(settings["size"])
        tile_height, tile_width = int(size["height"]), int(size["width"])
        to_max = bool(settings["resize_to_max_canvas"])
        resolutions = find_supported_resolutions(
            max_num_chunks=int(settings["max_patches"]), patch_size=SizeDict(height=tile_height, width=tile_width)
        )
        tiles, sizes = [], [picture.shape[:2] for picture in prepared.pictures]
        for index, (height, width) in enumerate(sizes):
            canvas_height, canvas_width = (
                int(side) for side in get_best_fit((height, width), torch.tensor(resolutions), to_max)
            )
            # the processor's bound on upscaling: past one tile only to fill the canvas when asked to
            bound = (canvas_height, canvas_width)
            if not to_max:
                bound = (min(max(height, tile_height), canvas_height), min(max(width, tile_width), canvas_width))
            new_height, new_width = (max(side, 1) for side in get_max_res_without_distortion((height, width), bound))
            # the padded canvas in the picture's pixels: the picture at its top left, padding right and below
            rows, columns = canvas_height // tile_height, canvas_width // tile_width
            boxes = tile_boxes(canvas_height * height / new_height, canvas_width * width / new_width, columns, rows)
            tiles.extend(Tile(index, box) for box in boxes)
            if rows * columns > 1:
                tiles.append(Tile(index, (0.0, 0.0, float(width), float(height)), "global"))
        grid = self.tile_grid()
        layout = VisionLayout.from_tiles([grid] * len(tiles), tiles, sizes)
        return self.counted(layout, prepared, f"the {len(tiles)} tiles of {grid}")

    @contextlib.contextmanager
    def _with_image_outputs(self):
        """Give the language model's output the ``image_outputs`` transformers 5.24's forward reads, for one pass."""

        def add_image_outputs(module, args, output):
            if not hasattr(output, "image_outputs"):
                output.image_outputs = None
            return output

        handle = self.model.language_model.register_forward_hook(add_image_outputs)
        try:
            yield
        finally:
            handle.remove()

    def generate(self, prepared, max_new_tokens: int, **kwargs):
        """:meth:`ModelAdapter.generate`, with transformers 5.24's missing ``image_outputs`` supplied."""
        with self._with_image_outputs():
            return super().generate(prepared, max_new_tokens, **kwargs)

    def forward(self, **inputs):
        """Run the model's forward pass, with transformers 5.24's missing ``image_outputs`` supplied."""
        with self._with_image_outputs():
            return super().forward(**inputs)

    def run_body(self, **inputs):
        """Return the text model's output over ``inputs``, images merged in (Llama 4 has no ``model.model``).

        The whole model runs (its head on the last position only); a hook keeps the text
        model's output on the way.
        """
        captured = []
        text_model = self.model.language_model.model
        handle = text_model.register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            self.forward(**inputs, logits_to_keep=1)
        finally:
            handle.remove()
        return captured[0]
