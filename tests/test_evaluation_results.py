import json

from tam.evaluation.results import (
    append_record,
    merge_parts,
    open_for_append,
    part_path,
    read_records,
    write_json_atomic,
)


def test_part_paths(tmp_path):
    results = tmp_path / "r.jsonl"
    assert part_path(results, 0, 1) == results
    assert part_path(results, 3, 4) == tmp_path / "r.jsonl.part3"


def test_records_are_read_from_the_file_and_its_parts_skipping_cut_lines(tmp_path):
    results = tmp_path / "r.jsonl"
    results.write_text('{"index": 0, "id": "a"}\n{"index": 2, "id": "c"')
    (tmp_path / "r.jsonl.part1").write_text('{"index": 1, "id": "b"}\nnot json\n[1, 2]\n')
    (tmp_path / "r.jsonl.part1.done").write_text('{"index": 9, "id": "not a part"}\n')
    assert read_records(results) == {0: {"index": 0, "id": "a"}, 1: {"index": 1, "id": "b"}}


def test_appending_first_cuts_a_half_written_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"index": 0}\n{"index": 1, "id')
    with open_for_append(path) as handle:
        append_record(handle, {"index": 1, "id": "b"})
    assert path.read_text() == '{"index": 0}\n{"index": 1, "id": "b"}\n'


def test_appending_creates_the_folder_and_keeps_whole_files(tmp_path):
    path = tmp_path / "new" / "r.jsonl"
    for index in range(2):
        with open_for_append(path) as handle:
            append_record(handle, {"index": index, "text": "über"})
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [
        {"index": 0, "text": "über"},
        {"index": 1, "text": "über"},
    ]


def test_merging_sorts_removes_parts_and_drops_duplicates(tmp_path):
    results = tmp_path / "r.jsonl"
    results.write_text('{"index": 3, "id": "d"}\n')
    (tmp_path / "r.jsonl.part0").write_text('{"index": 2, "id": "c"}\n{"index": 0, "id": "a"}\n')
    (tmp_path / "r.jsonl.part1").write_text('{"index": 3, "id": "d"}\n{"index": 1, "id": "b"}\n{"ind')
    records = merge_parts(results)
    assert sorted(records) == [0, 1, 2, 3]
    assert [json.loads(line)["id"] for line in results.read_text().splitlines()] == ["a", "b", "c", "d"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_atomic_json_leaves_no_temporary_file(tmp_path):
    write_json_atomic(tmp_path / "s.json", {"n": 1})
    write_json_atomic(tmp_path / "s.json", {"n": 2})
    assert json.loads((tmp_path / "s.json").read_text()) == {"n": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
