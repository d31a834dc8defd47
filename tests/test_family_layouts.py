"""Maps land in the frame of the user's picture, for every family: planted content found again.

Each twin is made *local*: every attention output projection and the vision towers'
position embeddings are zeroed, so each vision token depends on its own patch alone.
A picture that is dark but for one bright rectangle then gives the same activation on
every dark cell and another on the rectangle, whatever the random weights: the token
map, drawn on the picture by the layout, must differ from its background exactly where
the rectangle was drawn. The rectangle's place comes from the test, not from tam.
"""

import numpy as np
import pytest
import torch
from PIL import Image

import tam
from tam.errors import ShapeError
from tam.models import UnsupportedInputError, adapter_for, load_model

TWINS = [
    "tiny-qwen2-vl",
    "tiny-qwen2.5-vl",
    "tiny-qwen3-vl",
    "tiny-llava",
    "tiny-llava-next",
    "tiny-llava-onevision",
    "tiny-internvl",
    "tiny-mistral3",
    "tiny-glm4v",
    "tiny-glm4v-moe",
    "tiny-qwen3-vl-moe",
    "tiny-qwen3.5",
    "tiny-qwen3.5-moe",
    "tiny-gemma3",
    "tiny-gemma4",
    "tiny-idefics3",
    "tiny-smolvlm",
    "tiny-aya-vision",
    "tiny-molmo2",
    "tiny-llama4",
    "tiny-lfm2-vl",
]
# (width, height) and the rectangle (left, top, right, bottom): wide, tall and square
# pictures make the processors resize, crop and tile differently; the rectangles lie
# near an edge of LLaVA's centre crop, so a map of the crop stretched over the whole
# picture would miss them
PICTURES = [
    ((640, 400), (130, 120, 230, 280)),
    ((300, 500), (40, 110, 200, 200)),
    ((448, 448), (260, 40, 420, 200)),
]


def make_local(model):
    """Zero every attention's (softmax or linear) output projection and every position embedding of the vision tower."""
    with torch.no_grad():
        for name, module in model.named_modules():
            # Molmo2's adapter pools each token's own window of patches by attention: local already
            if "Attention" in type(module).__name__ and "pooling" not in name:
                # Gemma 4's vision attention wraps each projection (a clippable linear holding its .linear)
                linears = [
                    child if isinstance(child, torch.nn.Linear) else child.linear
                    for child in module.children()
                    if isinstance(child, torch.nn.Linear) or isinstance(getattr(child, "linear", None), torch.nn.Linear)
                ]
                if linears:
                    linears[-1].weight.zero_()  # the output projection is registered last
                    if linears[-1].bias is not None:
                        linears[-1].bias.zero_()
            if "GatedDeltaNet" in type(module).__name__:  # Qwen3.5's linear attention mixes positions too
                module.out_proj.weight.zero_()  # registered before its input projections
        for name, parameter in model.named_parameters():
            if ("vision" in name or "visual" in name) and "position" in name:  # GLM-V's tower is "visual"
                parameter.zero_()
    return model


@pytest.fixture(scope="module", params=TWINS)
def local_twin(request):
    model, processor = load_model(request.param)
    return request.param, make_local(model), processor


def planted(size, box):
    picture = np.full((size[1], size[0], 3), 20, np.uint8)
    left, top, right, bottom = box
    picture[top:bottom, left:right] = 235
    return Image.fromarray(picture)


def planted_chat(size, box):
    """A one-turn chat asking to describe a :func:`planted` picture."""
    image = {"type": "image", "image": planted(size, box)}
    return [{"role": "user", "content": [image, {"type": "text", "text": "Describe this image."}]}]


def standing_out(picture_map, seen):
    """Pixels of the seen region whose value differs from the background (the median there) by 30% of the most."""
    left, top, right, bottom = seen
    background = np.median(picture_map[top:bottom, left:right])
    deviation = np.zeros_like(picture_map)
    deviation[top:bottom, left:right] = np.abs(picture_map - background)[top:bottom, left:right]
    return deviation > 0.3 * deviation.max()


@pytest.mark.parametrize(("size", "box"), PICTURES)
def test_the_bright_rectangle_lights_up_where_it_was_drawn(local_twin, size, box):
    name, model, processor = local_twin
    chat = planted_chat(size, box)
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    picture_map = result.picture_map(row, "raw")
    assert picture_map.shape == (size[1], size[0]) and picture_map.dtype == np.float32
    # a cell that holds part of the rectangle differs from the dark cells, however the
    # random weights mix bright and dark: the region that stands out is about the
    # rectangle, widened by up to a cell (coarse thumbnails blur it), so its centre lies in the rectangle (a map
    # drawn over the wrong part of the picture, as a crop-frame map over the whole
    # picture, puts it outside: the rectangles lie off the pictures' centres)
    found = standing_out(picture_map, result.seen_box())
    rows, columns = np.nonzero(found)
    left, top, right, bottom = box
    centre = columns.mean(), rows.mean()
    assert left < centre[0] < right and top < centre[1] < bottom, f"{name}: the map's centre {centre} misses {box}"


def test_llava_maps_only_its_centre_crop():
    model, processor = load_model("tiny-llava")
    chat = planted_chat((640, 400), (150, 60, 290, 220))
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    # the twin's processor: short side 400 -> 56 pixels, so 640 -> int(89.6) = 89; the
    # 56-pixel centre crop starts at int((89 - 56) / 2) = 16: x from 16 * 640 / 89 = 115.06
    # to 72 * 640 / 89 = 517.75 in the picture's pixels, the whole height
    assert result.seen_box() == (115, 0, 518, 400)
    left, right = 115, 518
    picture_map = result.picture_map(result.words[-1], "tam")
    assert picture_map[:, : left - 1].max() == 0 and picture_map[:, right + 1 :].max() == 0
    assert picture_map[:, left + 1 : right - 1].max() > 0


def test_internvl_tiles_and_thumbnail_account_for_every_image_token_and_survive_saving(tmp_path):
    model, processor = load_model("tiny-internvl")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    tiles = result.layout.tiles
    # InternVLProcessor tiles by default: the 640 x 400 picture on a 3 x 2 canvas of tiles plus a thumbnail
    assert [tile.kind for tile in tiles] == ["local"] * 6 + ["global"]
    assert tiles[0].box == (0.0, 0.0, 640 / 3, 200.0) and tiles[-1].box == (0.0, 0.0, 640.0, 400.0)
    image_tokens = int(
        (
            processor(
                text=[processor.apply_chat_template(chat, add_generation_prompt=True)],
                images=[chat[0]["content"][0]["image"]],
                return_tensors="pt",
            )["input_ids"]
            == model.config.image_token_id
        ).sum()
    )
    assert result.layout.num_tokens == image_tokens
    loaded = tam.TokenActivationResult.load(result.save(tmp_path / "result"))
    assert loaded.layout == result.layout
    np.testing.assert_array_equal(loaded.picture_map(3, tiles="global"), result.picture_map(3, tiles="global"))


def test_processor_options_turn_internvl_tiles_off_and_are_kept():
    model, processor = load_model("tiny-internvl")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs={"crop_to_patches": False})
    assert [tile.box for tile in result.layout.tiles] == [(0.0, 0.0, 640.0, 400.0)]
    assert result.options["preprocessing"] == {"crop_to_patches": False}
    fewer = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs={"max_patches": 2})
    assert len(fewer.layout.tiles) == 3  # two tiles side by side and the thumbnail


def test_processor_options_size_qwen_pictures():
    model, processor = load_model("tiny-qwen2-vl")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    small = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs={"max_pixels": 8 * 28 * 28})
    large = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs={"max_pixels": 64 * 28 * 28})
    assert small.layout.num_tokens <= 8 < 32 < large.layout.num_tokens <= 64


def test_processor_options_size_glm_pictures():
    model, processor = load_model("tiny-glm4v")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    # Glm4vImageProcessor bounds the pixels of an image counted twice (two frames): at most 8 cells of 28 x 28
    small = tam.explain(
        model,
        processor,
        chat,
        max_new_tokens=2,
        processor_kwargs={"size": {"shortest_edge": 112 * 112, "longest_edge": 2 * 8 * 28 * 28}},
    )
    default = tam.explain(model, processor, chat, max_new_tokens=2)
    assert small.layout.num_tokens <= 8 < 32 < default.layout.num_tokens <= 64
    assert small.options["preprocessing"] == {"size": {"shortest_edge": 112 * 112, "longest_edge": 2 * 8 * 28 * 28}}


def test_processor_options_on_the_command_line():
    from tam.models.base import ProcessorOptionError, processor_option

    assert processor_option("crop_to_patches=false") == ("crop_to_patches", False)
    assert processor_option("max_pixels=1003520") == ("max_pixels", 1003520)
    with pytest.raises(ProcessorOptionError, match="KEY=VALUE"):
        processor_option("crop_to_patches")


def test_llava_next_newlines_are_separators_not_cells():
    model, processor = load_model("tiny-llava-next")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    rendered = processor.apply_chat_template(chat, add_generation_prompt=True)
    ids = processor(text=[rendered], images=[chat[0]["content"][0]["image"]], return_tensors="pt")["input_ids"]
    image_tokens = int((ids == model.config.image_token_id).sum())
    base, grid = result.layout.grids
    # the 4 x 4 base view, then the any-resolution grid's rows, each with one newline slot
    assert base == (4, 4) and image_tokens == 16 + grid[0] * (grid[1] + 1)
    assert result.layout.num_tokens == image_tokens - grid[0]
    assert [tile.kind for tile in result.layout.tiles] == ["global", "local"]


def test_eval_scores_llava_maps_where_its_crop_lies_on_the_mask():
    from tam.evaluation.scoring import answer_token_maps
    from tam.metrics.overlap import best_token_overlap

    model, processor = load_model("tiny-llava")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=3)
    token_maps = answer_token_maps(result, "raw")
    assert token_maps.shape[1:] == (400, 640)  # the picture's frame, as its mask is
    # an object wholly left of the crop (which starts at x = 115) is never found
    outside = np.zeros((400, 640), bool)
    outside[100:300, 0:100] = True
    assert best_token_overlap(token_maps, outside).iou == 0
    assert token_maps[:, :, :114].max() == 0 and token_maps[:, :, 116:517].max() > 0


def test_gemma3_pan_and_scan_crops_lie_where_the_processor_cut_them():
    model, processor = load_model("tiny-gemma3")
    box = (130, 120, 230, 280)
    chat = planted_chat((640, 400), box)
    options = {"do_pan_and_scan": True}
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2, processor_kwargs=options)
    # Gemma3ImageProcessor's pan-and-scan at its processor's defaults (crops of 256 pixels at least, 4 at most,
    # from an aspect of 1.2): 640 / 400 = 1.6 rounds to 2 crops side by side, ceil(640 / 2) = 320 pixels wide
    tiles = result.layout.tiles
    assert [(tile.box, tile.kind) for tile in tiles] == [
        ((0.0, 0.0, 640.0, 400.0), "global"),
        ((0.0, 0.0, 320.0, 400.0), "local"),
        ((320.0, 0.0, 640.0, 400.0), "local"),
    ]
    rendered = processor.apply_chat_template(chat, add_generation_prompt=True)
    ids = processor(text=[rendered], images=[chat[0]["content"][0]["image"]], return_tensors="pt", **options)
    assert result.layout.num_tokens == int((ids["input_ids"] == model.config.image_token_id).sum()) == 3 * 64
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    left, top, right, bottom = box
    for kind in ("all", "local"):  # the crops alone light it too: each painted where it was cut
        found = standing_out(result.picture_map(row, "raw", tiles=kind), result.seen_box())
        rows, columns = np.nonzero(found)
        assert left < columns.mean() < right and top < rows.mean() < bottom, kind


def test_gemma4_token_budgets_size_the_grid_and_both_find_the_rectangle():
    model, processor = load_model("tiny-gemma4")
    model = make_local(model)
    box = (130, 120, 230, 280)
    chat = planted_chat((640, 400), box)
    left, top, right, bottom = box
    # the image processor's resize: 640 x 400 scaled by sqrt(budget * 9 * 16^2 / (640 * 400)), each side floored to
    # whole 48-pixel (3 x 3 patches of 16) blocks: 70 tokens -> 317.5 x 508 -> 6 x 10 blocks; 280 -> 635 x 1016 ->
    # 13 x 21 (the checkpoint's default)
    for budget, grid in ((70, (6, 10)), (280, (13, 21))):
        result = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs={"max_soft_tokens": budget})
        assert result.layout.grids == (grid,)
        assert [tile.box for tile in result.layout.tiles] == [(0.0, 0.0, 640.0, 400.0)]
        raw = result.maps("raw")
        row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
        rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw"), result.seen_box()))
        assert left < columns.mean() < right and top < rows.mean() < bottom, budget


def test_gemma4_video_frames_each_light_their_own_rectangle():
    model, processor = load_model("tiny-gemma4")
    boxes = [(60, 50, 160, 150), (340, 220, 440, 320)]  # the rectangle moves across a 480 x 360 video
    frames = [planted((480, 360), box) for box in boxes]
    video = {"type": "video", "video": frames, "fps": 1}
    chat = [{"role": "user", "content": [video, {"type": "text", "text": "Go."}]}]
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2)
    # the video processor's budget (70 tokens): 360 x 480 scaled by sqrt(70 * 9 * 256 / (360 * 480)) = 0.966 ->
    # 347.7 x 463.6, floored to 48-pixel blocks: 7 x 9 per frame, every frame as given
    assert result.layout.kind == "video" and result.layout.shape == (2, 7, 9)
    assert [image.shape for image in result.images] == [(360, 480, 3)] * 2
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    for picture, (left, top, right, bottom) in enumerate(boxes):
        rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw", picture=picture), (0, 0, 480, 360)))
        assert left < columns.mean() < right and top < rows.mean() < bottom, picture


def processor_tiling(processor, picture, **options):
    """``(rows, columns)`` the image processor itself reports for one picture (0, 0: one tile, no split)."""
    output = processor.image_processor(images=[[picture]], return_row_col_info=True, **options)
    return output["rows"][0][0], output["cols"][0][0]


def test_smolvlm_tiles_and_global_image_where_its_processor_cuts_them():
    model, processor = load_model("tiny-smolvlm")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    tiles = result.layout.tiles
    # the twin's processor: longest edge 256, so 256 x 160, stretched to multiples of its
    # 64-pixel tiles: 256 x 192, 4 columns x 3 rows, then the global image; 7-pixel
    # patches read 63 of a tile's 64 pixels, 3 x 3 tokens per tile after the 3 x 3 merge
    assert processor_tiling(processor, chat[0]["content"][0]["image"]) == (3, 4)
    assert [tile.kind for tile in tiles] == ["local"] * 12 + ["global"]
    assert tiles[0].box == (0.0, 0.0, 160 * 63 / 64, 400 / 3 * 63 / 64)
    assert tiles[5].box == (160.0, 400 / 3, 160 + 160 * 63 / 64, 400 / 3 + 400 / 3 * 63 / 64)
    assert tiles[-1].box == (0.0, 0.0, 640 * 63 / 64, 400 * 63 / 64)
    assert result.layout.grids == ((3, 3),) * 13
    assert result.layout.num_tokens == 13 * processor.image_seq_len


@pytest.mark.parametrize("name", ["tiny-idefics3", "tiny-smolvlm"])
def test_idefics3_tile_names_are_neither_map_cells_nor_earlier_text(name):
    model, processor = load_model(name)
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(chat)
    # the processor's own chat path gives the same input ids (one BOS: the template writes it)
    own = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert prepared.input_ids.tolist() == own["input_ids"][0]
    names = [f"<row_{row}_col_{column}>" for row in range(1, 7) for column in range(1, 7)]
    markers = processor.tokenizer.convert_tokens_to_ids([*names, "<global-img>", "<fake_token_around_image>"])
    # one name before each of the 3 x 4 tiles, <global-img> before the global image, a
    # <fake_token_around_image> before every tile and after the global image
    assert np.isin(prepared.input_ids, markers).sum() == 12 + 1 + 14
    vision = adapter.find_spans(prepared.input_ids, prepared, chat).vision
    assert not np.isin(prepared.input_ids[vision], markers).any()
    assert len(vision) == 13 * processor.image_seq_len
    # the explained tokens, whose relevance is the earlier text of later ones: the prompt and the answer
    result = tam.explain(model, processor, chat, max_new_tokens=3)
    assert not np.isin(result.token_ids, markers).any()
    prompt = result.token_ids[: result.num_prompt_tokens]
    assert processor.tokenizer.decode(prompt).strip() == "Describe this image."


@pytest.mark.parametrize(
    "twin", ["tiny-internvl", "tiny-aya-vision", "tiny-llama4", "tiny-gemma3", "tiny-glm4v", "tiny-lfm2-vl"]
)
def test_a_layout_that_misses_a_vision_position_is_an_error_not_a_shifted_map(twin):
    model, processor = load_model(twin)
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(planted_chat((640, 400), (130, 120, 230, 280)))
    ids = prepared.inputs["input_ids"][0]
    image_token = int(model.config.image_token_id)
    positions = (ids == image_token).nonzero().flatten()
    ids[positions[-1]] = processor.tokenizer.pad_token_id  # one vision position the processor did not make
    with pytest.raises(ShapeError, match=rf"the processor gave {len(positions) - 1} .* tokens, but tam lays out"):
        adapter.layout(prepared)


def test_idefics3_tokens_per_tile_unlike_the_model_are_one_error_naming_the_setting():
    model, processor = load_model("tiny-idefics3")
    processor.image_seq_len = 9  # the model's 56-pixel tiles hold 4 x 4 tokens
    adapter = adapter_for(model, processor)
    message = r"gave 117 <image> tokens, but tam lays out the 13 tiles of 56 pixels, 4 x 4 each .*: 9 a tile\): 208"
    with pytest.raises(ShapeError, match=message):
        adapter.layout(adapter.prepare(planted_chat((640, 400), (130, 120, 230, 280))))


def test_idefics3_gets_one_bos_where_its_template_writes_it_and_its_tokenizer_adds_one():
    model, processor = load_model("tiny-idefics3")
    processor.tokenizer.add_bos_token = True  # as Llama 3's tokenizer, under Idefics3-8B-Llama3's template
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    own = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)
    ids = adapter_for(model, processor).prepare(chat).input_ids
    assert ids.tolist() == own["input_ids"][0] and (ids == processor.tokenizer.bos_token_id).sum() == 1


@pytest.mark.parametrize("name", ["tiny-idefics3", "tiny-smolvlm"])
def test_the_planted_pictures_are_tiled_three_ways(name):
    model, processor = load_model(name)
    tilings = []
    for size, box in PICTURES:
        chat = planted_chat(size, box)
        tiling = processor_tiling(processor, chat[0]["content"][0]["image"])
        layout = adapter_for(model, processor).layout(adapter_for(model, processor).prepare(chat))
        assert [tile.kind for tile in layout.tiles] == ["local"] * (tiling[0] * tiling[1]) + ["global"]
        tilings.append(tiling)
    assert len(set(tilings)) == 3, tilings  # wide, tall, square: each cut its own way


def test_idefics3_without_splitting_sees_one_tile_of_the_whole_picture():
    model, processor = load_model("tiny-idefics3")
    chat = planted_chat((300, 500), (40, 110, 200, 200))
    options = {"do_image_splitting": False}
    result = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs=options)
    assert processor_tiling(processor, chat[0]["content"][0]["image"], **options) == (0, 0)
    # 56-pixel tiles of 7-pixel patches: all read, 8 x 8 patches, 4 x 4 tokens after the 2 x 2 merge
    assert [(tile.box, tile.kind) for tile in result.layout.tiles] == [((0.0, 0.0, 300.0, 500.0), "local")]
    assert result.layout.grids == ((4, 4),)
    assert result.options["preprocessing"] == options


def test_smolvlm_longest_edge_option_cuts_fewer_tiles_that_still_find_the_rectangle():
    model, processor = load_model("tiny-smolvlm")
    box = (130, 120, 230, 280)
    chat = planted_chat((640, 400), box)
    options = {"size": {"longest_edge": 128}}
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2, processor_kwargs=options)
    # longest edge 128: 128 x 80, stretched to 128 x 128, 2 x 2 tiles of 64 and the global image
    assert processor_tiling(processor, chat[0]["content"][0]["image"], **options) == (2, 2)
    tiles = result.layout.tiles
    assert [tile.kind for tile in tiles] == ["local"] * 4 + ["global"]
    assert tiles[3].box == (320.0, 200.0, 320 + 320 * 63 / 64, 200 + 200 * 63 / 64)
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw"), result.seen_box()))
    left, top, right, bottom = box
    assert left < columns.mean() < right and top < rows.mean() < bottom


def test_smolvlm_tiles_are_the_processors_where_transformers_token_count_differs():
    model, processor = load_model("tiny-smolvlm")
    chat = planted_chat((1000, 600), (100, 100, 300, 300))
    options = {"size": {"longest_edge": 200}}
    # 200 x 120, then the width stretched to 256 and the height to 256 / (200 / 120) = 153, up to
    # 192: 3 rows x 4 columns, where get_number_of_image_patches rounds the 120 up to 2 rows
    assert processor_tiling(processor, chat[0]["content"][0]["image"], **options) == (3, 4)
    assert processor.image_processor.get_number_of_image_patches(600, 1000, options)[1:] == (2, 4)
    result = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs=options)
    assert [tile.kind for tile in result.layout.tiles] == ["local"] * 12 + ["global"]
    assert result.layout.tiles[11].box[:2] == (750.0, 400.0)


def test_smolvlm_video_frames_are_one_tile_each_and_light_their_own_rectangle():
    model, processor = load_model("tiny-smolvlm")
    boxes = [(40, 30, 120, 110), (200, 90, 280, 170)]  # the rectangle moves across a 320 x 200 video
    video = {"type": "video", "video": [planted((320, 200), box) for box in boxes], "fps": 1}
    chat = [{"role": "user", "content": [video, {"type": "text", "text": "Describe."}]}]
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2)
    # the video processor squares each frame to one 64-pixel tile, of which 7-pixel patches read 63
    assert result.layout.kind == "video" and result.layout.picture_sizes == ((200, 320),) * 2
    assert [tile.box for tile in result.layout.tiles] == [(0.0, 0.0, 320 * 63 / 64, 200 * 63 / 64)] * 2
    # every frame given is read, at the entry's 1 frame per second
    text = processor.tokenizer.decode(adapter_for(model, processor).prepare(chat).input_ids)
    assert "two frames" in text and "Frame from 00:00" in text and "Frame from 00:01" in text
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    for picture, (left, top, right, bottom) in enumerate(boxes):
        picture_map = result.picture_map(row, "raw", picture=picture)
        assert picture_map.shape == (200, 320)
        rows, columns = np.nonzero(standing_out(picture_map, result.seen_box(picture)))
        assert left < columns.mean() < right and top < rows.mean() < bottom, picture


def test_aya_vision_tiles_as_internvl_and_its_input_is_the_processors_own():
    model, processor = load_model("tiny-aya-vision")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    # AyaVisionProcessor tiles by default: the 640 x 400 picture on a 3 x 2 canvas plus the TILE_GLOBAL thumbnail
    assert [tile.kind for tile in result.layout.tiles] == ["local"] * 6 + ["global"]
    assert result.layout.tiles[4].box == (640 / 3, 200.0, 1280 / 3, 400.0)
    # the processor's own chat path (one <BOS_TOKEN>: the template writes it) gives the same input ids
    own = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    prepared = adapter_for(model, processor).prepare(chat)
    assert prepared.input_ids.tolist() == own[0]
    assert result.layout.num_tokens == prepared.input_ids.tolist().count(model.config.image_token_id)


def moving_rectangle_video(boxes, size=(480, 360)):
    """A chat about a video whose frames are :func:`planted` pictures, the rectangle at each of ``boxes`` in turn."""
    video = {"type": "video", "video": [planted(size, box) for box in boxes]}
    return [{"role": "user", "content": [video, {"type": "text", "text": "Go."}]}]


def test_llava_onevision_video_frames_each_light_their_own_rectangle():
    model, processor = load_model("tiny-llava-onevision")
    # the rectangle moves across a 480 x 360 video; it fills whole cells of the frames' coarse 4 x 4 grids
    boxes = [(120, 90, 240, 270), (360, 0, 480, 180)]
    result = tam.explain(make_local(model), processor, moving_rectangle_video(boxes), max_new_tokens=2)
    # the video processor stretches each frame to the tower's 112 pixels (8 x 8 patches of 14), the model pools each
    # frame to ceil(8 / 2) = 4 cells a side (apply_pooling), so each frame is a 4 x 4 grid over the frame whole
    assert result.layout.kind == "video" and result.layout.shape == (2, 4, 4)
    assert [(tile.picture, tile.box) for tile in result.layout.tiles] == [
        (0, (0.0, 0.0, 480.0, 360.0)),
        (1, (0.0, 0.0, 480.0, 360.0)),
    ]
    # the processor's own count of video tokens: the frames' cells and one newline after the video
    counted = processor._get_num_multimodal_tokens(video_sizes=[(2, 360, 480)]).num_video_tokens
    assert counted == [result.layout.num_tokens + 1]
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    for picture, (left, top, right, bottom) in enumerate(boxes):
        rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw", picture=picture), (0, 0, 480, 360)))
        assert left < columns.mean() < right and top < rows.mean() < bottom, picture


def test_llava_onevision_image_and_video_in_one_chat_in_the_templates_order():
    model, processor = load_model("tiny-llava-onevision")
    chat = moving_rectangle_video([(120, 90, 240, 270), (360, 0, 480, 180)])
    image_box = (130, 120, 230, 280)
    chat[0]["content"].insert(1, {"type": "image", "image": planted((640, 400), image_box)})
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2)
    # pictures in chat order (the video's two frames, then the image); the template writes the image's <image>
    # before the <video>, so the image's base view and any-resolution grid come first among the tokens
    assert [image.shape[:2] for image in result.images] == [(360, 480), (360, 480), (400, 640)]
    tiles = result.layout.tiles
    assert [(tile.picture, tile.kind) for tile in tiles] == [(2, "global"), (2, "local"), (0, "local"), (1, "local")]
    assert result.layout.grids[2:] == ((4, 4), (4, 4))
    rendered = processor.apply_chat_template(chat, add_generation_prompt=True)
    counted = processor._get_num_multimodal_tokens(image_sizes=[(400, 640)], video_sizes=[(2, 360, 480)])
    newlines = result.layout.grids[1][0] + 1  # one after each row of the any-resolution grid, one after the video
    assert counted.num_image_tokens[0] + counted.num_video_tokens[0] == result.layout.num_tokens + newlines
    assert rendered.index("<image>") < rendered.index("<video>")
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw", picture=2), result.seen_box(2)))
    left, top, right, bottom = image_box
    assert left < columns.mean() < right and top < rows.mean() < bottom


def test_molmo2_low_resolution_view_and_crops_canvas_where_its_processor_puts_them():
    model, processor = load_model("tiny-molmo2")
    box = (130, 120, 230, 280)
    chat = planted_chat((640, 400), box)
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2)
    # Molmo2ImageProcessor at Molmo2-4B's settings: the whole picture stretched to 378 pixels, 27 x 27 patches of 14
    # pooled 2 x 2 into 14 x 14 tokens (the patch grid padded by one at its right and bottom: 28 patches wide, so
    # the grid reaches 28 / 27 of the picture); crops of 378 pixels overlapping by 2 x 4 patches, windows of 19
    # patches: 640 x 400 on 2 x 2 crops, a canvas of 2 * 266 + 112 = 644 pixels a side, 46 patches, 23 tokens a side
    assert result.layout.grids == ((14, 14), (23, 23))
    assert [tile.kind for tile in result.layout.tiles] == ["global", "local"]
    boxes = [tile.box for tile in result.layout.tiles]
    np.testing.assert_allclose(boxes, [(0, 0, 640 * 28 / 27, 400 * 28 / 27), (0, 0, 640, 400)], rtol=1e-12)
    counted = processor._get_num_multimodal_tokens(image_sizes=[(400, 640)]).num_image_tokens[0]
    # the processor's count holds the views' start and end tokens and the <im_col> after each row: 14 + 23 rows
    assert counted == result.layout.num_tokens + 2 * 2 + 14 + 23
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    left, top, right, bottom = box
    for kind in ("global", "local"):  # each view alone finds it
        rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw", tiles=kind), result.seen_box()))
        assert left < columns.mean() < right and top < rows.mean() < bottom, kind
    # max_crops=2: 1 x 2 crops, a canvas of 266 + 112 = 378 x 644 pixels, 27 x 46 patches: 14 x 23 tokens, the
    # 27 patch rows padded by one at the bottom
    fewer = tam.explain(model, processor, chat, max_new_tokens=2, processor_kwargs={"max_crops": 2})
    assert fewer.layout.grids == ((14, 14), (14, 23))
    np.testing.assert_allclose(fewer.layout.tiles[1].box, (0, 0, 640, 400 * 28 / 27), rtol=1e-12)


def test_molmo2_video_frames_each_light_their_own_rectangle_and_images_with_a_video_are_refused():
    model, processor = load_model("tiny-molmo2")
    boxes = [(120, 90, 240, 270), (360, 0, 480, 180)]
    chat = moving_rectangle_video(boxes)
    chat[0]["content"][0]["fps"] = 1
    result = tam.explain(make_local(model), processor, chat, max_new_tokens=2)
    # Molmo2VideoProcessor: each frame stretched to 378 pixels, 27 x 27 patches pooled 3 x 3 into 9 x 9 tokens
    assert result.layout.kind == "video" and result.layout.shape == (2, 9, 9)
    text = processor.tokenizer.decode(adapter_for(model, processor).prepare(chat).input_ids)
    assert "0.0 <frame_start>" in text and "1.0 <frame_start>" in text  # every frame given, at the entry's fps
    raw = result.maps("raw")
    row = int(np.argmax(raw.max(axis=1) - raw.min(axis=1)))
    for picture, (left, top, right, bottom) in enumerate(boxes):
        rows, columns = np.nonzero(standing_out(result.picture_map(row, "raw", picture=picture), (0, 0, 480, 360)))
        assert left < columns.mean() < right and top < rows.mean() < bottom, picture
    chat[0]["content"].insert(0, {"type": "image", "image": planted((320, 200), (10, 10, 50, 50))})
    with pytest.raises(UnsupportedInputError, match="images or one video of a chat, got 1 images and 1 videos"):
        tam.explain(model, processor, chat, max_new_tokens=2)


def test_llama4_tiles_its_padded_canvas_and_its_passes_leave_no_hook():
    model, processor = load_model("tiny-llama4")
    chat = planted_chat((640, 400), (130, 120, 230, 280))
    result = tam.explain(model, processor, chat, max_new_tokens=2)
    tiles = result.layout.tiles
    # Llama4ImageProcessor with 112-pixel tiles, at most 16: the 336 x 560 canvas (3 rows of 5 tiles) fits the
    # picture by 336 / 400, so it is resized to 336 x int(640 * 0.84) = 537 and padded on the right; in the
    # picture's pixels the canvas is 560 * 640 / 537 wide, past the picture's right edge
    canvas_width = 560 * 640 / 537
    assert [tile.kind for tile in tiles] == ["local"] * 15 + ["global"]
    assert tiles[0].box == pytest.approx((0, 0, canvas_width / 5, 400 / 3))
    assert tiles[14].box == pytest.approx((canvas_width * 4 / 5, 800 / 3, canvas_width, 400))
    assert tiles[-1].box == (0.0, 0.0, 640.0, 400.0)
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(chat)
    ids = prepared.input_ids.tolist()
    # the tile separators stand among the patches but are text: 4 per row and one after each of the 3 rows
    separators = processor.tokenizer.convert_tokens_to_ids(["<|tile_x_separator|>", "<|tile_y_separator|>"])
    assert [ids.count(token) for token in separators] == [12, 3]
    assert result.layout.num_tokens == ids.count(model.config.image_token_id) == 16 * 16
    # transformers 5.24's forward needs the adapter's help; the help is gone after the pass
    inputs = {key: value.float() if value.is_floating_point() else value for key, value in prepared.inputs.items()}
    assert adapter.forward(**inputs).logits.shape[1] == len(ids)
    hooks = [hook for module in model.modules() for hook in module._forward_hooks.values()]
    assert not [hook for hook in hooks if hook.__module__.startswith("tam.")]  # transformers keeps its own


def test_lfm2_vl_tiles_a_large_picture_and_resizes_a_small_one_whole():
    model, processor = load_model("tiny-lfm2-vl")
    large = tam.explain(model, processor, planted_chat((640, 400), (130, 120, 230, 280)), max_new_tokens=2)
    # past the twin's budget (16 tokens, twice over): 3 x 2 tiles of 128 pixels, 4 x 4 tokens each, then the
    # thumbnail, resized within 16 tokens of 32 pixels: 400 / 3.95 and 640 / 3.95 floored to 96 x 160, 3 x 5 tokens
    assert large.layout.grids == ((4, 4),) * 6 + ((3, 5),)
    assert [tile.kind for tile in large.layout.tiles] == ["local"] * 6 + ["global"]
    assert large.layout.tiles[5].box == (1280 / 3, 200.0, 640.0, 400.0)
    # a 100 x 80 picture is resized whole to whole 32-pixel tokens: 80 -> 64, 100 -> 96, 2 x 3 tokens
    small = tam.explain(model, processor, planted_chat((100, 80), (10, 10, 40, 40)), max_new_tokens=2)
    assert small.layout.grids == ((2, 3),)
    assert [tile.box for tile in small.layout.tiles] == [(0.0, 0.0, 100.0, 80.0)]
