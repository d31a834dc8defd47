import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import tam
from tam.errors import TAMError
from tam.models import (
    TWINS,
    ModelAdapter,
    ModelUnavailableError,
    NoAnswerError,
    UnsupportedInputError,
    UnsupportedModelError,
    adapter_for,
    load_model,
    register_adapter,
    registry,
    supported_classes,
)

IMAGE = "imgs/demo.jpg"
FRAMES = [f"imgs/frames/{index:04d}.jpg" for index in range(10)]
QWEN_TWINS = [
    "tiny-qwen2-vl",
    "tiny-qwen2.5-vl",
    "tiny-qwen3-vl",
    "tiny-qwen3-vl-moe",
    "tiny-qwen3.5",
    "tiny-qwen3.5-moe",
]


def chat(*entries, text="Describe this image."):
    return [{"role": "user", "content": [*entries, {"type": "text", "text": text}]}]


def image(path=IMAGE):
    return {"type": "image", "image": path}


@pytest.fixture(scope="module", params=list(TWINS))
def twin(request):
    model, processor = load_model(request.param)
    return request.param, model, processor


@pytest.fixture(scope="module")
def qwen2():
    return load_model("tiny-qwen2-vl")


def prompt_text(result, processor):
    return processor.tokenizer.decode(result.token_ids[: result.num_prompt_tokens]).strip()


def vision_count(model, processor, messages):
    """Map cells of a chat: its vision tokens less the separator slots among them (LLaVA-NeXT's row newlines)."""
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(messages)
    return int(np.isin(prepared.input_ids, adapter.vision_token_ids()).sum()) - int(
        adapter.separator_slots(prepared).sum()
    )


def test_twins_are_the_real_classes(twin):
    name, model, processor = twin
    assert type(model).__name__ in supported_classes()
    assert type(processor).__module__.startswith("transformers.models.")
    assert processor.chat_template
    assert len(processor.tokenizer) <= model.config.get_text_config().vocab_size


def test_image_end_to_end(twin):
    name, model, processor = twin
    messages = chat(image())
    result = tam.explain(model, processor, messages, max_new_tokens=6)
    assert prompt_text(result, processor) == "Describe this image."
    assert len(result) - result.num_prompt_tokens == 6
    assert result.layout.kind == "image"
    assert result.layout.num_tokens == vision_count(model, processor, messages)
    maps = result.maps("tam")
    assert maps.shape == (len(result), result.layout.num_tokens)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert len(result.images) == 1 and result.images[0].dtype == np.uint8


def test_several_images(twin):
    name, model, processor = twin
    messages = chat(image(), image(FRAMES[0]), text="Describe these images.")
    result = tam.explain(model, processor, messages, max_new_tokens=3)
    assert result.layout.kind == "images"
    assert result.layout.num_pictures == 2 == len(result.images)
    given = [Image.open(path).size for path in (IMAGE, FRAMES[0])]
    assert [image.shape[1::-1] for image in result.images] == given  # the pictures as given, not as resized
    assert result.layout.num_tokens == vision_count(model, processor, messages)
    assert prompt_text(result, processor) == "Describe these images."


@pytest.mark.parametrize("name", QWEN_TWINS)
def test_video_merges_two_frames_per_temporal_token(name):
    model, processor = load_model(name)
    messages = chat({"type": "video", "video": FRAMES}, text="Describe this video.")
    inputs = adapter_for(model, processor).prepare(messages).inputs
    result = tam.explain(model, processor, messages, max_new_tokens=3)
    frames, height, width = inputs["video_grid_thw"][0].tolist()
    merge = model.config.vision_config.spatial_merge_size
    assert result.layout.kind == "video"
    assert result.layout.shape == (frames, height // merge, width // merge)
    assert frames == len(FRAMES) // model.config.vision_config.temporal_patch_size
    assert len(result.images) == frames
    assert result.layout.num_tokens == vision_count(model, processor, messages)


@pytest.mark.parametrize("name", ["tiny-glm4v", "tiny-glm4v-moe"])
def test_glm_video_frames_are_stamped_and_laid_out_frame_by_frame(name):
    model, processor = load_model(name)
    messages = chat({"type": "video", "video": FRAMES}, text="Describe this video.")
    inputs = adapter_for(model, processor).prepare(messages).inputs
    result = tam.explain(model, processor, messages, max_new_tokens=3)
    frames, height, width = inputs["video_grid_thw"][0].tolist()
    merge = model.config.vision_config.spatial_merge_size
    assert result.layout.kind == "video" and frames == len(FRAMES) // 2
    assert result.layout.shape == (frames, height // merge, width // merge)
    # one picture per temporal token, each the frame as given (not as resized)
    assert [image.shape[1::-1] for image in result.images] == [Image.open(path).size for path in FRAMES[::2]]
    # the ten frames at the video processor's 2 per second: pairs start at 0, 1, ... 4 seconds ("1.0 seconds": 4.6V)
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    assert [int(stamp) for stamp in re.findall(r"<\|end_of_image\|>(\d+)", text)] == [0, 1, 2, 3, 4]
    assert result.layout.num_tokens == vision_count(model, processor, messages)


def write_clip(clip):
    """Write a 3-second, 84 x 56 video file at 4 frames per second, each frame brighter."""
    av = pytest.importorskip("av")
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height = 84, 56
        for index in range(12):
            frame = np.full((56, 84, 3), 20 * index, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return clip


def test_glm_video_file_is_sampled_as_its_processor_samples(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4")
    model, processor = load_model("tiny-glm4v")
    result = tam.explain(model, processor, chat({"type": "video", "video": str(clip)}), max_new_tokens=2)
    # Glm4vVideoProcessor.sample_frames: 2 per second of 3 seconds, so 6 frames, 3 temporal tokens
    assert result.layout.kind == "video" and len(result.images) == 3 == result.layout.shape[0]
    assert result.images[0].shape == (56, 84, 3)


def test_molmo2_video_file_is_sampled_as_its_processor_samples(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4")
    model, processor = load_model("tiny-molmo2")
    result = tam.explain(model, processor, chat({"type": "video", "video": str(clip)}), max_new_tokens=2)
    # Molmo2VideoProcessor.sample_frames: at most max_fps = 2 frames a second of the 3 seconds, so 6 of the 12
    # frames (every second one), stamped at their time in the file
    assert result.layout.kind == "video" and result.layout.shape == (6, 9, 9)
    assert [float(image.mean()) for image in result.images] == pytest.approx([40 * k for k in range(6)], abs=3)
    text = processor.tokenizer.decode(
        adapter_for(model, processor).prepare(chat({"type": "video", "video": str(clip)})).input_ids
    )
    assert "0.5 <frame_start>" in text and "2.5 <frame_start>" in text


def test_smolvlm_video_file_is_sampled_as_its_processor_samples(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4")
    model, processor = load_model("tiny-smolvlm")
    messages = chat({"type": "video", "video": str(clip)}, text="Describe this video.")
    result = tam.explain(model, processor, messages, max_new_tokens=2)
    # SmolVLMVideoProcessor.sample_frames at the twin's 1 frame per second: 3 of the 12 frames,
    # spread evenly from the first to the last (0, 5, 11), each one tile of the whole frame
    assert result.layout.kind == "video" and len(result.images) == 3 == len(result.layout.tiles)
    assert result.images[0].shape == (56, 84, 3) and result.images[1].mean() == pytest.approx(100, abs=3)
    text = processor.tokenizer.decode(adapter_for(model, processor).prepare(messages).input_ids)
    assert re.findall(r"Frame from (\d\d:\d\d)", text) == ["00:00", "00:01", "00:02"]


def test_glm_refuses_images_and_a_video_in_one_chat():
    model, processor = load_model("tiny-glm4v")
    messages = chat(image(), {"type": "video", "video": FRAMES[:4]})
    with pytest.raises(UnsupportedInputError, match="images or videos in one chat, not both"):
        tam.explain(model, processor, messages, max_new_tokens=2)


@pytest.mark.parametrize("name", ["tiny-llava", "tiny-internvl"])
def test_video_refused_where_the_family_has_none(name):
    model, processor = load_model(name)
    with pytest.raises(UnsupportedInputError, match="images only"):
        tam.explain(model, processor, chat({"type": "video", "video": FRAMES}), max_new_tokens=2)


def test_llava_onevision_samples_a_video_file_at_the_frame_count_asked(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4")
    model, processor = load_model("tiny-llava-onevision")
    messages = chat({"type": "video", "video": str(clip)})
    # its video processor (as the checkpoint's) sets neither num_frames nor fps: every frame of a film
    with pytest.raises(UnsupportedInputError, match=r"no frame count or rate for the file '.*clip.mp4': pass one"):
        tam.explain(model, processor, messages, max_new_tokens=2)
    result = tam.explain(model, processor, messages, max_new_tokens=2, processor_kwargs={"num_frames": 3})
    # transformers' default_sample_indices_fn: 3 of the 12 frames evenly (0, 4, 8), each a pooled grid of its own
    assert result.layout.kind == "video" and len(result.images) == 3 == result.layout.shape[0]
    assert [float(image.mean()) for image in result.images] == pytest.approx([0, 80, 160], abs=3)
    result = tam.explain(model, processor, messages, max_new_tokens=2, processor_kwargs={"fps": 1})
    assert len(result.images) == 3  # one a second of the 3-second clip
    result = tam.explain(model, processor, chat({"type": "video", "video": FRAMES[:3]}), max_new_tokens=2)
    assert result.layout.kind == "video" and len(result.images) == 3 == result.layout.shape[0]


def test_a_frame_count_asked_samples_the_file_or_is_refused_where_the_family_samples_by_rate(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4")
    model, processor = load_model("tiny-smolvlm")
    messages = chat({"type": "video", "video": str(clip)}, text="Describe this video.")
    result = tam.explain(model, processor, messages, max_new_tokens=2, processor_kwargs={"num_frames": 2})
    assert len(result.images) == 2 == len(result.layout.tiles)  # the twin's own sampling gives 3
    model, processor = load_model("tiny-glm4v")
    with pytest.raises(
        UnsupportedInputError, match=r"^Glm4vVideoProcessor samples a video file by fps, not by num_frames"
    ):
        tam.explain(
            model,
            processor,
            chat({"type": "video", "video": str(clip)}),
            max_new_tokens=2,
            processor_kwargs={"num_frames": 2},
        )


def test_grids_follow_the_processor_not_fixed_numbers(qwen2):
    model, processor = qwen2
    adapter = adapter_for(model, processor)
    small = chat({"type": "image", "image": IMAGE, "max_pixels": 4 * 28 * 28})
    large = chat({"type": "image", "image": IMAGE, "max_pixels": 16 * 28 * 28})
    assert adapter.vision_shape(adapter.prepare(small)) != adapter.vision_shape(adapter.prepare(large))


def test_prepare_leaves_the_messages_alone(qwen2):
    messages = chat(image())
    adapter_for(*qwen2).prepare(messages)
    assert messages == chat(image())


def test_layer_reads_an_earlier_layer_through_the_final_norm(qwen2):
    model, processor = qwen2
    last = tam.explain(model, processor, chat(image()), max_new_tokens=4)
    first = tam.explain(model, processor, chat(image()), max_new_tokens=4, layer=1)
    np.testing.assert_array_equal(last.token_ids, first.token_ids)
    assert not np.allclose(last.raw_maps, first.raw_maps)
    same = tam.explain(
        model, processor, chat(image()), max_new_tokens=4, layer=model.config.text_config.num_hidden_layers
    )
    np.testing.assert_allclose(same.raw_maps, last.raw_maps, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [3, -4, 100])
def test_layer_out_of_range(qwen2, layer):
    with pytest.raises(TAMError, match=rf"layer {layer} is out of range: .* 2 decoder layers.*between -3 and 2"):
        tam.explain(*qwen2, chat(image()), max_new_tokens=2, layer=layer)


def test_max_new_tokens_must_be_positive(qwen2):
    with pytest.raises(ValueError, match=r"max_new_tokens must be between 1 and \d+ .*, got 0"):
        tam.explain(*qwen2, chat(image()), max_new_tokens=0)


def test_answer_of_special_tokens_only_is_an_error(qwen2):
    model, processor = qwen2
    tokenizer = processor.tokenizer
    everything_but_eos = [i for i in range(len(tokenizer)) if i != tokenizer.eos_token_id]
    with pytest.raises(NoAnswerError, match=r"answered with no text, only \['<\|im_end\|>'\]"):
        tam.explain(
            model, processor, chat(image()), max_new_tokens=4, generate_kwargs={"suppress_tokens": everything_but_eos}
        )


def test_spans_by_hand_give_the_same_maps(qwen2):
    model, processor = qwen2
    adapter = adapter_for(model, processor)
    messages = chat(image())
    prepared = adapter.prepare(messages)
    output = adapter.generate(prepared, 4)
    tokens = output.sequences[0]
    ids = tokens.tolist()
    start, end = model.config.vision_start_token_id, model.config.vision_end_token_id
    vision = np.arange(ids.index(start) + 1, ids.index(end))
    input_length = prepared.inputs["input_ids"].shape[1]
    prompt_ids = processor.tokenizer("Describe this image.", add_special_tokens=False)["input_ids"]
    prompt = np.arange(ids.index(end) + 1, ids.index(end) + 1 + len(prompt_ids))
    _, h, w = prepared.inputs["image_grid_thw"][0].tolist()
    by_hand = tam.explain_generation(
        tokens,
        [s[-1] for s in output.hidden_states],
        model.lm_head,
        tam.TokenSpans(vision=vision, prompt=prompt, answer_start=input_length),
        (h // 2, w // 2),
    )
    by_adapter = tam.explain_generation(
        tokens,
        [s[-1] for s in output.hidden_states],
        model.lm_head,
        adapter.find_spans(tokens.numpy(), prepared, messages),
        adapter.vision_shape(prepared),
    )
    np.testing.assert_array_equal(by_hand.positions, by_adapter.positions)
    np.testing.assert_allclose(by_hand.maps(), by_adapter.maps())


def test_unknown_architecture_lists_the_supported_ones():
    with pytest.raises(
        UnsupportedModelError, match="no adapter for Linear; supported: .*Qwen2VLForConditionalGeneration"
    ):
        adapter_for(torch.nn.Linear(2, 2), None)


def test_register_an_adapter(monkeypatch, qwen2):
    monkeypatch.setattr(registry, "_ADAPTERS", dict(registry._ADAPTERS))
    model, processor = qwen2

    class Renamed(type(model)):
        pass

    @register_adapter
    class RenamedAdapter(type(adapter_for(model, processor))):
        model_classes = ("Renamed",)

    model.__class__ = Renamed
    try:
        assert isinstance(adapter_for(model, processor), RenamedAdapter)
    finally:
        model.__class__ = Renamed.__bases__[0]
    with pytest.raises(TypeError, match="subclass of tam.models.ModelAdapter"):
        register_adapter(int)
    with pytest.raises(ValueError, match="model_classes is empty"):
        register_adapter(type("Empty", (ModelAdapter,), {}))


def test_loading_offline_names_the_toy_model_and_the_twins():
    with pytest.raises(ModelUnavailableError, match="needs its weights.*toy-shapes.*tiny-qwen2-vl"):
        load_model("Qwen/Qwen2-VL-2B-Instruct")


def test_a_hub_id_fails_offline_before_anything_heavy_loads():
    code = (
        "import sys\nfrom tam.models import load_model\ntry: load_model('Qwen/Qwen2-VL-2B-Instruct')\n"
        "except Exception as error: print(error)\nprint(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    message, loaded = done.stdout.splitlines()
    assert "is not in the local Hugging Face cache" in message and "HF_HUB_OFFLINE is set" in message
    assert "`hf download Qwen/Qwen2-VL-2B-Instruct`" in message and "toy-shapes" in message
    assert loaded == "[]"


def test_a_hub_that_cannot_be_reached_fails_at_once_without_retries(monkeypatch):
    import huggingface_hub

    asked = []

    def unreachable(url, timeout, retry_on_errors):
        asked.append((url, timeout, retry_on_errors))
        raise ConnectionError("[Errno -2] Name or service not known")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", unreachable)
    with pytest.raises(ModelUnavailableError, match=r"the hub \(https://.*\) cannot be reached \(\[Errno -2\] Name"):
        load_model("Qwen/Qwen2-VL-2B-Instruct")
    assert asked == [(huggingface_hub.hf_hub_url("Qwen/Qwen2-VL-2B-Instruct", "config.json"), 10, False)]


def test_a_name_that_is_neither_a_folder_nor_a_hub_id():
    with pytest.raises(ModelUnavailableError, match="'no such model' is neither a model folder nor a hub id"):
        load_model("no such model")
    with pytest.raises(ModelUnavailableError, match="no model folder at '/no/such/folder'"):
        load_model("/no/such/folder")


def test_loading_a_folder_of_an_unsupported_architecture(tmp_path):
    from transformers import GPT2Config

    config = GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=10)
    config.architectures = ["GPT2LMHeadModel"]
    config.save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match="no adapter for GPT2LMHeadModel; supported: "):
        load_model(str(tmp_path))


def test_loading_a_saved_twin_takes_the_real_path(tmp_path, qwen2):
    model, processor = qwen2
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = load_model(str(tmp_path), device="cpu", dtype=torch.float32)
    assert type(loaded) is type(model)
    result = tam.explain(loaded, loaded_processor, chat(image()), max_new_tokens=3)
    reference = tam.explain(model, processor, chat(image()), max_new_tokens=3)
    np.testing.assert_array_equal(result.token_ids, reference.token_ids)
    np.testing.assert_allclose(result.maps(), reference.maps(), atol=1e-5)


def test_tam_explain_is_the_function_after_the_core_pipeline_loads():
    from tam.pipeline import explain_generation

    assert callable(tam.explain) and tam.explain.__module__ == "tam.models.explain"
    assert tam.explain_generation is explain_generation


def test_the_documented_adapter_recipe(monkeypatch):
    """The adapter of 'Bring your own model' in docs/models.md, on a class tam does not know."""
    from transformers import LlavaForConditionalGeneration

    from tam.models import PreparedInputs, load_images

    monkeypatch.setattr(registry, "_ADAPTERS", dict(registry._ADAPTERS))
    model, processor = load_model("tiny-llava")

    class MyVLMForConditionalGeneration(LlavaForConditionalGeneration):
        pass

    @register_adapter
    class MyVLMAdapter(ModelAdapter):
        family = "MyVLM"
        model_classes = ("MyVLMForConditionalGeneration",)

        def vision_token_ids(self):
            return (self.model.config.image_token_id,)

        def prepare(self, messages):
            images = load_images(messages)
            text = self.render(messages)
            inputs = self.processor(text=[text], images=images, return_tensors="pt")
            pictures = [np.asarray(image) for image in images]
            return PreparedInputs(inputs, pictures, text, ["image"] * len(images))

        def vision_shape(self, prepared):
            side = self.model.config.vision_config.image_size // self.model.config.vision_config.patch_size
            return (side, side)

    model.__class__ = MyVLMForConditionalGeneration
    assert isinstance(adapter_for(model, processor), MyVLMAdapter)
    result = tam.explain(model, processor, chat(image()), max_new_tokens=3)
    assert result.layout.shape == (4, 4)
    assert prompt_text(result, processor) == "Describe this image."


def reference_markers(name, tokenizer):
    """The reference release's special_ids for Qwen2-VL and InternVL3, spelled with the twin's tokens."""

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    closing, answer = ids("<|im_end|>\n<|im_start|>assistant"), [ids("\n<|im_start|>assistant\n"), -1]
    if name == "tiny-internvl":
        return {"img_id": [ids("<img>"), ids("</img>")], "prompt_id": [ids("</img>\n"), closing], "answer_id": answer}
    start, end = ids("<|vision_start|>"), ids("<|vision_end|>")
    return {"img_id": [start, end], "prompt_id": [end, closing], "answer_id": answer}


@pytest.mark.parametrize("name", ["tiny-qwen2-vl", "tiny-internvl"])
def test_spans_agree_with_the_reference_markers(name):
    model, processor = load_model(name)
    adapter = adapter_for(model, processor)
    messages = chat(image())
    prepared = adapter.prepare(messages)
    tokens = adapter.generate(prepared, 3).sequences[0].numpy()
    found = adapter.find_spans(tokens, prepared, messages)
    expected = tam.locate_spans(tokens, reference_markers(name, processor.tokenizer))
    np.testing.assert_array_equal(found.vision, expected.vision)
    np.testing.assert_array_equal(found.prompt, expected.prompt)
    assert found.answer_start == expected.answer_start


def test_images_and_a_video_in_one_chat():
    model, processor = load_model("tiny-qwen3-vl")
    frames = {"type": "video", "video": FRAMES[:4]}
    result = tam.explain(model, processor, chat(image(), frames, text="Compare."), max_new_tokens=2)
    assert result.layout.kind == "images"
    assert len(result.layout.grids) == 1 + 2 == len(result.images)
    assert result.layout.num_tokens == vision_count(model, processor, chat(image(), frames, text="Compare."))


@pytest.mark.parametrize("text", ["assistant", "user", "Describe this image."])
def test_prompt_made_of_template_words(qwen2, text):
    model, processor = qwen2
    result = tam.explain(model, processor, chat(image(), text=text), max_new_tokens=2)
    assert prompt_text(result, processor) == text


def test_every_family_reads_an_earlier_layer(twin):
    name, model, processor = twin
    adapter = adapter_for(model, processor)
    assert isinstance(adapter.final_norm, torch.nn.Module)
    last = tam.explain(model, processor, chat(image()), max_new_tokens=2)
    middle = tam.explain(model, processor, chat(image()), max_new_tokens=2, layer=1)
    assert middle.options["layer"] == 1
    assert not np.allclose(last.raw_maps, middle.raw_maps)


@pytest.mark.parametrize("name", ["MllamaForConditionalGeneration", "Florence2ForConditionalGeneration"])
def test_cross_attention_models_are_refused_with_the_reason(name):
    with pytest.raises(UnsupportedModelError, match=f"{name} is not a decoder-only vision-token model: no position"):
        registry.adapter_class_for([name, "PreTrainedModel"])
