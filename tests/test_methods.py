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
from tam.result import TokenActivationResult
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


def test_demo_shows_baselines_in_the_report_and_the_pictures(tmp_path):
    import demo

    argv = ["--model", "tiny-qwen2-vl", "--out", str(tmp_path), "--max-new-tokens", "3"]
    assert demo.main([*argv, "--methods", "attention,lens@1", "--visual-method", "attention"]) == 0
    result = TokenActivationResult.load(tmp_path / "result")
    assert result.methods == (*ABLATIONS, "attention", "lens@1")
    assert '"lens@1":"TAM at layer 1"' in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--methods", "atention"], "demo.py: error: --methods: unknown map method 'atention'; known"),
        (["--methods", "uniform"], "demo.py: error: --methods: 'uniform' is made from a segmentation mask: only"),
        (["--visual-method", "gradcam"], "demo.py: error: --visual-method 'gradcam' is not computed: choose among"),
    ],
)
def test_demo_method_errors_are_one_line(tmp_path, capsys, options, message):
    import demo

    assert demo.main(["--model", "tiny-qwen2-vl", "--out", str(tmp_path), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_eval_explainer_computes_the_model_methods_it_is_asked_for():
    from tam.evaluation.models import ModelLoadError, load_explainer

    explainer = load_explainer("tiny-qwen2-vl", max_new_tokens=2, methods=["gradcam", "lens@1"])
    explanation = explainer(["imgs/demo.jpg"], "Describe this image.")
    assert explanation.result.methods == (*ABLATIONS, "gradcam", "lens@1")
    with pytest.raises(ModelLoadError, match=r"attention@9: layer 9 is out of range; .* reads layers 1 to 2"):
        load_explainer("tiny-qwen2-vl", methods=["attention@9"])


def test_eval_passes_the_model_methods_to_the_loader_and_scores_them(tmp_path, capsys):
    calls = []
    argv = ["m", str(FIXTURES / "GranDf_mini"), "--limit", "1", "--results", str(tmp_path / "r.jsonl")]
    assert main([*argv, "--methods", "tam,gradcam@0,lens@1,uniform"], load=fake_loader(calls)) == 0
    assert calls[0][1]["methods"] == ["gradcam@0", "lens@1"]
    record = json.loads((tmp_path / "r.jsonl").read_text())
    assert "this result has no 'gradcam@0' maps" in record["error"]  # the fake explainer computes TAM only
