"""Writing output files and folders whole or not at all.

Every file tam writes (pictures, reports, results, summaries) is written under a
temporary name unique to the writing process, pushed to disk, and renamed over its
target: a reader sees the old file or the new one, never a part. A saved result folder
is swapped with its replacement in one step where the system allows it
(:func:`replace_directory`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from tam.errors import InUseError

__all__ = ["NAME_MAX", "fit_name", "replace_directory", "staging_name", "take_lock", "write_atomically"]

NAME_MAX = 255
"""Longest file name, in bytes, of the usual file systems (ext4, XFS, APFS, NTFS in UTF-16 units)."""


def fit_name(name: str, reserve: int = 0) -> str:
    """Cut ``name`` so that its UTF-8 bytes and ``reserve`` more fit in :data:`NAME_MAX`, at a character boundary.

    >>> fit_name("é" * 200, reserve=10) == "é" * 122
    True
    """
    budget = NAME_MAX - reserve
    return name.encode("utf-8", "surrogateescape")[:budget].decode("utf-8", "ignore")


def staging_name(target: Path) -> Path:
    """Return a hidden name beside ``target``, unique to this process and call (``.<stem>.<pid>-<hex>.partial``).

    The stem is shortened where needed, so the name stays within :data:`NAME_MAX` bytes.
    """
    tail = f".{os.getpid()}-{secrets.token_hex(4)}.partial{fit_name(target.suffix, NAME_MAX - 32)}"
    return target.with_name(f".{fit_name(target.stem, 1 + len(tail.encode()))}{tail}")


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Call ``write(staging)`` on a new file beside ``path``, push it to disk, then rename it over ``path``.

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
    staging = staging_name(target)
    try:
        write(staging)
        with staging.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return target


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    renameat2 = getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) if libc_name else None
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(second))


def replace_directory(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` in the place of the folder ``target``, then delete the old one.

    On Linux the two are swapped in one step, so ``target`` always holds a whole folder.
    Elsewhere the old folder is first renamed aside (``.<name>.<pid>-<hex>.old``) and
    renamed back if the second rename fails; only a kill between the two renames
    leaves the old folder under that name instead of ``target``.
    """
    if not target.exists():
        staging.rename(target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # now the old folder
        return
    tail = f".{os.getpid()}-{secrets.token_hex(4)}.old"
    aside = target.with_name(f".{fit_name(target.name, 1 + len(tail))}{tail}")
    target.rename(aside)
    try:
        staging.rename(target)
    except BaseException:
        aside.rename(target)
        raise
    shutil.rmtree(aside)


def take_lock(lock_file: Path, in_use: str, other: str):
    """Take the advisory lock ``lock_file`` without waiting, writing ``<pid> on <host>`` into it.

    Parameters
    ----------
    lock_file : Path
        The lock ([filelock](https://py-filelock.readthedocs.io/)); its folder must exist.
    in_use, other : str
        The busy message reads ``{in_use} (process <holder>); wait for it to end, or choose another {other}``.

    Returns
    -------
    filelock.FileLock
        Held until its ``release()``.

    Raises
    ------
    InUseError
        Another process holds the lock (its message names the holder), or the lock cannot be taken.
    """
    from filelock import FileLock, Timeout

    def name_holder(descriptor: int) -> None:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()} on {socket.gethostname()}".encode(), 0)

    lock = FileLock(lock_file, timeout=0, on_acquired=name_holder)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = lock_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            holder = ""
        raise InUseError(
            f"{in_use} (process {holder or 'unknown'}); wait for it to end, or choose another {other}"
        ) from None
    except OSError as error:
        raise InUseError(f"cannot take the lock {lock_file}: {error.strerror or error}") from None
    return lock
