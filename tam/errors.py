"""Errors raised by tam: subclasses of ``ValueError`` that name what is wrong."""

from __future__ import annotations

__all__ = [
    "ImageFileError",
    "InUseError",
    "NonFiniteError",
    "ResultFileError",
    "ShapeError",
    "SpanError",
    "TAMError",
    "VocabularyError",
]


class TAMError(ValueError):
    """Base class of the errors tam raises for bad input."""


class SpanError(TAMError):
    """A marker id is missing from the sequence, or a token span is empty."""


class ShapeError(TAMError):
    """A vision grid, hidden size or sequence length does not match the inputs."""


class NonFiniteError(TAMError):
    """Hidden states hold NaN or infinity (the message names the first token position)."""


class VocabularyError(TAMError):
    """A token id is outside the classifier's vocabulary (the message names its position)."""


class ImageFileError(TAMError):
    """A picture cannot be read: missing, damaged, truncated, or over the pixel limit."""


class InUseError(TAMError):
    """An output file or folder is locked by another run (the message names the holding process)."""


class ResultFileError(TAMError):
    """A saved result folder is missing, damaged or holds values that make no result."""
