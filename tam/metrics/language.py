"""Word kinds and category matching with NLTK, from local data only (spec section 8).

Each word is tagged on its own, as the reference does (``nltk.pos_tag([word])``), and
sorted into nouns, function words and other words. A noun matches a category when one
of the category name's words has the same WordNet lemma (lower-cased, hyphens removed).

NLTK reads its tagger and WordNet from ``NLTK_DATA`` (or its default folders); nothing is
downloaded. A missing resource raises :class:`MissingNLTKDataError` naming the command
that fetches it. WordNet's reader is built once, when a lemma or METEOR first needs it,
and without the version map NLTK builds for multilingual data (see :func:`english_wordnet`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from functools import lru_cache

__all__ = [
    "CATEGORY_RULES",
    "FUNCTION_TAGS",
    "NLTK_DOWNLOAD_COMMAND",
    "NOUN_TAGS",
    "MissingNLTKDataError",
    "english_wordnet",
    "lemma",
    "match_category",
    "missing_data_error",
    "pos_tag",
    "require_nltk_data",
    "word_kind",
]

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
"""Penn Treebank tags counted as nouns."""

FUNCTION_TAGS = frozenset({"CC", "DT", "EX", "MD", "POS", "PRP", "PRP$", "UH", "WDT", "WP", "WP$", "WRB"})
"""Penn Treebank tags counted as function words (prepositions and numbers are not)."""

NLTK_DOWNLOAD_COMMAND = "python -m nltk.downloader wordnet averaged_perceptron_tagger_eng"


class MissingNLTKDataError(LookupError):
    """NLTK's English tagger or WordNet is not installed where NLTK looks."""


def missing_data_error(error: LookupError) -> MissingNLTKDataError:
    """Turn NLTK's LookupError for a missing resource into one line that says how to install it."""
    import nltk

    found = re.search(r"Resource '?([\w./-]+?)'? not found", str(error))
    return MissingNLTKDataError(
        f"NLTK data missing ({found.group(1) if found else error.__class__.__name__}; the English POS tagger "
        f"and WordNet are needed): install it with `{NLTK_DOWNLOAD_COMMAND}` or point NLTK_DATA at a folder "
        f"that holds it (searched: {', '.join(nltk.data.path)})"
    )


@lru_cache(maxsize=1)
def _tagger():
    from nltk.tag.perceptron import PerceptronTagger

    try:
        return PerceptronTagger(lang="eng")
    except LookupError as error:
        raise missing_data_error(error) from None


@lru_cache(maxsize=1)
def english_wordnet():
    """NLTK's WordNet reader, built once, for English lemmas and synsets.

    NLTK's own reader (``nltk.corpus.wordnet``) also maps the senses of WordNet 3.0 onto
    the installed version on every load, reading ``index.sense`` twice, even when the
    installed version is 3.0; that map serves only the multilingual (OMW) functions and
    takes most of the load (docs/benchmarks.md, "Evaluation start-up"). This reader
    skips it; lemmas and synsets are those of NLTK's reader
    (``tests/test_metrics_language.py`` compares them over a vocabulary).

    Returns
    -------
    nltk.corpus.reader.WordNetCorpusReader

    Raises
    ------
    MissingNLTKDataError
        If WordNet is not installed where NLTK looks.
    """
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    class EnglishWordNetReader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            return None  # no multilingual data is read through this reader

    reader = LazyCorpusLoader("wordnet", EnglishWordNetReader, None)  # finds the folder or zip as NLTK does
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The multilingual functions are not available")
            reader.ensure_loaded()
    except LookupError as error:
        raise missing_data_error(error) from None
    return reader


def require_nltk_data() -> None:
    """Check that the tagger and WordNet are installed, so that a missing one stops a run before it starts.

    Only the files are looked for; the tagger and WordNet's reader load when first used.

    Raises
    ------
    MissingNLTKDataError
        With the download command and the folders NLTK searched.
    """
    import nltk

    for places in _NLTK_RESOURCES:
        errors = []
        for place in places:
            try:
                nltk.data.find(place)
                break
            except LookupError as error:
                errors.append(error)
        else:
            raise missing_data_error(errors[0])


_NLTK_RESOURCES = (
    ("taggers/averaged_perceptron_tagger_eng/",),
    ("corpora/wordnet.zip/wordnet/", "corpora/wordnet/"),  # zipped, as the downloader leaves it, or unpacked
)
"""Where NLTK's loaders look for the tagger and WordNet, each as alternative paths."""


@lru_cache(maxsize=65536)
def pos_tag(word: str) -> str:
    """Penn Treebank tag of ``word`` tagged alone (no sentence context), as the reference tags.

    >>> pos_tag("dog"), pos_tag("the"), pos_tag("on")
    ('NN', 'DT', 'IN')
    """
    return _tagger().tag([word])[0][1]


def word_kind(word: str) -> str:
    """``"noun"``, ``"function"`` or ``"other"``, from :func:`pos_tag`."""
    tag = pos_tag(word)
    if tag in NOUN_TAGS:
        return "noun"
    if tag in FUNCTION_TAGS:
        return "function"
    return "other"


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """WordNet noun lemma of ``word`` lower-cased with hyphens removed (``"T-Shirts"`` -> ``"tshirt"``)."""
    # the shortest of WordNet's noun lemmas, or the word itself, as nltk's WordNetLemmatizer.lemmatize
    form = word.lower().replace("-", "")
    return min(english_wordnet()._morphy(form, "n"), key=len, default=form)


CATEGORY_RULES = ("whole-name", "reference")
"""How a noun that matches several categories picks one (see :func:`match_category`)."""


def match_category(word: str, categories: Mapping[str, int], *, rule: str = "whole-name") -> int | None:
    """Label of the category that ``word`` names, or None.

    A category matches when one of its name's words has the lemma of ``word``. When
    several match, the last in mapping order wins, as in the reference; with the default
    rule ``"whole-name"`` a category whose whole name is that one word wins first. The
    difference matters: with COCO's names the reference matches every "dog" to
    "hot dog" and every "bear" to "teddy bear".

    Parameters
    ----------
    word : str
        A noun of the answer.
    categories : mapping of str to int
        Category name (one or more words, ``"traffic light"``) to its label value in the
        segmentation mask.
    rule : {"whole-name", "reference"}

    Returns
    -------
    int or None

    >>> coco = {"dog": 18, "hot dog": 58}
    >>> match_category("dogs", coco), match_category("dogs", coco, rule="reference")
    (18, 58)
    """
    if rule not in CATEGORY_RULES:
        raise ValueError(f"rule must be one of {CATEGORY_RULES}, got {rule!r}")
    target = lemma(word)
    last_match = whole_name_match = None
    for name, value in categories.items():
        parts = name.split()
        if any(lemma(part) == target for part in parts):
            last_match = int(value)
            if len(parts) == 1:
                whole_name_match = int(value)
    if rule == "whole-name" and whole_name_match is not None:
        return whole_name_match
    return last_match
