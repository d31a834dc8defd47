import numpy as np
import pytest

from tam.metrics import AnswerScores, FunctionScore, ObjectScore, PooledIoU, Word, f1_iou, score_answer

DOG, TEDDY_BEAR = 18, 88


def two_level(low, high, rows, cols):
    token_map = np.full((4, 4), low, np.uint8)
    token_map[rows, cols] = high
    return token_map


def mask():
    labels = np.zeros((4, 4), np.uint8)
    labels[:2, :2] = DOG
    labels[2:, 2:] = TEDDY_BEAR
    return labels


def answer():
    """'A dog and teddy bear cat .' with 'dog' in two tokens; maps at the mask's size."""
    words = [
        Word("A", (0,)),
        Word("dog", (1, 2)),
        Word("and", (3,)),
        Word("teddy", (4,)),
        Word("bear", (5,)),
        Word("cat", (6,)),
        Word(".", (7,)),
    ]
    kinds = ["function", "noun", "function", "noun", "noun", "noun", "other"]
    labels = [None, DOG, None, TEDDY_BEAR, TEDDY_BEAR, None, None]
    teddy = two_level(50, 200, slice(2, 4), slice(2, 4))
    teddy[1, 3] = 200  # one cell too many: IoU 4/5
    bear = two_level(50, 200, slice(2, 4), slice(2, 3))  # half the bear: IoU 2/4
    maps = np.stack(
        [
            two_level(60, 70, slice(0, 2), slice(0, 2)),  # "A": 12 of 16 cells below 62.5
            two_level(50, 200, slice(0, 1), slice(0, 2)),  # "do": half the dog
            two_level(50, 200, slice(0, 2), slice(0, 2)),  # "g": exactly the dog
            np.zeros((4, 4), np.uint8),  # "and": all below
            teddy,
            bear,
            two_level(100, 220, slice(0, 1), slice(0, 1)),  # "cat": no category, threshold 100
            np.full((4, 4), 255, np.uint8),  # ".": not scored
        ]
    )
    return words, kinds, labels, maps


def test_score_answer_by_hand():
    scores = score_answer(*answer(), mask())
    # dog: best token is its second (IoU 1); teddy bear counts once, "teddy" (4/5) beats "bear" (1/2)
    assert scores.objects == (
        ObjectScore(word=1, label=DOG, token=1, iou=1.0, precision=1.0, recall=1.0),
        ObjectScore(word=3, label=TEDDY_BEAR, token=0, iou=0.8, precision=0.8, recall=1.0),
    )
    # noun thresholds: dog max(50, 50), teddy 50, bear 50, cat 100 -> mean 62.5
    assert scores.noun_threshold == 62.5
    assert scores.functions == (FunctionScore(word=0, score=0.75), FunctionScore(word=2, score=1.0))
    assert scores.obj_iou == pytest.approx(0.9)
    assert scores.func_iou == pytest.approx(0.875)
    assert scores.precision == pytest.approx(0.9) and scores.recall == 1.0


def test_the_better_of_two_consecutive_words_of_one_category_is_kept():
    words, kinds, labels, maps = answer()
    maps[5] = maps[4]  # "bear" now as good as "teddy": the first is kept on a tie
    maps[4] = two_level(50, 200, slice(3, 4), slice(3, 4))  # "teddy" worse: 1/4
    scores = score_answer(words, kinds, labels, maps, mask())
    assert [(o.word, o.iou) for o in scores.objects] == [(1, 1.0), (4, 0.8)]


def test_words_of_one_category_apart_count_twice():
    words, kinds, labels, maps = answer()
    labels[5], kinds[5] = DOG, "noun"  # "cat" now names the dog, two words after "dog"
    scores = score_answer(words, kinds, labels, maps, mask())
    assert [o.word for o in scores.objects] == [1, 3, 5]


def test_a_category_missing_from_the_mask_scores_no_object_but_sets_the_threshold():
    words, kinds, labels, maps = answer()
    labels_mask = mask()
    labels_mask[labels_mask == TEDDY_BEAR] = 0
    scores = score_answer(words, kinds, labels, maps, labels_mask)
    assert [o.word for o in scores.objects] == [1]
    assert scores.noun_threshold == 62.5


def test_without_nouns_no_function_word_is_scored():
    words, kinds, labels, maps = answer()
    kinds = ["function" if kind == "noun" else kind for kind in kinds]
    scores = score_answer(words, kinds, [None] * len(words), maps, mask())
    assert scores.objects == () and scores.functions == () and scores.noun_threshold is None
    assert scores.obj_iou is None and scores.func_iou is None


def test_maps_are_resized_to_the_mask():
    words, kinds, labels, maps = answer()
    large_mask = np.kron(mask(), np.ones((3, 3), np.uint8))  # 12 x 12
    scores = score_answer(words, kinds, labels, maps, large_mask)
    assert scores.objects[0].word == 1 and scores.objects[0].iou > 0.5


def test_scores_round_trip_through_a_dict():
    scores = score_answer(*answer(), mask())
    data = scores.to_dict()
    assert data["obj_iou"] == pytest.approx(0.9)
    assert AnswerScores.from_dict(data) == scores


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w, k, lb, m: (w, k[:-1], lb, m), "one length"),
        (lambda w, k, lb, m: (w, k, lb, m.astype(float)), "uint8"),
        (lambda w, k, lb, m: (w, k, lb, m[:-1]), "cover the 7 token maps"),
        (lambda w, k, lb, m: (w, ["verb"] * len(k), lb, m), "kinds must be among"),
    ],
)
def test_bad_inputs_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        score_answer(*change(*answer()), mask())


def test_pooling_weighs_every_word_not_every_answer():
    long_answer = AnswerScores(
        tuple(ObjectScore(i, 1, 0, 0.9, 1.0, 0.5) for i in range(3)), (FunctionScore(0, 0.5),), 10.0
    )
    short_answer = AnswerScores((ObjectScore(0, 1, 0, 0.1, 0.0, 1.0),), (FunctionScore(1, 1.0),), 20.0)
    pooled = PooledIoU()
    pooled.update(long_answer)
    pooled.update(short_answer)
    summary = pooled.summary()
    assert summary["obj_iou"] == pytest.approx((0.9 * 3 + 0.1) / 4)  # not (0.9 + 0.1) / 2
    assert summary["func_iou"] == pytest.approx(0.75)
    assert summary["f1_iou"] == pytest.approx(f1_iou(0.7, 0.75))
    assert summary["precision"] == pytest.approx(0.75) and summary["recall"] == pytest.approx(0.625)
    assert (summary["objects"], summary["function_words"]) == (4, 2)


def test_empty_pool_gives_none():
    assert PooledIoU().summary()["obj_iou"] is None
    assert f1_iou(None, 0.5) is None and f1_iou(0.0, 0.0) == 0.0


def test_f1_of_the_papers_figures():
    assert f1_iou(0.2737, 0.6844) == pytest.approx(0.3910, abs=5e-5)
