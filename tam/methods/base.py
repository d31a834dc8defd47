"""The registry of map methods and the three kinds of entry (see :mod:`tam.methods`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tam.errors import TAMError

__all__ = [
    "NEEDS",
    "MaskMethod",
    "Method",
    "MethodMaps",
    "ModelMethod",
    "ResultMethod",
    "UnavailableMethodError",
    "UnknownMethodError",
    "get_method",
    "method_names",
    "register",
    "register_layered",
]

NEEDS = ("hidden_states", "attention", "gradients", "mask")
"""What a method may need: the hidden states of the generation, attention weights (an
extra forward pass), gradients (forward and backward passes), a segmentation mask."""


class UnknownMethodError(TAMError):
    """No method is registered under the name."""


class UnavailableMethodError(TAMError):
    """The method exists, but this model or result cannot give its maps."""


class MethodMaps(NamedTuple):
    """One method's maps of every explained token.

    Attributes
    ----------
    vision : ndarray of shape (T, M), float, in [0, 1]
        Vision maps, laid out by the result's :class:`~tam.layout.VisionLayout`.
    text : ndarray of shape (T, T), float, in [0, 1]
        ``[i, j]``: relevance of explained token ``j`` to token ``i`` (used for ``j < i``).
    """

    vision: np.ndarray
    text: np.ndarray


@dataclass(frozen=True)
class Method:
    """A registered map method.

    Attributes
    ----------
    name : str
        The registry key (``"tam"``, ``"attention@-2"``, ...).
    title : str
        How the report and tables name it.
    needs : frozenset of str
        Among :data:`NEEDS`.
    cost : str
        Passes through the model per sample, beyond the generation itself.
    """

    name: str
    title: str
    needs: frozenset
    cost: str


@dataclass(frozen=True)
class ResultMethod(Method):
    """A method computed from the arrays every result keeps (no extra pass)."""

    def maps(self, result) -> MethodMaps:
        """Return the maps of ``result`` (a :class:`~tam.result.TokenActivationResult`)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ModelMethod(Method):
    """A method computed from the model when explaining; its maps are stored in the result."""

    def check(self, adapter) -> None:
        """Raise :class:`UnavailableMethodError` if the model of ``adapter`` cannot give this method."""

    def compute(self, run) -> MethodMaps:
        """Return the maps of one generation from ``run`` (a :class:`tam.methods.forward.ModelRun`)."""
        raise NotImplementedError


@dataclass(frozen=True)
class MaskMethod(Method):
    """Maps made from a segmentation mask: chance and the grid's ceiling, for the evaluation only."""

    def answer_maps(
        self,
        token_labels: Sequence[int | None],
        mask: np.ndarray,
        grid: tuple[int, int],
        *,
        seed: int,
        filter_size: int,
    ) -> np.ndarray:
        """Return one answer's maps, shape (N, h, w), uint8.

        Parameters
        ----------
        token_labels : sequence of int or None, length N
            Mask value of the object each answer token names (None for other tokens).
        mask : ndarray of shape (H, W), integer
            Segmentation labels at the image's size.
        grid : (h, w)
        seed : int
            Seed of random maps, so that a sample scores the same in every run.
        filter_size : int
            Window of the rank Gaussian filter the scored TAM maps used.
        """
        raise NotImplementedError


_METHODS: dict[str, Method] = {}
_LAYERED: dict[str, Callable[[int | None], Method]] = {}
_ORDER: list[str] = []


def register(method: Method) -> Method:
    """Register ``method`` under ``method.name``; returns it.

    Raises
    ------
    ValueError
        If the name is taken or ``needs`` holds something not in :data:`NEEDS`.
    """
    if method.name in _METHODS or method.name in _LAYERED:
        raise ValueError(f"a map method named {method.name!r} is already registered")
    unknown = set(method.needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"needs of {method.name!r} must be among {NEEDS}, got {sorted(unknown)}")
    _METHODS[method.name] = method
    _ORDER.append(method.name)
    return method


def register_layered(name: str, make: Callable[[int | None], Method]) -> None:
    """Register a method that reads one layer: ``make(layer)`` builds ``name@layer``, ``make(None)`` the default."""
    if name in _METHODS or name in _LAYERED:
        raise ValueError(f"a map method named {name!r} is already registered")
    _LAYERED[name] = make
    _ORDER.append(name)


def method_names(kind: type[Method] | None = None) -> tuple[str, ...]:
    """Return the registered names: TAM's, then the model's, then the mask's, each in registration order.

    A layered method appears once, by its base name (``lens``; ``lens@L`` reads layer ``L``).

    Parameters
    ----------
    kind : type, optional
        Only entries of this class (:class:`ResultMethod`, :class:`ModelMethod`,
        :class:`MaskMethod`).
    """
    entries = [_METHODS[name] if name in _METHODS else _LAYERED[name](None) for name in _ORDER]
    kinds = (ResultMethod, ModelMethod, MaskMethod)
    entries.sort(key=lambda entry: next(rank for rank, cls in enumerate(kinds) if isinstance(entry, cls)))
    return tuple(entry.name for entry in entries if kind is None or isinstance(entry, kind))


def get_method(name: str) -> Method:
    """Return the method registered as ``name``; ``base@L`` builds a layered method at layer ``L``.

    Raises
    ------
    UnknownMethodError
        If no method is registered under the name, or ``L`` is not an integer.
    """
    if name in _METHODS:
        return _METHODS[name]
    base, at, layer = name.partition("@")
    if base in _LAYERED:
        if not at:
            return _LAYERED[base](None)
        try:
            return _LAYERED[base](int(layer))
        except ValueError:
            raise UnknownMethodError(f"{name!r}: the layer after '@' must be an integer, e.g. {base}@-2") from None
    known = ", ".join(known + ("[@L]" if known in _LAYERED else "") for known in method_names())
    raise UnknownMethodError(f"unknown map method {name!r}; known methods: {known}")
