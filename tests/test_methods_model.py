"""The methods that read the model: hand-computed values, every tiny twin, toy-shapes, and their errors."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import tam
from tam.methods import ModelMethod, UnavailableMethodError, method_names
from tam.methods.forward import ModelRun
from tam.models import TWINS, adapter_for, load_model
from tam.result import TokenActivationResult

IMAGE = "imgs/demo.jpg"
FRAMES = [f"imgs/frames/{index:04d}.jpg" for index in range(4)]
BASELINES = ["attention", "attention@1", "gradcam", "gradcam@0", "dexar", "lens@1"]  # toy-shapes


def chat(*entries, text="Describe this image."):
    return [{"role": "user", "content": [*entries, {"type": "text", "text": text}]}]


def image(path=IMAGE):
    return {"type": "image", "image": path}


def tam_hooks(model):
    """Hooks of tam's left on the model (transformers puts its own on at the first generation)."""
    hooks = [hook for m in model.modules() for hook in [*m._forward_hooks.values(), *m._forward_pre_hooks.values()]]
    return [hook for hook in hooks if getattr(hook, "__module__", "").startswith("tam.")]


def assert_maps_fit(result):
    count, vision = len(result), result.layout.num_tokens
    for name in result.methods:
        maps = result.processed(name)
        assert maps.vision.shape == (count, vision) and maps.text.shape == (count, count), name
        assert np.isfinite(maps.vision).all() and maps.vision.min() >= 0 and maps.vision.max() <= 1, name
        assert len(result.grids(0, name)) == len(result.layout.grids)


HYBRID_TWINS = ["tiny-qwen3.5", "tiny-qwen3.5-moe"]  # softmax attention in some layers only


def every_model_method(adapter):
    """Every registered model method at its default layer, and each layered one at a low layer it can read."""
    low = {"attention": adapter.attention_layers[0], "gradcam": 0, "lens": 1}
    defaults = method_names(ModelMethod)
    return [*defaults, *(f"{name}@{low[name]}" for name in defaults if name in low)]


@pytest.fixture(scope="module")
def small_picture(tmp_path_factory):
    """The demo picture at 128 x 96: the same 4:3 frame, fewer tokens and tiles to replay."""
    path = tmp_path_factory.mktemp("picture") / "small.png"
    Image.open(IMAGE).convert("RGB").resize((128, 96)).save(path)
    return str(path)


FEWEST_TOKENS = {"tiny-gemma4": {"max_soft_tokens": 70}}  # its smallest budget: 63 tokens to replay, not 266


@pytest.fixture(scope="module", params=list(TWINS))
def explained(request, small_picture):
    """One twin explained once with every model method; the kernel it ran before, and the warnings."""
    model, processor = load_model(request.param)
    kernel = model.config._attn_implementation
    methods = every_model_method(adapter_for(model, processor))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tam.explain(
            model,
            processor,
            chat(image(small_picture)),
            max_new_tokens=3,
            methods=methods,
            processor_kwargs=FEWEST_TOKENS.get(request.param),
        )
    return request.param, model, processor, kernel, methods, result, [str(warning.message) for warning in caught]


def test_every_model_method_gives_maps_on_every_twins_layout(explained):
    name, model, processor, kernel, methods, result, _ = explained
    assert {"attention", "gradcam", "dexar", "lens"} <= set(methods)  # the registry's model methods
    assert result.methods == (*tam.METHODS, *methods)
    assert 2 <= len(result) - result.num_prompt_tokens <= 3
    assert_maps_fit(result)
    for method in methods:
        # min-max scaled per token, so 1 somewhere unless flat; the lens is TAM's maps, normalised with the text
        assert result.maps(method).max() == 1.0 or method.startswith("lens") and result.maps(method).max() > 0, method
        for index in (0, len(result) - 1):
            drawn = result.picture_map(index, method)
            assert drawn.shape == (96, 128) and np.isfinite(drawn).all(), method
            assert drawn.min() >= 0 and drawn.max() <= 1, method


def test_every_model_method_leaves_the_twin_as_it_was(explained):
    name, model, processor, kernel, methods, result, _ = explained
    assert model.config._attn_implementation == kernel
    assert not tam_hooks(model) and all(p.requires_grad for p in model.parameters())


def test_every_model_methods_maps_are_saved_and_loaded(explained, tmp_path):
    name, model, processor, kernel, methods, result, _ = explained
    loaded = TokenActivationResult.load(result.save(tmp_path / "r"))
    assert loaded.methods == result.methods
    for method in methods:
        np.testing.assert_array_equal(loaded.processed(method).vision, result.processed(method).vision)
        np.testing.assert_array_equal(loaded.processed(method).text, result.processed(method).text)


def replayed_run(adapter, prepared, result) -> ModelRun:
    """The prepared chat followed by the result's answer, as one sequence the model can be run on again."""
    return ModelRun(
        adapter=adapter,
        prepared=prepared,
        tokens=np.concatenate([prepared.inputs["input_ids"][0].numpy(), result.token_ids[result.answer_slice]]),
        vision=None,
        positions=result.positions,
        num_prompt_tokens=result.num_prompt_tokens,
        class_ids=result.class_ids,
        context_mask=None,
        explain_at=None,
    )


def test_the_scores_are_the_twins_own_logits_of_the_explained_tokens(explained, small_picture):
    name, model, processor, kernel, methods, result, _ = explained
    adapter = adapter_for(model, processor, FEWEST_TOKENS.get(name))
    run = replayed_run(adapter, adapter.prepare(chat(image(small_picture))), result)
    inputs = run.sequence_inputs()
    with torch.no_grad():  # the model's forward (Llama 4's with the adapter's fix of transformers 5.24's output)
        logits = adapter.forward(**inputs).logits[0, torch.as_tensor(run.slots), torch.as_tensor(result.class_ids)]
        final = adapter.run_body(**inputs).last_hidden_state[0]
    np.testing.assert_allclose(np.diag(result.context_scores), logits.clamp(min=0).float(), rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # the logits Grad-CAM and DEX-AR differentiate
        np.testing.assert_allclose(run.token_logits(final).float(), logits.float(), rtol=1e-4, atol=1e-5)


def softmax_layers(model):
    """Decoder layers (1..n) the config types as softmax attention (every layer when it types none)."""
    text = model.config.get_text_config()
    kinds = getattr(text, "layer_types", None) or ["full_attention"] * text.num_hidden_layers
    return [index + 1 for index, kind in enumerate(kinds) if kind not in ("linear_attention", "conv")]  # LFM2: conv


def test_attention_baselines_read_only_layers_with_softmax_attention_and_say_so(explained):
    name, model, processor, kernel, methods, result, caught = explained
    attended = softmax_layers(model)
    depth = model.config.get_text_config().num_hidden_layers
    dexar_notes = [message for message in caught if message.startswith("dexar sums over")]
    if len(attended) == depth:
        assert not dexar_notes
        return
    layers = ", ".join(map(str, attended))
    assert dexar_notes == [
        f"dexar sums over the {len(attended)} of {depth} decoder layers of {adapter_for(model, processor).family} "
        f"that have softmax attention ({layers}); the others have no attention weights"
    ]
    other = next(index for index in range(1, depth + 1) if index not in attended)
    with pytest.raises(
        UnavailableMethodError,
        match=rf"^attention@{other}: decoder layer {other} of .* has no softmax attention, so no attention "
        rf"weights; the layers that have them: {layers} \(e.g. attention@{attended[-1]}\)$",
    ):
        tam.explain(model, processor, chat(image()), max_new_tokens=2, methods=[f"attention@{other}"])


def test_baselines_on_several_pictures_and_a_video_follow_the_layout():
    model, processor = load_model("tiny-qwen3-vl")
    messages = chat(image(), {"type": "video", "video": FRAMES}, text="Compare.")
    result = tam.explain(model, processor, messages, max_new_tokens=2, methods=["attention", "gradcam", "dexar"])
    assert len(result.layout.grids) == 3
    assert_maps_fit(result)


def test_baselines_on_toy_shapes():
    model, processor = load_model("toy-shapes")
    messages = chat(image("imgs/toy-shapes.jpg"))
    result = tam.explain(model, processor, messages, max_new_tokens=4, methods=BASELINES)
    assert_maps_fit(result)


@pytest.fixture(scope="module")
def llava():
    """The LLaVA twin with eager attention, explained with attention and Grad-CAM, and its replayed pass."""
    model, processor = load_model("tiny-llava")
    model.set_attn_implementation("eager")
    methods = ["attention@1", "gradcam@1", "dexar"]
    result = tam.explain(model, processor, chat(image()), max_new_tokens=4, methods=methods)
    adapter = adapter_for(model, processor)
    prepared = adapter.prepare(chat(image()))
    tokens = torch.cat([prepared.inputs["input_ids"][0], torch.as_tensor(result.token_ids[result.answer_slice])])
    inputs = {
        "input_ids": tokens[None],
        "attention_mask": torch.ones(1, len(tokens), dtype=torch.long),
        "pixel_values": prepared.inputs["pixel_values"],
    }
    vision = np.flatnonzero(tokens.numpy() == model.config.image_token_id)
    slots = result.positions.copy()
    slots[result.num_prompt_tokens :] -= 1
    return model, result, inputs, vision, slots


def rows01(values):
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(1, keepdims=True), values.max(1, keepdims=True)
    return (values - low) / (high - low)


def test_the_replayed_sequence_predicts_the_generated_answer(llava):
    model, result, inputs, vision, slots = llava
    with torch.no_grad():
        logits = model(**inputs).logits[0]
    answer = slice(result.num_prompt_tokens, len(result))
    np.testing.assert_array_equal(logits[slots[answer]].argmax(-1).numpy(), result.token_ids[answer])


def test_attention_maps_equal_the_mean_head_attention_of_the_layer(llava):
    model, result, inputs, vision, slots = llava
    with torch.no_grad():
        attentions = model(**inputs, output_attentions=True).attentions
    rows = attentions[0][0].mean(0)[slots].numpy()  # layer 1 is the first decoder layer
    np.testing.assert_allclose(result.maps("attention@1"), rows01(rows[:, vision]), atol=1e-5)


def test_gradcam_maps_equal_pooled_gradients_times_the_states(llava):
    model, result, inputs, vision, slots = llava
    entering = []  # the states entering decoder layer 2 (hidden-state numbering 1), kept in the graph
    layer = model.model.language_model.layers[1]
    handle = layer.register_forward_pre_hook(lambda module, args, kwargs: entering.append(args[0]), with_kwargs=True)
    try:
        logits = model(**inputs).logits[0]
    finally:
        handle.remove()
    states = entering[0][0]
    expected = []
    for slot, class_id in zip(slots, result.class_ids, strict=True):
        (gradient,) = torch.autograd.grad(logits[slot, class_id], entering[0], retain_graph=True)
        gradient = gradient[0]
        weights = gradient[vision].mean(0)
        expected.append(torch.relu(states[vision] @ weights).detach().numpy())
    np.testing.assert_allclose(result.maps("gradcam@1"), rows01(np.stack(expected)), atol=1e-4)


def test_dexar_maps_equal_head_weighted_gradient_times_attention_summed_over_layers(llava):
    model, result, inputs, vision, slots = llava
    output = model(**inputs, output_attentions=True)
    attentions = output.attentions  # per layer (1, heads, L, L), in the graph
    expected = []
    for slot, class_id in zip(slots, result.class_ids, strict=True):
        gradients = torch.autograd.grad(output.logits[0, slot, class_id], attentions, retain_graph=True)
        total = 0.0
        for attention, gradient in zip(attentions, gradients, strict=True):
            rows, grads = attention[0, :, slot].detach().numpy(), gradient[0, :, slot].numpy()  # (heads, L)
            weights = rows[:, vision].sum(1)
            total = total + (weights[:, None] * np.maximum(grads * rows, 0)).sum(0) / weights.sum()
        expected.append(total[vision])
    np.testing.assert_allclose(result.maps("dexar"), rows01(np.stack(expected)), atol=1e-4)


def test_gradcam_of_the_last_layers_output_is_refused_before_generating():
    model, processor = load_model("tiny-llava")
    with pytest.raises(
        UnavailableMethodError,
        match=r"gradcam@-1: layer -1 is out of range; LLaVA-1.5 has 2 decoder layers and gradcam@-1 reads layers 0 to",
    ):
        tam.explain(model, processor, chat(image()), max_new_tokens=2, methods=["gradcam@-1"])


def test_mask_maps_are_refused_by_explain():
    model, processor = load_model("tiny-llava")
    with pytest.raises(UnavailableMethodError, match="'perfect' is made from a segmentation mask and only eval.py"):
        tam.explain(model, processor, chat(image()), max_new_tokens=2, methods=["perfect"])


def test_a_kernel_that_hides_the_weights_and_cannot_switch_names_the_fix(monkeypatch):
    model, processor = load_model("tiny-qwen2-vl")

    def refuse(implementation):
        raise ValueError("this build has no eager attention")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    with pytest.raises(
        UnavailableMethodError,
        match="runs 'sdpa' attention, which hides them, and cannot switch .* load it with attn_implementation='eager'",
    ):
        tam.explain(model, processor, chat(image()), max_new_tokens=2, methods=["attention"])
    monkeypatch.setattr(model, "set_attn_implementation", lambda implementation: None)  # claims to switch, does not
    with pytest.raises(UnavailableMethodError, match="returned none; load the model with attn_implementation='eager'"):
        tam.explain(model, processor, chat(image()), max_new_tokens=2, methods=["dexar"])
    assert not tam_hooks(model) and all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", HYBRID_TWINS)
def test_attention_baselines_on_a_hybrid_model_read_exactly_its_attention_layers(name, monkeypatch):
    import tam.methods.dexar

    model, processor = load_model(name)
    kinds = model.config.text_config.layer_types
    attended = [index + 1 for index, kind in enumerate(kinds) if kind == "full_attention"]  # hidden-state numbering
    assert attended == [4, 8]  # the twin: Gated DeltaNet with softmax attention every fourth layer, as the checkpoints
    decoder = adapter_for(model, processor).decoder_layers
    read = []  # the attention modules dexar takes weights from, in order
    real_weights = tam.methods.dexar.attention_weights
    monkeypatch.setattr(
        tam.methods.dexar,
        "attention_weights",
        lambda output, name, module: read.append(module) or real_weights(output, name, module),
    )
    with pytest.warns(UserWarning, match=r"dexar sums over the 2 of 8 decoder layers .* \(4, 8\)"):
        result = tam.explain(
            model, processor, chat(image()), max_new_tokens=2, methods=["dexar", "attention@4", "attention"]
        )
    assert read == [decoder[index - 1].self_attn for index in attended]
    assert result.options["attention_layers"] == attended
    assert_maps_fit(result)
    assert not np.allclose(result.maps("attention@4"), result.maps("attention"))  # the default: the last, layer 8
    for layer in (1, 5):  # Gated DeltaNet layers: no attention weights, named in the error with those that have them
        with pytest.raises(
            UnavailableMethodError,
            match=rf"layer {layer} of .* no softmax attention.*have them: 4, 8 \(e.g. attention@8\)",
        ):
            tam.explain(model, processor, chat(image()), max_new_tokens=2, methods=[f"attention@{layer}"])
    # Grad-CAM, the logit lens and TAM read a Gated DeltaNet layer as any other
    result = tam.explain(model, processor, chat(image()), max_new_tokens=2, layer=1, methods=["gradcam@7", "lens@5"])
    assert result.options["layer"] == 1 and "attention_layers" not in result.options
    assert_maps_fit(result)
    assert not tam_hooks(model) and all(p.requires_grad for p in model.parameters())
