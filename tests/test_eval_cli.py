import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tam.evaluation import load_dataset
from tam.evaluation.cli import default_results_path, main
from tam.metrics import rouge_l
from tam.models import TWINS
from tam.result import METHODS
from tests.evaluation_fakes import fake_loader
from tests.offline import OFFLINE

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def eval_py(*args, env=None):
    """Run eval.py as a user would; returns the finished process."""
    return subprocess.run(
        [sys.executable, "eval.py", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def assert_one_line_error(done, message):
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("eval.py: error: ")
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("folder", ["coco2014_mini", "GranDf_mini", "OpenPSG_mini"])
def test_limit_then_resume_through_the_command_line(folder, tmp_path, capsys):
    results, fresh = tmp_path / "results.jsonl", tmp_path / "fresh.jsonl"
    calls = []
    dataset = FIXTURES / folder
    assert main(["tiny-model", str(dataset), "--limit", "2", "--results", str(results)], load=fake_loader(calls)) == 0
    first = capsys.readouterr().out
    assert first.splitlines()[0].split()[:6] == ["method", "Obj-IoU", "Func-IoU", "F1-IoU", "Precision", "Recall"]
    assert [line.split()[0] for line in first.splitlines()[1:5]] == list(METHODS)
    assert "samples 2  failed 0" in first

    argv = ["tiny-model", str(dataset), "--limit", "4", "--results", str(results), "--resume"]
    assert main(argv, load=fake_loader(calls)) == 0
    resumed = capsys.readouterr().out
    assert main(["tiny-model", str(dataset), "--limit", "4", "--results", str(fresh)], load=fake_loader(calls)) == 0
    assert capsys.readouterr().out.replace(str(fresh), str(results)) == resumed
    summary = json.loads(Path(f"{results}.summary.json").read_text())
    assert summary == json.loads(Path(f"{fresh}.summary.json").read_text())
    assert set(summary["methods"]) == set(METHODS)
    assert summary["settings"]["model"] == "tiny-model"
    assert calls[0] == (
        "tiny-model",
        {"device": "cpu", "layer": -1, "round0": "own", "max_new_tokens": 256, "seed": 0, "methods": []},
    )


def test_options_reach_the_loader_and_the_settings(tmp_path, capsys):
    calls = []
    results = tmp_path / "r.jsonl"
    argv = ["m", str(FIXTURES / "GranDf_mini"), str(tmp_path / "vis"), "--results", str(results)]
    argv += ["--methods", "tam,raw", "--round0", "reference", "--layer", "-2", "--seed", "3", "--max-new-tokens", "16"]
    argv += ["--category-match", "reference", "--rouge-l", "rouge", "--limit", "1"]
    assert main(argv, load=fake_loader(calls)) == 0
    assert calls == [
        ("m", {"device": "cpu", "layer": -2, "round0": "reference", "max_new_tokens": 16, "seed": 3, "methods": []})
    ]
    table = capsys.readouterr().out
    assert [line.split()[0] for line in table.splitlines()[1:3]] == ["tam", "raw"]
    settings = json.loads(Path(f"{results}.settings.json").read_text())
    assert settings == {
        "dataset_format": "grandf",
        "methods": ["tam", "raw"],
        "category_rule": "reference",
        "rouge_l_package": "rouge",
        "model": "m",
        "layer": -2,
        "round0": "reference",
        "max_new_tokens": 16,
        "seed": 3,
    }
    assert len(list((tmp_path / "vis").iterdir())) == 1
    record = json.loads(results.read_text().splitlines()[0])
    references = load_dataset(FIXTURES / "GranDf_mini").samples[0].references
    assert record["rouge_l"] == rouge_l(record["answer"], references, "rouge")
    assert record["rouge_l"] != rouge_l(record["answer"], references)


def test_baselines_add_chance_and_ceiling_rows(tmp_path, capsys):
    argv = ["m", str(FIXTURES / "coco2014_mini"), "--limit", "2", "--results", str(tmp_path / "r.jsonl")]
    assert main([*argv, "--methods", "tam,random", "--baselines"], load=fake_loader()) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:8]]
    assert rows == ["tam", "not", "random", "uniform", "perfect", "perfect+rgf", "exact"]  # "not made by the model"
    summary = json.loads(Path(f"{tmp_path / 'r.jsonl'}.summary.json").read_text())
    assert summary["methods"]["perfect"]["obj_iou"] > summary["methods"]["uniform"]["obj_iou"]


def test_faithfulness_adds_its_columns_and_a_random_order_row_with_baselines(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["m", str(FIXTURES / "coco2014_mini"), "--limit", "2", "--results", str(results), "--methods", "tam"]
    argv += ["--baselines", "--faithfulness", "--faithfulness-steps", "4", "--faithfulness-fill", "blur"]
    assert main(argv, load=fake_loader()) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[-4:] == ["Ins-AUC", "Del-AUC", "Pointing", "tokens"]
    rows = {line.split()[0]: line.split() for line in out[1:8]}
    assert list(rows) == ["tam", "not", "uniform", "random", "perfect", "perfect+rgf", "random-order"]
    assert rows["uniform"][-4:] == ["-"] * 4 and rows["random-order"][1:8] == ["-"] * 7
    assert out[-1] == f"curves: {results}.curves.png, .pdf"
    settings = json.loads(Path(f"{results}.settings.json").read_text())["faithfulness"]
    assert settings == {"steps": 4, "tokens": "nouns", "fill": "blur", "batch_size": 16, "random_order": True}


def no_model(model_name, **options):
    raise AssertionError("the model was loaded before the run was checked")


def test_existing_results_without_resume_is_one_line_before_the_model_loads(tmp_path, capsys):
    argv = ["m", str(FIXTURES / "OpenPSG_mini"), "--limit", "1", "--results", str(tmp_path / "r.jsonl")]
    assert main(argv, load=fake_loader()) == 0
    capsys.readouterr()
    assert main(argv, load=no_model) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "already holds results: pass --resume" in captured.err


def test_default_results_path():
    assert default_results_path(FIXTURES / "coco2014_mini", "Qwen/Qwen2-VL-2B-Instruct") == Path(
        "out/eval/coco2014_mini_Qwen--Qwen2-VL-2B-Instruct.jsonl"
    )


def test_missing_dataset_folder():
    assert_one_line_error(eval_py("m", FIXTURES / "no_such_folder"), "does not exist or is not a folder")


def test_folder_of_no_known_format(tmp_path):
    assert_one_line_error(eval_py("m", tmp_path), "is no known data set")


def test_empty_data_set(tmp_path):
    (tmp_path / "GranDf").mkdir()
    (tmp_path / "GranDf" / "anno.json").write_text("[]")
    assert_one_line_error(eval_py("m", tmp_path / "GranDf"), "holds no samples")


def test_unreadable_annotation_file(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_minival2014.json").write_text('{"images": [')
    assert_one_line_error(eval_py("m", tmp_path), "cannot read annotation file")


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_a_model_that_cannot_be_loaded(tmp_path):
    done = eval_py("no-such-org/no-such-model", FIXTURES / "GranDf_mini", "--results", tmp_path / "r.jsonl")
    assert_one_line_error(done, "no-such-org/no-such-model")


def test_missing_nltk_data_names_the_download_command(tmp_path):
    probe = "import nltk, os; print(any(os.path.isdir(p) for p in nltk.data.path[1:]))"
    env = {"NLTK_DATA": str(tmp_path), "HOME": str(tmp_path), **OFFLINE}
    found = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True)
    if found.stdout.strip() == "True":
        pytest.skip("an NLTK data folder exists in a default place on this machine")
    done = eval_py("m", FIXTURES / "GranDf_mini", env=env)
    if "fetching it failed" not in done.stderr:
        pytest.skip("NLTK's downloader got the data past a refusing proxy here (a stubbed downloader)")
    fetching, error = done.stderr.splitlines(keepends=True)  # the attempt to fetch, then why it failed
    assert fetching.startswith("eval.py: fetching NLTK's averaged_perceptron_tagger_eng into ")
    assert_one_line_error(
        subprocess.CompletedProcess(done.args, done.returncode, done.stdout, error), "fetching it failed"
    )
    assert "python -m nltk.downloader wordnet averaged_perceptron_tagger_eng" in error and "NLTK_DATA" in error


def test_bad_methods_are_an_argument_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["m", str(FIXTURES / "GranDf_mini"), "--methods", "tam,gradkam"])
    assert stop.value.code == 2
    message = "argument --methods: unknown map method 'gradkam'; known methods: tam, raw, eci, rgf, attention[@L], "
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["m", str(FIXTURES / "GranDf_mini"), "--methods", "tam,tam"])
    assert "expected distinct method names, comma-separated, got 'tam,tam'" in capsys.readouterr().err


def test_help_lists_the_options():
    done = eval_py("--help")
    assert done.returncode == 0
    options = ("--limit", "--max-new-tokens", "--methods", "--baselines", "--results", "--resume", "--layer")
    options += ("--seed", "--round0", "--category-match", "--rouge-l", "--batch-size")
    options += ("--faithfulness", "--faithfulness-steps", "--faithfulness-tokens", "--faithfulness-fill")
    options += ("--faithfulness-batch",)
    assert all(option in done.stdout for option in options)


TINY_TWIN = "tiny-qwen2-vl"


def test_load_explainer_errors_name_the_problem():
    from tam.evaluation import ModelLoadError, load_explainer

    with pytest.raises(ModelLoadError, match="no-such/model"):
        load_explainer("no-such/model", device="cpu")
    with pytest.raises(ModelLoadError, match="layer 99 is out of range: tiny-qwen2-vl has 2 decoder layers"):
        load_explainer(TINY_TWIN, device="cpu", layer=99)


def test_a_layer_past_the_configs_layers_stops_before_the_weights_load(tmp_path, monkeypatch):
    from transformers import Qwen2VLConfig

    import tam.models
    from tam.evaluation import ModelLoadError, load_explainer

    monkeypatch.setattr(tam.models, "load_model", lambda *args, **kwargs: pytest.fail("the weights were loaded"))
    config = Qwen2VLConfig(text_config={"num_hidden_layers": 3}, architectures=["Qwen2VLForConditionalGeneration"])
    config.save_pretrained(tmp_path / "model")
    with pytest.raises(
        ModelLoadError, match="layer -5 is out of range: .* 3 decoder layers, so layer must be between -4"
    ):
        load_explainer(str(tmp_path / "model"), device="cpu", layer=-5)


def test_a_chat_template_without_the_picture_stops_before_the_first_sample(monkeypatch):
    from tam.evaluation import ModelLoadError, load_explainer
    from tam.models import TWINS

    build = TWINS[TINY_TWIN]

    def text_only_template():
        model, processor = build()
        processor.chat_template = "{% for m in messages %}{{ m['role'] }}{% endfor %}"
        return model, processor

    monkeypatch.setitem(TWINS, TINY_TWIN, text_only_template)
    with pytest.raises(ModelLoadError, match="chat template of Qwen2VLProcessor renders 0 vision placeholders"):
        load_explainer(TINY_TWIN, device="cpu")


def test_tiny_twin_explainer_returns_maps_and_the_plain_answer():
    from tam.evaluation import load_explainer

    explainer = load_explainer(TINY_TWIN, device="cpu", max_new_tokens=6)
    image = next((FIXTURES / "coco2014_mini" / "image").glob("*.jpg"))
    explanation = explainer([image], "Write a one-sentence caption for this image:")
    result = explanation.result
    assert len(result) > result.num_prompt_tokens and result.images and result.pieces
    assert "<|im_end|>" not in explanation.answer
    generation = explainer.settings["generation"]
    assert generation["do_sample"] is False and generation["max_new_tokens"] == 6
    assert len(generation["eos_token_id"]) == 1 and generation["repetition_penalty"] == 1.0
    assert explainer.settings["explain_end_of_turn"] is False
    reproducing = load_explainer(TINY_TWIN, device="cpu", max_new_tokens=6, round0="reference")
    assert reproducing.settings["explain_end_of_turn"] is True


def test_the_explainer_settings_reach_the_settings_file_and_bind_a_resumed_run(tmp_path, capsys):
    load = fake_loader()

    def loader_stopping_at(eos):
        def with_settings(model_name, **options):
            explainer = load(model_name, **options)
            generation = {"do_sample": False, "eos_token_id": [eos]}
            explainer.settings = {"generation": generation, "explain_end_of_turn": False}
            return explainer

        return with_settings

    results = tmp_path / "r.jsonl"
    argv = ["m", str(FIXTURES / "coco2014_mini"), "--limit", "1", "--results", str(results)]
    assert main(argv, load=loader_stopping_at(7)) == 0
    settings = json.loads(Path(f"{results}.settings.json").read_text())
    assert settings["generation"] == {"do_sample": False, "eos_token_id": [7]}
    assert settings["explain_end_of_turn"] is False
    assert main([*argv, "--limit", "2", "--resume"], load=loader_stopping_at(7)) == 0
    capsys.readouterr()
    assert main([*argv, "--limit", "3", "--resume"], load=loader_stopping_at(8)) == 2
    assert "other settings (generation: {'do_sample': False, 'eos_token_id': [7]} then" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("folder", "through_the_script"), [("coco2014_mini", True), ("GranDf_mini", False), ("OpenPSG_mini", False)]
)
@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_tiny_twin_resume_story(folder, through_the_script, tmp_path, capsys):
    """The issue's check with a real (tiny, random-weight) model: --limit 2, then --limit 4 --resume.

    One data set runs eval.py as a user does; the others run its main() in this process, the
    same code after the script's start-up (a process start costs a fifth of the test's time).
    """
    dataset = FIXTURES / folder
    resumed, fresh = tmp_path / "resumed.jsonl", tmp_path / "fresh.jsonl"
    common = ["--max-new-tokens", "8", "--seed", "0"]

    def run(*args) -> tuple[int, str]:
        if through_the_script:
            done = eval_py(TINY_TWIN, dataset, *args, *common)
            return done.returncode, done.stderr
        status = main([TINY_TWIN, str(dataset), *map(str, args), *common])
        return status, capsys.readouterr().err

    assert run("--limit", "2", "--results", resumed)[0] == 0
    status, stderr = run("--limit", "4", "--results", resumed, "--resume")
    assert status == 0, stderr[-2000:]
    assert run("--limit", "4", "--results", fresh)[0] == 0
    summary = json.loads(Path(f"{resumed}.summary.json").read_text())
    assert summary == json.loads(Path(f"{fresh}.summary.json").read_text())
    assert set(summary["methods"]) == set(METHODS)
    assert resumed.read_text() == fresh.read_text()
    computed = min(4, len(load_dataset(dataset))) - 2
    assert f"{computed}/{computed}" in stderr  # the resumed run's progress bar: only the new samples


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_a_results_path_that_is_a_folder_is_one_line_before_the_model_loads(tmp_path):
    (tmp_path / "r.jsonl").mkdir()
    done = eval_py("no-such-model", FIXTURES / "GranDf_mini", "--results", tmp_path / "r.jsonl")
    assert_one_line_error(done, "r.jsonl is a folder; name a file such as")


def test_an_unwritable_vis_dir_is_one_line_before_the_model_loads(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    argv = [
        "m",
        str(FIXTURES / "GranDf_mini"),
        str(tmp_path / "a_file" / "vis"),
        "--results",
        str(tmp_path / "r.jsonl"),
    ]
    assert main(argv, load=no_model) == 2
    assert "cannot write the vis_dir in" in capsys.readouterr().err


def test_retry_failed_needs_resume(tmp_path, capsys):
    argv = ["m", str(FIXTURES / "GranDf_mini"), "--results", str(tmp_path / "r.jsonl"), "--retry-failed"]
    assert main(argv, load=no_model) == 2
    assert "pass --resume with --retry-failed" in capsys.readouterr().err


def test_max_new_tokens_has_a_stated_ceiling(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["m", str(FIXTURES / "GranDf_mini"), "--max-new-tokens", "100000"], load=no_model)
    assert stopped.value.code == 2
    assert "expected 1 to 2048" in capsys.readouterr().err


CONCURRENT_RUN = """
import sys
import time
from pathlib import Path

from tam.evaluation.cli import main
from tests.evaluation_fakes import FakeExplainer


class Gated(FakeExplainer):
    \"\"\"Waits until the gate file exists before each sample, so the test decides how long the run lasts.\"\"\"

    def __call__(self, image_paths, prompt):
        while not Path(sys.argv[1]).exists():
            time.sleep(0.05)
        return super().__call__(image_paths, prompt)


sys.exit(main(sys.argv[2:], load=lambda model, **options: Gated()))
"""


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_two_eval_runs_at_once_on_one_results_file_lose_nothing(tmp_path, resume):
    """The second run refuses in one line naming the first one's process; the first one keeps every record."""
    from tam.evaluation import run_evaluation
    from tam.evaluation.runner import lock_path
    from tests.evaluation_fakes import FakeExplainer

    script, gate = tmp_path / "eval_gated.py", tmp_path / "gate"
    script.write_text(CONCURRENT_RUN)
    dataset_dir, results = FIXTURES / "coco2014_mini", tmp_path / "results.jsonl"
    argv = ["m", dataset_dir, "--results", results, "--limit", "6"]
    command = [sys.executable, str(script), str(gate)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if resume:  # two records to resume from, written in this process (a process start buys nothing here)
        assert main([*map(str, argv[:-1]), "2"], load=lambda model, **options: FakeExplainer()) == 0
        argv.append("--resume")
    first = subprocess.Popen([*command, *map(str, argv)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (lock_path(results).exists() and lock_path(results).read_text().startswith(f"{first.pid} on ")):
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took the results file"
            time.sleep(0.1)
        second = subprocess.run(
            [*command, *map(str, argv)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert_one_line_error(second, f"results.jsonl is in use by another run (process {first.pid} on ")
    finally:
        gate.touch()
        out, _ = first.communicate(timeout=300)
    assert first.returncode == 0
    dataset = load_dataset(dataset_dir)
    fresh = tmp_path / "fresh.jsonl"
    cli_settings = {"model": "m", "layer": -1, "round0": "own", "max_new_tokens": 256, "seed": 0}  # records carry them
    summary = run_evaluation(FakeExplainer(), dataset, fresh, limit=6, settings=cli_settings)
    assert json.loads(Path(f"{results}.summary.json").read_text())["n"] == summary["n"] == 6 - summary["failed"]
    assert results.read_text() == fresh.read_text()


@pytest.mark.parametrize("twin", list(TWINS))
def test_every_family_is_scored_by_eval(tmp_path, twin):
    results = tmp_path / "r.jsonl"
    argv = [twin, str(FIXTURES / "coco2014_mini"), "--limit", "1", "--results", str(results), "--max-new-tokens", "3"]
    assert main(argv) == 0
    (record,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert "error" not in record and set(METHODS) <= set(record["methods"])


@pytest.mark.parametrize("twin", ["tiny-internvl", "tiny-llava-next"])
def test_eval_and_faithfulness_run_on_tiled_families(tmp_path, capsys, twin):
    results = tmp_path / "r.jsonl"
    argv = [twin, str(FIXTURES / "coco2014_mini"), "--limit", "2", "--results", str(results), "--max-new-tokens", "6"]
    argv += ["--faithfulness", "--faithfulness-steps", "3", "--faithfulness-tokens", "all"]
    assert main(argv) == 0
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(records) == 2 and not any("error" in record for record in records)
    # the twins' answers are noise (no noun names a mask's category): the overlap scores are in
    # test_family_layouts.py; here every answer token's map perturbs the picture in its own frame
    faithfulness = json.loads(Path(f"{results}.summary.json").read_text())["faithfulness"]["tam"]
    assert (
        faithfulness["tokens"] > 0 and np.isfinite([faithfulness["insertion_auc"], faithfulness["deletion_auc"]]).all()
    )
