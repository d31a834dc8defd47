"""Several chats in one generate call give what each chat gives alone (tam.models.batching, tam.explain)."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

import tam
from tam.models import TWINS, adapter_for, batching, load_model
from tam.models.explain import explain_chats
from tests.test_models import QWEN_TWINS


def chat(picture, text):
    return [{"role": "user", "content": [{"type": "image", "image": picture}, {"type": "text", "text": text}]}]


def chats():
    """Pictures of three sizes and prompts of three lengths: every row of a batch is padded differently."""
    demo = Image.open("imgs/demo.jpg")
    return [
        chat(demo, "Describe this image."),
        chat(demo.resize((300, 90)), "What is in the picture? A dog runs on the grass."),
        chat(Image.open("imgs/frames/0000.jpg"), "Two people"),
    ]


@pytest.fixture(scope="module", params=list(TWINS))
def twin(request):
    return load_model(request.param)


def assert_same_result(batched, alone):
    np.testing.assert_array_equal(batched.token_ids, alone.token_ids)
    np.testing.assert_array_equal(batched.positions, alone.positions)
    assert batched.num_prompt_tokens == alone.num_prompt_tokens
    assert batched.layout.shape == alone.layout.shape
    assert batched.texts == alone.texts
    for picture, expected in zip(batched.images, alone.images, strict=True):
        np.testing.assert_array_equal(picture, expected)
    for method in tam.METHODS:
        ours, theirs = batched.maps_uint8(method).astype(int), alone.maps_uint8(method).astype(int)
        assert np.abs(ours - theirs).max() <= 1
        assert np.mean(ours == theirs) >= 0.999
    np.testing.assert_array_equal(batched.candidates.ids, alone.candidates.ids)


def test_a_batch_gives_each_chat_its_own_result(twin):
    model, processor = twin
    adapter = adapter_for(model, processor)
    lengths = [len(adapter.prepare(messages).input_ids) for messages in chats()]
    assert len(set(lengths)) >= 2  # rows left-padded (LLaVA-NeXT gives two of the pictures one token count)
    alone = [tam.explain(model, processor, messages, max_new_tokens=6) for messages in chats()]
    batched = tam.explain(model, processor, chats(), max_new_tokens=6)
    assert len(batched) == 3
    for ours, theirs in zip(batched, alone, strict=True):
        assert_same_result(ours, theirs)


@pytest.mark.parametrize("name", QWEN_TWINS)
def test_pictures_of_different_grids_share_a_batch(name):
    model, processor = load_model(name)
    results = tam.explain(model, processor, chats(), max_new_tokens=2)
    assert len({result.layout.shape for result in results}) == 3


def test_a_smolvlm_video_and_a_tiled_picture_share_a_batch():
    model, processor = load_model("tiny-smolvlm")
    frames = [Image.open(f"imgs/frames/{index:04d}.jpg") for index in range(3)]
    entry = {"type": "video", "video": frames, "fps": 1}
    video = [{"role": "user", "content": [entry, {"type": "text", "text": "Go."}]}]
    together = [video, chats()[0]]  # 3 one-tile frames, and the demo picture's tiles + global image
    alone = [tam.explain(model, processor, messages, max_new_tokens=4) for messages in together]
    assert len(alone[0].layout.tiles) == 3 < len(alone[1].layout.tiles)
    for ours, theirs in zip(tam.explain(model, processor, together, max_new_tokens=4), alone, strict=True):
        assert_same_result(ours, theirs)


@pytest.mark.parametrize("name", ["tiny-qwen2-vl", "tiny-llava-onevision"])
def test_a_video_chat_beside_picture_chats_gives_each_its_own_result(name):
    model, processor = load_model(name)
    frames = [Image.open(f"imgs/frames/{index:04d}.jpg") for index in range(2)]
    video = [{"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "Go."}]}]
    mixed = [chats()[0], video, chats()[1]]  # the processor gives the video chat other inputs than the pictures'
    alone = [tam.explain(model, processor, messages, max_new_tokens=3) for messages in mixed]
    for ours, theirs in zip(tam.explain(model, processor, mixed, max_new_tokens=3), alone, strict=True):
        assert_same_result(ours, theirs)


def test_molmo2_videos_share_a_batch_each_pooling_its_own_patches():
    model, processor = load_model("tiny-molmo2")
    frames = [Image.open(f"imgs/frames/{index:04d}.jpg") for index in range(4)]
    # a chat's pooling windows index its own patches: in a batch, the second chat's move past the first's
    together = [
        [
            {
                "role": "user",
                "content": [{"type": "video", "video": frames[:2], "fps": 1}, {"type": "text", "text": "Go."}],
            }
        ],
        [
            {
                "role": "user",
                "content": [{"type": "video", "video": frames[1:], "fps": 1}, {"type": "text", "text": "Why?"}],
            }
        ],
    ]
    alone = [tam.explain(model, processor, messages, max_new_tokens=4) for messages in together]
    for ours, theirs in zip(tam.explain(model, processor, together, max_new_tokens=4), alone, strict=True):
        assert_same_result(ours, theirs)


def test_llava_onevision_videos_share_a_batch_when_their_frames_are_as_many():
    model, processor = load_model("tiny-llava-onevision")
    frames = [Image.open(f"imgs/frames/{index:04d}.jpg") for index in range(4)]

    def video(clip):
        return [{"role": "user", "content": [{"type": "video", "video": clip}, {"type": "text", "text": "Go."}]}]

    together = [video(frames[:2]), video(frames[2:])]
    alone = [tam.explain(model, processor, messages, max_new_tokens=4) for messages in together]
    for ours, theirs in zip(tam.explain(model, processor, together, max_new_tokens=4), alone, strict=True):
        assert_same_result(ours, theirs)
    from tam.errors import TAMError

    # pixel_values_videos holds as many frames per video: a padded frame would be read as one
    with pytest.raises(TAMError, match=r"videos of \[2, 3\] frames cannot share a batch"):
        tam.explain(model, processor, [video(frames[:2]), video(frames[1:])], max_new_tokens=2)


# the answers of tiny-qwen2-vl, tiny-mistral3, tiny-qwen3.5-moe, tiny-llama4 and tiny-molmo2 to the three chats
# never differ
SAME_ANSWERS = ("tiny-qwen2-vl", "tiny-mistral3", "tiny-qwen3.5-moe", "tiny-llama4", "tiny-molmo2")
# tiny-lfm2-vl ends its answer to the third chat at its end of turn, after 2 tokens: the test needs 8 each
ENDS_EARLY = ("tiny-lfm2-vl",)


@pytest.mark.parametrize("name", [name for name in TWINS if name not in (*SAME_ANSWERS, *ENDS_EARLY)])
def test_rows_that_end_early_stop_at_their_end_of_sequence(name):
    model, processor = load_model(name)
    alone = [tam.explain(model, processor, messages, max_new_tokens=8) for messages in chats()]
    answers = [result.token_ids[result.answer_slice].tolist() for result in alone]

    def answer_length(answer, stop):
        return answer.index(stop) + 1 if stop in answer else len(answer)

    # an end-of-sequence token that ends the rows after different numbers of tokens
    stop = next(
        token
        for token in sorted({token for answer in answers for token in answer[1:]})
        if len({answer_length(answer, token) for answer in answers}) > 1
    )
    options = {"generate_kwargs": {"eos_token_id": stop}, "max_new_tokens": 8, "explain_end_of_turn": True}
    alone = [tam.explain(model, processor, messages, **options) for messages in chats()]
    batched = tam.explain(model, processor, chats(), **options)
    lengths = [len(result) - result.num_prompt_tokens for result in alone]
    assert lengths == [answer_length(answer, stop) for answer in answers] and len(set(lengths)) > 1
    for ours, theirs in zip(batched, alone, strict=True):
        assert_same_result(ours, theirs)


def test_an_earlier_layer_in_a_batch(twin):
    model, processor = twin
    alone = [tam.explain(model, processor, messages, max_new_tokens=4, layer=1) for messages in chats()]
    for ours, theirs in zip(tam.explain(model, processor, chats(), max_new_tokens=4, layer=1), alone, strict=True):
        assert_same_result(ours, theirs)


def test_only_the_layer_read_is_kept():
    model, processor = load_model("tiny-qwen2-vl")
    adapter = adapter_for(model, processor)
    output = adapter.generate(adapter.prepare(chats()[0]), 3, layer=-3)
    kept = [[states is not None for states in round_states] for round_states in output.hidden_states]
    assert kept == [[True, False, False]] * 3
    everything = adapter.generate(adapter.prepare(chats()[0]), 3)
    torch.testing.assert_close(output.hidden_states[1][0], everything.hidden_states[1][0], rtol=0, atol=0)


def count_generate_calls(monkeypatch, model, fail_above=None):
    """Record the batch size of every generate call; fail with out-of-memory above ``fail_above`` rows."""
    sizes = []
    generate = model.generate

    def counting(**inputs):
        sizes.append(len(inputs["input_ids"]))
        if fail_above is not None and sizes[-1] > fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return generate(**inputs)

    monkeypatch.setattr(model, "generate", counting)
    return sizes


def test_a_batch_that_would_not_fit_is_split_beforehand(monkeypatch, caplog):
    model, processor = load_model("tiny-qwen2-vl")
    alone = [tam.explain(model, processor, messages, max_new_tokens=4) for messages in chats()]
    adapter = adapter_for(model, processor)
    longest = max(len(adapter.prepare(messages).input_ids) for messages in chats())
    one_row = batching.adapter_generation_bytes(adapter, [longest], 4)
    monkeypatch.setattr(batching, "free_memory", lambda device: int(2.4 * one_row / batching.MEMORY_SHARE))
    sizes = count_generate_calls(monkeypatch, model)
    with caplog.at_level(logging.WARNING, logger="tam.models.explain"):
        batched = tam.explain(model, processor, chats(), max_new_tokens=4)
    assert sizes == [2, 1]
    assert "a batch size of 2 fits" in caplog.text
    for ours, theirs in zip(batched, alone, strict=True):
        assert_same_result(ours, theirs)


def test_a_batch_that_runs_out_of_memory_is_split_and_tried_again(monkeypatch, caplog):
    model, processor = load_model("tiny-qwen2-vl")
    alone = [tam.explain(model, processor, messages, max_new_tokens=4) for messages in chats()]
    sizes = count_generate_calls(monkeypatch, model, fail_above=1)
    with caplog.at_level(logging.WARNING, logger="tam.models.explain"):
        batched = tam.explain(model, processor, chats(), max_new_tokens=4)
    assert sizes == [3, 1, 2, 1, 1]
    assert "a batch of 3 chats ran out of memory" in caplog.text
    for ours, theirs in zip(batched, alone, strict=True):
        assert_same_result(ours, theirs)


def test_a_chat_that_fails_fails_alone(tmp_path):
    model, processor = load_model("tiny-qwen2-vl")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    messages = [chats()[0], chat(str(broken), "Describe this image."), chats()[2]]
    outcomes = explain_chats(model, processor, messages, max_new_tokens=3, batch_size=3)
    assert isinstance(outcomes[1], Exception) and not isinstance(outcomes[0], Exception)
    assert_same_result(outcomes[2], tam.explain(model, processor, chats()[2], max_new_tokens=3))
    with pytest.raises(type(outcomes[1])):
        tam.explain(model, processor, messages, max_new_tokens=3)


def test_batch_size_groups_the_chats(monkeypatch):
    model, processor = load_model("tiny-qwen2-vl")
    sizes = count_generate_calls(monkeypatch, model)
    results = tam.explain(model, processor, chats(), max_new_tokens=2, batch_size=2)
    assert sizes == [2, 1] and len(results) == 3
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        tam.explain(model, processor, chats(), batch_size=0)


def test_split_rows_drops_the_left_padding_and_what_follows_the_end():
    from types import SimpleNamespace

    eos = 9  # padding is 0
    # row 0: 3 input ids, answer 5 6 then end; row 1: 1 pad, 2 input ids, answer 7 8 9
    sequences = torch.tensor([[1, 2, 3, 5, 6, 9, 0], [0, 1, 2, 7, 8, 9, 9]])
    rounds = 4  # generated positions 3 .. 6
    first = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    later = [torch.full((2, 1, 2), float(step)) for step in range(1, rounds)]
    output = SimpleNamespace(
        sequences=sequences,
        hidden_states=[(None, first), *[(None, states) for states in later]],
        logits=[torch.full((2, 5), float(step)) for step in range(rounds)],
    )
    row0, row1 = batching.split_rows(output, pads=[0, 1], eos_token_ids=[eos])
    assert row0.tokens.tolist() == [1, 2, 3, 5, 6, 9] and row1.tokens.tolist() == [1, 2, 7, 8, 9]
    assert len(row0.hidden_states) == len(row0.logits) == 3 and len(row1.hidden_states) == len(row1.logits) == 3
    torch.testing.assert_close(row1.hidden_states[0][1], first[1:, 1:])  # the pad's state is gone
    assert row1.hidden_states[0][0] is None
    assert [float(states[1][0, 0, 0]) for states in row0.hidden_states[1:]] == [1.0, 2.0]
    assert [float(logits[0, 0]) for logits in row1.logits] == [0.0, 1.0, 2.0]


def test_collate_left_pads_token_inputs_and_joins_the_rest():
    from transformers import BatchFeature

    from tam.errors import TAMError
    from tam.models.base import PreparedInputs

    def prepared(ids, pixels):
        inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        return PreparedInputs(BatchFeature({**inputs, "pixel_values": pixels}), [], "", ["image"])

    short, long = prepared([5, 6], torch.zeros(4, 3)), prepared([7, 8, 9], torch.ones(2, 3))
    inputs, pads = batching.collate([short, long], pad_token_id=1)
    assert pads == [1, 0]
    assert inputs["input_ids"].tolist() == [[1, 5, 6], [7, 8, 9]]
    assert inputs["attention_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert inputs["pixel_values"].shape == (6, 3)
    odd = prepared([5], torch.zeros(1, 3))
    odd.inputs["video_metadata"] = ["a list"]
    with pytest.raises(TAMError, match="cannot batch the processor output 'video_metadata'"):
        batching.collate([odd, odd], pad_token_id=1)


def test_toy_scenes_of_different_caption_lengths_in_one_batch():
    from tam.toy.scenes import compose_scene

    model, processor = load_model("toy-shapes")
    prompt = "Write a one-sentence caption for this image:"
    scenes = [
        [("red", "circle", (124, 36), 20, 0.0), ("blue", "triangle", (40, 124), 24, 0.0)],
        [("green", "square", (126, 50), 20, 0.0), ("purple", "star", (54, 126), 26, 0.0)],
        [("black", "star", (124, 38), 26, 0.1)],
        [
            ("yellow", "circle", (36, 116), 20, 0.0),
            ("blue", "square", (40, 36), 20, 0.0),
            ("red", "star", (124, 120), 24, 0.0),
        ],
    ]
    messages = [chat(Image.fromarray(compose_scene(shapes).image), prompt) for shapes in scenes]
    alone = [tam.explain(model, processor, one, max_new_tokens=24) for one in messages]
    assert len({len(result) for result in alone}) >= 3  # the rows end after different numbers of tokens
    for ours, theirs in zip(tam.explain(model, processor, messages, max_new_tokens=24), alone, strict=True):
        assert_same_result(ours, theirs)


def test_generation_progress_counts_the_rounds_of_a_batch(monkeypatch):
    import tam.models.explain

    bars = []

    class Recorded(tam.models.explain.GenerationProgress):
        def __init__(self, *args):
            super().__init__(*args)
            bars.append(self)

    monkeypatch.setattr(tam.models.explain, "GenerationProgress", Recorded)
    model, processor = load_model("tiny-qwen2-vl")
    results = tam.explain(model, processor, chats(), max_new_tokens=4, progress=True)
    longest = max(len(result.token_ids) - result.num_prompt_tokens for result in results)
    (bar,) = bars  # one generate call, one bar
    assert bar.bar.desc == "generating 3 chats" and bar.bar.total == 4
    assert bar.bar.n == longest == 4  # rounds, not tokens of every row (that would be 12)


def test_model_methods_in_a_batch_equal_those_of_one_chat():
    model, processor = load_model("tiny-qwen2.5-vl")
    methods = ["lens@1", "attention"]
    alone = [tam.explain(model, processor, messages, max_new_tokens=4, methods=methods) for messages in chats()]
    batched = tam.explain(model, processor, chats(), max_new_tokens=4, methods=methods)
    for ours, theirs in zip(batched, alone, strict=True):
        assert_same_result(ours, theirs)
        for method in methods:
            difference = np.abs(ours.maps_uint8(method).astype(int) - theirs.maps_uint8(method).astype(int))
            assert difference.max() <= 1 and np.mean(difference == 0) >= 0.999, method


def test_gemma3_pan_and_scan_chats_of_different_crop_counts_batch():
    model, processor = load_model("tiny-gemma3")
    options = {"do_pan_and_scan": True}
    alone = [
        tam.explain(model, processor, messages, max_new_tokens=4, processor_kwargs=options) for messages in chats()
    ]
    # the 1440 x 1080 demo picture is cut in two crops; the other two are too small to cut (crops under 256 pixels)
    assert [len(result.layout.tiles) for result in alone] == [3, 1, 1]
    batched = tam.explain(model, processor, chats(), max_new_tokens=4, processor_kwargs=options)
    for ours, theirs in zip(batched, alone, strict=True):
        assert_same_result(ours, theirs)
