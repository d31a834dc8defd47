"""Hostile outputs and data folders for eval: nothing outside is written or read, one writer per file and folder."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tam.evaluation import DatasetError, EvaluationError, load_dataset, run_evaluation
from tam.evaluation.cli import main as cli_main
from tam.evaluation.runner import settings_path, start_evaluation
from tam.evaluation.scoring import read_mask
from tests.evaluation_fakes import FakeExplainer, fake_loader

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def grandf():
    return load_dataset(FIXTURES / "GranDf_mini")


def snapshot(folder):
    """Every file below ``folder`` with its bytes (links as links)."""
    return {
        str(path.relative_to(folder)): os.readlink(path) if path.is_symlink() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_symlink() or path.is_file()
    }


def test_a_results_file_that_is_a_link_to_a_file_elsewhere_is_refused_and_that_file_kept(grandf, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.jsonl").write_text('{"index": 0, "id": "mine"}\n{"cut')
    before = snapshot(elsewhere)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.jsonl").symlink_to(elsewhere / "notes.jsonl")
    explainer = FakeExplainer()
    for resume in (False, True):
        with pytest.raises(EvaluationError, match=r"--results .*results.jsonl is a symbolic link \(to .*notes.jsonl"):
            run_evaluation(explainer, grandf, tmp_path / "out" / "results.jsonl", resume=resume)
    assert snapshot(elsewhere) == before and explainer.calls == []


def test_a_dangling_results_link_creates_nothing_where_it_points(grandf, tmp_path):
    (tmp_path / "results.jsonl").symlink_to(tmp_path / "elsewhere" / "made.jsonl")
    with pytest.raises(EvaluationError, match="is a symbolic link"):
        run_evaluation(FakeExplainer(), grandf, tmp_path / "results.jsonl")
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("companion", ["results.jsonl.lock", "results.jsonl.settings.json", "results.jsonl.part1"])
def test_a_lock_settings_or_part_file_linked_elsewhere_is_refused_and_its_target_kept(grandf, tmp_path, companion):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / companion).symlink_to(target)
    with pytest.raises(EvaluationError, match=f"{companion} is a symbolic link"):
        run_evaluation(FakeExplainer(), grandf, tmp_path / "out" / "results.jsonl", resume=True)
    assert target.read_text() == "keep me"


def test_a_vis_dir_that_is_a_link_is_refused(grandf, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "vis").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EvaluationError, match="the vis_dir .*vis is a symbolic link"):
        run_evaluation(FakeExplainer(), grandf, tmp_path / "results.jsonl", vis_dir=tmp_path / "vis")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_vis_dir_in_use_by_another_run_is_refused_naming_its_holder(grandf, tmp_path):
    vis_dir = tmp_path / "vis"
    with start_evaluation(grandf, tmp_path / "first.jsonl", vis_dir=vis_dir):
        in_use = f"the vis_dir .*vis is in use by another run \\(process {os.getpid()}"
        with pytest.raises(EvaluationError, match=in_use):
            run_evaluation(FakeExplainer(), grandf, tmp_path / "second.jsonl", vis_dir=tmp_path / "." / "vis")
    assert not (tmp_path / "second.jsonl").exists()
    assert run_evaluation(FakeExplainer(), grandf, tmp_path / "second.jsonl", vis_dir=vis_dir)["n"] == len(grandf)


def test_a_results_file_reached_through_a_linked_folder_is_locked_by_its_real_path(grandf, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    with start_evaluation(grandf, tmp_path / "real" / "results.jsonl"):
        with pytest.raises(EvaluationError, match="is in use by another run"):
            run_evaluation(FakeExplainer(), grandf, tmp_path / "alias" / "results.jsonl", resume=True)


@pytest.mark.parametrize("special", ["fifo", "device"])
def test_a_fifo_or_a_device_as_results_file_is_refused_at_once(grandf, tmp_path, special):
    if special == "fifo":
        results = tmp_path / "results.jsonl"
        os.mkfifo(results)
    else:
        results = Path("/dev/null")
    with pytest.raises(EvaluationError, match="is not a regular file"):
        run_evaluation(FakeExplainer(), grandf, results, resume=True)


@pytest.mark.parametrize("which", ["image", "mask"])
def test_a_data_folder_picture_or_mask_linked_outside_the_folder_refuses_the_data_set(tmp_path, which):
    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "grandf")
    sample = load_dataset(root).samples[1]
    path = sample.image if which == "image" else sample.mask
    outside = tmp_path / f"outside{path.suffix}"
    path.replace(outside)
    path.symlink_to(outside)
    with pytest.raises(DatasetError, match=f"sample 1 .*{path.name} is a symbolic link to .*outside the data set"):
        load_dataset(root)


def test_links_inside_the_data_folder_are_followed(tmp_path):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    (root / "image").rename(root / "pictures")
    (root / "image").symlink_to("pictures")
    assert load_dataset(root).samples[0].image.is_file()


def test_a_dangling_or_looping_link_in_the_data_folder_is_refused(tmp_path):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    first = load_dataset(root).samples[0]
    first.mask.unlink()
    first.mask.symlink_to(tmp_path / "gone.png")
    with pytest.raises(DatasetError, match="sample 0 .*outside the data set"):
        load_dataset(root)
    first.mask.unlink()
    first.mask.symlink_to(first.mask)
    with pytest.raises(DatasetError, match="sample 0 .*a loop of symbolic links"):
        load_dataset(root)


# ---- records carry their settings ---------------------------------------------------------


def test_a_resume_with_another_model_is_refused_even_when_the_settings_file_is_gone(grandf, tmp_path):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), grandf, results, limit=1, settings={"model": "a"})
    settings_path(results).unlink()
    before = results.read_bytes()
    with pytest.raises(EvaluationError, match="other settings .*model: 'a' then 'b'"):
        run_evaluation(FakeExplainer(), grandf, results, resume=True, settings={"model": "b"})
    assert results.read_bytes() == before and not settings_path(results).exists()
    assert run_evaluation(FakeExplainer(), grandf, results, resume=True, settings={"model": "a"})["n"] == 3


def test_the_generation_settings_are_compared_with_the_records_when_the_settings_file_is_gone(grandf, tmp_path):
    results = tmp_path / "results.jsonl"
    greedy = {"generation": {"do_sample": False, "eos_token_id": [2]}}
    with start_evaluation(grandf, results, limit=1, settings={"model": "a"}) as run:
        run.add_settings(greedy)
        run.evaluate(FakeExplainer())
    settings_path(results).unlink()
    with start_evaluation(grandf, results, resume=True, settings={"model": "a"}) as run:
        with pytest.raises(EvaluationError, match=r"generation: \{'do_sample': False, 'eos_token_id': \[2\]\} then"):
            run.add_settings({"generation": {"do_sample": True, "eos_token_id": [2]}})


def test_records_made_with_different_settings_are_refused(grandf, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_evaluation(FakeExplainer(), grandf, first, limit=1, settings={"model": "a"})
    run_evaluation(FakeExplainer(), grandf, second, settings={"model": "b"})
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(first.read_text() + second.read_text().splitlines(keepends=True)[1])
    with pytest.raises(EvaluationError, match=r"records were made with different settings \(model differ\)"):
        run_evaluation(FakeExplainer(), grandf, mixed, resume=True, settings={"model": "a"})


def test_records_that_do_not_say_their_settings_without_a_settings_file_are_refused(grandf, tmp_path):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), grandf, results, limit=1)
    record = json.loads(results.read_text())
    del record["settings"]
    results.write_text(json.dumps(record) + "\n")
    settings_path(results).unlink()
    with pytest.raises(EvaluationError, match="settings file .* is gone and its records do not say"):
        run_evaluation(FakeExplainer(), grandf, results, resume=True)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda path: path.mkdir(), "cannot read the settings file"),
        (lambda path: path.write_text('{"model": "a", "lay'), "cannot read the settings file"),
        (lambda path: path.write_text("[1, 2]"), "holds a list, not the run's settings"),
        (lambda path: path.write_bytes(b'{"model": "\xff"}'), "cannot read the settings file"),
        (lambda path: path.write_text("[" * 100000 + "]" * 100000), "cannot read the settings file"),
    ],
)
def test_a_damaged_settings_file_stops_the_run_in_one_line(grandf, tmp_path, damage, message):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), grandf, results, limit=1)
    settings_path(results).unlink()
    damage(settings_path(results))
    with pytest.raises(EvaluationError, match=message) as caught:
        run_evaluation(FakeExplainer(), grandf, results, resume=True)
    assert "\n" not in str(caught.value)


# ---- masks and ids ------------------------------------------------------------------------


def labels_of(path):
    return read_mask(path).tolist()


LABELS = np.array([[0, 1, 2], [3, 0, 1]], dtype=np.uint8)


@pytest.mark.parametrize(
    "mode",
    [
        "L",
        "P",
        "I;16",
        "I",
    ],
)
def test_label_masks_of_every_accepted_mode_read_as_their_labels(tmp_path, mode):
    path = tmp_path / "mask.png"
    if mode == "P":
        mask = Image.fromarray(LABELS, mode="L").convert("P")
        mask.putpalette([value for index in range(256) for value in ((index * 37) % 256, 90, 200)])
        mask.putdata(LABELS.ravel().tolist())
    elif mode == "I;16":
        mask = Image.fromarray(LABELS.astype(np.uint16))
    elif mode == "I":
        mask, path = Image.fromarray(LABELS.astype(np.int32)), tmp_path / "mask.tif"  # PNG holds no 32-bit grey
    else:
        mask = Image.fromarray(LABELS)
    mask.save(path)
    assert Image.open(path).mode == mode
    assert labels_of(path) == LABELS.tolist()


def test_a_one_bit_mask_reads_as_labels_0_and_1(tmp_path):
    path = tmp_path / "mask.png"
    Image.fromarray(LABELS > 0).save(path)
    assert Image.open(path).mode == "1"
    assert labels_of(path) == (LABELS > 0).astype(int).tolist()


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda path: Image.fromarray(np.stack([LABELS] * 3, axis=-1)).save(path), "is a RGB picture; a mask holds"),
        (
            lambda path: (
                Image.fromarray(LABELS).save(path.with_suffix(".jpg"), format="JPEG")
                or path.with_suffix(".jpg").replace(path)
            ),
            "is a JPEG file, whose compression changes the labels",
        ),
        (lambda path: Image.fromarray(LABELS.astype(np.uint16) * 300).save(path), "holds the value 300; labels go"),
    ],
)
def test_colour_lossy_and_wide_masks_fail_their_sample_naming_the_file(tmp_path, write, message):
    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "grandf")
    dataset = load_dataset(root)
    mask = dataset.samples[0].mask
    with Image.open(dataset.samples[0].image) as picture:
        size = picture.size
    write(tmp_path / "made.png")
    with Image.open(tmp_path / "made.png") as made:
        made.resize(size, Image.Resampling.NEAREST).save(mask, format=made.format)
    explainer = FakeExplainer()
    summary = run_evaluation(explainer, dataset, tmp_path / "results.jsonl")
    assert summary["failed"] == 1 and re.search(
        f"mask {re.escape(str(mask))} .*{message}", summary["failures"][0]["error"]
    )
    assert explainer.calls == [sample.id for sample in dataset.samples[1:]]


@pytest.mark.parametrize("label", ["true", "0", "-1", "256", "1e400", "2.0", '"2"', "1" * 5000])
def test_category_labels_must_be_integers_a_mask_can_hold(tmp_path, label):
    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "grandf")
    text = (root / "anno.json").read_text().replace('"dog": 2', f'"dog": {label}', 1)
    (root / "anno.json").write_text(text)
    with pytest.raises(DatasetError, match=r"label of 'dog' must be an integer from 1 to 255|cannot read annotation"):
        load_dataset(root)


@pytest.mark.parametrize("image_id", ["1.9", '"2"', "true", "Infinity", "-3"])
def test_coco_image_ids_must_be_integers(tmp_path, image_id):
    root = shutil.copytree(FIXTURES / "coco2014_mini", tmp_path / "coco")
    instances = root / "annotations" / "instances_minival2014.json"
    data = json.loads(instances.read_text())
    data["images"][0]["id"] = "PLACEHOLDER"
    instances.write_text(json.dumps(data).replace('"PLACEHOLDER"', image_id))
    with pytest.raises(DatasetError, match=f"an image id must be a non-negative integer, got {re.escape(image_id)}"):
        load_dataset(root)


def test_deeply_nested_annotations_are_refused_in_one_line(tmp_path):
    root = tmp_path / "GranDf"
    root.mkdir()
    (root / "anno.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DatasetError, match="nested too deeply"):
        load_dataset(root)


# ---- damaged results resume -----------------------------------------------------------------


def fresh_lines(dataset, tmp_path, **options):
    fresh = tmp_path / "fresh" / "results.jsonl"
    run_evaluation(FakeExplainer(), dataset, fresh, **options)
    return fresh.read_bytes()


def test_a_last_line_cut_inside_a_utf8_character_is_dropped_on_resume(grandf, tmp_path):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), grandf, results, limit=1)
    with results.open("ab") as handle:
        handle.write('{"index": 1, "id": "caf\u00e9'.encode()[:-1])  # the first byte of é only
    explainer = FakeExplainer()
    run_evaluation(explainer, grandf, results, resume=True)
    assert explainer.calls == [sample.id for sample in grandf.samples[1:]]
    assert results.read_bytes() == fresh_lines(grandf, tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: {"index": record["index"], "id": record["id"]},  # half a record: neither scores nor error
        lambda record: {**record, "methods": {"tam": record["methods"]["tam"]}},  # methods missing
        lambda record: {**record, "methods": {**record["methods"], "raw": {"objects": 5}}},  # scores of no shape
        lambda record: {**record, "rouge_l": None, "meteor": "x", "methods": []},
        lambda record: {**record, "settings": "a string"},
    ],
)
def test_a_malformed_record_is_computed_again_with_a_warning(grandf, tmp_path, caplog, damage):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), grandf, results)
    records = [json.loads(line) for line in results.read_text().splitlines()]
    records[1] = damage(records[1])
    results.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    explainer = FakeExplainer()
    summary = run_evaluation(explainer, grandf, results, resume=True)
    assert explainer.calls == [grandf.samples[1].id] and summary["n"] == 3
    assert "the record of sample 1 is damaged; it is computed again" in caplog.text
    assert results.read_bytes() == fresh_lines(grandf, tmp_path)


def test_records_with_huge_integers_or_deep_nesting_are_skipped(grandf, tmp_path):
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), grandf, results, limit=1)
    with results.open("a") as handle:
        handle.write('{"index": ' + "1" * 5000 + "}\n")
        handle.write("[" * 100000 + "]" * 100000 + "\n")
        handle.write('{"index": true, "id": "x"}\n')
    explainer = FakeExplainer()
    run_evaluation(explainer, grandf, results, resume=True)
    assert explainer.calls == [sample.id for sample in grandf.samples[1:]]
    assert results.read_bytes() == fresh_lines(grandf, tmp_path)


def test_a_sample_whose_name_fills_the_file_name_limit_is_saved_to_the_vis_dir(tmp_path):
    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "grandf")
    anno = json.loads((root / "anno.json").read_text())
    long_name = "images/" + "é" * 123 + ".jpg"  # 250 bytes: its vis_dir folder and staging names would pass 255
    (root / anno[0][0]).rename(root / long_name)
    anno[0][0] = long_name
    (root / "anno.json").write_text(json.dumps(anno, ensure_ascii=False))
    dataset = load_dataset(root)
    summary = run_evaluation(FakeExplainer(), dataset, tmp_path / "results.jsonl", vis_dir=tmp_path / "vis")
    assert summary["n"] == 3
    (saved,) = [path for path in (tmp_path / "vis").iterdir() if path.name.startswith("00000_")]
    assert len(saved.name.encode()) <= 255 and (saved / "meta.json").is_file()


def test_a_trillion_faithfulness_steps_are_refused_in_one_line_before_anything_runs(capsys):
    from tam.evaluation.cli import main

    with pytest.raises(SystemExit) as exit_status:
        main(["tiny-model", str(FIXTURES / "GranDf_mini"), "--faithfulness", "--faithfulness-steps", str(10**12)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_status.value.code == 2 and "--faithfulness-steps: expected at most 1024 (two forward passes" in error


def test_one_faithfulness_step_is_refused_in_one_line(capsys):
    from tam.evaluation.cli import main

    with pytest.raises(SystemExit) as exit_status:
        main(["tiny-model", str(FIXTURES / "GranDf_mini"), "--faithfulness", "--faithfulness-steps", "1"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_status.value.code == 2 and "--faithfulness-steps: expected at least 2" in error


# ---- a full disk, Ctrl-C, out-of-range seeds ------------------------------------------------


def fresh_cli_lines(tmp_path, argv):
    """The results file ``eval.py argv`` writes when nothing stops it (in a folder of its own)."""
    fresh = tmp_path / "fresh" / "results.jsonl"
    assert cli_main([*argv, "--results", str(fresh)], load=fake_loader()) == 0
    return fresh.read_bytes()


FILE_SIZE_LIMITED = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from tam.evaluation.cli import main
from tests.evaluation_fakes import fake_loader
sys.exit(main(sys.argv[2:], load=fake_loader()))
"""


def test_a_file_size_limit_while_appending_is_one_line_and_the_lines_written_stay_whole(grandf, tmp_path):
    import subprocess
    import sys

    from tests.test_eval_cli import ROOT

    results = tmp_path / "results.jsonl"
    argv = ["tiny-model", str(FIXTURES / "GranDf_mini"), "--results", str(results)]
    fresh = fresh_cli_lines(tmp_path, argv)
    first, second = fresh.splitlines(keepends=True)[:2]
    limit = len(first) + len(second) // 2  # the second line is cut by the limit part way
    done = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMITED, str(limit), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the progress bar
    assert last == (
        f"eval.py: error: cannot append to {results}: File too large; the records written before are kept: "
        "make room and rerun with --resume"
    )
    assert results.read_bytes() == first  # the cut second line was taken back
    assert cli_main([*argv, "--resume"], load=fake_loader()) == 0
    assert results.read_bytes() == fresh


class FullDisk:
    """A file handle whose next write stores half its bytes and then fails as a full disk does."""

    def __init__(self, handle):
        self.handle = handle

    def fileno(self):
        return self.handle.fileno()

    def truncate(self, size):
        return self.handle.truncate(size)

    def write(self, data):
        self.handle.write(bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")


def test_a_full_disk_part_way_through_a_line_leaves_the_file_as_it_was(tmp_path):
    from tam.evaluation.results import append_record, open_for_append

    path = tmp_path / "results.jsonl"
    with open_for_append(path) as handle:
        append_record(handle, {"index": 0, "id": "a"})
        with pytest.raises(OSError, match="No space left"):
            append_record(FullDisk(handle), {"index": 1, "id": "b" * 1000})
    assert path.read_text() == '{"index": 0, "id": "a"}\n'


def test_ctrl_c_in_eval_is_one_line_and_the_run_resumes(grandf, tmp_path, capsys):
    load = fake_loader()

    def interrupted_after_two(model_name, **options):
        explainer = load(model_name, **options)

        def explain(image_paths, prompt):
            if len(explainer.calls) == 2:
                raise KeyboardInterrupt
            return type(explainer).__call__(explainer, image_paths, prompt)

        return explain

    results = tmp_path / "results.jsonl"
    argv = ["tiny-model", str(FIXTURES / "GranDf_mini"), "--results", str(results), "--batch-size", "1"]
    fresh = fresh_cli_lines(tmp_path, argv)
    capsys.readouterr()
    assert cli_main(argv, load=interrupted_after_two) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"eval.py: error: interrupted; the records written so far are kept in {results}: "
        "rerun with --resume to continue"
    )
    assert results.read_bytes() == b"".join(fresh.splitlines(keepends=True)[:2])
    assert cli_main([*argv, "--resume"], load=fake_loader()) == 0  # the lock was released
    assert results.read_bytes() == fresh


@pytest.mark.parametrize("seed", [str(2**70), str(2**64), "-1"])
def test_a_seed_out_of_range_is_refused_in_one_line(capsys, seed):
    from tam.evaluation.cli import main

    with pytest.raises(SystemExit) as exit_status:
        main(["tiny-model", str(FIXTURES / "GranDf_mini"), "--seed", seed])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_status.value.code == 2
    assert error.endswith(f"--seed: expected an integer from 0 to {2**64 - 1} (2**64 - 1), got {seed}")


def test_a_seed_out_of_range_is_refused_by_the_api_naming_it():
    from tam.evaluation.models import load_explainer

    with pytest.raises(
        ValueError, match=r"seed must be an integer from 0 to 18446744073709551615 .*got 1180591620717411303424"
    ):
        load_explainer("tiny-qwen2-vl", seed=2**70)


# ---- a fresh hostile pass: other variants -----------------------------------------------------


def test_a_vis_dir_that_is_a_loop_of_links_is_refused(grandf, tmp_path):
    (tmp_path / "vis").symlink_to(tmp_path / "vis")
    with pytest.raises(EvaluationError, match="the vis_dir .*vis is a symbolic link"):
        run_evaluation(FakeExplainer(), grandf, tmp_path / "results.jsonl", vis_dir=tmp_path / "vis")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["vis"]


@pytest.mark.parametrize(
    "vis_name", ["results.jsonl", "results.jsonl.lock", "results.jsonl.settings.json", "results.jsonl.part1"]
)
def test_a_vis_dir_that_is_the_results_file_or_beside_it_is_refused_creating_nothing(grandf, tmp_path, vis_name):
    with pytest.raises(EvaluationError, match=f"the vis_dir .*{re.escape(vis_name)} is the results file"):
        run_evaluation(FakeExplainer(), grandf, tmp_path / "results.jsonl", vis_dir=tmp_path / "." / vis_name)
    assert list(tmp_path.iterdir()) == []


def test_a_results_path_that_is_a_folder_is_refused_and_kept(grandf, tmp_path):
    (tmp_path / "results.jsonl").mkdir()
    (tmp_path / "results.jsonl" / "notes.txt").write_text("mine")
    for resume in (False, True):
        with pytest.raises(EvaluationError, match="results.jsonl is a folder; name a file such as"):
            run_evaluation(FakeExplainer(), grandf, tmp_path / "results.jsonl", resume=resume)
    assert (tmp_path / "results.jsonl" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["images/x\ud800.jpg", "images/x\x00.jpg", "masks/\udcff.png"])
def test_a_file_name_no_file_can_have_refuses_the_data_set_naming_the_entry(tmp_path, name):
    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "GranDf")
    anno = json.loads((root / "anno.json").read_text())
    anno[1][0 if name.startswith("images") else 2] = name
    (root / "anno.json").write_text(json.dumps(anno))
    with pytest.raises(DatasetError, match=r"entry 1 names .*, which no file can be named \(a NUL character or a lone"):
        load_dataset(root)


def test_lone_surrogates_in_a_caption_and_a_category_are_written_escaped_and_resume(tmp_path):
    root = shutil.copytree(FIXTURES / "GranDf_mini", tmp_path / "GranDf")
    anno = json.loads((root / "anno.json").read_text())
    anno[0][1] = "A man \ud800 in an orange shirt."
    anno[1][3] = {"d\udc80og": 2, **anno[1][3]}
    (root / "anno.json").write_text(json.dumps(anno))
    dataset = load_dataset(root)
    results = tmp_path / "results.jsonl"
    run_evaluation(FakeExplainer(), dataset, results, limit=2)
    results.read_bytes().decode("utf-8")  # valid UTF-8: the surrogates are escaped
    summary = run_evaluation(FakeExplainer(), dataset, results, resume=True)
    assert summary["n"] == 3 and summary["failed"] == 0
