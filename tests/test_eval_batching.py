"""eval.py --batch-size: a batched evaluation gives the answers and figures of one sample at a time (real models)."""

import json
import shutil
from pathlib import Path

import pytest

from tam.evaluation.cli import main
from tam.evaluation.runner import settings_path
from tam.toy.scenes import write_coco14

FIXTURES = Path(__file__).parent / "fixtures"
TOY = ["--max-new-tokens", "40", "--baselines"]


def evaluate(model, dataset, results, *options):
    """Run eval.py's main in this process; returns (printed table, records by index)."""
    argv = [model, str(dataset), "--results", str(results), *map(str, options)]
    assert main(argv) == 0
    records = [json.loads(line) for line in Path(results).read_text().splitlines()]
    return table_of(results), {record["index"]: record for record in records}


def table_of(results) -> str:
    from tam.evaluation.runner import format_table

    return format_table(json.loads(Path(f"{results}.summary.json").read_text()))


def assert_same_records(batched, alone):
    assert sorted(batched) == sorted(alone)
    for index, record in alone.items():
        assert "error" not in record
        for key in ("id", "answer", "words", "kinds", "labels", "exact", "rouge_l", "meteor"):
            assert batched[index][key] == record[key], (index, key)
        for method, scores in record["methods"].items():
            for word, expected in zip(batched[index]["methods"][method]["objects"], scores["objects"], strict=True):
                assert word["iou"] == pytest.approx(expected["iou"], abs=0.02), (index, method)


@pytest.fixture(scope="module")
def toy_world(tmp_path_factory):
    """Ten held-out toy scenes and their evaluation one sample at a time."""
    folder = tmp_path_factory.mktemp("toy")
    dataset = write_coco14(folder / "heldout", 10, seed=1)
    table, records = evaluate("toy-shapes", dataset, folder / "alone.jsonl", "--batch-size", "1", *TOY)
    return dataset, table, records


def test_toy_world_batched_evaluation_equals_one_at_a_time(toy_world, tmp_path):
    dataset, table, records = toy_world
    batched_table, batched = evaluate("toy-shapes", dataset, tmp_path / "b.jsonl", "--batch-size", "4", *TOY)
    assert batched_table == table
    assert_same_records(batched, records)
    assert len({len(record["words"]) for record in records.values()}) > 1  # rows of a batch end at different times


def test_toy_world_resumed_inside_a_batch(toy_world, tmp_path):
    dataset, table, records = toy_world
    results = tmp_path / "resumed.jsonl"
    evaluate("toy-shapes", dataset, results, "--batch-size", "4", "--limit", "8", *TOY)
    # as if the run had been killed after the first record of its second batch
    results.write_text("\n".join(results.read_text().splitlines()[:5]) + "\n")
    Path(f"{results}.summary.json").unlink()
    resumed_table, resumed = evaluate("toy-shapes", dataset, results, "--batch-size", "4", "--resume", *TOY)
    assert resumed_table == table
    assert_same_records(resumed, records)
    assert settings_path(results).exists()


@pytest.mark.parametrize("twin", ["tiny-qwen2.5-vl", "tiny-llava"])
def test_twin_batched_evaluation_equals_one_at_a_time(twin, tmp_path):
    dataset = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    options = ["--max-new-tokens", "8", "--limit", "6"]
    table, alone = evaluate(twin, dataset, tmp_path / "alone.jsonl", "--batch-size", "1", *options)
    batched_table, batched = evaluate(twin, dataset, tmp_path / "batched.jsonl", "--batch-size", "4", *options)
    assert batched_table == table
    assert_same_records(batched, alone)
    assert len({record["answer"] for record in alone.values()}) > 1
