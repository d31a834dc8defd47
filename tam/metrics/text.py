"""ROUGE-L and METEOR of a generated answer against its reference texts (spec section 8).

ROUGE-L is rouge-score's sentence-level LCS F-measure (lower-cased, punctuation dropped,
no stemming), the best over the references. METEOR is NLTK's, on lower-cased
whitespace-split words against all references at once, as the reference computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

__all__ = ["meteor", "rouge_l"]


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


def rouge_l(answer: str, references: Sequence[str]) -> float:
    """Best ROUGE-L F-measure of ``answer`` over ``references``.

    >>> rouge_l("A dog on a mat.", ["a dog sits on the mat", "a cat"])
    0.7272727272727272
    """
    _check(references)
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
