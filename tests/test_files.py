"""Atomic writes: temporary names unique per process and call, nothing left behind (issue 11, item 3)."""

import json
import os

import pytest

import tam.files
from tam.evaluation.results import write_json_atomic, write_lines_atomic


@pytest.fixture
def staged(monkeypatch):
    """Record the temporary file each atomic write renames into place."""
    names = []
    real_replace = os.replace

    def recording(source, target):
        names.append(os.path.basename(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", recording)
    return names


def test_temporary_names_are_unique_per_process_and_call(tmp_path, staged):
    write_json_atomic(tmp_path / "r.jsonl.summary.json", {"n": 1})
    write_json_atomic(tmp_path / "r.jsonl.summary.json", {"n": 2})
    write_lines_atomic(tmp_path / "r.jsonl", [{"index": 0}])
    tam.files.write_atomically(tmp_path / "000.jpg", lambda path: path.write_bytes(b"jpeg"), overwrite=True)
    assert len(set(staged)) == 4
    assert all(name.startswith(".") and f".{os.getpid()}-" in name for name in staged)
    assert json.loads((tmp_path / "r.jsonl.summary.json").read_text()) == {"n": 2}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["000.jpg", "r.jsonl", "r.jsonl.summary.json"]


def test_a_failed_write_leaves_the_old_file_and_nothing_beside_it(tmp_path):
    target = tmp_path / "index.html"
    target.write_text("old")

    def half_then_fail(path):
        path.write_text("new, half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        tam.files.write_atomically(target, half_then_fail, overwrite=True)
    assert target.read_text() == "old" and [path.name for path in tmp_path.iterdir()] == ["index.html"]
