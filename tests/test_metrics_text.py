import pytest

from tam.metrics import meteor, rouge_l


def test_rouge_l_by_hand():
    # LCS of "a dog on a mat" and "a dog sits on the mat" is "a dog on mat": 4 words;
    # precision 4/5, recall 4/6 -> F = 2 * 0.8 * 0.667 / 1.467
    assert rouge_l("A dog on a mat.", ["a dog sits on the mat"]) == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_rouge_l_as_the_reference_computes_it_by_hand():
    # The rouge package keeps case ("A" is not "a") and counts distinct words: of "a dog on a mat"
    # only 4 words (a, dog, on, mat), all in the LCS "a dog on mat": P = 4/4, R = 4/6, F = 0.8.
    assert rouge_l("a dog on a mat", ["a dog sits on the mat"], "rouge") == pytest.approx(0.8)
    assert rouge_l("A dog on a mat", ["a dog sits on the mat"], "rouge") == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    assert rouge_l("a dog on a mat", ["a dog sits on the mat"]) == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_rouge_package_scores_an_answer_without_words_zero():
    # the package raises "Hypothesis is empty." on it, which stopped the reference's run
    assert rouge_l(".", ["a dog sits on the mat"], "rouge") == 0.0


def test_rouge_l_names_the_packages_on_a_wrong_one():
    with pytest.raises(ValueError, match=r"package must be one of \('rouge-score', 'rouge'\), got 'rouge1'"):
        rouge_l("a cat", ["a cat"], "rouge1")


@pytest.mark.parametrize("package", ["rouge-score", "rouge"])
def test_rouge_l_takes_the_best_reference(package):
    best = rouge_l("a red bus", ["a red bus", "nothing alike here"], package)
    assert best == pytest.approx(1.0)
    assert rouge_l("a red bus", ["nothing alike here"], package) == 0.0


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
