import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import demo
from tam.models import TWINS
from tests.hostile_files import frames_of_two_sizes, huge_png, long_video, sixteen_bit_png, truncated_jpeg

ROOT = Path(__file__).resolve().parents[1]


def run_demo(*args, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def written_tokens(out: Path, unit: str = "word") -> tuple[int, int]:
    """(visuals written, spans of ``unit`` in the saved result)."""
    from tam import TokenActivationResult

    return len(list(out.glob("*.jpg"))), len(TokenActivationResult.load(out / "result").spans(unit))


def test_demo_command_on_a_twin(tmp_path):
    completed = run_demo("--model", "tiny-qwen2-vl", "--out", "out/", "--max-new-tokens", "8", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    visuals, tokens = written_tokens(tmp_path / "out")
    assert visuals == tokens >= 1
    assert "word visuals" in completed.stderr  # the progress bar
    assert "answer:" in completed.stdout
    assert "generation settings (the checkpoint's generation_config, greedy): do_sample=False" in completed.stdout
    assert "eos_token_id=[" in completed.stdout and "not explained" in completed.stdout


@pytest.mark.parametrize("unit", ["token", "word", "sentence"])
def test_one_picture_per_unit_named_by_its_first_token_and_text(tmp_path, unit):
    args = ["--model", "toy-shapes", "--out", str(tmp_path), "--unit", unit, "--no-report"]
    assert demo.main(args) == 0
    names = sorted(path.name for path in tmp_path.glob("*.jpg"))
    expected = {
        "token": ["000-Describe.jpg", "001-this.jpg", "002-image.jpg", "003.jpg", "004-a.jpg", "005-circle.jpg"],
        "word": ["000-Describe.jpg", "001-this.jpg", "002-image.jpg", "003.jpg", "004-a.jpg", "005-circle.jpg"],
        "sentence": ["000-Describe-this-image.jpg", "004-a-circle-a-square-and-a-star.jpg"],  # no end-of-turn
    }[unit]
    assert names[: len(expected)] == expected
    assert written_tokens(tmp_path, unit) == (len(names), len(names))


def test_demo_without_weights_ends_in_one_sentence(tmp_path):
    completed = run_demo(cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Qwen/Qwen2-VL-2B-Instruct" in lines[0] and "needs its weights" in lines[0] and "toy-shapes" in lines[0]
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("name", list(TWINS))
def test_every_twin_writes_a_visual_per_token(tmp_path, name):
    assert demo.main(["--model", name, "--out", str(tmp_path), "--max-new-tokens", "4"]) == 0
    visuals, tokens = written_tokens(tmp_path)
    assert visuals == tokens >= 1


@pytest.mark.parametrize(
    "name",
    [
        *(name for name in TWINS if name.startswith("tiny-qwen")),
        "tiny-glm4v",
        "tiny-smolvlm",
        "tiny-llava-onevision",
        "tiny-molmo2",
    ],
)
def test_video_frames_folder(tmp_path, name):
    args = ["--model", name, "--video", str(ROOT / "imgs/frames"), "--prompt", "Describe this video."]
    assert demo.main([*args, "--out", str(tmp_path), "--max-new-tokens", "3"]) == 0
    visuals, tokens = written_tokens(tmp_path)
    assert visuals == tokens >= 1
    meta = json.loads((tmp_path / "result" / "meta.json").read_text())
    assert meta["layout_kind"] == "video"


def test_a_processor_option_reaches_the_layout(tmp_path):
    from tam import TokenActivationResult

    args = ["--model", "tiny-idefics3", "--max-new-tokens", "2", "--no-report"]
    assert demo.main([*args, "--out", str(tmp_path / "tiled")]) == 0
    assert demo.main([*args, "--out", str(tmp_path / "one"), "--processor-option", "do_image_splitting=false"]) == 0
    tiled, one = (TokenActivationResult.load(tmp_path / name / "result") for name in ("tiled", "one"))
    assert [tile.kind for tile in tiled.layout.tiles][-1] == "global" and len(tiled.layout.tiles) > 1
    assert [tile.kind for tile in one.layout.tiles] == ["local"]
    assert one.options["preprocessing"] == {"do_image_splitting": False}


@pytest.mark.parametrize("name", ["tiny-internvl", "tiny-qwen3.5"])
def test_several_images(tmp_path, name):
    args = [
        "--model",
        name,
        "--image",
        str(ROOT / "imgs/demo.jpg"),
        "--image",
        str(ROOT / "imgs/frames/0000.jpg"),
    ]
    assert demo.main([*args, "--out", str(tmp_path), "--max-new-tokens", "2"]) == 0
    meta = json.loads((tmp_path / "result" / "meta.json").read_text())
    assert meta["layout_kind"] == "images" and meta["num_images"] == 2


def test_earlier_result_is_kept_unless_overwrite(tmp_path, capsys):
    args = ["--model", "tiny-llava", "--out", str(tmp_path), "--max-new-tokens", "2"]
    assert demo.main(args) == 0
    assert demo.main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert demo.main([*args, "--overwrite"]) == 0


def test_default_folders_are_named_after_the_model_and_the_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    frames = str(ROOT / "imgs" / "frames")
    assert demo.main(["--model", "tiny-llava", "--max-new-tokens", "2"]) == 0
    assert demo.main(["--model", "tiny-qwen2.5-vl", "--video", frames, "--max-new-tokens", "2"]) == 0
    assert demo.main(["--model", "tiny-llava", "--max-new-tokens", "1"]) == 0  # a rerun replaces its own folder
    assert "vis_results/tiny-llava_demo" in capsys.readouterr().out
    assert sorted(path.name for path in (tmp_path / "vis_results").iterdir()) == [
        "tiny-llava_demo",
        "tiny-llava_demo.lock",  # free once a run ends; a second run at once is refused
        "tiny-qwen2.5-vl_frames",
        "tiny-qwen2.5-vl_frames.lock",
    ]
    pictures, words = written_tokens(tmp_path / "vis_results" / "tiny-llava_demo")
    assert pictures == words  # the replaced run's pictures are gone


def one_error_line(capsys, argv) -> str:
    assert demo.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("demo.py: error: ")
    return err[0]


def twin_args(tmp_path, *more):
    return ["--model", "tiny-qwen2-vl", "--out", str(tmp_path / "out"), "--max-new-tokens", "2", *more]


def test_missing_image(tmp_path, capsys):
    line = one_error_line(capsys, twin_args(tmp_path, "--image", str(tmp_path / "nope.jpg")))
    assert "no image file at" in line and "nope.jpg" in line


def test_file_that_is_not_an_image(tmp_path, capsys):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a picture")
    line = one_error_line(capsys, twin_args(tmp_path, "--image", str(fake)))
    assert "notes.jpg' is not an image that can be read" in line


def test_empty_frames_folder(tmp_path, capsys):
    (tmp_path / "frames").mkdir()
    line = one_error_line(capsys, twin_args(tmp_path, "--video", str(tmp_path / "frames")))
    assert "frames' holds no .jpg/" in line


def test_missing_video(tmp_path, capsys):
    line = one_error_line(capsys, twin_args(tmp_path, "--video", str(tmp_path / "clip.mp4")))
    assert "no video file or frames folder at" in line


def test_unknown_model(tmp_path):
    completed = run_demo("--model", "no-such-owner/no-such-model", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot load model 'no-such-owner/no-such-model'" in lines[0]
    assert "tiny-qwen2-vl" in lines[0] and "Traceback" not in completed.stderr


def test_unsupported_architecture(tmp_path, capsys):
    from transformers import GPT2Config

    config = GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=10)
    config.architectures = ["GPT2LMHeadModel"]
    config.save_pretrained(tmp_path / "gpt2")
    line = one_error_line(capsys, ["--model", str(tmp_path / "gpt2"), "--out", str(tmp_path / "out")])
    assert "no adapter for GPT2LMHeadModel; supported: " in line


def test_zero_new_tokens(tmp_path, capsys):
    line = one_error_line(capsys, twin_args(tmp_path, "--max-new-tokens", "0"))
    assert "--max-new-tokens must be between 1 and 2048, got 0" in line


def test_layer_out_of_range(tmp_path, capsys):
    line = one_error_line(capsys, twin_args(tmp_path, "--layer", "7"))
    assert "layer 7 is out of range" in line


def test_empty_prompt(tmp_path, capsys):
    line = one_error_line(capsys, twin_args(tmp_path, "--prompt", "  "))
    assert "--prompt is empty" in line


def test_prompt_that_yields_no_answer_tokens(tmp_path, capsys, monkeypatch):
    build = TWINS["tiny-qwen2-vl"]

    def only_end_of_turn():
        model, processor = build()
        tokenizer = processor.tokenizer
        model.generation_config.suppress_tokens = [i for i in range(len(tokenizer)) if i != tokenizer.eos_token_id]
        return model, processor

    monkeypatch.setitem(TWINS, "tiny-qwen2-vl", only_end_of_turn)
    line = one_error_line(capsys, twin_args(tmp_path))
    assert "answered with no text" in line
    assert not (tmp_path / "out").exists()


def test_a_chat_template_without_the_picture_is_one_line(tmp_path, capsys, monkeypatch):
    build = TWINS["tiny-qwen2-vl"]

    def text_only_template():
        model, processor = build()
        processor.chat_template = (
            "{% for m in messages %}{% if m['content'] is string %}{{ m['content'] }}{% endif %}{% endfor %}"
        )
        return model, processor

    monkeypatch.setitem(TWINS, "tiny-qwen2-vl", text_only_template)
    line = one_error_line(capsys, twin_args(tmp_path))
    assert "the chat template of Qwen2VLProcessor renders 0 vision placeholders" in line and "it produced ''" in line


def test_video_file_without_a_reader(tmp_path, capsys, monkeypatch):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video")
    monkeypatch.setattr(demo, "has_video_reader", lambda: False)
    line = one_error_line(capsys, twin_args(tmp_path, "--video", str(clip)))
    assert "clip.mp4' here: qwen-vl-utils (Qwen-VL) reads video files with decord or torchcodec" in line
    assert "transformers (the other families) with PyAV" in line


def test_a_video_file_for_a_family_that_reads_it_with_pyav(tmp_path):
    pytest.importorskip("av")
    clip = long_video(tmp_path / "clip.mp4", 30)  # one second at 30 frames per second
    args = ["--model", "tiny-smolvlm", "--video", str(clip), "--out", str(tmp_path / "out"), "--max-new-tokens", "2"]
    assert demo.main([*args, "--no-report"]) == 0
    from tam import TokenActivationResult

    result = TokenActivationResult.load(tmp_path / "out" / "result")
    assert result.layout.kind == "video" and result.images[0].shape == (16, 16, 3)


def test_a_video_file_for_llava_onevision_takes_the_frame_count_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("av")
    clip = long_video(tmp_path / "clip.mp4", 30)
    args = ["--model", "tiny-llava-onevision", "--video", str(clip), "--out", str(tmp_path / "out")]
    args += ["--max-new-tokens", "2", "--no-report"]
    line = one_error_line(capsys, args)
    assert "sets no frame count or rate for the file" in line and "--processor-option num_frames=N" in line
    assert demo.main([*args, "--processor-option", "num_frames=2"]) == 0
    from tam import TokenActivationResult

    result = TokenActivationResult.load(tmp_path / "out" / "result")
    assert result.layout.kind == "video" and len(result.images) == 2


def test_unreadable_video_file_in_the_library(tmp_path):
    import tam
    from tam.models import UnsupportedInputError, load_model

    if demo.has_video_reader():
        pytest.skip("a video reader is installed: the library reads the file")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video")
    model, processor = load_model("tiny-qwen2-vl")
    messages = [{"role": "user", "content": [{"type": "video", "video": str(clip)}, {"type": "text", "text": "Hi"}]}]
    with pytest.raises(UnsupportedInputError, match="cannot read the video file .*clip.mp4"):
        tam.explain(model, processor, messages, max_new_tokens=2)


@pytest.mark.parametrize("device", ["gpu0", "cuda"])
def test_bad_device(tmp_path, capsys, device):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    line = one_error_line(capsys, twin_args(tmp_path, "--device", device))
    assert f"--device {device!r}" in line


def test_saved_model_folder_takes_the_real_loading_path(tmp_path):
    from tam.models import load_model

    model, processor = load_model("tiny-qwen2.5-vl")
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    assert demo.main(["--model", str(tmp_path / "model"), "--out", str(tmp_path / "out"), "--max-new-tokens", "3"]) == 0
    visuals, tokens = written_tokens(tmp_path / "out")
    assert visuals == tokens >= 1


def test_demo_report_works_in_chromium(tmp_path):
    from tests.report_browser import check_report

    assert demo.main(["--model", "tiny-qwen2-vl", "--out", str(tmp_path), "--max-new-tokens", "6"]) == 0
    check_report(tmp_path / "index.html")


def test_no_report(tmp_path):
    assert demo.main(["--model", "tiny-qwen2-vl", "--out", str(tmp_path), "--max-new-tokens", "2", "--no-report"]) == 0
    assert not (tmp_path / "index.html").exists() and (tmp_path / "result").is_dir()


@pytest.fixture
def no_model(monkeypatch):
    """Make loading a model fail loudly: the inputs must be refused before it."""
    import tam.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(tam.models, "load_model", refuse)


def test_a_picture_over_the_pixel_limit_is_one_line_before_the_model_loads(tmp_path, capsys, no_model):
    line = one_error_line(capsys, twin_args(tmp_path, "--image", str(huge_png(tmp_path / "bomb.png"))))
    assert "bomb.png' is over the pixel limit of 67108864" in line


def test_a_truncated_jpeg_is_one_line_before_the_model_loads(tmp_path, capsys, no_model):
    cut = truncated_jpeg(tmp_path / "cut.jpg", ROOT / "imgs/demo.jpg")
    assert "cut.jpg' is not an image that can be read whole" in one_error_line(
        capsys, twin_args(tmp_path, "--image", str(cut))
    )


def test_a_layer_past_the_configs_layers_is_one_line_before_the_weights_load(tmp_path, capsys, no_model):
    from transformers import Qwen2VLConfig

    config = Qwen2VLConfig(text_config={"num_hidden_layers": 3}, architectures=["Qwen2VLForConditionalGeneration"])
    config.save_pretrained(tmp_path / "model")  # a config and no weights: loading them would fail
    args = ["--model", str(tmp_path / "model"), "--out", str(tmp_path / "out"), "--image", str(ROOT / "imgs/demo.jpg")]
    line = one_error_line(capsys, [*args, "--layer", "4"])
    assert "layer 4 is out of range" in line and "has 3 decoder layers, so layer must be between -4 and 3" in line


@pytest.mark.parametrize("out", ["a_file", "a_file/below"])
def test_an_out_that_cannot_be_a_folder_is_one_line_before_the_model_loads(tmp_path, capsys, no_model, out):
    (tmp_path / "a_file").write_text("not a folder")
    line = one_error_line(capsys, [*twin_args(tmp_path), "--out", str(tmp_path / out)])
    assert "a_file' is a file, not a folder" in line


def test_max_new_tokens_has_a_stated_ceiling(tmp_path, capsys, no_model):
    line = one_error_line(capsys, twin_args(tmp_path, "--max-new-tokens", "100000"))
    assert "--max-new-tokens must be between 1 and 2048, got 100000" in line


def test_a_sixteen_bit_picture_reaches_the_model_as_its_grey_ramp(tmp_path):
    ramp = sixteen_bit_png(tmp_path / "ramp.png")
    assert demo.main(twin_args(tmp_path, "--image", str(ramp))) == 0
    with np.load(tmp_path / "out" / "result" / "arrays.npz") as arrays:
        picture = arrays["image_0"]
    assert picture[:, :5].mean() < 40 and picture[:, -5:].mean() > 200  # dark on the left, not all white


def test_frames_of_differing_sizes_become_one_video(tmp_path):
    frames = frames_of_two_sizes(tmp_path / "frames")
    assert demo.main(twin_args(tmp_path, "--video", str(frames), "--prompt", "Describe this video.")) == 0
    meta = json.loads((tmp_path / "out" / "result" / "meta.json").read_text())
    assert meta["layout_kind"] == "video"


def test_overwrite_removes_the_earlier_answers_pictures(tmp_path):
    longer = ["--model", "tiny-qwen2-vl", "--out", str(tmp_path), "--unit", "token", "--max-new-tokens", "6"]
    assert demo.main(longer) == 0
    before = len(list(tmp_path.glob("*.jpg")))
    assert demo.main([*longer[:-1], "1", "--overwrite"]) == 0
    visuals = sorted(path.name for path in tmp_path.glob("[0-9]*.jpg"))
    assert len(visuals) == written_tokens(tmp_path, "token")[1] < before


def test_an_out_holding_files_the_demo_did_not_write_is_refused_and_they_are_kept(tmp_path, capsys, no_model):
    out = tmp_path / "out"
    out.mkdir()
    (out / "005-circle.jpg").write_text("an earlier run's picture")
    (out / "notes.jpg").write_text("a file of the user's")
    line = one_error_line(capsys, twin_args(tmp_path, "--overwrite"))
    assert line.endswith(
        f"--out {str(out)!r} holds files the demo did not write ('notes.jpg'); the demo replaces "
        "--out whole: name a new or empty folder"
    )
    assert sorted(path.name for path in out.iterdir()) == ["005-circle.jpg", "notes.jpg"]


def test_an_out_holding_the_current_folder_is_refused(tmp_path, capsys, monkeypatch, no_model):
    monkeypatch.chdir(tmp_path)
    for out in (".", str(tmp_path.parent)):
        assert "holds the current folder; the demo replaces --out whole" in one_error_line(
            capsys, [*twin_args(tmp_path), "--out", out, "--overwrite"]
        )


def test_generation_shows_the_tokens_generated_so_far(tmp_path, capsys, monkeypatch):
    import tam.models.explain

    monkeypatch.setattr(tam.models.explain, "PROGRESS_DELAY_SECONDS", 0)
    assert demo.main(twin_args(tmp_path, "--max-new-tokens", "5")) == 0
    assert "generating" in capsys.readouterr().err


def test_figure_of_answer_words(tmp_path):
    import pymupdf

    args = ["--model", "toy-shapes", "--out", str(tmp_path), "--no-report", "--figure", "circle square star"]
    assert demo.main([*args, "--figure-methods", "tam,raw"]) == 0
    with pymupdf.open(tmp_path / "figure.pdf") as document:
        text = " ".join(document[0].get_text().split())
        assert text.startswith("circle square star") and "a circle, a square and a star." in text
        assert len(document[0].get_image_info()) == 3 * 2 + 1  # the maps and the colour scale
    assert (tmp_path / "figure.png").stat().st_size > 0


def test_figure_of_a_word_the_answer_lacks_shows_the_words_found_and_names_the_others(tmp_path, capsys):
    import pymupdf

    args = ["--model", "toy-shapes", "--out", str(tmp_path), "--no-report", "--figure"]
    assert demo.main([*args, "circle, dog, cat"]) == 2
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]  # after the progress bars
    assert last.startswith("demo.py: error: --figure: 'dog', 'cat' not found (no words read 'dog' in this result; ")
    assert "the answer's words are: a circle , a square" in last
    assert last.endswith(
        "Everything else is written and the figure shows 'circle'; to change the words, rerun with --overwrite"
    )
    assert (
        captured.out.strip()
        .splitlines()[-1]
        .endswith(f"the figure {tmp_path / 'figure.pdf'} and figure.png to {tmp_path}")
    )
    with pymupdf.open(tmp_path / "figure.pdf") as document:
        assert " ".join(document[0].get_text().split()).startswith("circle a circle")
    assert written_tokens(tmp_path) == (13, 13)  # the pictures and the result: a whole run
    assert demo.main([*args, "circle, star", "--overwrite"]) == 0  # the rerun the line asks for
    capsys.readouterr()
    line = one_error_line(capsys, [*args, " ", "--overwrite"])  # checked before the model runs
    assert line.endswith("--figure is empty: name the answer words to show, e.g. --figure 'circle square'")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--methods", "attention,nothing"], "--methods: unknown map method 'nothing'; known methods: tam, raw"),
        (["--methods", "lens@top"], "--methods: 'lens@top': the layer after '@' must be an integer, e.g. lens@-2"),
        (["--methods", "perfect"], "--methods: 'perfect' is made from a segmentation mask: only eval.py scores it"),
        (["--visual-method", "gradcam"], "--visual-method 'gradcam' is not computed: choose among tam, raw, eci"),
        (["--figure", "a", "--figure-methods", "tam,attention"], "--figure-methods: 'attention' is not computed"),
        (["--figure", "a", "--figure-methods", " , "], "--figure-methods is empty: choose among tam, raw"),
    ],
)
def test_method_options_are_one_line_before_the_model_loads(tmp_path, capsys, no_model, options, message):
    assert message in one_error_line(capsys, twin_args(tmp_path, *options))


@pytest.mark.parametrize("name, options", [("index.html", []), ("figure.png", ["--figure", "circle"])])
def test_an_earlier_report_or_figure_is_one_line_before_the_model_loads(tmp_path, capsys, no_model, name, options):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / name).write_text("an earlier run's")
    line = one_error_line(capsys, twin_args(tmp_path, *options))
    assert line.endswith(f"{tmp_path / 'out' / name} exists; pass --overwrite or another --out")


def test_a_run_that_fails_while_writing_leaves_nothing_that_blocks_the_rerun(tmp_path, capsys, monkeypatch):
    from tam import TokenActivationResult

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    out = tmp_path / "out"
    args = ["--model", "toy-shapes", "--out", str(out), "--figure", "circle"]
    with monkeypatch.context() as patched:
        patched.setattr(TokenActivationResult, "save_html", disk_full)
        assert demo.main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "demo.py: error: [Errno 28] No space left on device"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.lock"]  # no pictures, no staging folder
    assert demo.main(args) == 0
    assert (out / "index.html").is_file() and written_tokens(out) == (13, 13)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_one_run(out: Path, prompts: list[str]) -> None:
    """``out`` holds one whole run of one of ``prompts``: its result, and the pictures and report of that result."""
    from tam import TokenActivationResult

    result = TokenActivationResult.load(out / "result")
    prompt_text = "".join(result.texts[: result.num_prompt_tokens])
    assert any(prompt.split()[0] in prompt_text for prompt in prompts), prompt_text
    pictures = sorted(path.name for path in out.glob("*.jpg"))
    assert pictures == sorted(demo.picture_name(span) for span in result.spans("word"))
    assert sorted(path.name for path in out.iterdir()) == sorted([*pictures, "index.html", "result"])


def toy_args(out: Path, prompt: str, *more: str) -> list[str]:
    return ["--model", "toy-shapes", "--out", str(out), "--prompt", prompt, "--max-new-tokens", "4", *more]


@pytest.mark.parametrize("link", ["out", "out/result"])
def test_an_overwrite_through_a_linked_out_or_result_is_refused_and_the_target_kept(tmp_path, capsys, no_model, link):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    if link == "out/result":
        (tmp_path / "out").mkdir()
    (tmp_path / link).symlink_to(elsewhere)
    line = one_error_line(capsys, twin_args(tmp_path, "--overwrite"))
    assert f"--out: {str(tmp_path / link)!r} is a symbolic link; the demo writes only where you name" in line
    assert snapshot(elsewhere) == {"precious.txt": b"keep me"}


def test_an_out_in_use_by_another_run_is_refused_by_its_real_path(tmp_path, capsys, no_model):
    from tam.files import take_lock

    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    lock = take_lock(demo.out_lock_path(tmp_path / "real" / "out"), "held by this test", "--out")
    try:
        line = one_error_line(capsys, [*twin_args(tmp_path), "--out", str(tmp_path / "linked" / "out")])
    finally:
        lock.release()
    assert f"is in use by another run (process {os.getpid()} on " in line and "choose another --out" in line
    assert not (tmp_path / "real" / "out").exists()


def test_two_demos_at_once_on_one_out_leave_one_whole_run(tmp_path):
    out = tmp_path / "out"
    prompts = ["Describe this image.", "What shapes are there?"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "demo.py"), *toy_args(out, prompt, "--overwrite")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prompt in prompts
    ]
    outcomes = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    finished = [prompt for prompt, (code, _) in zip(prompts, outcomes, strict=True) if code == 0]
    for code, err in outcomes:
        assert code == 0 or (code == 2 and "is in use by another run" in err.strip().splitlines()[-1]), err
    assert finished
    assert_one_run(out, finished)


KILLED_BEFORE_THE_SWAP = """
import os, sys, time
import demo, tam.files
def stop(staging, target):
    open(sys.argv[1], "w").close()
    time.sleep(300)
tam.files.replace_directory = stop
demo.main(sys.argv[2:])
"""


def test_a_demo_killed_during_overwrite_leaves_the_earlier_run_whole_and_the_rerun_cleans_up(tmp_path):
    out = tmp_path / "out"
    assert demo.main(toy_args(out, "Describe this image.")) == 0
    before = snapshot(out)
    marker = tmp_path / "about-to-swap"
    second = toy_args(out, "What shapes are there?", "--overwrite")
    killed = subprocess.Popen(
        [sys.executable, "-c", KILLED_BEFORE_THE_SWAP, str(marker), *second],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not marker.exists():
            assert killed.poll() is None, "the demo ended before it swapped its folder in"
            time.sleep(0.05)
    finally:
        killed.kill()
        killed.wait()
    assert snapshot(out) == before  # the second run's whole staging folder sat beside it, unseen
    assert len(list(tmp_path.glob(".out.demo-*"))) == 1
    assert demo.main(second) == 0
    assert_one_run(out, ["What shapes are there?"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["about-to-swap", "out", "out.lock"]


def test_ctrl_c_in_the_demo_is_one_line_and_keeps_the_earlier_run(tmp_path, capsys, monkeypatch):
    from tam import TokenActivationResult

    out = tmp_path / "out"
    assert demo.main(toy_args(out, "Describe this image.")) == 0
    before = snapshot(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(TokenActivationResult, "save_html", interrupted)
    capsys.readouterr()
    assert demo.main(toy_args(out, "What shapes are there?", "--overwrite")) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars
    assert last == f"demo.py: error: interrupted; {out} is as it was before the run"
    assert snapshot(out) == before and sorted(path.name for path in tmp_path.iterdir()) == ["out", "out.lock"]


@pytest.mark.parametrize("size", [(100000, 1), (1, 100000), (65501, 400)])
def test_a_picture_too_thin_or_too_long_for_the_processors_is_one_line_before_the_model_loads(
    tmp_path, capsys, no_model, size
):
    from PIL import Image

    picture = tmp_path / "thin.png"
    Image.new("RGB", size, (200, 10, 10)).save(picture)
    line = one_error_line(capsys, twin_args(tmp_path, "--image", str(picture)))
    assert f"thin.png' is {size[0]}x{size[1]} pixels, " in line
    assert "tam.images.MAX_ASPECT_RATIO" in line or "tam.images.MAX_SIDE" in line


class RunsCode:
    """A pickle that, when unpickled, writes a file: what a hostile pytorch_model.bin can do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_a_model_folder_of_pickled_weights_is_refused_unread(tmp_path, capsys):
    import pickle

    from tam.models import load_model

    model, processor = load_model("tiny-qwen2-vl")
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    marker = tmp_path / "ran"
    (tmp_path / "model" / "pytorch_model.bin").write_bytes(pickle.dumps(RunsCode(marker)))
    capsys.readouterr()  # the save's progress bar
    line = one_error_line(capsys, ["--model", str(tmp_path / "model"), "--out", str(tmp_path / "out")])
    assert "holds its weights as pickles (pytorch_model.bin) and no .safetensors: tam never unpickles" in line
    assert not marker.exists()


def test_a_video_file_of_too_many_frames_is_one_line_before_any_frame_is_decoded(tmp_path, capsys, no_model):
    pytest.importorskip("av")
    from tam.images import MAX_FRAMES

    clip = long_video(tmp_path / "long.mp4", MAX_FRAMES + 1)
    line = one_error_line(capsys, twin_args(tmp_path, "--video", str(clip)))
    assert line.endswith(
        f"the video file {str(clip)!r} holds {MAX_FRAMES + 1} frames; a video takes at most {MAX_FRAMES} "
        "(tam.images.MAX_FRAMES): cut it or sample its frames into a folder first"
    )


def test_a_prompt_of_bytes_that_are_not_utf8_is_one_line_before_the_model_loads(tmp_path, capsys, no_model):
    line = one_error_line(
        capsys, twin_args(tmp_path, "--prompt", b"Describe \xff this".decode("utf-8", "surrogateescape"))
    )
    assert "['text'] holds a lone surrogate '\\udcff' at character 9, which is no text" in line


def test_a_lock_file_of_out_that_is_a_link_is_refused_and_its_target_kept(tmp_path, capsys, no_model):
    (tmp_path / "precious.txt").write_text("keep me")
    (tmp_path / "out.lock").symlink_to(tmp_path / "precious.txt")
    line = one_error_line(capsys, twin_args(tmp_path))
    assert f"--out: its lock file {str(tmp_path / 'out.lock')!r} is a symbolic link or no regular file" in line
    assert (tmp_path / "precious.txt").read_text() == "keep me" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["min_pixels=100000000000"], "the processor option min_pixels=100000000000 is outside 0 .. 67108864"),
        (
            ["min_pixels=1000000", "max_pixels=100000"],
            "Qwen2VLProcessor cannot take this chat with the processor options {'min_pixels': 1000000, "
            "'max_pixels': 100000}: AssertionError: The max_pixels of image must be greater than or equal to "
            "min_pixels",
        ),
    ],
)
def test_processor_options_that_make_no_picture_are_one_line(tmp_path, capsys, options, message):
    given = [part for option in options for part in ("--processor-option", option)]
    assert message in one_error_line(capsys, twin_args(tmp_path, *given))
    assert not (tmp_path / "out").exists()


def test_an_out_whose_name_fills_the_file_name_limit_is_written(tmp_path):
    out = tmp_path / ("é" * 127)  # 254 bytes: its lock file's name is cut to fit
    assert demo.main(twin_args(tmp_path, "--no-report", "--out", str(out))) == 0
    assert written_tokens(out)[0] >= 1
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([out.name, f"{'é' * 125}.lock"])


def test_a_figure_of_thousands_of_words_is_one_line_before_the_model_loads(tmp_path, capsys, no_model):
    line = one_error_line(capsys, twin_args(tmp_path, "--figure", "circle " * 3000))
    assert line.endswith("--figure names 3000 words; a figure takes at most 64: choose fewer")
