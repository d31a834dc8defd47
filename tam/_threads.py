"""Thread limits for the method's small array work."""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded"]


def single_threaded(function):
    """Run ``function`` with BLAS and OpenMP (hence torch on the CPU) limited to one thread.

    The method's matrices are small (a few MFLOP per generation): thread pools cost more
    than they save there, and many times more when the cores are busy with other work
    (measured: 67 ms with two threads against 11 ms with one, on 2 loaded cores).
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return function(*args, **kwargs)

    return wrapper
