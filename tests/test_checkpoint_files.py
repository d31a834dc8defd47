"""The checkpoints' own small files give tam's adapters exact spans and layouts.

``tests/fixtures/checkpoints/<checkpoint>/`` holds public copies of a checkpoint's
processor settings, chat template, tokenizer settings and config (where each came from is
in that folder's README). Each test builds the real processor class from those files,
around the family twin's tiny tokenizer (the checkpoint's tokenizer.json is not kept: its
special tokens are checked against the checkpoint's tokenizer settings instead), renders
the real chat template and lets tam's adapter, on the twin model with the checkpoint's
vision numbers, find the spans and the layout. The expected grids and rectangles are
worked out by hand below from the files' numbers; the expected positions come from the
tokenizer alone.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import transformers
from PIL import Image

from tam.models import TWINS, adapter_for

CHECKPOINTS = Path(__file__).parent / "fixtures" / "checkpoints"
PROMPT = "Describe this image."


def checkpoint_file(checkpoint: str, name: str):
    """A kept file of a checkpoint: JSON as a dict, anything else as text."""
    text = (CHECKPOINTS / checkpoint / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


def processor_settings(checkpoint: str) -> dict:
    """The checkpoint's processor_config.json without its class name (a constructor argument each)."""
    settings = checkpoint_file(checkpoint, "processor_config.json")
    settings.pop("processor_class")
    return settings


def image_chat(*sizes, text=PROMPT):
    """One user turn of one black picture per ``(width, height)`` and a question after them."""
    images = [{"type": "image", "image": Image.new("RGB", size)} for size in sizes]
    return [{"role": "user", "content": [*images, {"type": "text", "text": text}]}]


def special_tokens_of(tokenizer) -> dict:
    """The tokenizer's named special tokens (bos, eos, pad, unk) as strings."""
    names = ("bos_token", "eos_token", "pad_token", "unk_token")
    return {name: str(getattr(tokenizer, name)) for name in names if getattr(tokenizer, name) is not None}


def runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """``(first, length)`` of each run of consecutive positions."""
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return [(int(run[0]), len(run)) for run in np.split(positions, breaks)]


def spans_and_layout(adapter, chat):
    prepared = adapter.prepare(chat)
    spans = adapter.find_spans(prepared.input_ids, prepared, chat)
    return prepared, spans, adapter.layout(prepared)


def check_prompt(tokenizer, ids, prompt, text=PROMPT):
    """The prompt positions hold the user's text, whole, and nothing of it lies beside them."""
    assert (np.diff(prompt) == 1).all()
    assert tokenizer.decode(ids[prompt]).strip() == text
    assert tokenizer.decode(ids[prompt[1:]]).strip() != text and tokenizer.decode(ids[prompt[:-1]]).strip() != text


# ---- LLaVA-1.5 (llava-hf/llava-1.5-7b-hf) ----------------------------------------------------------

LLAVA = "llava-1.5-7b-hf"


@pytest.fixture(scope="module")
def llava():
    model, twin = TWINS["tiny-llava"]()
    image_processor = transformers.AutoImageProcessor.from_pretrained(CHECKPOINTS / LLAVA)
    processor = transformers.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=twin.tokenizer,
        chat_template=checkpoint_file(LLAVA, "chat_template.jinja"),
        **processor_settings(LLAVA),
    )
    config = transformers.AutoConfig.from_pretrained(CHECKPOINTS / LLAVA)
    model.config.vision_config.image_size = config.vision_config.image_size
    model.config.vision_config.patch_size = config.vision_config.patch_size
    return model, processor


def test_llava_files_are_the_checkpoints_and_match_the_twin(llava):
    model, processor = llava
    tokenizer_config = checkpoint_file(LLAVA, "tokenizer_config.json")
    special = {key: value["content"] for key, value in checkpoint_file(LLAVA, "special_tokens_map.json").items()}
    assert special_tokens_of(processor.tokenizer) == special
    assert tokenizer_config["image_token"] == processor.image_token == "<image>"
    assert tokenizer_config["add_bos_token"] and processor.tokenizer.add_bos_token
    # transformers' tests/models/llava/test_processor_llava.py expects this rendering of llava-1.5-7b-hf's template
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown in this image?"}]}]
    expected = "USER: <image>\nWhat is shown in this image? ASSISTANT:"
    assert processor.apply_chat_template(chat, add_generation_prompt=True) == expected
    twin_model, twin = TWINS["tiny-llava"]()
    assert twin.apply_chat_template(chat, add_generation_prompt=True) == expected
    # the twin crops 56 pixels (a 4 x 4 grid) where the checkpoint crops 336; the steps are the same
    for name in ("do_resize", "do_center_crop", "resample"):
        assert getattr(twin.image_processor, name) == getattr(processor.image_processor, name), name
    assert twin_model.config.vision_feature_select_strategy == processor.vision_feature_select_strategy


def test_llava_one_picture_is_24_by_24_over_its_centre_crop(llava):
    model, processor = llava
    chat = image_chat((640, 480))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    # short side 480 -> 336, so 640 -> 448; the 336 centre crop starts at (448 - 336) / 2 = 56 resized pixels,
    # 56 * 640 / 448 = 80 in the picture, and ends at 392 * 640 / 448 = 560; CLIP's 14-pixel patches: 24 x 24
    assert layout.grids == ((24, 24),)
    assert [(tile.box, tile.kind) for tile in layout.tiles] == [((80.0, 0.0, 560.0, 480.0), "local")]
    tokenizer = processor.tokenizer
    before = 1 + len(tokenizer("USER: ", add_special_tokens=False)["input_ids"])  # <s> first
    assert runs(spans.vision) == [(before, 576)]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)
    assert spans.prompt[0] > spans.vision[-1]


def test_llava_two_pictures_each_over_its_own_crop(llava):
    model, processor = llava
    chat = image_chat((640, 480), (300, 500))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    # 300 x 500: short side 300 -> 336, so 500 -> 560; the crop's rows 112..448 are 100..400 of the picture
    assert layout.grids == ((24, 24), (24, 24))
    assert [(tile.picture, tile.box) for tile in layout.tiles] == [
        (0, (80.0, 0.0, 560.0, 480.0)),
        (1, (0.0, 100.0, 300.0, 400.0)),
    ]
    tokenizer = processor.tokenizer
    before = 1 + len(tokenizer("USER: ", add_special_tokens=False)["input_ids"])
    # the template's newline between the two placeholders, as the tokenizer cuts it there
    between = len(tokenizer("<image>\n<image>", add_special_tokens=False)["input_ids"]) - 2
    assert runs(spans.vision) == [(before, 576), (before + 576 + between, 576)]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)


# ---- Qwen2.5-VL (Qwen/Qwen2.5-VL-7B-Instruct) and Qwen2-VL's tokenizer settings -------------------

QWEN = "qwen2.5-vl-7b-instruct"
QWEN_TOKENIZER = "qwen2-vl-2b"


@pytest.fixture(scope="module")
def qwen():
    model, twin = TWINS["tiny-qwen2.5-vl"]()
    settings = checkpoint_file(QWEN, "preprocessor_config.json")
    # the file names "Qwen2_5_VLImageProcessor", a class transformers never had; Qwen2VLImageProcessor reads it
    assert settings.pop("image_processor_type") == "Qwen2_5_VLImageProcessor"
    assert settings.pop("processor_class") == type(twin).__name__
    processor = transformers.Qwen2_5_VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(**settings),
        video_processor=twin.video_processor,
        tokenizer=twin.tokenizer,
        chat_template=checkpoint_file(QWEN, "chat_template.jinja"),
    )
    return model, processor


def test_qwen_files_match_the_twin(qwen):
    model, processor = qwen
    tokenizer_config = checkpoint_file(QWEN_TOKENIZER, "tokenizer_config.json")
    tokenizer = processor.tokenizer
    assert special_tokens_of(tokenizer) == {
        "eos_token": tokenizer_config["eos_token"],
        "pad_token": tokenizer_config["pad_token"],
    }
    assert tokenizer_config["bos_token"] is None and tokenizer_config["unk_token"] is None
    names = {entry["content"] for entry in tokenizer_config["added_tokens_decoder"].values()}
    markers = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    assert set(markers) <= names and set(markers) <= set(tokenizer.all_special_tokens)
    twin_model, twin = TWINS["tiny-qwen2.5-vl"]()
    assert twin.chat_template == processor.chat_template
    settings = checkpoint_file(QWEN, "preprocessor_config.json")
    for name in ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std"):
        assert list(np.ravel(getattr(twin.image_processor, name))) == list(np.ravel(settings[name])), name
    assert twin_model.config.vision_config.spatial_merge_size == settings["merge_size"]


def test_qwen_pictures_are_grids_by_smart_resize_at_the_checkpoints_pixel_bounds(qwen):
    model, processor = qwen
    chat = image_chat((640, 480), (300, 500))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    # smart_resize at min_pixels 3136 and max_pixels 12845056: each side rounded to a multiple of
    # patch_size * merge_size = 28, the area within the bounds: 480 -> 476 and 640 -> 644 (17 x 23 cells
    # after the 2 x 2 merge); 500 -> 504 and 300 -> 308 (18 x 11); each grid covers its picture whole
    assert prepared.inputs["image_grid_thw"].tolist() == [[1, 34, 46], [1, 36, 22]]
    assert layout.grids == ((17, 23), (18, 11))
    assert [tile.box for tile in layout.tiles] == [(0.0, 0.0, 640.0, 480.0), (0.0, 0.0, 300.0, 500.0)]
    tokenizer = processor.tokenizer
    system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"  # the template's default system turn
    before = len(tokenizer(system + "<|im_start|>user\n<|vision_start|>", add_special_tokens=False)["input_ids"])
    # <|vision_end|><|vision_start|> between the two pictures
    assert runs(spans.vision) == [(before, 17 * 23), (before + 17 * 23 + 2, 18 * 11)]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)
    assert spans.prompt[0] == spans.vision[-1] + 2  # right after <|vision_end|>


# ---- Gemma 4 (the gemma-4-it chat template) ----------------------------------------------------------

GEMMA4 = "gemma-4-26b-a4b-it"


@pytest.fixture(scope="module")
def gemma4():
    model, twin = TWINS["tiny-gemma4"]()
    processor = transformers.Gemma4Processor(
        feature_extractor=twin.feature_extractor,
        image_processor=twin.image_processor,
        video_processor=twin.video_processor,
        tokenizer=twin.tokenizer,
        chat_template=checkpoint_file(GEMMA4, "chat_template.json")["chat_template"],
    )
    return model, twin, processor


def test_gemma4_template_puts_each_picture_between_blank_lines_as_the_twin_does(gemma4):
    model, twin, processor = gemma4
    chat = [
        {"role": "user", "content": [{"type": "text", "text": "A"}, {"type": "image"}, {"type": "text", "text": "B"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Answer."}]},
        {"role": "user", "content": [{"type": "text", "text": " C "}]},
    ]
    expected = (
        "<bos><|turn>user\nA\n\n<|image|>\n\nB<turn|>\n<|turn>model\nAnswer.<turn|>\n<|turn>user\nC<turn|>\n"
        "<|turn>model\n"
    )
    assert processor.apply_chat_template(chat, add_generation_prompt=True) == expected
    assert twin.apply_chat_template(chat, add_generation_prompt=True) == expected


def test_gemma4_real_template_gives_exact_vision_runs_and_prompt(gemma4):
    model, twin, processor = gemma4
    chat = image_chat((640, 480), (300, 500))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    # the image processor's budget (transformers' Gemma4ImageProcessor defaults, the twin's; no checkpoint file
    # kept): 280 soft tokens of 3 x 3 patches of 16 pixels; 640 x 480 scaled by sqrt(280 * 9 * 256 / (640 * 480))
    # = 1.449 -> 927.4 x 695.6, floored to 48-pixel blocks: 19 x 14; 300 x 500 by 2.074 -> 622.1 x 1036.9: 12 x 21
    assert layout.grids == ((14, 19), (21, 12))
    tokenizer = processor.tokenizer
    # the template: "<|turn>user\n", then "\n\n<|image|>\n\n" per picture; the processor writes each picture as
    # <|image> (its soft tokens) <image|>
    first = len(tokenizer("<bos><|turn>user\n\n\n<|image>", add_special_tokens=False)["input_ids"])
    between = len(tokenizer("<image|>\n\n\n\n<|image>", add_special_tokens=False)["input_ids"])
    assert runs(spans.vision) == [(first, 14 * 19), (first + 14 * 19 + between, 21 * 12)]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)


# ---- Gemma 3 (the gemma-3-it checkpoints' preprocessor_config.json) -----------------------------

GEMMA3 = "gemma-3-it"


@pytest.fixture(scope="module")
def gemma3():
    model, twin = TWINS["tiny-gemma3"]()
    settings = checkpoint_file(GEMMA3, "preprocessor_config.json")
    processor = transformers.Gemma3Processor(
        image_processor=transformers.AutoImageProcessor.from_pretrained(CHECKPOINTS / GEMMA3),
        tokenizer=twin.tokenizer,
        chat_template=twin.chat_template,  # the checkpoint's template is not kept: the twin's follows its rules
        image_seq_length=settings["image_seq_length"],
    )
    # gemma-3's SigLIP reads the 896-pixel picture; the adapter reads the grid from the config
    model.config.mm_tokens_per_image = settings["image_seq_length"]
    model.config.vision_config.image_size = settings["size"]["height"]
    return model, twin, processor


def test_gemma3_settings_match_the_twin_but_for_its_size(gemma3):
    model, twin, processor = gemma3
    settings = checkpoint_file(GEMMA3, "preprocessor_config.json")
    for name in ("resample", "image_mean", "image_std", "do_normalize", "do_rescale"):
        assert list(np.ravel(getattr(twin.image_processor, name))) == list(np.ravel(settings[name])), name
    assert settings["do_pan_and_scan"] is None and not twin.image_processor.do_pan_and_scan  # off unless asked
    # the twin: 224 pixels and 64 tokens (8 x 8) where the checkpoint has 896 and 256 (16 x 16), on purpose
    assert (twin.image_processor.size.height, twin.image_seq_length) == (224, 64)


def test_gemma3_one_picture_is_16_by_16_and_pan_and_scan_cuts_two_crops(gemma3):
    model, twin, processor = gemma3
    chat = image_chat((640, 480))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    # 256 tokens a picture: 16 x 16, over the picture stretched to 896 x 896
    assert layout.grids == ((16, 16),)
    assert [tile.box for tile in layout.tiles] == [(0.0, 0.0, 640.0, 480.0)]
    tokenizer = processor.tokenizer
    # Gemma3Processor writes each picture as "\n\n<start_of_image>" + its soft tokens + "<end_of_image>\n\n"
    before = len(tokenizer("<bos><start_of_turn>user\n\n\n<start_of_image>", add_special_tokens=False)["input_ids"])
    assert runs(spans.vision) == [(before, 256)]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)
    # pan-and-scan, the file's crop settings null so the processor's own (crops of 256 pixels at least, 4 at most,
    # from an aspect of 1.2): 640 / 480 = 1.33 gives floor(1.33 + 0.5) = 1 crop, raised to 2, ceil(640 / 2) = 320 wide
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor, {"do_pan_and_scan": True}), chat)
    assert [(tile.box, tile.kind) for tile in layout.tiles] == [
        ((0.0, 0.0, 640.0, 480.0), "global"),
        ((0.0, 0.0, 320.0, 480.0), "local"),
        ((320.0, 0.0, 640.0, 480.0), "local"),
    ]
    assert [length for _, length in runs(spans.vision)] == [256, 256, 256]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)


def test_gemma3_two_pictures_are_one_grid_each(gemma3):
    model, twin, processor = gemma3
    chat = image_chat((640, 480), (300, 500))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    assert layout.grids == ((16, 16), (16, 16))
    assert [(tile.picture, tile.box) for tile in layout.tiles] == [
        (0, (0.0, 0.0, 640.0, 480.0)),
        (1, (0.0, 0.0, 300.0, 500.0)),
    ]
    tokenizer = processor.tokenizer
    before = len(tokenizer("<bos><start_of_turn>user\n\n\n<start_of_image>", add_special_tokens=False)["input_ids"])
    # "<end_of_image>\n\n" closes the first picture, "\n\n<start_of_image>" opens the second
    between = len(tokenizer("<end_of_image>\n\n\n\n<start_of_image>", add_special_tokens=False)["input_ids"])
    assert runs(spans.vision) == [(before, 256), (before + 256 + between, 256)]
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)


# ---- SmolVLM (HuggingFaceTB's 2048 / 512 SmolVLM-Instruct checkpoints, Idefics3 classes) -----------

SMOLVLM = "smolvlm-instruct-2048"


@pytest.fixture(scope="module")
def smolvlm():
    model, twin = TWINS["tiny-idefics3"]()
    # the vision numbers of those checkpoints (their config.json not found, so typed here): SigLIP's
    # 16-pixel patches, 32 x 32 of them on a 512-pixel tile, merged 4 x 4 by the connector: 64 tokens a tile
    model.config.vision_config.image_size = 512
    model.config.vision_config.patch_size = 16
    model.config.scale_factor = 4
    processor = transformers.Idefics3Processor(
        transformers.AutoImageProcessor.from_pretrained(CHECKPOINTS / SMOLVLM),
        twin.tokenizer,
        image_seq_len=64,
        chat_template=twin.chat_template,
    )
    return model, twin, processor


def test_smolvlm_settings_match_the_twin_but_for_its_sizes(smolvlm):
    model, twin, processor = smolvlm
    settings = checkpoint_file(SMOLVLM, "preprocessor_config.json")
    for name in ("do_image_splitting", "resample", "image_mean", "image_std", "do_pad"):
        assert list(np.ravel(getattr(twin.image_processor, name))) == list(np.ravel(settings[name])), name
    assert (settings["size"]["longest_edge"], settings["max_image_size"]["longest_edge"]) == (2048, 512)


def test_smolvlm_tiles_two_pictures_by_longest_edge_and_tile_size(smolvlm):
    model, twin, processor = smolvlm
    chat = image_chat((1024, 768), (300, 500))
    prepared, spans, layout = spans_and_layout(adapter_for(model, processor), chat)
    # 1024 x 768: longest edge to 2048, so 2048 x 1536, whole 512-pixel tiles: 4 columns x 3 rows of 256 x 256
    # picture pixels, then the global image. 300 x 500: 2048 high, int(300 * 2048 / 500) = 1228 wide, stretched
    # to 1536 x 2048: 3 columns x 4 rows of 100 x 125, then the global image
    expected = [
        (0, (256.0 * c, 256.0 * r, 256.0 * (c + 1), 256.0 * (r + 1)), "local") for r in range(3) for c in range(4)
    ]
    expected += [(0, (0.0, 0.0, 1024.0, 768.0), "global")]
    expected += [
        (1, (100.0 * c, 125.0 * r, 100.0 * (c + 1), 125.0 * (r + 1)), "local") for r in range(4) for c in range(3)
    ]
    expected += [(1, (0.0, 0.0, 300.0, 500.0), "global")]
    assert [(tile.picture, tile.box, tile.kind) for tile in layout.tiles] == expected
    assert layout.grids == ((8, 8),) * 26
    tokenizer = processor.tokenizer
    # the template's "User:", then the processor's <fake_token_around_image><row_1_col_1> before the first tile
    before = len(
        tokenizer("<|begin_of_text|>User:<fake_token_around_image><row_1_col_1>", add_special_tokens=False)["input_ids"]
    )
    tiles = runs(spans.vision)
    assert tiles[0][0] == before and [length for _, length in tiles] == [64] * 26
    # between two tiles of a row: <fake_token_around_image><row_1_col_2>
    assert tiles[1][0] == before + 64 + 2
    check_prompt(tokenizer, prepared.input_ids, spans.prompt)
