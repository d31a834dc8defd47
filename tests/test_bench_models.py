"""bench_models.py --twins: a row per twin, the answer --new-tokens long, maps at the picture's size."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_models  # noqa: E402


def test_twins_mode_times_each_twin_on_a_1024_by_768_picture(capsys):
    assert bench_models.main(["--twins", "--only", "tiny-qwen2-vl", "--new-tokens", "3", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = json.loads(lines[0])
    assert row["twin"] == "tiny-qwen2-vl" and row["class"] == "Qwen2VLForConditionalGeneration"
    assert row["answer_tokens"] == 3 and row["tiles"] == 1 and row["map_size"] == [768, 1024]
    assert row["generate_ms"] > 0 and row["explain_ms"] > 0 and row["picture_map_ms_per_token"] > 0
    assert lines[-1].startswith("| tiny-qwen2-vl | Qwen2VLForConditionalGeneration | 1 |")


def test_an_unknown_twin_is_one_line():
    with pytest.raises(SystemExit, match="--only tiny-nothing: not a twin; the twins are tiny-qwen2-vl"):
        bench_models.main(["--twins", "--only", "tiny-nothing"])
