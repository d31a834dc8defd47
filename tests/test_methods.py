import json
import shutil
from pathlib import Path

import pytest

from tam.evaluation.cli import main
from tam.methods import (
    ABLATIONS,
    MaskMethod,
    ModelMethod,
    ResultMethod,
    UnavailableMethodError,
    UnknownMethodError,
    get_method,
    method_names,
    register,
)
from tam.testing import make_generation
from tests.evaluation_fakes import fake_loader

FIXTURES = Path(__file__).parent / "fixtures"


def test_registry_holds_tam_its_ablations_the_model_methods_and_the_mask_maps():
    assert method_names(ResultMethod) == ABLATIONS == ("tam", "raw", "eci", "rgf")
    assert method_names(ModelMethod) == ("attention", "dexar", "gradcam", "lens")
    assert method_names(MaskMethod) == ("uniform", "random", "perfect", "perfect+rgf")
    assert get_method("gradcam").needs == {"hidden_states", "gradients"}
    assert get_method("attention").needs == {"attention"}
    assert get_method("dexar").needs == {"attention", "gradients"}
    assert get_method("lens@3").layer == 3 and get_method("lens@3").name == "lens@3"
    assert get_method("attention").layer == -1 and get_method("gradcam").layer == -2
    assert all(get_method(name).cost for name in method_names())


def test_unknown_names_and_bad_layers_are_errors():
    with pytest.raises(UnknownMethodError, match="unknown map method 'attn'; known methods: tam, raw, eci, rgf, att"):
        get_method("attn")
    with pytest.raises(UnknownMethodError, match=r"'lens@x': the layer after '@' must be an integer, e.g. lens@-2"):
        get_method("lens@x")
    with pytest.raises(ValueError, match="a map method named 'tam' is already registered"):
        register(get_method("tam"))


def test_result_gives_maps_only_of_its_methods():
    result = make_generation((4, 5), seed=0).explain()
    assert result.methods == ABLATIONS
    with pytest.raises(UnavailableMethodError, match=r"this result has no 'gradcam' maps .* methods=\['gradcam'\]"):
        result.maps("gradcam")
    with pytest.raises(UnavailableMethodError, match="'perfect' maps are made from a segmentation mask by the eval"):
        result.maps("perfect")
    with pytest.raises(UnknownMethodError, match="unknown map method 'nope'"):
        result.maps("nope")


def test_resuming_a_run_written_before_the_registry_ends_as_a_fresh_run(tmp_path, capsys):
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    shutil.copytree(FIXTURES / "eval_run_before_registry", old)
    argv = ["tiny-model", str(FIXTURES / "coco2014_mini"), "--limit", "4", "--baselines"]
    assert main([*argv, "--results", str(old / "results.jsonl"), "--resume"], load=fake_loader()) == 0
    resumed = capsys.readouterr().out
    fresh.mkdir()
    assert main([*argv, "--results", str(fresh / "results.jsonl")], load=fake_loader()) == 0
    assert capsys.readouterr().out.replace(str(fresh), str(old)) == resumed
    assert (old / "results.jsonl").read_bytes() == (fresh / "results.jsonl").read_bytes()
    summary = json.loads((old / "results.jsonl.summary.json").read_text())
    assert list(summary["methods"]) == [*ABLATIONS, "uniform", "random", "perfect", "perfect+rgf"]
    assert summary["n"] == 4
