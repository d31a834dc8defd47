import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tam.metrics import (
    NLTK_DOWNLOAD_COMMAND,
    MissingNLTKDataError,
    language,
    lemma,
    match_category,
    meteor,
    pos_tag,
    word_kind,
)
from tam.metrics.language import english_wordnet
from tam.toy.scenes import CATEGORIES as TOY_CATEGORIES
from tests.offline import OFFLINE

COCO_INSTANCES = Path(__file__).parent / "fixtures" / "coco2014_mini" / "annotations" / "instances_minival2014.json"

COCO_LIKE = {"person": 1, "dog": 18, "traffic light": 10, "teddy bear": 88, "hot dog": 58, "ball": 37}


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("dog", "noun"),
        ("dogs", "noun"),
        ("frisbee", "noun"),
        ("the", "function"),
        ("A", "function"),
        ("and", "function"),
        ("its", "function"),
        ("it", "function"),
        ("on", "other"),  # a preposition (IN) is not a function word here
        ("two", "other"),  # nor is a number (CD)
        ("white", "other"),
        ("playing", "other"),
        (".", "other"),
    ],
)
def test_word_kinds_from_the_offline_tagger(word, kind):
    assert word_kind(word) == kind


def test_tagging_is_per_word_without_context():
    assert pos_tag("dog") == "NN" and pos_tag("dogs") == "NNS" and pos_tag("The") == "DT"


def test_lemmas_are_lower_cased_without_hyphens():
    assert lemma("Dogs") == "dog"
    assert lemma("knives") == "knife"
    assert lemma("Sail-Boats") == "sailboat"


def _metric_vocabulary() -> list[str]:
    """Words whose lemmas the metrics read: category names and answer nouns, singular and plural.

    COCO's 80 names and the toy world's, irregular plurals, and every 50th noun of WordNet
    (with a plural ending added), so that both the exception list and the suffix rules are used.
    """
    import json

    coco = [category["name"] for category in json.loads(COCO_INSTANCES.read_text())["categories"]]
    words = {part for name in [*coco, *TOY_CATEGORIES] for part in name.split()}
    words |= {"people", "men", "women", "children", "mice", "geese", "teeth", "feet", "knives", "leaves", "buses"}
    words |= {"T-Shirts", "Sail-Boats", "glasses", "species", "news", "scissors", "dishes", "boxes", "cherries"}
    words |= set(sorted(english_wordnet().all_lemma_names("n"))[::50])
    return sorted(words | {word + "s" for word in words} | {word + "es" for word in words})


def test_lemmas_equal_those_of_nltks_own_wordnet_lemmatizer():
    from nltk.stem import WordNetLemmatizer

    vocabulary = _metric_vocabulary()
    assert len(vocabulary) > 5000
    reference = WordNetLemmatizer()
    expected = {word: reference.lemmatize(word.lower().replace("-", "")) for word in vocabulary}
    assert {word: lemma(word) for word in vocabulary} == expected
    assert sum(expected[word] != word.lower() for word in vocabulary) > 1000  # the lemmas are not the words


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_meteor_equals_meteor_with_nltks_own_wordnet():
    from nltk.corpus import wordnet
    from nltk.translate.meteor_score import meteor_score

    pairs = [
        ("a hound runs on the grass", ["a dog runs on the lawn", "the dog is running"]),
        ("two automobiles near a house", ["two cars parked by a home"]),
        ("a circle, a square and a star.", ["a circle, a square and a star."]),
    ]
    for answer, references in pairs:
        tokenized = [reference.lower().split() for reference in references]
        expected = meteor_score(tokenized, answer.lower().split(), wordnet=wordnet)
        assert meteor(answer, references) == expected
    assert meteor(*pairs[0]) > meteor("a cat runs on the grass", pairs[0][1])  # the synonym counts


def test_nouns_match_categories_by_lemma_of_any_category_word():
    assert match_category("dogs", COCO_LIKE) == 18  # "dog" is a whole name: it wins over "hot dog"
    assert match_category("Lights", COCO_LIKE) == 10
    assert match_category("bear", COCO_LIKE) == 88
    assert match_category("balls", COCO_LIKE) == 37
    assert match_category("people", COCO_LIKE) is None  # WordNet's lemma of "people" is "people"
    assert match_category("cat", COCO_LIKE) is None


def test_the_reference_rule_takes_the_last_matching_category():
    assert match_category("dogs", COCO_LIKE, rule="reference") == 58  # "hot dog" comes after "dog"
    assert match_category("bear", {"bear": 23, "teddy bear": 88}, rule="reference") == 88
    assert match_category("bear", {"bear": 23, "teddy bear": 88}) == 23
    assert match_category("light", COCO_LIKE, rule="reference") == match_category("light", COCO_LIKE) == 10


def test_unknown_rule():
    with pytest.raises(ValueError, match="rule must be one of"):
        match_category("dog", COCO_LIKE, rule="first")


def test_missing_nltk_data_names_the_download_command(tmp_path):
    code = "from tam.metrics import require_nltk_data; require_nltk_data()"
    env = {"NLTK_DATA": str(tmp_path / "none"), "HOME": str(tmp_path), "PATH": "", **OFFLINE}
    probe = "import nltk, os; print(any(os.path.isdir(p) for p in nltk.data.path[1:]))"
    found = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    if found.stdout.strip() == "True":
        pytest.skip("an NLTK data folder exists in a default place on this machine")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode == 0:
        pytest.skip("NLTK's downloader got the data past a refusing proxy here (a stubbed downloader)")
    assert "MissingNLTKDataError" in done.stderr
    assert NLTK_DOWNLOAD_COMMAND in done.stderr
    assert "fetching it failed" in done.stderr and "NLTK_DATA" in done.stderr


def installed_nltk_data() -> Path:
    """The folder that holds this machine's NLTK data (fetched first if missing)."""
    import nltk

    language.require_nltk_data()
    return Path(str(nltk.data.find("corpora/wordnet.zip"))).parents[1]


def test_missing_wordnet_alone_is_named(tmp_path):
    tagger = installed_nltk_data() / "taggers"
    shutil.copytree(tagger, tmp_path / "taggers")  # NLTK refuses symlinks that leave its folder
    code = "from tam.metrics import require_nltk_data; require_nltk_data()"
    env = {**os.environ, "NLTK_DATA": str(tmp_path), "HOME": str(tmp_path), **OFFLINE}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode == 0:
        pytest.skip("WordNet is installed in a default place, or the downloader is stubbed, on this machine")
    assert "NLTK data missing (wordnet;" in done.stderr
    code = "from tam.metrics import meteor; meteor('a hound runs', ['a dog runs'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "MissingNLTKDataError: NLTK data missing (wordnet;" in done.stderr


PACKAGE_FILES = {
    "wordnet": "corpora/wordnet.zip",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng",
}


@pytest.fixture
def nltk_source() -> Path:
    return installed_nltk_data()


@pytest.fixture
def empty_nltk_folder(nltk_source, tmp_path, monkeypatch):
    """NLTK looks only in an empty folder of its own (the user's folder), with nothing loaded yet."""
    import nltk

    folder = tmp_path / "nltk_data"
    folder.mkdir()
    monkeypatch.setattr(nltk.data, "path", [str(folder)])
    for cached in (language._tagger, language.english_wordnet, pos_tag, lemma):
        cached.cache_clear()
    yield folder
    for cached in (language._tagger, language.english_wordnet, pos_tag, lemma):
        cached.cache_clear()


def test_missing_data_is_fetched_with_nltks_downloader_into_its_folder(
    nltk_source, empty_nltk_folder, monkeypatch, caplog
):
    import nltk

    source = nltk_source  # the downloader is stubbed: it copies from a local folder
    asked = []

    def download(package, download_dir=None, quiet=False, raise_on_error=False, **kwargs):
        asked.append(package)
        target = Path(download_dir or nltk.downloader.Downloader().default_download_dir()) / PACKAGE_FILES[package]
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (source / PACKAGE_FILES[package]).is_dir() else shutil.copy)(
            source / PACKAGE_FILES[package], target
        )
        return True

    monkeypatch.setattr(nltk, "download", download)
    with caplog.at_level(logging.WARNING, logger=language.__name__):
        assert pos_tag("dog") == "NN"
        assert lemma("dogs") == "dog"
    assert asked == ["averaged_perceptron_tagger_eng", "wordnet"]
    assert [record.getMessage() for record in caplog.records] == [
        f"fetching NLTK's {package} into {empty_nltk_folder} (first use only) ..." for package in asked
    ]
    assert (empty_nltk_folder / "corpora" / "wordnet.zip").is_file()
    language.require_nltk_data()  # all there now: nothing more is fetched
    assert len(asked) == 2


def test_a_failed_fetch_is_one_line_naming_the_command_and_nltk_data(empty_nltk_folder, monkeypatch):
    import nltk

    def offline(package, **kwargs):
        raise ValueError(f"Error loading {package}: <urlopen error [Errno -3]\n Temporary failure in name resolution>")

    monkeypatch.setattr(nltk, "download", offline)
    with pytest.raises(MissingNLTKDataError) as caught:
        language.require_nltk_data()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("NLTK data missing (averaged_perceptron_tagger_eng; ")
    assert "fetching it failed: Error loading averaged_perceptron_tagger_eng: <urlopen error" in message
    assert f"`{NLTK_DOWNLOAD_COMMAND}`" in message and "NLTK_DATA" in message and str(empty_nltk_folder) in message


def test_a_fetch_that_brings_nothing_is_named(empty_nltk_folder, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk, "download", lambda package, **kwargs: False)
    with pytest.raises(
        MissingNLTKDataError, match=r"NLTK data missing \(wordnet; .*fetching it failed: nothing arrived in "
    ):
        language.require_nltk_data("wordnet")


@pytest.mark.needs_nltk_data  # a script or NLTK itself reads the data
def test_checking_for_nltk_data_loads_neither_the_tagger_nor_wordnet():
    code = (
        "from tam.metrics import language; language.require_nltk_data(); "
        "print(language._tagger.cache_info().currsize, language.english_wordnet.cache_info().currsize); "
        "language.lemma('dogs'); print(language.english_wordnet.cache_info().currsize)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "0", "1"]


def test_importing_the_metrics_loads_neither_nltk_nor_opencv():
    code = "import sys, tam.metrics; print(sorted({'nltk', 'cv2', 'rouge_score', 'rouge'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
