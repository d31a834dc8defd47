"""The results file: one JSON line per sample, safe against a kill at any point.

Each line is written, flushed and fsync'd as soon as its sample is done. A line cut
short by a kill is dropped when the file is read and cut off before the file is
appended to, so its sample is simply computed again. With several processes, each
appends to its own part file (``results.jsonl.part<rank>``); the main process merges
the parts into ``results.jsonl``, sorted by sample index, through a temporary file and
an atomic rename. A later record of a sample (a failed sample computed again with
``--retry-failed``) replaces an earlier one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from tam.files import write_atomically

__all__ = [
    "append_record",
    "json_line",
    "merge_parts",
    "open_for_append",
    "part_path",
    "read_records",
    "write_json_atomic",
    "write_lines_atomic",
]


def part_path(results: Path, rank: int, world_size: int) -> Path:
    """Return the file that process ``rank`` appends to: the results file itself for one process."""
    return results if world_size == 1 else results.with_name(f"{results.name}.part{rank}")


def _record_files(results: Path) -> list[Path]:
    pattern = re.compile(re.escape(results.name) + r"\.part\d+")
    parts = sorted(path for path in results.parent.glob(f"{results.name}.part*") if pattern.fullmatch(path.name))
    return ([results] if results.exists() else []) + parts


def read_records(results: Path) -> dict[int, dict]:
    """Every complete record of the results file and its part files, by sample index.

    Lines that are not complete JSON objects are skipped: the last line of a killed run (cut
    anywhere, inside a UTF-8 character too), or a line damaged otherwise (nested too deeply,
    an integer of too many digits).

    Returns
    -------
    dict of int to dict
    """
    records: dict[int, dict] = {}
    for path in _record_files(results):
        with path.open("rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line.decode("utf-8"))
                except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                    continue
                if isinstance(record, dict) and type(record.get("index")) is int and record["index"] >= 0:
                    records[record["index"]] = record
    return records


def open_for_append(path: Path) -> IO[bytes]:
    """Open ``path`` to append lines (unbuffered bytes), first cutting off a last line left incomplete by a kill."""
    if path.exists():
        with path.open("rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab", buffering=0)


def json_line(record) -> bytes:
    r"""``record`` as one UTF-8 JSON line; a text holding a lone surrogate is written escaped (``\ud800``)."""
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record) + "\n").encode("ascii")


def append_record(handle: IO[bytes], record: dict) -> None:
    """Write one record as a JSON line and push it to disk before returning.

    A write that fails part way (a full disk, the file-size limit, Ctrl-C) is cut off
    again before the error goes on, so the file holds whole lines only.

    Raises
    ------
    OSError
        The line could not be written whole; the file is as it was before.
    """
    line = memoryview(json_line(record))
    start = os.fstat(handle.fileno()).st_size
    try:
        while line:
            line = line[handle.write(line) :]
        os.fsync(handle.fileno())
    except BaseException:
        handle.truncate(start)
        raise


def write_json_atomic(path: Path, payload) -> None:
    """Write ``payload`` as indented JSON over ``path`` (:func:`tam.files.write_atomically`)."""
    try:
        data = (json.dumps(payload, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: written escaped
        data = (json.dumps(payload, indent=1) + "\n").encode("ascii")
    write_atomically(path, lambda staging: staging.write_bytes(data), overwrite=True)


def write_lines_atomic(path: Path, records: Iterable[dict]) -> None:
    """Write ``records`` as JSON lines over ``path`` (:func:`tam.files.write_atomically`)."""

    def write(staging: Path) -> None:
        with staging.open("wb") as handle:
            handle.writelines(json_line(record) for record in records)

    write_atomically(path, write, overwrite=True)


def merge_parts(results: Path, settings: dict | None = None) -> dict[int, dict]:
    """Fold every part file into the results file, sorted by index, and remove the parts.

    Records without ``"settings"`` (written before records carried them, by a run whose
    settings were found equal) get ``settings``, so that a resumed file is that of a fresh run.

    Returns
    -------
    dict of int to dict
        All records, by sample index.
    """
    records = read_records(results)
    if settings is not None:
        records = {
            index: record if "settings" in record else {**record, "settings": settings}
            for index, record in records.items()
        }
    parts = [path for path in _record_files(results) if path != results]
    write_lines_atomic(results, (records[index] for index in sorted(records)))
    for part in parts:
        part.unlink()
    return records
