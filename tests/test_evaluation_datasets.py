import json
import shutil
from pathlib import Path

import pytest

from tam.evaluation import PROMPTS, DatasetError, detect_format, load_dataset

FIXTURES = Path(__file__).parent / "fixtures"
COCO = FIXTURES / "coco2014_mini"
GRANDF = FIXTURES / "GranDf_mini"
OPENPSG = FIXTURES / "OpenPSG_mini"


def test_coco_fixture_reads_ten_samples_with_masks_and_coco_categories():
    dataset = load_dataset(COCO)
    assert dataset.format == "coco14" and len(dataset) == 10
    first = dataset.samples[0]
    assert first.id == "000000185250" and first.index == 0
    assert first.image == COCO / "image" / "000000185250.jpg" and first.image.is_file()
    assert first.mask == COCO / "seg_label" / "000000185250.png" and first.mask.is_file()
    assert first.prompt == "Write a one-sentence caption for this image:"
    assert len(first.categories) == 80
    assert first.categories["dog"] == 18 and first.categories["traffic light"] == 10
    assert first.references == ()  # the fixture ships no captions file
    assert all(sample.image.is_file() and sample.mask.is_file() for sample in dataset.samples)


def test_coco_captions_are_the_references_when_present(tmp_path):
    root = shutil.copytree(COCO, tmp_path / "coco")
    captions = {
        "annotations": [
            {"image_id": 185250, "id": 1, "caption": "A man throws a frisbee to his dog."},
            {"image_id": 185250, "id": 2, "caption": "A dog waits for a frisbee."},
            {"image_id": 223747, "id": 3, "caption": "A man asleep with a cat."},
        ]
    }
    (root / "annotations" / "captions_val2014.json").write_text(json.dumps(captions))
    samples = {sample.id: sample for sample in load_dataset(root).samples}
    assert samples["000000185250"].references == ("A man throws a frisbee to his dog.", "A dog waits for a frisbee.")
    assert samples["000000223747"].references == ("A man asleep with a cat.",)


@pytest.mark.parametrize(("root", "dataset_format"), [(GRANDF, "grandf"), (OPENPSG, "openpsg")])
def test_anno_json_fixtures(root, dataset_format):
    dataset = load_dataset(root)
    assert dataset.format == dataset_format and len(dataset) == 3
    assert all(sample.prompt == PROMPTS[dataset_format] for sample in dataset.samples)
    for sample in dataset.samples:
        assert sample.image.is_file() and sample.mask.is_file()
        assert len(sample.references) == 1 and sample.references[0].count(".") >= 2
    assert dataset.samples[0].id == json.loads((root / "anno.json").read_text())[0][0].split("/")[-1][:-4]


def test_grandf_categories_and_label_values():
    first = load_dataset(GRANDF).samples[0]
    assert first.categories == {"man": 1, "dog": 2, "frisbee": 3}
    assert first.references[0].startswith("A man in an orange shirt")


def test_the_format_can_be_given_when_the_name_says_nothing(tmp_path):
    root = shutil.copytree(OPENPSG, tmp_path / "scenes")
    with pytest.raises(DatasetError, match="neither GranDf nor OpenPSG"):
        detect_format(root)
    assert load_dataset(root, "grandf").samples[0].prompt == PROMPTS["grandf"]


def test_missing_folder():
    with pytest.raises(DatasetError, match="does not exist or is not a folder"):
        load_dataset(FIXTURES / "no_such_dataset")


def test_folder_of_no_known_format(tmp_path):
    with pytest.raises(DatasetError, match=r"is no known data set: expected annotations/instances_minival2014\.json"):
        load_dataset(tmp_path)


def test_unknown_format_name():
    with pytest.raises(DatasetError, match="dataset format must be one of"):
        load_dataset(COCO, "voc")


@pytest.mark.parametrize(
    ("folder", "path", "content", "message"),
    [
        ("coco", "annotations/instances_minival2014.json", '{"images": [], "categories": []}', "holds no samples"),
        ("GranDf", "anno.json", "[]", "holds no samples"),
        ("coco", "annotations/instances_minival2014.json", '{"images": [', "cannot read annotation file"),
        ("OpenPSG", "anno.json", "\xff\xfe not json", "cannot read annotation file"),
        ("coco", "annotations/instances_minival2014.json", '{"images": [{"file": 1}]}', "is no COCO instances file"),
        ("GranDf", "anno.json", '{"a": 1}', "must hold a list of samples, got dict"),
        ("GranDf", "anno.json", '[["a.jpg", "text", "a.png"]]', "entry 0 must be"),
        ("GranDf", "anno.json", '[["a.jpg", "text", "a.png", {"dog": "two"}]]', "label of .dog. must be an integer"),
    ],
)
def test_empty_unreadable_and_malformed_annotations(tmp_path, folder, path, content, message):
    target = tmp_path / folder / path
    target.parent.mkdir(parents=True)
    target.write_text(content, encoding="latin-1")
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path / folder)


def test_a_folder_named_like_the_annotation_file_is_no_data_set(tmp_path):
    (tmp_path / "GranDf" / "anno.json").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no known data set"):
        load_dataset(tmp_path / "GranDf")


@pytest.mark.parametrize("image", ["/etc/hostname", "../elsewhere/a.jpg", "images/../../a.jpg"])
def test_anno_json_paths_may_not_leave_the_data_set_folder(tmp_path, image):
    root = tmp_path / "GranDf_x"
    root.mkdir()
    (root / "anno.json").write_text(json.dumps([[image, "A dog.", "masks/a.png", {"dog": 1}]]))
    with pytest.raises(DatasetError, match=f"entry 0 names '{image}', outside the data set folder"):
        load_dataset(root)
