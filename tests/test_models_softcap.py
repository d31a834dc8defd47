"""Final-logit softcapping: tam's scores are the model's own logits, capped where its forward caps them."""

import numpy as np
import pytest
import torch

import tam
from tam.models import adapter_for, load_model
from tam.scores import ClassifierHead
from tests.test_methods_model import replayed_run

CAP = 0.2  # below the twins' largest logits (about 0.45), so the cap bends them
MESSAGES = [
    {"role": "user", "content": [{"type": "image", "image": "imgs/demo.jpg"}, {"type": "text", "text": "Describe."}]}
]


def test_the_gemma4_twin_caps_its_logits_as_the_checkpoints():
    model, processor = load_model("tiny-gemma4")
    assert model.config.get_text_config().final_logit_softcapping == 30.0
    assert adapter_for(model, processor).logit_softcap == 30.0


@pytest.mark.parametrize(
    "name, forward_caps",
    [("tiny-gemma4", True), ("tiny-gemma3", False)],  # Gemma3ForConditionalGeneration ignores the setting
)
def test_scores_are_the_models_own_logits_at_the_vision_and_slot_positions(name, forward_caps):
    model, processor = load_model(name)
    model.config.get_text_config().final_logit_softcapping = CAP
    adapter = adapter_for(model, processor)
    result = tam.explain(model, processor, MESSAGES, max_new_tokens=3)
    run = replayed_run(adapter, adapter.prepare(MESSAGES), result)
    inputs = run.sequence_inputs()
    with torch.no_grad():
        output = model(**inputs, output_hidden_states=True)
    logits, final = output.logits[0], output.hidden_states[-1][0]
    uncapped = final @ model.get_output_embeddings().weight.detach().T
    expected = CAP * torch.tanh(uncapped / CAP) if forward_caps else uncapped
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), atol=1e-6)  # what the model's forward does

    classes = torch.as_tensor(result.class_ids)
    slots = torch.as_tensor(run.slots)
    vision = torch.as_tensor(np.flatnonzero(run.tokens == model.config.image_token_id))
    at_slots = logits[slots, classes]
    np.testing.assert_allclose(np.diag(result.context_scores), at_slots.clamp(min=0).numpy(), atol=1e-6)
    np.testing.assert_allclose(result.raw_maps, logits[vision][:, classes].T.clamp(min=0).numpy(), atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(run.token_logits(final).numpy(), at_slots.numpy(), atol=1e-6)  # Grad-CAM's, DEX-AR's

    plain = ClassifierHead.from_lm_head(model.get_output_embeddings()).activations(final[vision], result.class_ids)
    differs = not np.allclose(result.raw_maps, np.maximum(plain, 0).T, atol=1e-3)
    assert differs == forward_caps
