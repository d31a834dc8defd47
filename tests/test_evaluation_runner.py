import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tam.evaluation import EvaluationError, load_dataset, run_evaluation, summary_path
from tam.evaluation.faithfulness import FaithfulnessOptions
from tam.evaluation.runner import format_table, settings_path
from tam.result import METHODS, TokenActivationResult
from tests.evaluation_fakes import BatchingFakeExplainer, FakeExplainer

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"coco14": "coco2014_mini", "grandf": "GranDf_mini", "openpsg": "OpenPSG_mini"}


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset(request):
    return load_dataset(FIXTURES / DATASETS[request.param])


def ids(dataset, start, stop):
    return [sample.id for sample in dataset.samples[start:stop]]


def lines(path):
    return path.read_text().splitlines()


def test_limit_then_resume_computes_only_the_new_samples_and_ends_as_a_fresh_run(dataset, tmp_path):
    results, fresh = tmp_path / "resumed.jsonl", tmp_path / "fresh.jsonl"
    first = FakeExplainer()
    run_evaluation(first, dataset, results, limit=2)
    assert first.calls == ids(dataset, 0, 2)
    assert len(lines(results)) == 2

    second = FakeExplainer()
    summary = run_evaluation(second, dataset, results, limit=4, resume=True)
    assert second.calls == ids(dataset, 2, 4)  # only the new ones

    expected = run_evaluation(FakeExplainer(), dataset, fresh, limit=4)
    assert summary == expected
    assert json.loads(summary_path(results).read_text()) == json.loads(summary_path(fresh).read_text())
    assert lines(results) == lines(fresh)
    assert set(summary["methods"]) == set(METHODS)
    assert summary["n"] == min(4, len(dataset)) and summary["failed"] == 0
    assert summary["methods"]["tam"]["objects"] > 0 and summary["methods"]["tam"]["function_words"] > 0


def test_the_summary_pools_words_over_samples(dataset, tmp_path):
    results = tmp_path / "results.jsonl"
    summary = run_evaluation(FakeExplainer(), dataset, results, methods=["tam", "raw"])
    records = [json.loads(line) for line in lines(results)]
    assert [r["index"] for r in records] == list(range(len(dataset)))
    for method in ("tam", "raw"):
        objects = [o for r in records for o in r["methods"][method]["objects"]]
        functions = [f for r in records for f in r["methods"][method]["functions"]]
        figures = summary["methods"][method]
        assert figures["obj_iou"] == pytest.approx(np.mean([o["iou"] for o in objects]))
        assert figures["precision"] == pytest.approx(np.mean([o["precision"] for o in objects]))
        assert figures["recall"] == pytest.approx(np.mean([o["recall"] for o in objects]))
        assert figures["func_iou"] == pytest.approx(np.mean([f["score"] for f in functions]))
        obj, func = figures["obj_iou"], figures["func_iou"]
        assert figures["f1_iou"] == pytest.approx(2 * obj * func / (obj + func))
    assert set(summary["methods"]) == {"tam", "raw"}
    if dataset.format != "coco14":  # the anno.json fixtures have descriptions
        assert summary["rouge_l"] == pytest.approx(np.mean([r["rouge_l"] for r in records]))
        assert summary["meteor"] == pytest.approx(np.mean([r["meteor"] for r in records]))
    else:
        assert summary["rouge_l"] is None and summary["meteor"] is None


KILLED_RUN = """
import sys, time
from tam.evaluation import load_dataset, run_evaluation
from tests.evaluation_fakes import BatchingFakeExplainer, FakeExplainer

class Slow(FakeExplainer):
    def __call__(self, image_paths, prompt):
        time.sleep(0.3)
        return super().__call__(image_paths, prompt)

run_evaluation(Slow(), load_dataset(sys.argv[1]), sys.argv[2], limit=int(sys.argv[3]))
"""


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_a_run_killed_with_sigkill_then_resumed_ends_as_an_uninterrupted_run(tmp_path):
    coco = FIXTURES / "coco2014_mini"
    results = tmp_path / "killed.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(coco), str(results), "6"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not summary_path(results).exists()
    done = [json.loads(line)["id"] for line in lines(results) if line.endswith("}")]
    with results.open("a") as handle:  # as if the kill had cut a line in half
        handle.write('{"index": 5, "id": "000000')

    dataset = load_dataset(coco)
    resumed = FakeExplainer()
    summary = run_evaluation(resumed, dataset, results, limit=6, resume=True)
    assert sorted(resumed.calls + done) == sorted(ids(dataset, 0, 6))
    assert summary == run_evaluation(FakeExplainer(), dataset, tmp_path / "fresh.jsonl", limit=6)
    assert all(json.loads(line) for line in lines(results))


def test_a_half_written_last_line_is_cut_before_appending(tmp_path):
    dataset = load_dataset(FIXTURES / "GranDf_mini")
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), dataset, results, limit=1)
    with results.open("a") as handle:
        handle.write('{"index": 1, "id": "000000223747", "answ')
    explainer = FakeExplainer()
    run_evaluation(explainer, dataset, results, resume=True)
    assert explainer.calls == ids(dataset, 1, 3)
    assert [json.loads(line)["index"] for line in lines(results)] == [0, 1, 2]


def test_failed_samples_are_recorded_counted_and_not_retried(tmp_path):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    dataset = load_dataset(root)
    dataset.samples[1].image.write_bytes(b"corrupt")
    dataset.samples[2].mask.unlink()
    results = tmp_path / "results.jsonl"
    summary = run_evaluation(FakeExplainer(empty_answers={dataset.samples[3].id}), dataset, results, limit=5)
    assert (summary["n"], summary["failed"]) == (2, 3)
    assert [f["id"] for f in summary["failures"]] == ids(dataset, 1, 4)
    assert "ImageFileError" in summary["failures"][0]["error"] and "not an image" in summary["failures"][0]["error"]
    assert "no mask" in summary["failures"][1]["error"]
    assert "answer is empty" in summary["failures"][2]["error"]
    again = FakeExplainer()
    assert run_evaluation(again, dataset, results, limit=5, resume=True) == summary
    assert again.calls == []


def test_batches_take_consecutive_samples_and_give_the_records_of_batch_size_one(tmp_path):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    dataset = load_dataset(root)
    dataset.samples[1].image.write_bytes(b"corrupt")
    dataset.samples[2].mask.unlink()
    single = run_evaluation(FakeExplainer(), dataset, tmp_path / "single.jsonl", limit=7)
    explainer = BatchingFakeExplainer()
    assert run_evaluation(explainer, dataset, tmp_path / "batched.jsonl", limit=7, batch_size=3) == single
    # the corrupt picture and the maskless sample fail before the batch is explained, alone
    assert explainer.batches == [ids(dataset, 0, 1), ids(dataset, 3, 6), ids(dataset, 6, 7)]
    assert lines(tmp_path / "batched.jsonl") == lines(tmp_path / "single.jsonl")
    assert single["failed"] == 2


def test_a_run_stopped_inside_a_batch_resumes_from_the_next_sample(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    fresh = tmp_path / "fresh.jsonl"
    expected = run_evaluation(FakeExplainer(), dataset, fresh, limit=8)
    stopped = tmp_path / "stopped.jsonl"
    shutil.copy(settings_path(fresh), settings_path(stopped))
    stopped.write_text("\n".join(lines(fresh)[:5]) + "\n")  # killed after writing 1 record of the second batch of 4
    explainer = BatchingFakeExplainer()
    assert run_evaluation(explainer, dataset, stopped, limit=8, resume=True, batch_size=4) == expected
    assert explainer.batches == [ids(dataset, 5, 8)]
    assert lines(stopped) == lines(fresh)


def test_retry_failed_computes_the_failed_samples_again_once_their_files_are_fixed(tmp_path):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    dataset = load_dataset(root)
    dataset.samples[1].image.write_bytes(b"corrupt")
    results = tmp_path / "results.jsonl"
    assert run_evaluation(FakeExplainer(), dataset, results, limit=3)["failed"] == 1
    shutil.copy(FIXTURES / "coco2014_mini" / "image" / dataset.samples[1].image.name, dataset.samples[1].image)
    again = FakeExplainer()
    summary = run_evaluation(again, dataset, results, limit=3, resume=True, retry_failed=True)
    assert again.calls == ids(dataset, 1, 2)
    assert summary == run_evaluation(FakeExplainer(), dataset, tmp_path / "fresh.jsonl", limit=3)
    assert lines(results) == lines(tmp_path / "fresh.jsonl")  # the failure's line is replaced, not kept
    with pytest.raises(EvaluationError, match="pass --resume with --retry-failed"):
        run_evaluation(FakeExplainer(), dataset, tmp_path / "other.jsonl", retry_failed=True)


def test_a_mask_of_another_size_than_its_picture_fails_the_sample_before_generating(tmp_path):
    from PIL import Image

    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "grandf")
    dataset = load_dataset(root)
    with Image.open(dataset.samples[0].mask) as mask:
        mask.resize((mask.width // 2, mask.height)).save(dataset.samples[0].mask)
    explainer = FakeExplainer()
    summary = run_evaluation(explainer, dataset, tmp_path / "results.jsonl", limit=2)
    assert "but its picture is" in summary["failures"][0]["error"] and summary["failed"] == 1
    assert explainer.calls == ids(dataset, 1, 2)  # no generation for the bad sample


def test_pictures_over_the_pixel_limit_and_truncated_ones_fail_their_sample_only(tmp_path):
    from tests.hostile_files import huge_png, truncated_jpeg

    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    dataset = load_dataset(root)
    huge_png(tmp_path / "bomb.png").replace(dataset.samples[0].image)
    truncated_jpeg(tmp_path / "cut.jpg", dataset.samples[1].image).replace(dataset.samples[1].image)
    explainer = FakeExplainer()
    summary = run_evaluation(explainer, dataset, tmp_path / "results.jsonl", limit=3)
    errors = [failure["error"] for failure in summary["failures"]]
    assert "over the pixel limit" in errors[0] and "not an image that can be read whole" in errors[1]
    assert explainer.calls == ids(dataset, 2, 3) and summary["n"] == 1


def test_an_existing_results_file_needs_resume(tmp_path):
    dataset = load_dataset(FIXTURES / "OpenPSG_mini")
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), dataset, results, limit=1)
    with pytest.raises(EvaluationError, match="already holds results: pass --resume"):
        run_evaluation(FakeExplainer(), dataset, results, limit=2)


def test_resuming_with_other_settings_is_refused(tmp_path):
    dataset = load_dataset(FIXTURES / "OpenPSG_mini")
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), dataset, results, limit=1, settings={"model": "a"})
    assert json.loads(settings_path(results).read_text())["model"] == "a"
    with pytest.raises(EvaluationError, match=r"other settings \(methods: \['tam', 'raw', 'eci', 'rgf'\] then"):
        run_evaluation(FakeExplainer(), dataset, results, methods=["tam"], resume=True, settings={"model": "a"})
    with pytest.raises(EvaluationError, match="model: 'a' then 'b'"):
        run_evaluation(FakeExplainer(), dataset, results, resume=True, settings={"model": "b"})
    with pytest.raises(EvaluationError, match="category_rule: 'whole-name' then 'reference'"):
        run_evaluation(
            FakeExplainer(), dataset, results, resume=True, category_rule="reference", settings={"model": "a"}
        )


def test_the_generation_settings_known_once_the_model_loads_are_recorded_and_compared_on_resume(tmp_path):
    from tam.evaluation.runner import start_evaluation

    dataset = load_dataset(FIXTURES / "OpenPSG_mini")
    results = tmp_path / "results.jsonl"
    greedy = {"generation": {"do_sample": False, "eos_token_id": [2]}, "explain_end_of_turn": False}
    with start_evaluation(dataset, results, limit=1, settings={"model": "a"}) as run:
        run.add_settings(greedy)
        run.evaluate(FakeExplainer())
    assert json.loads(settings_path(results).read_text())["generation"] == greedy["generation"]
    with start_evaluation(dataset, results, limit=2, resume=True, settings={"model": "a"}) as run:
        run.add_settings(greedy)  # the same settings: the run goes on
        assert run.evaluate(FakeExplainer())["settings"]["generation"] == greedy["generation"]
    with start_evaluation(dataset, results, limit=2, resume=True, settings={"model": "a"}) as run:
        with pytest.raises(EvaluationError, match=r"generation: \{'do_sample': False, 'eos_token_id': \[2\]\} then"):
            run.add_settings({**greedy, "generation": {"do_sample": False, "eos_token_id": [7]}})


def test_results_of_another_data_set_are_refused(tmp_path):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), load_dataset(FIXTURES / "GranDf_mini"), results, limit=1)
    with pytest.raises(EvaluationError, match="dataset_format: 'grandf' then 'openpsg'"):  # the records say so
        run_evaluation(FakeExplainer(), load_dataset(FIXTURES / "OpenPSG_mini"), results, resume=True)
    other = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "other_grandf")
    anno = json.loads((other / "anno.json").read_text())
    (other / "anno.json").write_text(json.dumps(anno[::-1]))  # the same format, other samples first
    with pytest.raises(EvaluationError, match="which this data set lacks"):
        run_evaluation(FakeExplainer(), load_dataset(other), results, resume=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"methods": ["tam", "gradkam"]}, "unknown map method 'gradkam'; known methods: tam, raw"),
        ({"methods": []}, "methods must be distinct registered method names, got"),
        ({"methods": ["tam", "tam"]}, "methods must be distinct registered method names, got"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"category_rule": "first"}, "category_rule must be one of"),
    ],
)
def test_bad_options(tmp_path, options, message):
    with pytest.raises(EvaluationError, match=message):
        run_evaluation(FakeExplainer(), load_dataset(FIXTURES / "GranDf_mini"), tmp_path / "r.jsonl", **options)


def test_vis_dir_keeps_each_samples_result(tmp_path):
    dataset = load_dataset(FIXTURES / "GranDf_mini")
    run_evaluation(FakeExplainer(), dataset, tmp_path / "r.jsonl", limit=2, vis_dir=tmp_path / "vis")
    saved = sorted(path.name for path in (tmp_path / "vis").iterdir())
    assert saved == [f"{s.index:05d}_{s.id}" for s in dataset.samples[:2]]
    loaded = TokenActivationResult.load(tmp_path / "vis" / saved[0])
    assert loaded.texts is not None and len(loaded.images) == 1


class SlowExplainer(FakeExplainer):
    def __call__(self, image_paths, prompt):
        time.sleep(0.3)
        return super().__call__(image_paths, prompt)


class ThreadState:
    """accelerate.PartialState's interface for one of several processes, simulated by threads."""

    def __init__(self, rank, world, barrier):
        self.process_index, self.num_processes, self.barrier = rank, world, barrier
        self.is_main_process = rank == 0

    def wait_for_everyone(self):
        self.barrier.wait(timeout=120)


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_processes_take_every_other_sample_and_the_main_one_merges(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    results = tmp_path / "sharded.jsonl"
    barrier = threading.Barrier(2)
    explainers = [FakeExplainer(), SlowExplainer()]
    (tmp_path / "sharded.jsonl.part1.done").touch()  # a stale marker must not let the main process merge early
    returned = {}

    def process(rank):
        state = ThreadState(rank, 2, barrier)
        returned[rank] = run_evaluation(explainers[rank], dataset, results, limit=7, state=state)

    threads = [threading.Thread(target=process, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert explainers[0].calls == [s.id for s in dataset.samples[:7:2]]
    assert explainers[1].calls == [s.id for s in dataset.samples[1:7:2]]
    assert returned[1] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sharded.jsonl",
        "sharded.jsonl.lock",
        "sharded.jsonl.settings.json",
        "sharded.jsonl.summary.json",
    ]
    single = tmp_path / "single" / "results.jsonl"
    assert returned[0] == run_evaluation(FakeExplainer(), dataset, single, limit=7)
    assert lines(results) == lines(single)


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_a_batch_never_spans_two_processes(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    results = tmp_path / "sharded.jsonl"
    barrier = threading.Barrier(2)
    explainers = [BatchingFakeExplainer(), BatchingFakeExplainer()]

    def process(rank):
        run_evaluation(explainers[rank], dataset, results, limit=9, state=ThreadState(rank, 2, barrier), batch_size=2)

    threads = [threading.Thread(target=process, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    samples = [sample.id for sample in dataset.samples]
    assert explainers[0].batches == [samples[0:3:2], samples[4:7:2], samples[8:9]]
    assert explainers[1].batches == [samples[1:4:2], samples[5:8:2]]
    single = tmp_path / "single" / "results.jsonl"
    run_evaluation(FakeExplainer(), dataset, single, limit=9)
    assert lines(results) == lines(single)


def test_part_files_left_by_a_killed_sharded_run_are_resumed_by_one_process(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    single = run_evaluation(FakeExplainer(), dataset, tmp_path / "single.jsonl", limit=5)
    results = tmp_path / "results.jsonl"
    records = lines(tmp_path / "single.jsonl")
    (tmp_path / "results.jsonl.part1").write_text(records[1] + "\n" + records[3][:40])
    (tmp_path / "results.jsonl.part0").write_text(records[0] + "\n")
    explainer = FakeExplainer()
    assert run_evaluation(explainer, dataset, results, limit=5, resume=True) == single
    assert explainer.calls == ids(dataset, 2, 3) + ids(dataset, 3, 5)
    assert not list(tmp_path.glob("results.jsonl.part*"))


SHARDED_RUN = """
import sys
from tam.evaluation import load_dataset, run_evaluation
from tam.evaluation.cli import process_state
from tests.evaluation_fakes import BatchingFakeExplainer, FakeExplainer

state = process_state()
explainer = FakeExplainer()
run_evaluation(explainer, load_dataset(sys.argv[1]), sys.argv[2], limit=5, state=state)
print(f"rank {state.process_index} of {state.num_processes}:", ",".join(explainer.calls), flush=True)
"""


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_two_real_processes_share_the_samples_over_gloo(tmp_path):
    script = tmp_path / "sharded_run.py"
    script.write_text(SHARDED_RUN)
    results = tmp_path / "out" / "results.jsonl"
    coco = FIXTURES / "coco2014_mini"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(script), str(coco), str(results)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    dataset = load_dataset(coco)
    assert f"rank 0 of 2: {','.join(ids(dataset, 0, 5)[0::2])}" in done.stdout
    assert f"rank 1 of 2: {','.join(ids(dataset, 0, 5)[1::2])}" in done.stdout
    single = tmp_path / "single.jsonl"
    assert json.loads(summary_path(results).read_text()) == run_evaluation(FakeExplainer(), dataset, single, limit=5)
    assert lines(results) == lines(single)


@pytest.mark.parametrize("where", ["results_is_a_folder", "results_below_a_file", "vis_dir_below_a_file"])
def test_an_unusable_output_stops_the_run_at_its_start(tmp_path, where):
    dataset = load_dataset(FIXTURES / "GranDf_mini")
    (tmp_path / "a_file").write_text("not a folder")
    results, vis_dir = tmp_path / "results.jsonl", None
    if where == "results_is_a_folder":
        results.mkdir()
    elif where == "results_below_a_file":
        results = tmp_path / "a_file" / "results.jsonl"
    else:
        vis_dir = tmp_path / "a_file" / "vis"
    explainer = FakeExplainer()
    with pytest.raises(EvaluationError, match="is a folder; name a file|cannot write"):
        run_evaluation(explainer, dataset, results, vis_dir=vis_dir)
    assert explainer.calls == []


def test_a_vis_dir_that_fails_while_running_stops_the_run_and_the_sample_is_computed_again(tmp_path, monkeypatch):
    dataset = load_dataset(FIXTURES / "GranDf_mini")
    results = tmp_path / "results.jsonl"
    real_save = TokenActivationResult.save

    def disk_full(self, directory, **options):
        if Path(directory).name.startswith("00001_"):
            raise OSError(28, "No space left on device")
        return real_save(self, directory, **options)

    monkeypatch.setattr(TokenActivationResult, "save", disk_full)
    with pytest.raises(EvaluationError, match="cannot save the maps of sample 1 .*No space left on device"):
        run_evaluation(FakeExplainer(), dataset, results, vis_dir=tmp_path / "vis")
    assert [json.loads(line)["index"] for line in lines(results)] == [0]  # no failure recorded for sample 1
    monkeypatch.undo()
    again = FakeExplainer()
    summary = run_evaluation(again, dataset, results, vis_dir=tmp_path / "vis", resume=True)
    assert again.calls == ids(dataset, 1, 3) and summary["failed"] == 0


def test_a_second_run_on_a_results_file_in_use_is_refused_naming_the_holder(tmp_path):
    dataset = load_dataset(FIXTURES / "GranDf_mini")
    results = tmp_path / "results.jsonl"
    from tam.evaluation.runner import start_evaluation

    with start_evaluation(dataset, results):
        with pytest.raises(EvaluationError, match=f"in use by another run \\(process {os.getpid()} on "):
            run_evaluation(FakeExplainer(), dataset, results, resume=True)
    assert run_evaluation(FakeExplainer(), dataset, results, resume=True)["n"] == len(dataset)


SCORED = {"obj_iou": 0.25, "func_iou": 0.5, "f1_iou": 0.3333, "precision": 0.3, "recall": 0.2, "objects": 12}
NOTHING_MATCHED = {"obj_iou": None, "func_iou": 0.5, "f1_iou": None, "precision": None, "recall": None, "objects": 0}


def test_the_table_sets_the_mask_rows_apart_after_the_models():
    rows = {"uniform": SCORED, "tam": SCORED, "perfect": SCORED, "raw": SCORED}
    summary = {"methods": {name: {**row, "function_words": 30} for name, row in rows.items()}}
    lines = format_table({**summary, "exact": 0.5, "rouge_l": 0.3, "meteor": 0.2, "n": 9, "failed": 0}).splitlines()
    assert [line.split()[0] for line in lines[:6]] == ["method", "tam", "raw", "not", "uniform", "perfect"]
    assert lines[3] == "not made by the model: chance and the grid's ceiling (--baselines):"
    assert lines[-1].startswith("exact answers 50.0%")  # nothing is empty: no notes


def test_the_table_says_why_cells_are_empty():
    methods = {"tam": {**NOTHING_MATCHED, "function_words": 0}, "raw": {**SCORED, "function_words": 30}}
    table = format_table({"methods": methods, "exact": None, "rouge_l": None, "meteor": None, "n": 2, "failed": 0})
    assert table.splitlines()[1].split() == ["tam", "-", "0.5000", "-", "-", "-", "0", "0"]
    assert table.splitlines()[-3:] == [
        "-: no answer noun matched a category of the masks (objects 0): no Obj-IoU, F1-IoU, Precision, Recall",
        "-: the answers held no function word (function words 0): no Func-IoU, F1-IoU",
        "-: no scored sample has reference answers: no ROUGE-L, METEOR",
    ]
    assert "not made by the model" not in table


FAITHFULNESS = FaithfulnessOptions(steps=4, random_order=True)


def test_faithfulness_scores_the_nouns_of_each_record_and_pools_them(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    results = tmp_path / "results.jsonl"
    explainer = FakeExplainer()
    methods = ["tam", "raw", "random"]
    summary = run_evaluation(explainer, dataset, results, methods=methods, limit=4, faithfulness=FAITHFULNESS)
    records = [json.loads(line) for line in lines(results)]
    scored = 0
    for record in records:
        faithful = record["faithfulness"]
        assert list(faithful["methods"]) == ["tam", "raw", "random-order"]  # no faithfulness for chance maps
        nouns = [kind == "noun" and label for kind, label in zip(record["kinds"], record["labels"], strict=True)]
        assert len(faithful["tokens"]) == len(faithful["labels"]) <= sum(map(bool, nouns))
        assert all(label is not None for label in faithful["labels"])
        for figures in faithful["methods"].values():
            assert len(figures["deletion"]) == len(figures["hits"]) == len(faithful["tokens"])
            assert all(len(curve) == 5 for curve in figures["deletion"] + figures["insertion"])
        scored += len(faithful["tokens"])
    assert scored > 0 and len(explainer.scored) == scored
    assert set(summary["faithfulness"]) == {"tam", "raw", "random-order"}
    assert summary["faithfulness"]["tam"]["tokens"] == scored == summary["faithfulness"]["tam"]["pointed"]
    assert summary["settings"]["faithfulness"]["steps"] == 4
    assert (tmp_path / "results.jsonl.curves.png").stat().st_size > 0
    assert (tmp_path / "results.jsonl.curves.pdf").read_bytes().startswith(b"%PDF")
    assert "Ins-AUC" in format_table(summary) and "random-order" in format_table(summary)


def test_faithfulness_of_all_tokens_points_only_where_a_token_names_an_object(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    options = FaithfulnessOptions(steps=2, tokens="all")
    results = tmp_path / "r.jsonl"
    summary = run_evaluation(FakeExplainer(), dataset, results, methods=["tam"], limit=2, faithfulness=options)
    record = json.loads(lines(tmp_path / "r.jsonl")[0])
    answer_tokens = sum(1 for _ in record["faithfulness"]["tokens"])
    assert record["faithfulness"]["tokens"] == list(range(answer_tokens)) and answer_tokens >= len(record["words"])
    hits = record["faithfulness"]["methods"]["tam"]["hits"]
    assert [hit is None for hit in hits] == [label is None for label in record["faithfulness"]["labels"]]
    assert summary["faithfulness"]["tam"]["pointed"] < summary["faithfulness"]["tam"]["tokens"]


def test_faithfulness_resume_ends_byte_identical_to_an_uninterrupted_run(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    options = {"methods": ["tam", "random"], "faithfulness": FAITHFULNESS}
    resumed, fresh = tmp_path / "resumed" / "r.jsonl", tmp_path / "fresh" / "r.jsonl"
    run_evaluation(FakeExplainer(), dataset, resumed, limit=2, **options)
    run_evaluation(FakeExplainer(), dataset, resumed, limit=5, resume=True, **options)
    run_evaluation(FakeExplainer(), dataset, fresh, limit=5, **options)
    for name in ("r.jsonl", "r.jsonl.summary.json", "r.jsonl.curves.png", "r.jsonl.curves.pdf"):
        assert (resumed.parent / name).read_bytes() == (fresh.parent / name).read_bytes(), name
    with pytest.raises(EvaluationError, match="faithfulness"):
        run_evaluation(FakeExplainer(), dataset, resumed, limit=5, resume=True, methods=["tam", "random"])


def test_sharded_faithfulness_equals_one_process(tmp_path):
    dataset = load_dataset(FIXTURES / "coco2014_mini")
    barrier = threading.Barrier(2)
    returned = {}

    def process(rank):
        state = ThreadState(rank, 2, barrier)
        returned[rank] = run_evaluation(
            FakeExplainer(), dataset, tmp_path / "sharded.jsonl", limit=4, state=state, faithfulness=FAITHFULNESS
        )

    threads = [threading.Thread(target=process, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    single = run_evaluation(FakeExplainer(), dataset, tmp_path / "single.jsonl", limit=4, faithfulness=FAITHFULNESS)
    assert returned[0] == single
    assert lines(tmp_path / "sharded.jsonl") == lines(tmp_path / "single.jsonl")
