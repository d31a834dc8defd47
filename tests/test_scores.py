import numpy as np
import pytest
import torch

from tam.errors import ShapeError
from tam.scores import ClassifierHead, select_hidden_states


@pytest.fixture
def head():
    torch.manual_seed(0)
    return torch.nn.Linear(8, 50, bias=True)


def test_activations_are_the_logit_columns(head):
    hidden = torch.randn(7, 8)
    classes = [3, 49, 3, 0]
    got = ClassifierHead.from_lm_head(head).activations(hidden, classes)
    np.testing.assert_allclose(got, head(hidden).detach().numpy()[:, classes], rtol=1e-5, atol=1e-6)


def test_weight_tensor_with_bias(head):
    hidden = torch.randn(3, 8)
    wrapped = ClassifierHead.from_lm_head(head.weight, bias=head.bias)
    np.testing.assert_allclose(wrapped.activations(hidden, [5]), head(hidden).detach().numpy()[:, [5]], rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 7, 50, 1000])
def test_top_k_in_chunks_equals_full_vocabulary(head, chunk):
    hidden = torch.randn(4, 8)
    logits = head(hidden).detach()
    values, ids, log_z = ClassifierHead.from_lm_head(head).top_k(hidden, k=3, chunk_size=chunk)
    expected_values, expected_ids = logits.topk(3)
    np.testing.assert_array_equal(ids, expected_ids.numpy())
    np.testing.assert_allclose(values, expected_values.numpy(), rtol=1e-5)
    np.testing.assert_allclose(log_z, torch.logsumexp(logits, -1).numpy(), rtol=1e-5)


def test_a_softcapped_head_gives_the_capped_logits_and_their_partition(head):
    hidden = torch.randn(4, 8) * 5
    logits = head(hidden).detach().numpy().astype(np.float64)
    capped = 2.0 * np.tanh(logits / 2.0)  # final-logit softcapping at 2
    wrapped = ClassifierHead.from_lm_head(head, softcap=2.0)
    np.testing.assert_allclose(wrapped.activations(hidden, [1, 7]), capped[:, [1, 7]], rtol=1e-5, atol=1e-6)
    values, ids, log_z = wrapped.top_k(hidden, k=3, chunk_size=7)
    np.testing.assert_array_equal(ids, np.argsort(-logits, axis=1)[:, :3])  # the cap keeps the order
    np.testing.assert_allclose(values, np.take_along_axis(capped, ids, 1), rtol=1e-5)
    np.testing.assert_allclose(log_z, np.log(np.exp(capped).sum(1)), rtol=1e-5)
    assert np.abs(capped - logits).max() > 1  # the cap bends these logits


def test_bad_lm_head():
    with pytest.raises(ShapeError, match=r"\[V, d\]"):
        ClassifierHead.from_lm_head(torch.zeros(3))
    with pytest.raises(TypeError, match="nn.Linear"):
        ClassifierHead.from_lm_head("lm_head")


def test_hidden_states_forms():
    rounds = [torch.randn(1, 5, 4), torch.randn(1, 1, 4), torch.randn(1, 1, 4)]
    stacked, input_length = select_hidden_states(rounds)
    assert stacked.shape == (7, 4) and input_length == 5
    all_layers = [(torch.zeros_like(r), r + 1, r) for r in rounds]
    picked, _ = select_hidden_states(all_layers, layer=1)
    torch.testing.assert_close(picked, stacked + 1)
    last, _ = select_hidden_states(all_layers, layer=-1, final_norm=lambda x: x * 0)
    torch.testing.assert_close(last, stacked)  # the last entry is already normalised
    lens, _ = select_hidden_states(all_layers, layer=1, final_norm=lambda x: x * 2)
    torch.testing.assert_close(lens, 2 * (stacked + 1))
    single, none = select_hidden_states(stacked[None])
    assert single.shape == (7, 4) and none is None


def test_layer_out_of_range_names_the_range():
    rounds = [(torch.zeros(1, 3, 2),) * 4]
    with pytest.raises(ShapeError, match="layer 4 is out of range.*-4 to 3"):
        select_hidden_states(rounds, layer=4)
