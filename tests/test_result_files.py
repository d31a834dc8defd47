"""Saving is atomic over what it replaces; loading checks everything it reads (issue 11, items 6 and 10)."""

import errno
import json
import os
import shutil

import numpy as np
import pytest

import tam.files
import tam.result
from tam.errors import ResultFileError
from tam.result import TokenActivationResult
from tam.testing import make_generation


@pytest.fixture
def result():
    generation = make_generation((4, 5), seed=21)
    return generation.explain(tokenizer=generation.processor, images=[np.full((8, 10, 3), 9, np.uint8)])


@pytest.fixture
def saved(result, tmp_path):
    return result.save(tmp_path / "result")


def test_an_interrupted_overwrite_leaves_a_whole_result(result, saved, monkeypatch):
    """An interruption while the old folder is removed must not leave the target missing."""
    real_rmtree = shutil.rmtree

    def interrupted(path, *args, **kwargs):
        real_rmtree(path, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", interrupted)
    shorter = make_generation((4, 5), seed=22, num_answer=3).explain()
    with pytest.raises(KeyboardInterrupt):
        shorter.save(saved, overwrite=True)
    monkeypatch.undo()
    assert len(TokenActivationResult.load(saved)) == len(shorter)


def test_without_an_exchange_a_failed_rename_puts_the_old_result_back(result, saved, monkeypatch):
    monkeypatch.setattr(tam.files, "_exchange", lambda first, second: False)
    real_rename = type(saved).rename

    def failing(self, target):
        if self.name.startswith(".result.") and not self.name.endswith(".old"):
            raise KeyboardInterrupt  # the new folder's rename, after the old one was moved aside
        return real_rename(self, target)

    monkeypatch.setattr(type(saved), "rename", failing)
    with pytest.raises(KeyboardInterrupt):
        make_generation((4, 5), seed=22, num_answer=3).explain().save(saved, overwrite=True)
    monkeypatch.undo()
    assert len(TokenActivationResult.load(saved)) == len(result)
    assert sorted(path.name for path in saved.parent.iterdir()) == ["result"]


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def fail_writing_the_arrays(monkeypatch):
    monkeypatch.setattr(np, "savez_compressed", interrupt)


def fail_syncing_before_the_final_rename(monkeypatch):
    monkeypatch.setattr(os, "fsync", interrupt)  # the last step before the new folder is moved in


def fail_the_final_swap(monkeypatch):
    def refused(first, second):
        raise OSError(errno.EIO, "injected fault", str(second))

    monkeypatch.setattr(tam.files, "_exchange", refused)


@pytest.mark.parametrize("fault", [fail_writing_the_arrays, fail_syncing_before_the_final_rename, fail_the_final_swap])
def test_a_save_that_fails_before_its_final_rename_keeps_the_old_result_and_no_staging_folder(
    result, saved, monkeypatch, fault
):
    fault(monkeypatch)
    with pytest.raises((KeyboardInterrupt, OSError)):
        make_generation((4, 5), seed=22, num_answer=3).explain().save(saved, overwrite=True)
    monkeypatch.undo()
    assert sorted(path.name for path in saved.parent.iterdir()) == ["result"]  # no staging folder beside it
    np.testing.assert_array_equal(TokenActivationResult.load(saved).raw_maps, result.raw_maps)


def test_overwrite_replaces_the_folder_and_leaves_nothing_beside_it(saved):
    shorter = make_generation((4, 5), seed=22, num_answer=3).explain()
    shorter.save(saved, overwrite=True)
    assert len(TokenActivationResult.load(saved)) == len(shorter)
    assert sorted(path.name for path in saved.parent.iterdir()) == ["result"]


def rewrite_meta(folder, **changes):
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    (folder / "meta.json").write_text(json.dumps(meta))


def rewrite_arrays(folder, change):
    with np.load(folder / "arrays.npz") as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    np.savez(folder / "arrays.npz", **arrays)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: shutil.rmtree(f), "no such folder"),
        (lambda f: (f / "meta.json").write_text("{not json"), "cannot read meta.json"),
        (lambda f: (f / "meta.json").write_text("[1, 2]"), "meta.json must hold the keys"),
        (lambda f: rewrite_meta(f, num_prompt_tokens=-4), "num_prompt_tokens is -4, but the result has"),
        (lambda f: rewrite_meta(f, num_prompt_tokens=10**12), "num_prompt_tokens is 1000000000000"),
        (lambda f: rewrite_meta(f, num_prompt_tokens="6"), "'num_prompt_tokens' has the wrong type str"),
        (lambda f: rewrite_meta(f, vision_shape=[0, 5]), "vision_shape"),
        (lambda f: rewrite_meta(f, texts=["a"]), "'texts' must be"),
        (lambda f: rewrite_meta(f, num_images=5), "num_images is 5"),
        (lambda f: rewrite_meta(f, surprise=1), "meta.json must hold the keys"),
        (lambda f: (f / "arrays.npz").write_bytes(b"PK\x03\x04 cut short"), "cannot read arrays.npz"),
        (lambda f: rewrite_arrays(f, lambda a: a.update(evil=np.zeros(2))), r"unknown arrays \['evil'\]"),
        (
            lambda f: rewrite_arrays(f, lambda a: a.update(token_ids=np.array([{}], dtype=object))),
            "Object arrays cannot be loaded",
        ),
        (lambda f: rewrite_arrays(f, lambda a: a.pop("eci_maps")), r"lacks \['eci_maps'\]"),
        (lambda f: rewrite_arrays(f, lambda a: a.update(raw_maps=a["raw_maps"][:, :3])), "array 'raw_maps' has shape"),
        (lambda f: rewrite_arrays(f, lambda a: a.update(context_mask=a["context_scores"])), "'context_mask'"),
        (lambda f: rewrite_arrays(f, lambda a: a["raw_maps"].__setitem__((0, 0), np.nan)), "holds NaN or infinity"),
    ],
)
def test_load_of_a_damaged_folder_says_what_is_wrong_in_one_line(saved, damage, message):
    damage(saved)
    with pytest.raises(ResultFileError, match=message) as caught:
        TokenActivationResult.load(saved)
    assert "\n" not in str(caught.value) and str(saved) in str(caught.value)


def test_the_saved_arrays_schema_covers_every_array_save_writes(result):
    import re

    names = result._saved_arrays()
    assert all(any(re.fullmatch(pattern, name) for pattern in tam.result.SAVED_ARRAYS) for name in names)


def test_a_save_through_a_link_is_refused_and_the_folder_it_names_is_kept(result, saved, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(saved)
    before = sorted((path.name, path.read_bytes()) for path in saved.iterdir())
    with pytest.raises(FileExistsError, match="is a symbolic link"):
        result.save(link, overwrite=True)
    assert sorted((path.name, path.read_bytes()) for path in saved.iterdir()) == before and link.is_symlink()


def write_npy_member(folder, name, header_shape, data=b""):
    """Add to ``arrays.npz`` a member whose .npy header claims ``header_shape`` (float32) and holds ``data``."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": header_shape})
    with zipfile.ZipFile(folder / "arrays.npz", "a") as archive:
        archive.writestr(f"{name}.npy", header.getvalue() + data)  # the header starts with the magic


def test_an_array_header_claiming_more_cells_than_it_holds_is_refused_before_allocating(saved):
    rewrite_arrays(saved, lambda arrays: arrays.pop("raw_maps"))
    write_npy_member(saved, "raw_maps", (10**6, 10**6))  # 4 TB claimed, nothing held
    with pytest.raises(ResultFileError, match=r"'raw_maps.npy' claims shape \(1000000, 1000000\) .* but holds"):
        TokenActivationResult.load(saved)


def test_arrays_that_would_inflate_past_the_limit_are_refused_before_inflating(saved, monkeypatch):
    monkeypatch.setattr(tam.result, "MAX_LOADED_BYTES", 2**20)
    rewrite_arrays(saved, lambda arrays: arrays.update({"method_maps/x": np.zeros((600, 500), np.float32)}))
    with pytest.raises(ResultFileError, match=r"would inflate to \d+ bytes, over the limit of 1048576"):
        TokenActivationResult.load(saved)


@pytest.mark.parametrize("member", ["meta.json", "arrays.npz"])
def test_a_fifo_or_a_link_in_a_result_folder_is_refused_without_blocking(saved, tmp_path, member):
    (saved / member).unlink()
    os.mkfifo(saved / member)
    with pytest.raises(ResultFileError, match=f"{member} is not a regular file"):
        TokenActivationResult.load(saved)
    (saved / member).unlink()
    (saved / member).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ResultFileError, match=f"{member} is not a regular file"):
        TokenActivationResult.load(saved)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: rewrite_meta(f, vision_shape=[4.5, 5]), r"vision_shape \[4.5, 5\] must hold integers only"),
        (lambda f: rewrite_meta(f, vision_shape=[True, 5]), r"vision_shape \[True, 5\] must hold integers only"),
        (lambda f: rewrite_meta(f, vision_shape=[4.0, 5.0]), "must hold integers only"),
        (lambda f: (f / "meta.json").write_text("[" * 100000 + "]" * 100000), "nested too deeply"),
        (lambda f: (f / "meta.json").write_text('{"num_prompt_tokens": ' + "9" * 5000 + "}"), "cannot read meta.json"),
        (
            lambda f: rewrite_meta_text(f, lambda text: text.replace('"texts": [', '"texts": ["\\ud800", ', 1)),
            "surrogate",
        ),
    ],
)
def test_meta_values_that_make_no_result_are_refused_in_one_line(saved, damage, message):
    damage(saved)
    with pytest.raises(ResultFileError, match=message) as caught:
        TokenActivationResult.load(saved)
    assert "\n" not in str(caught.value)


def rewrite_meta_text(folder, change):
    meta = json.loads((folder / "meta.json").read_text())
    meta["texts"] = meta["texts"][1:]  # the surrogate text takes the first token's place
    (folder / "meta.json").write_text(change(json.dumps(meta)))
