"""Hostile outputs and data folders for eval: nothing outside is written or read, one writer per file and folder."""

import os
import shutil
from pathlib import Path

import pytest

from tam.evaluation import DatasetError, EvaluationError, load_dataset, run_evaluation
from tam.evaluation.runner import start_evaluation
from tests.evaluation_fakes import FakeExplainer

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
