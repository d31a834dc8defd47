"""Word kinds and category matching with NLTK, from local data only (spec section 8).

Each word is tagged on its own, as the reference does (``nltk.pos_tag([word])``), and
sorted into nouns, function words and other words. A noun matches a category when one
of the category name's words has the same WordNet lemma (lower-cased, hyphens removed).

NLTK reads its tagger and WordNet from ``NLTK_DATA`` (or its default folders). A missing
one is fetched on first use with NLTK's own downloader into NLTK's folder for this user
(usually ``~/nltk_data``), with a line on the log saying so; when that fails (offline), a
:class:`MissingNLTKDataError` names the command that fetches it and ``NLTK_DATA``.
WordNet's reader is built once, when a lemma or METEOR first needs it, and without the
version map NLTK builds for multilingual data (see :func:`english_wordnet`).
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Mapping
from functools import lru_cache

__all__ = [
    "CATEGORY_RULES",
    "FUNCTION_TAGS",
    "NLTK_DOWNLOAD_COMMAND",
    "NOUN_TAGS",
    "NLTK_PACKAGES",
    "MissingNLTKDataError",
    "english_wordnet",
    "lemma",
    "match_category",
    "missing_data_error",
    "missing_nltk_packages",
    "pos_tag",
    "require_nltk_data",
    "word_kind",
]

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
"""Penn Treebank tags counted as nouns."""

FUNCTION_TAGS = frozenset({"CC", "DT", "EX", "MD", "POS", "PRP", "PRP$", "UH", "WDT", "WP", "WP$", "WRB"})
"""Penn Treebank tags counted as function words (prepositions and numbers are not)."""

NLTK_PACKAGES = {
    "averaged_perceptron_tagger_eng": ("taggers/averaged_perceptron_tagger_eng/",),
    "wordnet": ("corpora/wordnet.zip/wordnet/", "corpora/wordnet/"),  # zipped, as the downloader leaves it, or unpacked
}
"""NLTK's id of each package tam needs -> where NLTK's loaders look for it (alternative paths)."""

NLTK_DOWNLOAD_COMMAND = "python -m nltk.downloader wordnet averaged_perceptron_tagger_eng"

logger = logging.getLogger(__name__)


class MissingNLTKDataError(LookupError):
    """NLTK's English tagger or WordNet is not installed where NLTK looks."""


def missing_data_error(error: LookupError | str, fetch_failure: str = "") -> MissingNLTKDataError:
    """One line that says which NLTK resource is missing, why fetching it failed, and how to install it.

    ``error`` is NLTK's LookupError for the resource or the package's name.
    """
    import nltk

    found = re.search(r"Resource '?([\w./-]+?)'? not found", str(error))
    name = error if isinstance(error, str) else found.group(1) if found else error.__class__.__name__
    fetch = f"; fetching it failed: {' '.join(fetch_failure.split())}" if fetch_failure else ""
    return MissingNLTKDataError(
        f"NLTK data missing ({name}; the English POS tagger and WordNet are needed{fetch}): install it with "
        f"`{NLTK_DOWNLOAD_COMMAND}` where there is network, or point NLTK_DATA at a folder that holds it "
        f"(searched: {', '.join(nltk.data.path)})"
    )


def _installed(package: str) -> bool:
    import nltk

    for place in NLTK_PACKAGES[package]:
        try:
            nltk.data.find(place)
            return True
        except LookupError:
            continue
    return False


def missing_nltk_packages() -> list[str]:
    """Return the keys of :data:`NLTK_PACKAGES` not installed where NLTK looks (nothing is fetched)."""
    return [package for package in NLTK_PACKAGES if not _installed(package)]


def _fetch(package: str) -> None:
    """Download ``package`` with NLTK's own downloader into its default folder, or raise one line."""
    import nltk

    folder = nltk.downloader.Downloader().default_download_dir()
    logger.warning("fetching NLTK's %s into %s (first use only) ...", package, folder)
    failure = ""
    try:
        # NLTK's own error lines are dropped: the one line raised below says what happened
        nltk.download(package, quiet=True, raise_on_error=True, print_error_to=io.StringIO())
    except (ValueError, OSError) as error:  # NLTK reports a failed fetch as ValueError(its message)
        failure = str(error)
    if not _installed(package):
        raise missing_data_error(package, failure or f"nothing arrived in {folder}")


@lru_cache(maxsize=1)
def _tagger():
    from nltk.tag.perceptron import PerceptronTagger

    require_nltk_data("averaged_perceptron_tagger_eng")
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

    require_nltk_data("wordnet")
    reader = LazyCorpusLoader("wordnet", EnglishWordNetReader, None)  # finds the folder or zip as NLTK does
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The multilingual functions are not available")
            reader.ensure_loaded()
    except LookupError as error:
        raise missing_data_error(error) from None
    return reader


def require_nltk_data(*packages: str) -> None:
    """Make sure NLTK's tagger and WordNet (or only ``packages``) are installed, fetching a missing one.

    A missing package is fetched once with NLTK's own downloader (``nltk.download``) into
    NLTK's default folder for this user (the first writable folder of ``nltk.data.path``,
    else ``~/nltk_data``), with one line on this module's log. Called before a run, it stops
    the run at once when the data cannot be had.

    Parameters
    ----------
    *packages : str
        Keys of :data:`NLTK_PACKAGES`; all of them when none is given.

    Raises
    ------
    MissingNLTKDataError
        When fetching fails (offline): with the download command and the folders NLTK searched.
    """
    for package in packages or tuple(NLTK_PACKAGES):
        if not _installed(package):
            _fetch(package)


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
