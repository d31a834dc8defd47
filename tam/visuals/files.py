"""Writing output files whole or not at all."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Call ``write(staging)`` on a new file beside ``path``, then move it into place.

    A failed write leaves nothing behind; the file gets the usual permissions (umask).

    Parameters
    ----------
    path : str or PathLike
        The file to write; its folder is made when missing.
    write : callable
        Writes the content to the path it is given (which has ``path``'s suffix).
    overwrite : bool
        Replace an existing file; otherwise raise ``FileExistsError``.

    Returns
    -------
    Path
        ``path``.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.partial{target.suffix}")
    try:
        write(staging)
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return target
