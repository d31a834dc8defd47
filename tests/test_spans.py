import numpy as np
import pytest

from tam.errors import SpanError
from tam.spans import TokenSpans, find_marker, locate_spans

QWEN_IDS = {
    "img_id": [151652, 151653],
    "prompt_id": [151653, [151645, 198, 151644, 77091]],
    "answer_id": [[198, 151644, 77091, 198], -1],
}
#          0      1    2       3       4       5       6    7    8       9    10      11     12   13  14
QWEN_SEQ = [151644, 9, 151652, 151655, 151655, 151653, 100, 101, 151645, 198, 151644, 77091, 198, 55, 56]


def test_qwen_layout():
    spans = locate_spans(QWEN_SEQ, QWEN_IDS)
    np.testing.assert_array_equal(spans.vision, [3, 4])
    np.testing.assert_array_equal(spans.prompt, [6, 7])
    assert spans.answer_start == 13


def test_single_id_takes_every_position():
    ids = dict(QWEN_IDS, img_id=[151655])
    np.testing.assert_array_equal(locate_spans(QWEN_SEQ, ids).vision, [3, 4])


def test_int_marker_first_occurrence_list_marker_last_occurrence():
    seq = [1, 7, 2, 7, 3, 5, 6, 0, 5, 6, 9]
    assert find_marker(seq, 7, use_last_token=True) == 1
    assert find_marker(seq, [5, 6], use_last_token=False) == 8
    assert find_marker(seq, [5, 6], use_last_token=True) == 9


def test_missing_marker_names_it():
    seq = [x for x in QWEN_SEQ if x != 77091]
    with pytest.raises(SpanError, match=r"prompt_id end \[151645, 198, 151644, 77091\] does not occur"):
        locate_spans(seq, QWEN_IDS)


def test_missing_image_id_names_it():
    with pytest.raises(SpanError, match="img_id 42 does not occur"):
        locate_spans(QWEN_SEQ, dict(QWEN_IDS, img_id=[42]))


def test_empty_vision_span():
    seq = [151652, 151653, 100, 151645, 198, 151644, 77091, 198, 5]
    with pytest.raises(SpanError, match="img_id span is empty"):
        locate_spans(seq, QWEN_IDS)


def test_missing_key():
    with pytest.raises(SpanError, match="'answer_id'"):
        locate_spans(QWEN_SEQ, {"img_id": [1, 2], "prompt_id": [1, 2]})


def test_token_spans_coerces_arrays():
    spans = TokenSpans(vision=[3, 4], prompt=range(6, 8), answer_start=np.int64(13))
    assert spans.vision.dtype == np.int64 and spans.prompt.tolist() == [6, 7] and spans.answer_start == 13
