"""Real chat shapes on every twin: exact spans, the templates' layout rules, end-of-turn tokens, generation settings."""

import re

import numpy as np
import pytest
import torch

import tam
from tam.models import TWINS, ChatTemplateError, adapter_for, load_model

IMAGE, OTHER = "imgs/demo.jpg", "imgs/frames/0000.jpg"
FRAMES = [f"imgs/frames/{index:04d}.jpg" for index in range(4)]
QUESTION = "Describe this image."


def image(path=IMAGE):
    return {"type": "image", "image": path}


def text(value):
    return {"type": "text", "text": value}


def user(*content):
    return {"role": "user", "content": list(content)}


def assistant(value):
    return {"role": "assistant", "content": [text(value)]}


# chat shape -> (messages, the user's last text)
SHAPES = {
    "one image": ([user(image(), text(QUESTION))], QUESTION),
    "system message": (
        [{"role": "system", "content": [text("Answer briefly.")]}, user(image(), text(QUESTION))],
        QUESTION,
    ),
    "text before and after the image": ([user(text("Look closely."), image(), text(QUESTION))], QUESTION),
    "text before the image only": ([user(text(QUESTION), image())], QUESTION),
    "two images": ([user(image(), image(OTHER), text("Compare them."))], "Compare them."),
    "a video": ([user({"type": "video", "video": FRAMES}, text("Describe this video."))], "Describe this video."),
    "picture in the first turn": (
        [user(image(), text("What is it?")), assistant("A dog."), user(text("What colour is it?"))],
        "What colour is it?",
    ),
    "picture in the last turn": (
        [user(text("Hello.")), assistant("Hi there."), user(image(), text(QUESTION))],
        QUESTION,
    ),
    "question asked twice": ([user(image(), text(QUESTION)), assistant("A dog."), user(text(QUESTION))], QUESTION),
    "prompt is a template word": ([user(image(), text("assistant"))], "assistant"),
    "prompt is a role marker": ([user(image(), text("ASSISTANT:"))], "ASSISTANT:"),
    "leading and trailing whitespace": (
        [user(image(), text("  Describe this image. \n"))],
        "  Describe this image. \n",
    ),
    "newlines inside": (
        [user(image(), text("Describe\nthis image.\n\nBriefly."))],
        "Describe\nthis image.\n\nBriefly.",
    ),
    "emoji": ([user(image(), text("What is this? 🐶🐱"))], "What is this? 🐶🐱"),
    "CJK": ([user(image(), text("这是什么？描述这张图片。"))], "这是什么？描述这张图片。"),
}


# shapes whose last text comes right after the last picture
FOLLOWS_THE_PICTURE = set(SHAPES) - {
    "text before and after the image",
    "text before the image only",
    "picture in the first turn",
    "question asked twice",
}


@pytest.fixture(scope="module", params=list(TWINS))
def twin(request):
    model, processor = load_model(request.param)
    return request.param, model, processor


def expected_vision_tokens(name, model, processor, prepared):
    """Vision tokens the processor made, counted from its grids (Qwen-VL, GLM-V), its tiles (InternVL) or the config."""
    if name.startswith(("tiny-qwen", "tiny-glm")):
        grids = [*prepared.inputs.get("image_grid_thw", []), *prepared.inputs.get("video_grid_thw", [])]
        return sum(int(torch.prod(grid)) for grid in grids) // model.config.vision_config.spatial_merge_size**2
    if name == "tiny-internvl":  # tiles and a thumbnail per image, as the processor counts them
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        patches = processor._get_num_multimodal_tokens(image_sizes=sizes).num_image_patches
        return model.config.image_seq_length * sum(patches)
    if name in ("tiny-idefics3", "tiny-smolvlm"):  # tiles and a global image per image, one tile per frame
        image_processor = processor.image_processor
        pictures = [picture.shape[:2] for picture in prepared.pictures]
        images = prepared.kinds.count("image")
        patches = [image_processor.get_number_of_image_patches(*size, {})[0] for size in pictures[:images]]
        return processor.image_seq_len * (sum(max(count, 1) for count in patches) + len(pictures) - images)
    if name == "tiny-llama4":  # every tile the processor cut, global ones too, at its patches per tile
        tiles, _, height, width = prepared.inputs["pixel_values"].shape
        return tiles * (height // processor.patch_size) * (width // processor.patch_size) // processor.downsample_ratio
    if name == "tiny-lfm2-vl":  # the processor's own count from its rows, columns and resized sizes
        image_processor = processor.image_processor
        info = image_processor(prepared.pictures, return_row_col_info=True)
        counts = zip(info["image_rows"], info["image_cols"], info["image_sizes"], strict=True)
        total = 0
        for rows, columns, size in counts:
            per_tile, whole = processor._get_image_num_tokens(size)
            total += rows * columns * per_tile + whole if rows * columns > 1 else whole
        return total
    if name == "tiny-aya-vision":  # the processor's count, less its start, end and tile markers
        sizes = [picture.shape[:2] for picture in prepared.pictures]
        counts = processor._get_num_multimodal_tokens(image_sizes=sizes)
        return sum(counts.num_image_tokens) - 2 * len(sizes) - sum(counts.num_image_patches)
    if name == "tiny-mistral3":  # one [IMG] per cell: a row's [IMG_BREAK] and the [IMG_END] are other tokens
        step = processor.patch_size * processor.spatial_merge_size
        return sum((int(h) // step) * (int(w) // step) for h, w in prepared.inputs["image_sizes"])
    if name in ("tiny-llava-next", "tiny-llava-onevision"):  # the processor's count, less a newline per row or video
        ids = [model.config.image_token_id, getattr(model.config, "video_token_id", model.config.image_token_id)]
        rendered = int(np.isin(prepared.input_ids, ids).sum())
        return rendered - int(adapter_for(model, processor).separator_slots(prepared).sum())
    if name == "tiny-gemma4":  # the processor's own count of soft tokens per image and video, from its budgets
        pictures, frame_counts = iter(prepared.pictures), iter(prepared.inputs.get("num_frames_per_video", []))
        images, videos = [], []
        for kind in prepared.kinds:
            if kind == "image":
                images.append(next(pictures).shape[:2])
            else:
                frames = [next(pictures) for _ in range(int(next(frame_counts)))]
                videos.append((len(frames), *frames[0].shape[:2]))
        counts = processor._get_num_multimodal_tokens(image_sizes=images or None, video_sizes=videos or None)
        return sum(counts.num_image_tokens or []) + sum(getattr(counts, "num_video_tokens", None) or [])
    if name == "tiny-molmo2":  # per image its low-resolution view and its crops' canvas, per frame one grid
        views = prepared.inputs.get("image_grids", torch.zeros((0, 4), dtype=torch.int64))
        frames = prepared.inputs.get("video_grids", torch.zeros((0, 3), dtype=torch.int64))
        return int((views[:, 0] * views[:, 1] + views[:, 2] * views[:, 3]).sum() + frames.prod(dim=1).sum())
    if name == "tiny-gemma3":  # mm_tokens_per_image soft tokens per image (no pan-and-scan by default)
        return model.config.mm_tokens_per_image * len(prepared.kinds)
    return model.config.image_seq_length * len(prepared.kinds)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_spans_of_every_chat_shape(twin, shape):
    name, model, processor = twin
    messages, prompt = SHAPES[shape]
    adapter = adapter_for(model, processor)
    if shape == "a video" and not adapter.supports_video:
        pytest.skip(f"{name} takes images only")
    if name == "tiny-molmo2" and shape == "system message":  # Molmo2's template takes user and assistant turns only
        with pytest.raises(ChatTemplateError, match="Conversation roles must alternate"):
            adapter.prepare(messages)
        return
    prepared = adapter.prepare(messages)
    input_ids = prepared.input_ids
    tokenizer = processor.tokenizer
    answer = tokenizer("A dog runs", add_special_tokens=False)["input_ids"]
    tokens = np.concatenate([input_ids, answer, [tokenizer.eos_token_id]])

    spans = adapter.find_spans(tokens, prepared, messages, closing_ids=adapter.closing_token_ids())

    vision_ids = np.asarray(adapter.vision_token_ids())
    separators = adapter.separator_slots(prepared)  # LLaVA-NeXT's row newlines: checked in test_family_layouts
    np.testing.assert_array_equal(spans.vision, np.flatnonzero(np.isin(input_ids, vision_ids))[~separators])
    assert len(spans.vision) == expected_vision_tokens(name, model, processor, prepared)
    assert (spans.answer_start, spans.answer_end) == (len(input_ids), len(input_ids) + len(answer))
    # exactly the prompt's tokens: no template token, no token of another text, nothing of it left out
    start, count = int(spans.prompt[0]), len(spans.prompt)
    np.testing.assert_array_equal(spans.prompt, np.arange(start, start + count))
    text_of_span = tokenizer.decode(input_ids[spans.prompt].tolist())
    # SentencePiece (LLaVA) writes a word's leading space into its token and drops the first one on decoding
    sentencepiece = name in ("tiny-llava", "tiny-llava-next")
    if name in ("tiny-qwen3.5", "tiny-qwen3.5-moe"):  # Qwen3.5's template trims a turn's whole content
        prompt = prompt.rstrip()
    if name in ("tiny-gemma3", "tiny-gemma4"):  # gemma-3-it's and gemma-4's templates write the user's text trimmed
        prompt = prompt.strip()
    assert text_of_span == (prompt[1:] if sentencepiece and prompt.startswith(" ") else prompt)
    if shape in FOLLOWS_THE_PICTURE:  # not the same words in the template's generation prompt
        between = tokenizer.decode(input_ids[spans.vision[-1] + 1 : start].tolist(), skip_special_tokens=True)
        if name.startswith("tiny-glm") and shape == "a video":  # GLM-V stamps each frame after it: 1 or 1.0 seconds
            assert re.fullmatch(r"\d+(\.\d seconds)?", between)
        elif name == "tiny-molmo2":  # Molmo2 writes every picture before the first turn: the turns come between
            assert between.endswith("user\n") and "Describe" not in between
        else:
            assert not between.strip()
    if shape == "question asked twice":  # the second time, after the assistant's answer, not the first
        assert "A dog." in tokenizer.decode(input_ids[:start].tolist())


def test_the_whole_answer_without_closing_ids(twin):
    name, model, processor = twin
    adapter = adapter_for(model, processor)
    messages = SHAPES["one image"][0]
    prepared = adapter.prepare(messages)
    eos = processor.tokenizer.eos_token_id
    tokens = np.concatenate([prepared.input_ids, [5, 6, eos, eos]])
    assert adapter.find_spans(tokens, prepared, messages).answer_end == len(tokens)
    closed = adapter.find_spans(tokens, prepared, messages, closing_ids=adapter.closing_token_ids())
    assert closed.answer_end == len(prepared.input_ids) + 2


# family -> the rendering of [text "A", image, text "B"], then a second turn with text "C"
LAYOUT_RULES = {
    # the picture stays where the user put it; Qwen2-VL adds its default system message
    "tiny-qwen2-vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nA<|vision_start|><|image_pad|><|vision_end|>B<|im_end|>\n"
    "<|im_start|>assistant\nAnswer.<|im_end|>\n<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\n",
    "tiny-qwen3-vl": "<|im_start|>user\nA<|vision_start|><|image_pad|><|vision_end|>B<|im_end|>\n"
    "<|im_start|>assistant\nAnswer.<|im_end|>\n<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\n",
    "tiny-internvl": "<|im_start|>user\nA<IMG_CONTEXT>\nB<|im_end|>\n"
    "<|im_start|>assistant\nAnswer.<|im_end|>\n<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\n",
    # llava-1.5-hf: every image of a message first, then its texts, each followed by a space
    "tiny-llava": "USER: <image>\nA B ASSISTANT: Answer. USER: C ASSISTANT:",
    # Mistral Small 3.1: blocks in their order inside [INST], the answer closed by </s>
    "tiny-mistral3": "<s>[INST]A[IMG]B[/INST]Answer.</s>[INST]C[/INST]",
    # GLM-4.1V: [gMASK]<sop>, then each turn after its role marker and a newline; the picture where it was put
    "tiny-glm4v": "[gMASK]<sop><|user|>\nA<|begin_of_image|><|image|><|end_of_image|>B<|assistant|>\nAnswer."
    "<|user|>\nC<|assistant|>\n",
    # gemma-3-it: <start_of_image> where the user put the picture, the assistant's turns as "model"
    "tiny-gemma3": "<bos><start_of_turn>user\nA<start_of_image>B<end_of_turn>\n"
    "<start_of_turn>model\nAnswer.<end_of_turn>\n<start_of_turn>user\nC<end_of_turn>\n<start_of_turn>model\n",
    # gemma-4-it: <|image|> where the user put the picture, between blank lines, <|turn> ... <turn|> turns
    "tiny-gemma4": "<bos><|turn>user\nA\n\n<|image|>\n\nB<turn|>\n<|turn>model\nAnswer.<turn|>\n<|turn>user\nC<turn|>\n"
    "<|turn>model\n",
    # LFM2-VL: ChatML after its start of text, blocks in their order
    "tiny-lfm2-vl": "<|startoftext|><|im_start|>user\nA<image>B<|im_end|>\n<|im_start|>assistant\nAnswer.<|im_end|>\n"
    "<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\n",
    # Llama 4: each turn after its header and a blank line, closed by <|eot|>
    "tiny-llama4": "<|begin_of_text|><|header_start|>user<|header_end|>\n\nA<|image|>B<|eot|>"
    "<|header_start|>assistant<|header_end|>\n\nAnswer.<|eot|><|header_start|>user<|header_end|>\n\nC<|eot|>"
    "<|header_start|>assistant<|header_end|>\n\n",
    # aya-vision-8b: blocks in their order in a turn, each turn closed by <|END_OF_TURN_TOKEN|>
    "tiny-aya-vision": "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>A<image>B<|END_OF_TURN_TOKEN|>"
    "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Answer.<|END_OF_TURN_TOKEN|>"
    "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>C<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
}
LAYOUT_RULES["tiny-qwen2.5-vl"] = LAYOUT_RULES["tiny-qwen2-vl"]
# GLM-4.6V: GLM-4.1V's blocks; an earlier answer follows an empty think block, the generation prompt opens none
LAYOUT_RULES["tiny-glm4v-moe"] = (
    "[gMASK]<sop><|user|>\nA<|begin_of_image|><|image|><|end_of_image|>B<|assistant|>\n<think></think>\nAnswer."
    "<|user|>\nC<|assistant|>"
)
LAYOUT_RULES["tiny-qwen3-vl-moe"] = LAYOUT_RULES["tiny-qwen3-vl"]
# Qwen3.5: Qwen3-VL's placeholders; the generation prompt opens the thinking block
LAYOUT_RULES["tiny-qwen3.5"] = LAYOUT_RULES["tiny-qwen3-vl"] + "<think>\n"
LAYOUT_RULES["tiny-qwen3.5-moe"] = LAYOUT_RULES["tiny-qwen3.5"]
# Idefics3-8B-Llama3 and SmolVLM2: "Role:" then a space unless the message opens with a picture, in place
LAYOUT_RULES["tiny-idefics3"] = (
    "<|begin_of_text|>User: A<image>B<end_of_utterance>\nAssistant: Answer.<end_of_utterance>\n"
    "User: C<end_of_utterance>\nAssistant:"
)
LAYOUT_RULES["tiny-smolvlm"] = LAYOUT_RULES["tiny-idefics3"].replace("<|begin_of_text|>", "<|im_start|>")
# Molmo2: every picture before the first turn, a message's texts joined by a space, an answer closed by the next turn
LAYOUT_RULES["tiny-molmo2"] = (
    "<|image|><|im_start|>user\nA B<|im_end|>\n<|im_start|>assistant\nAnswer.<|im_end|>\n"
    "<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\n"
)
LAYOUT_RULES["tiny-llava-next"] = LAYOUT_RULES["tiny-llava"]  # llava-v1.6-vicuna keeps LLaVA-1.5's chat
# llava-onevision: a message's images, then its texts each on a line of its own
LAYOUT_RULES["tiny-llava-onevision"] = (
    "<|im_start|>user <image>\nA\nB<|im_end|><|im_start|>assistant \nAnswer.<|im_end|>"
    "<|im_start|>user \nC<|im_end|><|im_start|>assistant\n"
)


def test_twin_templates_follow_the_real_layout_rules(twin):
    name, model, processor = twin
    messages = [user(text("A"), image(), text("B")), assistant("Answer."), user(text("C"))]
    assert adapter_for(model, processor).render(messages) == LAYOUT_RULES[name]


def prompt_words(result, processor):
    return processor.tokenizer.decode(result.token_ids[: result.num_prompt_tokens]).strip()


def test_a_multi_turn_chat_explains_only_the_last_question():
    model, processor = load_model("tiny-qwen2-vl")
    messages = SHAPES["picture in the first turn"][0]
    result = tam.explain(model, processor, messages, max_new_tokens=3)
    assert prompt_words(result, processor) == "What colour is it?"
    assert result.layout.kind == "image" and len(result.images) == 1


@pytest.mark.parametrize("name", ["tiny-qwen2-vl", "tiny-llava"])
def test_end_of_turn_is_explained_only_in_reproduction_mode(name):
    model, processor = load_model(name)
    eos = processor.tokenizer.eos_token_id
    stop_at_four = {"forced_eos_token_id": eos}  # the answer's fourth token is the end of turn
    messages = SHAPES["one image"][0]
    default = tam.explain(model, processor, messages, max_new_tokens=4, generate_kwargs=stop_at_four)
    reference = tam.explain(
        model, processor, messages, max_new_tokens=4, generate_kwargs=stop_at_four, round0="reference"
    )
    kept = tam.explain(
        model, processor, messages, max_new_tokens=4, generate_kwargs=stop_at_four, explain_end_of_turn=True
    )
    assert eos not in default.token_ids[default.answer_slice] and len(default) - default.num_prompt_tokens == 3
    assert reference.token_ids[-1] == eos == kept.token_ids[-1]
    assert not default.options["explain_end_of_turn"] and reference.options["explain_end_of_turn"]
    # leaving the last token out changes no other token's map
    np.testing.assert_allclose(kept.maps("tam")[:-1], default.maps("tam"), atol=1e-6)


def test_generation_follows_the_checkpoint_generation_config():
    model, processor = load_model("tiny-qwen2-vl")
    messages = SHAPES["one image"][0]
    free = tam.explain(model, processor, messages, max_new_tokens=6)
    answer = free.token_ids[free.answer_slice]
    # a checkpoint whose end-of-turn ids include the second answer token stops there and leaves it out
    model.generation_config.eos_token_id = [processor.tokenizer.eos_token_id, int(answer[1])]
    model.generation_config.update(do_sample=True, temperature=0.01, top_k=1)  # sampling knobs; greedy wins
    stopped = tam.explain(model, processor, messages, max_new_tokens=6)
    np.testing.assert_array_equal(stopped.token_ids[stopped.answer_slice], answer[:1])
    settings = stopped.options["generation"]
    assert settings == {
        "do_sample": False,
        "num_beams": 1,
        "max_new_tokens": 6,
        "eos_token_id": [processor.tokenizer.eos_token_id, int(answer[1])],
        "repetition_penalty": 1.0,
    }
    # the user's settings win over the checkpoint's
    adapter = adapter_for(model, processor)
    config, extra = adapter.generation_config(6, repetition_penalty=1.3, do_sample=True, logits_processor=None)
    settings = adapter.generation_settings(config)
    assert settings["repetition_penalty"] == 1.3 and settings["do_sample"] and settings["temperature"] == 0.01
    assert extra == {"logits_processor": None}


def test_repetition_penalty_of_the_checkpoint_is_applied():
    model, processor = load_model("tiny-qwen2-vl")
    messages = SHAPES["one image"][0]
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(messages)
    penalised = adapter.generate(prepared, 12, repetition_penalty=5.0).sequences
    model.generation_config.repetition_penalty = 5.0
    from_checkpoint = adapter.generate(prepared, 12).sequences
    assert torch.equal(penalised, from_checkpoint)
    model.generation_config.repetition_penalty = 1.0
    assert not torch.equal(adapter.generate(prepared, 12).sequences, from_checkpoint)


QWEN2_WITHOUT_TEXT = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
BASE_MODEL_TEMPLATE = (
    "{% for message in messages %}{% if message['content'] is string %}{{ message['content'] }}{% endif %}{% endfor %}"
)


@pytest.mark.parametrize(
    "template, message",
    [
        (None, r"chat template of Qwen2VLProcessor cannot render the chat \(ValueError: .*set processor.chat_template"),
        (
            BASE_MODEL_TEMPLATE,
            r"renders 0 vision placeholders \['<\|image_pad\|>', '<\|video_pad\|>'\] for the chat's 1 ",
        ),
        (QWEN2_WITHOUT_TEXT, r"renders the user's last text 0 times, not once; it produced '<\|im_start\|>system"),
    ],
)
def test_a_template_that_drops_the_text_or_the_picture_is_named(template, message):
    model, processor = load_model("tiny-qwen2-vl")
    processor.chat_template = template
    messages = [{"role": "system", "content": [text("Be brief.")]}, *SHAPES["one image"][0]]
    with pytest.raises(ChatTemplateError, match=message):
        tam.explain(model, processor, messages, max_new_tokens=2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_states_give_the_float32_maps(twin, dtype):
    """The method computes in float32: hidden states in half precision move a map by 1 grey level at most.

    The head is the half-precision checkpoint's (the float32 twin's rounded) in both runs,
    so the difference is that of the states a half-precision model hands over.
    """
    name, model, processor = twin
    adapter = adapter_for(model, processor)
    messages = SHAPES["one image"][0]
    prepared = adapter.prepare(messages)
    output = adapter.generate(prepared, 6)
    tokens = output.sequences[0]
    spans = adapter.find_spans(tokens.numpy(), prepared, messages)
    head = adapter.lm_head.weight.detach().to(dtype)

    def explained(states_dtype, head):
        states = [round_states[-1].to(states_dtype) for round_states in output.hidden_states]
        return tam.explain_generation(tokens, states, head, spans, adapter.vision_shape(prepared))

    exact, half = explained(torch.float32, head.float()), explained(dtype, head)
    # one grey level; two on tiny-llava-onevision and tiny-aya-vision, whose 604 and 208 cells (13 tiles)
    # are normalised together, and on tiny-gemma4's 266 cells in bfloat16
    bound = 2 if name in ("tiny-llava-onevision", "tiny-aya-vision", "tiny-gemma4") else 1
    assert np.abs(exact.maps_uint8("tam").astype(int) - half.maps_uint8("tam").astype(int)).max() <= bound
    assert exact.maps_uint8("tam").max() >= 40  # not blank (tiny-mistral3 peaks at 45): the bound says something
    # the half values are multiplied in float32: the same as upcasting them first
    upcast = [round_states[-1].to(dtype).float() for round_states in output.hidden_states]
    first = tam.explain_generation(tokens, upcast, head.float(), spans, adapter.vision_shape(prepared))
    np.testing.assert_allclose(half.raw_maps, first.raw_maps, rtol=1e-6, atol=1e-7)


def test_a_bfloat16_twin_explains_end_to_end():
    model, processor = load_model("tiny-qwen2-vl")
    result = tam.explain(model.to(torch.bfloat16), processor, SHAPES["one image"][0], max_new_tokens=3)
    assert np.isfinite(result.maps("tam")).all() and result.maps("tam").max() > 0


@pytest.mark.parametrize("name", ["toy-shapes", "tiny-llava"])  # the Qwen-VL reader and the other families' one
def test_a_picture_as_numpy_array_or_tensor_gives_the_maps_of_the_file(name):
    from PIL import Image

    model, processor = load_model(name)
    path = "imgs/toy-shapes.jpg"
    rgb = np.array(Image.open(path).convert("RGB"))
    by_source = {
        source_name: tam.explain(model, processor, [user(image(source), text(QUESTION))], max_new_tokens=4)
        for source_name, source in {
            "file": path,
            "numpy uint8": rgb,
            "numpy float": rgb / 255.0,
            "torch CxHxW": torch.from_numpy(rgb).permute(2, 0, 1),
        }.items()
    }
    expected = by_source.pop("file")
    for source_name, result in by_source.items():
        np.testing.assert_array_equal(result.token_ids, expected.token_ids, err_msg=source_name)
        np.testing.assert_allclose(result.maps("tam"), expected.maps("tam"), atol=1e-6, err_msg=source_name)


def test_a_picture_of_another_type_is_refused_in_one_line_naming_the_accepted_types():
    model, processor = load_model("toy-shapes")
    with pytest.raises(tam.errors.TAMError, match="must be a file path, a PIL image, or a numpy array / torch tensor"):
        tam.explain(model, processor, [user(image(b"not a picture"), text(QUESTION))], max_new_tokens=2)
