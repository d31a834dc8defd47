"""Errors raised by tam: subclasses of ``ValueError`` that name what is wrong."""

from __future__ import annotations

__all__ = ["TAMError", "SpanError", "ShapeError"]


class TAMError(ValueError):
    """Base class of the errors tam raises for bad input."""


class SpanError(TAMError):
    """A marker id is missing from the sequence, or a token span is empty."""


class ShapeError(TAMError):
    """A vision grid, hidden size or sequence length does not match the inputs."""
