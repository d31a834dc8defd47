"""Against the reference release itself (xmed-lab/TAM), when a copy of it is at hand.

Set ``TAM_REFERENCE_DIR`` to a folder holding the reference's ``tam.py``; the tests are
skipped without it (the reference cannot be shipped here). Its PDF dependency (PyMuPDF)
is not needed for maps and is stubbed when missing.
"""

import os

import numpy as np
import pytest

import tam
from tam.testing import load_reference_module, make_generation

REFERENCE_DIR = os.environ.get("TAM_REFERENCE_DIR")
pytestmark = pytest.mark.skipif(not REFERENCE_DIR, reason="set TAM_REFERENCE_DIR to the reference release's folder")


@pytest.fixture(scope="module")
def reference():
    return load_reference_module(REFERENCE_DIR)


def vision_input(shape):
    image = np.zeros((28, 28, 3), np.uint8)
    if isinstance(shape, list):
        return [image] * len(shape)
    return [[image] * shape[0]] if len(shape) == 3 else image


def flatten(maps):
    return np.concatenate([m.ravel() for m in maps]) if isinstance(maps, list) else maps.ravel()


@pytest.mark.parametrize("shape", [(4, 5), (20, 27), (3, 4, 5), [(4, 5), (3, 3)], [(6, 2), (2, 2), (3, 5)]])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_maps_as_the_reference(reference, shape, seed):
    generation = make_generation(shape, seed=seed, word_pool=10, num_answer=16)
    texts = generation.tokens[-16:]
    assert len(set(texts)) < len(texts), "ECI's same-word exclusion must be exercised"
    logits = generation.logits()
    theirs_records, ours_records = [], []
    result = tam.explain_generation(
        generation.tokens,
        generation.hidden_states,
        generation.lm_head,
        generation.special_ids,
        shape,
        round0="reference",
    )
    ours_all = result.maps_uint8("tam")
    num_prompt = result.num_prompt_tokens
    for round_index in range(len(logits)):
        args = (
            generation.tokens,
            shape,
            logits,
            generation.special_ids,
            vision_input(shape),
            generation.processor,
            "",
            round_index,
        )
        theirs = flatten(reference.TAM(*args, theirs_records, True)).astype(int)
        ours = flatten(tam.TAM(*args, ours_records, True)).astype(int)
        batched = ours_all[0 if round_index == 0 else num_prompt + round_index].astype(int)
        for candidate in (ours, batched):
            assert np.abs(candidate - theirs).max() <= 1
            assert np.mean(candidate == theirs) >= 0.999
