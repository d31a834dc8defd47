import pytest

from tam.metrics import meteor, rouge_l


def test_rouge_l_by_hand():
    # LCS of "a dog on a mat" and "a dog sits on the mat" is "a dog on mat": 4 words;
    # precision 4/5, recall 4/6 -> F = 2 * 0.8 * 0.667 / 1.467
    assert rouge_l("A dog on a mat.", ["a dog sits on the mat"]) == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_rouge_l_takes_the_best_reference():
    best = rouge_l("a red bus", ["a red bus", "nothing alike here"])
    assert best == 1.0
    assert rouge_l("a red bus", ["nothing alike here"]) == 0.0


def test_meteor_rewards_the_closer_answer_and_is_case_blind():
    references = ["A cat sits on the mat"]
    close = meteor("a cat sits on a mat", references)
    far = meteor("two buses in the rain", references)
    assert 0.0 <= far < close <= 1.0
    assert meteor("A CAT SITS ON THE MAT", references) == pytest.approx(meteor("a cat sits on the mat", references))


def test_meteor_matches_wordnet_synonyms():
    # WordNet relates "hound" to "dog" (METEOR's synonym stage); "puppy" it does not
    assert meteor("a hound runs", ["a dog runs"]) > meteor("a puppy runs", ["a dog runs"])


@pytest.mark.parametrize("function", [rouge_l, meteor])
def test_references_must_be_given(function):
    with pytest.raises(ValueError, match="references must be a non-empty sequence"):
        function("a cat", [])
    with pytest.raises(ValueError, match="references must be a non-empty sequence"):
        function("a cat", "a cat")
