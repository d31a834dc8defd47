import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import minimize_scalar

from tam.causal import context_weights, estimated_causal_inference


def test_hand_computed():
    current = np.array([[4.0, 2.0, 0.0]])
    history = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [9.0, 9.0, 9.0]])
    scores = np.array([[3.0, 1.0, 100.0]])
    include = np.array([[True, True, False]])  # the third slot repeats the current word
    # w = [0.75, 0.25]; I = [0.75, 0.25, 0]; a = (3 + 0.5) / (0.5625 + 0.0625) = 5.6
    cleaned, scale = estimated_causal_inference(current, history, scores, include)
    assert np.isclose(scale[0], 5.6)
    np.testing.assert_allclose(cleaned[0], [max(0, 4 - 5.6 * 0.75), max(0, 2 - 5.6 * 0.25), 0.0])


def test_empty_context_leaves_the_map():
    current = np.array([[1.0, 2.0]])
    cleaned, scale = estimated_causal_inference(current, np.ones((2, 2)), np.ones((1, 2)), np.zeros((1, 2), bool))
    np.testing.assert_array_equal(cleaned, current)
    assert scale[0] == 0


def test_all_zero_interference_gives_zero_scale():
    cleaned, scale = estimated_causal_inference(
        np.array([[1.0, 0.5]]), np.zeros((2, 2)), np.ones((1, 2)), np.ones((1, 2), bool)
    )
    assert scale[0] == 0 and np.all(np.isfinite(cleaned))


def test_weights_sum_to_one_on_the_context():
    weights = context_weights(np.array([[2.0, 2.0, 5.0]]), np.array([[True, True, False]]))
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0.0]], atol=1e-8)


maps = st.integers(2, 12).flatmap(
    lambda m: st.tuples(
        arrays(np.float64, (m,), elements=st.floats(0, 10, width=32)),
        arrays(np.float64, (4, m), elements=st.floats(0, 10, width=32)),
        arrays(np.float64, (4,), elements=st.floats(0, 10, width=32)),
        arrays(bool, (4,)),
    )
)
# contexts whose interference is far from zero: the first slot is always in, with a positive score and map
maps_with_interference = st.integers(2, 12).flatmap(
    lambda m: st.tuples(
        arrays(np.float64, (m,), elements=st.floats(0, 10, width=32)),
        arrays(np.float64, (4, m), elements=st.floats(0.125, 10, width=32)),
        arrays(np.float64, (4,), elements=st.floats(0.125, 10, width=32)),
        arrays(bool, (4,)).map(lambda include: np.concatenate([[True], include[1:]])),
    )
)


@settings(max_examples=200, deadline=None)
@given(maps)
def test_properties(case):
    current, history, scores, include = case
    cleaned, scale = estimated_causal_inference(current[None], history, scores[None], include[None])
    assert np.all(np.isfinite(cleaned)) and np.all(cleaned >= 0)
    # maps and scores are non-negative, so I >= 0 and a = <m, I> / <I, I> >= 0: ECI only removes activation
    assert scale[0] >= 0
    assert np.all(cleaned[0] <= current + 1e-9)


@settings(max_examples=200, deadline=None)
@given(maps_with_interference)
def test_the_scale_is_the_least_squares_minimiser_the_reference_finds_numerically(case):
    current, history, scores, include = case
    _, scale = estimated_causal_inference(current[None], history, scores[None], include[None])
    interference = context_weights(scores[None], include[None])[0] @ history
    numeric = minimize_scalar(lambda a: np.sum((current - a * interference) ** 2)).x
    assert np.isclose(scale[0], numeric, rtol=1e-5, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(maps, st.floats(0.1, 10))
def test_invariant_to_scaling_the_context_scores(case, factor):
    # only the relative weights of the context matter (up to the 1e-8 guard)
    current, history, scores, include = case
    a, _ = estimated_causal_inference(current[None], history, scores[None], include[None])
    b, _ = estimated_causal_inference(current[None], history, scores[None] * factor, include[None])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
