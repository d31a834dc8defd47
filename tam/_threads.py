"""Thread limits for the method's small array work."""

from __future__ import annotations

import functools
import sys

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded"]


def single_threaded(function):
    """Run ``function`` with BLAS and OpenMP (hence torch on the CPU) limited to one thread.

    The method's matrices are small (a few MFLOP per generation): thread pools cost more
    than they save there, and many times more when the cores are busy with other work
    (measured: 67 ms with two threads against 11 ms with one, on 2 loaded cores).
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _controller("torch" in sys.modules).limit(limits=1):
            return function(*args, **kwargs)

    return wrapper


@functools.lru_cache(maxsize=2)
def _controller(torch_loaded: bool) -> ThreadpoolController:
    """Find the process's thread pools once (finding them reads every loaded library: ~15 ms a call).

    Found again once torch is imported, since its OpenMP pool is loaded with it.
    """
    return ThreadpoolController()
