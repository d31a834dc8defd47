from dataclasses import replace

import numpy as np
import pytest
import torch

import tam
from tam.causal import estimated_causal_inference
from tam.errors import ImageFileError, NonFiniteError, ShapeError, SpanError, VocabularyError
from tam.filters import rank_gaussian_filter
from tam.normalize import normalize_jointly
from tam.result import METHODS, TokenActivationResult
from tam.testing import make_generation

SHAPES = {"image": (4, 5), "video": (3, 4, 5), "images": [(4, 5), (3, 3)]}


def compat_maps(generation):
    """Run the reference-compatible call round by round, as the seed README does."""
    logits = generation.logits()
    records = []
    maps = [
        tam.TAM(
            generation.tokens,
            generation.vision_shape,
            logits,
            generation.special_ids,
            None,
            generation.processor,
            "",
            r,
            records,
            True,
        )
        for r in range(len(logits))
    ]
    flat = [np.concatenate([g.ravel() for g in m]) if isinstance(m, list) else m.ravel() for m in maps]
    return maps, np.stack(flat), records


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compat_equals_explain_generation_in_reference_mode(kind, seed):
    generation = make_generation(SHAPES[kind], seed=seed, word_pool=8)
    maps, flat, records = compat_maps(generation)
    result = generation.explain(round0="reference")
    num_prompt = result.num_prompt_tokens
    ours = result.maps_uint8("tam")
    # round 0 returns the first prompt slot's map; round r the map of answer token r
    expected = np.concatenate([ours[:1], ours[num_prompt + 1 :]])
    assert np.abs(flat.astype(int) - expected.astype(int)).max() <= 1
    assert np.mean(flat == expected) >= 0.999
    # the records hold the raw maps of every explained token, in order
    np.testing.assert_allclose(np.stack(records), result.raw_maps, rtol=1e-5, atol=1e-6)
    shapes = [m.shape for m in maps[0]] if isinstance(maps[0], list) else maps[0].shape
    assert shapes == {"image": (4, 5), "video": (3, 4, 5), "images": [(4, 5), (3, 3)]}[kind]
    assert {m.dtype for m in (maps[0] if isinstance(maps[0], list) else [maps[0]])} == {np.dtype(np.uint8)}


def test_same_word_rule_keeps_earlier_repeats_out_of_the_interference():
    generation = make_generation((4, 5), seed=3, word_pool=4, num_answer=12)
    result = generation.explain()
    ids, token = result.token_ids, 14  # answer token 8: word 11, which tokens 10, 11 and 13 were too
    earlier = np.arange(len(ids)) < token
    assert ids[token] == 11 and np.flatnonzero(earlier & (ids == 11)).tolist() == [10, 11, 13]

    def eci(include):
        current, scores = result.raw_maps[token : token + 1], result.context_scores[token : token + 1]
        return estimated_causal_inference(current, result.raw_maps, scores, include[None])[0][0]

    np.testing.assert_allclose(result.eci_maps[token], eci(earlier & (ids != ids[token])), rtol=1e-5, atol=1e-6)
    # without the rule the repeats count as interference, and the map loses a quarter of its peak more
    assert np.abs(result.eci_maps[token] - eci(earlier)).max() > 0.25 * result.raw_maps[token].max()


def test_own_mode_differs_only_in_the_two_round0_classes():
    generation = make_generation((4, 5), seed=4)
    own, reference = generation.explain(), generation.explain(round0="reference")
    differs = np.flatnonzero(own.class_ids != reference.class_ids)
    assert set(differs) <= {0, own.num_prompt_tokens}
    np.testing.assert_array_equal(own.class_ids, own.token_ids)
    assert reference.class_ids[own.num_prompt_tokens] == generation.tokens[own.positions[own.num_prompt_tokens] - 1]
    np.testing.assert_allclose(
        own.raw_maps[1 : own.num_prompt_tokens], reference.raw_maps[1 : own.num_prompt_tokens], rtol=1e-5, atol=1e-6
    )


def test_raw_map_is_the_clipped_logit_column():
    generation = make_generation((4, 5), seed=5)
    result = generation.explain()
    hidden = torch.cat([h[0] for h in generation.hidden_states])
    image_pad = generation.tokens[generation.tokens.index(generation.special_ids["img_id"][0]) + 1]
    vision = torch.tensor(generation.tokens[:-1]) == image_pad
    logits = generation.lm_head(hidden).detach()
    last = len(result) - 1
    expected = logits[vision][:, result.class_ids[last]].clamp(min=0).numpy()
    np.testing.assert_allclose(result.raw_maps[last], expected, rtol=1e-5, atol=1e-6)


def test_ablations_come_from_one_result():
    result = make_generation((4, 5), seed=6).explain()
    maps = {method: result.maps(method) for method in METHODS}
    for method, value in maps.items():
        assert value.shape == result.raw_maps.shape
        assert np.all(np.isfinite(value)) and value.min() >= 0 and value.max() <= 1, method
    # raw and ECI maps are normalised jointly with the text; rgf and TAM are them filtered grid by grid
    text, mask = result.context_scores, result.context_mask
    np.testing.assert_allclose(maps["raw"], normalize_jointly(result.raw_maps, text, mask)[0], rtol=1e-12)
    np.testing.assert_allclose(maps["eci"], normalize_jointly(result.eci_maps, text, mask)[0], rtol=1e-12)
    for filtered, unfiltered in (("rgf", "raw"), ("tam", "eci")):
        grid = maps[unfiltered].reshape(-1, 4, 5)  # one 4 x 5 image: the layout is row-major (tests/test_layout.py)
        expected = rank_gaussian_filter(grid, 3).reshape(len(result), -1)
        np.testing.assert_allclose(maps[filtered], expected, rtol=1e-12, atol=1e-15)
    assert np.abs(maps["raw"] - maps["eci"]).max() > 0.1 and np.abs(maps["raw"] - maps["rgf"]).max() > 0.1
    grids = result.grids(3, "raw")
    assert len(grids) == 1 and grids[0].shape == (4, 5)
    assert result.text_relevance(result.num_prompt_tokens + 2).shape == (result.num_prompt_tokens + 2,)


def test_zero_activations_give_zero_maps_not_nan():
    generation = make_generation((4, 5), seed=7)
    generation.hidden_states = [torch.zeros_like(h) for h in generation.hidden_states]
    result = generation.explain()
    for method in METHODS:
        assert np.all(result.maps(method) == 0)


def test_candidates_from_hidden_states_and_from_logits():
    generation = make_generation((4, 5), seed=8)
    result = generation.explain(vocab_chunk=100)
    candidates = result.candidates
    hidden = torch.cat([h[0] for h in generation.hidden_states])
    logits = generation.lm_head(hidden).detach()
    predicting = result.positions - 1
    probabilities = logits[predicting].softmax(-1)
    expected_probs, expected_ids = probabilities.topk(3)
    np.testing.assert_array_equal(candidates.ids, expected_ids.numpy())
    np.testing.assert_allclose(candidates.probabilities, expected_probs.numpy(), rtol=1e-4)
    answer_logits = [logits[p : p + 1] for p in predicting[result.num_prompt_tokens :]]
    from_logits = generation.explain(logits=answer_logits).candidates
    np.testing.assert_array_equal(from_logits.ids, candidates.ids)
    np.testing.assert_allclose(from_logits.probabilities, candidates.probabilities, rtol=1e-4)


def test_full_layer_tuples_and_logit_lens():
    generation = make_generation((4, 5), seed=9)
    tuples = [(h * 3, h) for h in generation.hidden_states]
    last = generation.explain()
    picked = tam.explain_generation(
        generation.tokens, tuples, generation.lm_head, generation.special_ids, generation.vision_shape, layer=-1
    )
    np.testing.assert_allclose(picked.raw_maps, last.raw_maps)
    lens = tam.explain_generation(
        generation.tokens,
        tuples,
        generation.lm_head,
        generation.special_ids,
        generation.vision_shape,
        layer=0,
        final_norm=lambda x: x / 3,
    )
    np.testing.assert_allclose(lens.raw_maps, last.raw_maps, rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError, match="layer 2 is out of range"):
        tam.explain_generation(
            generation.tokens, tuples, generation.lm_head, generation.special_ids, generation.vision_shape, layer=2
        )


def test_precomputed_spans_and_tensor_tokens():
    generation = make_generation((4, 5), seed=10)
    by_markers = generation.explain()
    spans = tam.locate_spans(generation.tokens, generation.special_ids)
    by_spans = tam.explain_generation(
        torch.tensor([generation.tokens]), generation.hidden_states, generation.lm_head, spans, generation.vision_shape
    )
    np.testing.assert_allclose(by_spans.maps(), by_markers.maps())


def test_texts_from_a_tokenizer():
    generation = make_generation((4, 5), seed=11)
    result = generation.explain(tokenizer=generation.processor)
    assert result.texts == [f"<{i}>" for i in result.token_ids] == result.pieces


def test_images_are_checked_against_the_grids():
    generation = make_generation([(4, 5), (3, 3)], seed=15)
    images = [np.zeros((8, 10, 3), np.uint8), np.ones((6, 6, 3), np.uint8)]
    assert generation.explain(images=images).images[1].shape == (6, 6, 3)
    with pytest.raises(ShapeError, match="got 1 images for the 2 pictures"):
        generation.explain(images=images[:1])
    grey, floats = np.full((6, 6), 7, np.uint8), torch.full((3, 6, 6), 0.5)  # a grey array, a CxHxW float tensor
    as_rgb = generation.explain(images=[grey, floats]).images
    assert [image.dtype for image in as_rgb] == [np.uint8] * 2
    np.testing.assert_array_equal(as_rgb[0], np.full((6, 6, 3), 7))
    np.testing.assert_array_equal(as_rgb[1], np.full((6, 6, 3), 128))
    with pytest.raises(ImageFileError, match=r"an image array must have shape \(H, W\), \(H, W, C\) or \(C, H, W\)"):
        generation.explain(images=[images[0], np.zeros((6, 6, 2), np.uint8)])


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda g: g.special_ids.update(answer_id=[[1, 2, 3], -1]), SpanError, r"answer_id start \[1, 2, 3\]"),
        (lambda g: setattr(g, "vision_shape", (5, 5)), ShapeError, r"vision span holds 20 tokens.*\(5, 5\) needs 25"),
        (
            lambda g: setattr(g, "lm_head", torch.nn.Linear(16, 512)),
            ShapeError,
            "hidden size 32 does not match lm_head",
        ),
        (lambda g: setattr(g, "hidden_states", g.hidden_states[:-2]), ShapeError, "hidden states cover"),
    ],
)
def test_bad_input_names_the_problem(change, error, message):
    generation = make_generation((4, 5), seed=12)
    change(generation)
    with pytest.raises(error, match=message):
        generation.explain()


def test_empty_answer():
    generation = make_generation((4, 5), seed=13, num_answer=1)
    tokens = generation.tokens[:-1]
    with pytest.raises(SpanError, match="the answer is empty"):
        tam.explain_generation(
            tokens,
            torch.cat([h[0] for h in generation.hidden_states])[:-1],
            generation.lm_head,
            generation.special_ids,
            generation.vision_shape,
        )


def test_save_and_load_round_trip(tmp_path):
    generation = make_generation([(4, 5), (3, 3)], seed=14)
    images = [np.full((8, 10, 3), 7, np.uint8), np.zeros((6, 6, 3), np.uint8)]
    result = generation.explain(tokenizer=generation.processor, images=images)
    target = result.save(tmp_path / "result")
    loaded = TokenActivationResult.load(target)
    for method in METHODS:
        np.testing.assert_allclose(loaded.maps(method), result.maps(method))
    np.testing.assert_array_equal(loaded.candidates.ids, result.candidates.ids)
    assert loaded.texts == result.texts and loaded.pieces == result.pieces and loaded.layout == result.layout
    np.testing.assert_array_equal(loaded.images[0], images[0])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        result.save(target)
    result.save(target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]  # nothing left beside it


def test_thread_limits_are_restored_after_the_call():
    from threadpoolctl import threadpool_info

    before = ([pool["num_threads"] for pool in threadpool_info()], torch.get_num_threads())
    result = make_generation((4, 5), seed=16).explain()
    result.maps("raw")
    assert ([pool["num_threads"] for pool in threadpool_info()], torch.get_num_threads()) == before


def test_the_method_runs_single_threaded_even_when_torch_is_imported_after_the_first_call():
    import subprocess
    import sys

    code = (
        "import numpy\n"
        "from tam._threads import single_threaded\n"
        "from threadpoolctl import threadpool_info\n"
        "inside = single_threaded(lambda: [pool['num_threads'] for pool in threadpool_info()])\n"
        "print(inside())\n"
        "import torch\n"
        "print(inside(), single_threaded(torch.get_num_threads)())\n"
    )
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert set(eval(lines[0])) == {1}
    pools, torch_threads = lines[1].rsplit(" ", 1)
    assert len(eval(pools)) > len(eval(lines[0])) and set(eval(pools)) == {1} and torch_threads == "1"  # torch's own


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_hidden_states_name_the_token_position(value):
    generation = make_generation((4, 5), seed=16)
    generation.hidden_states[0][0, 7, 3] = value  # position 7 of the input
    with pytest.raises(NonFiniteError, match=r"hidden state at token position 7 \(id \d+\) holds NaN or infinity"):
        generation.explain()


def test_token_ids_outside_the_vocabulary_name_the_token_position():
    generation = make_generation((4, 5), seed=17, vocab_size=512)
    generation.tokens[-2] = 600
    position = len(generation.tokens) - 2
    with pytest.raises(VocabularyError, match=f"token id 600 at token position {position} is outside the vocabulary"):
        generation.explain()


def test_answer_end_leaves_the_closing_tokens_out():
    generation = make_generation((4, 5), seed=17)
    spans = tam.locate_spans(generation.tokens, generation.special_ids)
    full = generation.explain()

    def explained(answer_end):
        return tam.explain_generation(
            generation.tokens,
            generation.hidden_states,
            generation.lm_head,
            replace(spans, answer_end=answer_end),
            generation.vision_shape,
        )

    cut = explained(len(generation.tokens) - 1)
    assert len(cut) == len(full) - 1
    np.testing.assert_allclose(cut.maps("tam"), full.maps("tam")[:-1], atol=1e-6)
    with pytest.raises(SpanError, match="the answer ends at position 999, past the sequence's"):
        explained(999)
    with pytest.raises(SpanError, match="the answer is empty"):
        explained(spans.answer_start)


def test_a_token_with_no_positive_score_in_the_picture_has_an_all_zero_map_never_nan():
    from tam.metrics.overlap import otsu_threshold

    generation = make_generation((4, 5), num_prompt=4, num_answer=5, seed=3)
    with torch.no_grad():  # every activation h . W[c] < 0: positive states, negative weights
        generation.hidden_states = [states.abs() + 0.1 for states in generation.hidden_states]
        generation.lm_head.weight.copy_(-generation.lm_head.weight.abs() - 0.01)
    result = generation.explain()
    for method in METHODS:
        maps = result.maps(method)
        assert np.isfinite(maps).all() and not maps.any(), method
    assert all(np.isfinite(result.text_relevance(index)).all() for index in range(len(result)))
    _, foreground = otsu_threshold((result.maps("tam")[0].reshape(4, 5) * 255).astype(np.uint8))
    assert not foreground.any()  # Obj-IoU counts no pixel of such a map
