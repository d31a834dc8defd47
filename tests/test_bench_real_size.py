"""benchmarks/bench_real_size.py on a tiny configuration: every row of its tables, finite numbers.

Its timings are not asserted (the machine's load decides them); what is checked is that
every way runs, the answers have the length asked, the table and the scaling have a row
for each way and point, and the command line refuses bad arguments in one line.
"""

import importlib.util
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_real_size", ROOT / "benchmarks" / "bench_real_size.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_real_size"] = bench  # its dataclass looks its module up by name
_spec.loader.exec_module(bench)

# a 112 x 84 picture: 4 x 3 vision tokens of 28 x 28 pixels after Qwen2-VL's 2 x 2 merge
SETTINGS = bench.Settings(
    config="tiny", picture=(112, 84), answer_tokens=4, repeats=1, reference_dir=os.environ.get("TAM_REFERENCE_DIR")
)
NUMBERS = ("min_s", "median_s", "cpu_median_s", "peak_extra_mb", "ms_per_answer_token", "first_peak_extra_mb")
COMPARED = ("ratio_to_plain", "cpu_ratio_to_plain", "added_ms_per_answer_token", "added_mb")


@pytest.fixture(scope="module")
def report():
    # run_case in this process: the workers' machinery without a Python start per way
    return bench.measure_table(SETTINGS, run=bench.run_case)


def test_the_table_has_every_way_with_finite_numbers(report):
    expected = [case for case in bench.CASES if case != "reference" or SETTINGS.reference_dir]
    assert [row["case"] for row in report["rows"]] == expected
    for row in report["rows"]:
        names = NUMBERS + (COMPARED if row["case"] != "generate" else ())
        assert all(math.isfinite(row[name]) for name in names), row
        assert row["peak_extra_mb"] >= 0 and row["median_s"] > 0
        assert row["first_s"] is None if row["case"].startswith("eval") else row["first_s"] > 0
    assert report["vision_tokens"] == 12


def test_every_generation_has_the_answer_length_asked(report):
    lengths = {row["case"]: row["answer_tokens"] for row in report["rows"] if "answer_tokens" in row}
    assert set(lengths) >= {"generate", "explain", "explain+baselines"}
    assert set(lengths.values()) == {4}


def test_tam_explain_rows_time_explain_generation_and_faithfulness_scores_a_noun(report):
    rows = {row["case"]: row for row in report["rows"]}
    for case in ("explain", "explain+baselines"):
        assert rows[case]["explain_generation_first_s"] > 0 and rows[case]["explain_generation_median_s"] > 0
    faithful = rows["eval+faithfulness"]
    assert faithful["faithfulness_tokens"] >= 1
    # per token: 2 pictures shared by every map, 2 * (steps - 1) per map, four maps (tam, raw, eci, rgf)
    assert faithful["faithfulness_pictures"] == faithful["faithfulness_tokens"] * (2 + 2 * 1 * 4)


def test_the_markdown_names_each_way_once_and_the_run(report):
    text = bench.markdown(report)
    for way in (row["way"] for row in report["rows"]):
        assert text.count(f"| {way} |") == 1
    assert "A 112x84 picture (12 vision tokens), 4 answer tokens" in text
    assert f"{os.cpu_count()} cores" in text and "torch " in text
    firsts = {line.split(":")[0]: line for line in text.splitlines() if "`explain_generation` took" in line}
    assert "the first call of its process" in firsts[bench.CASES["explain"]]
    assert "its first timed call" in firsts[bench.CASES["eval"]]  # after the untimed call that found the noun


def test_the_scaling_has_a_row_per_point_at_the_sizes_asked():
    scaling = bench.measure_scaling(replace(SETTINGS, repeats=1), [12, 48], [3, 6], [1, 2], run=bench.run_case)
    points = [(row["vision_tokens"], row["answer_tokens"], row["layers"]) for row in scaling["scaling"]]
    assert points == [(12, 3, 2), (12, 6, 2), (48, 3, 2), (12, 3, 1)]  # the tiny configuration has 2 layers
    for row in scaling["scaling"]:
        assert all(math.isfinite(value) for value in row.values() if isinstance(value, float)), row
    assert len([line for line in bench.markdown(scaling).splitlines() if line.startswith("| 12 ")]) == 3


def test_a_way_runs_in_its_own_process():
    run = bench.run_in_process("generate", SETTINGS)
    assert run["made"] == {"answer_tokens": 4}
    assert len(run["warm"]) == 1 and run["first"]["seconds"] > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--reference-dir", "{tmp}"], "no tam.py there"),
        (["--answer-tokens", "0"], "must be positive"),
    ],
)
def test_bad_arguments_stop_with_one_line(arguments, message, tmp_path, capsys):
    assert bench.main([argument.format(tmp=tmp_path) for argument in arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_missing_nltk_data_stops_the_table_before_any_way_runs(monkeypatch, tmp_path, capsys):
    import tam.metrics.language as language

    def offline(package):
        raise language.missing_data_error(f"no {package}", "fetching it failed: offline")

    monkeypatch.setattr(language, "_installed", lambda package: False)
    monkeypatch.setattr(language, "_fetch", offline)
    monkeypatch.setattr(bench, "measure_table", lambda *args, **kwargs: pytest.fail("a way ran"))
    assert bench.main(["--config", "tiny"]) == 2
    error = capsys.readouterr().err
    assert "the eval ways need NLTK's data" in error and language.NLTK_DOWNLOAD_COMMAND in error
    assert error.count("\n") == 1


def test_a_layer_count_builds_a_model_of_that_many_decoder_layers():
    for layers in (1, 3):
        model, _ = bench.build(replace(SETTINGS, layers=layers))
        built = [module for module in model.modules() if type(module).__name__ == "Qwen2VLDecoderLayer"]
        assert len(built) == layers
