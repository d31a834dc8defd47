"""Map methods, one registry: TAM and its ablations, baselines read from the model, chance and ceiling maps.

Every method that makes vision maps is an entry here, registered by name, declaring what
it needs (:data:`NEEDS`) and what it costs, so callers run only what is asked for:

- from the generation alone (:class:`ResultMethod`): ``tam``, ``raw``, ``eci``, ``rgf``
  (:mod:`tam.methods.tam`), made from the arrays every result keeps;
- from the model (:class:`ModelMethod`): ``attention``, ``gradcam``, ``dexar`` and the
  logit lens ``lens@L``, computed once when explaining and stored in the result;
- from a segmentation mask (:class:`MaskMethod`): the chance maps ``uniform`` and
  ``random`` and the grid's ceiling ``perfect`` and ``perfect+rgf``, which only the
  evaluation can make.

A method that reads one layer takes it after ``@``: ``attention@-2``, ``gradcam@5``,
``lens@3``. A new method is one module and one :func:`register` call; the result,
the visuals, the report, the metrics and both scripts read this registry.
See docs/methods.md for what each method computes.
"""

from tam.methods import attention, chance, dexar, gradcam, lens, perfect, tam  # noqa: F401  registers the methods
from tam.methods.base import (
    NEEDS,
    MaskMethod,
    Method,
    MethodMaps,
    ModelMethod,
    ResultMethod,
    UnavailableMethodError,
    UnknownMethodError,
    get_method,
    method_names,
    register,
    register_layered,
)
from tam.methods.chance import chance_maps
from tam.methods.perfect import perfect_maps
from tam.methods.tam import ABLATIONS, postprocess

__all__ = [
    "ABLATIONS",
    "NEEDS",
    "MaskMethod",
    "Method",
    "MethodMaps",
    "ModelMethod",
    "ResultMethod",
    "UnavailableMethodError",
    "UnknownMethodError",
    "chance_maps",
    "get_method",
    "method_names",
    "perfect_maps",
    "postprocess",
    "register",
    "register_layered",
]
