"""ROUGE-L and METEOR of a generated answer against its reference texts (spec section 8).

ROUGE-L is the best over the references of one of two LCS F-measures:

- ``"rouge-score"`` (default): Google's ``rouge-score``, sentence-level LCS, lower-cased,
  punctuation dropped, no stemming, F1: the measure of the original ROUGE-1.5.5 script.
- ``"rouge"``: the ``rouge`` package (pltrdy, 1.0.1) as the reference release calls it,
  ``Rouge().get_scores(answer, reference)[0]["rouge-l"]["f"]``: summary-level union LCS
  over sentences, with its own F weighting. The paper's table was computed with it.

METEOR is NLTK's, on lower-cased
whitespace-split words against all references at once, as the reference computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

__all__ = ["ROUGE_L_PACKAGES", "meteor", "rouge_l"]

ROUGE_L_PACKAGES = ("rouge-score", "rouge")
"""Which package computes ROUGE-L: rouge-score (default) or rouge, as the reference release did."""


def _check(references: Sequence[str]) -> None:
    if isinstance(references, str) or not references:
        raise ValueError(f"references must be a non-empty sequence of str, got {references!r}")


@lru_cache(maxsize=1)
def _rouge_l_scorer():
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise ImportError("ROUGE-L needs rouge-score: pip install rouge-score==0.1.2") from None
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _rouge_package_l(answer: str, reference: str) -> float:
    try:
        from rouge import Rouge
    except ImportError:
        raise ImportError("ROUGE-L as the reference computes it needs rouge: pip install rouge==1.0.1") from None
    try:
        return float(Rouge().get_scores(answer, reference)[0]["rouge-l"]["f"])
    except ValueError:  # "Hypothesis is empty." / "Reference is empty.": no word in common
        return 0.0


def rouge_l(answer: str, references: Sequence[str], package: str = "rouge-score") -> float:
    """Best ROUGE-L F-measure of ``answer`` over ``references``.

    Parameters
    ----------
    answer : str
    references : sequence of str
    package : {"rouge-score", "rouge"}
        ``"rouge"`` computes it as the reference release did (see the module docstring); an
        answer or reference that it finds empty (it raises) scores 0.

    >>> rouge_l("A dog on a mat.", ["a dog sits on the mat", "a cat"])
    0.7272727272727272
    >>> round(rouge_l("A dog on a mat.", ["a dog sits on the mat", "a cat"], package="rouge"), 6)
    0.545455
    """
    _check(references)
    if package == "rouge":
        return max(_rouge_package_l(answer, reference) for reference in references)
    if package != "rouge-score":
        raise ValueError(f"package must be one of {ROUGE_L_PACKAGES}, got {package!r}")
    scorer = _rouge_l_scorer()
    return max(scorer.score(reference, answer)["rougeL"].fmeasure for reference in references)


def meteor(answer: str, references: Sequence[str]) -> float:
    """NLTK's METEOR of ``answer`` against all ``references`` (needs WordNet).

    >>> round(meteor("a cat sits on the mat", ["a cat on a mat"]), 4)
    0.3922
    """
    from nltk.translate.meteor_score import meteor_score

    from tam.metrics.language import MissingNLTKDataError, english_wordnet, missing_data_error

    _check(references)
    try:
        return float(
            meteor_score(
                references=[reference.lower().split() for reference in references],
                hypothesis=answer.lower().split(),
                wordnet=english_wordnet(),
            )
        )
    except LookupError as error:
        if isinstance(error, MissingNLTKDataError):
            raise
        raise missing_data_error(error) from None
