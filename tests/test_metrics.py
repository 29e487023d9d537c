import math

import pytest

from rag.evaluate.metrics import accuracy, auroc, balanced_accuracy, pair_ranking


def test_accuracy_and_balanced_accuracy():
    labels = [1, 1, 1, 0]
    predicted = [True, True, True, True]
    assert accuracy(predicted, labels) == 0.75
    assert balanced_accuracy(predicted, labels) == 0.5
    assert math.isnan(balanced_accuracy([True], [1]))


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 1.0), ([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0], 0.0), ([0.5, 0.5], [1, 0], 0.5),
     ([0.9, 0.3, 0.5, 0.1], [1, 1, 0, 0], 0.75)],
)  # fmt: skip
def test_auroc(scores, labels, expected):
    assert auroc(scores, labels) == pytest.approx(expected)


def test_pair_ranking_compares_within_a_question_only():
    scores = [0.9, 0.2, 0.3, 0.4, 0.6, 0.6]
    labels = [1, 0, 1, 0, 1, 0]
    groups = ["a", "a", "b", "b", "c", "c"]
    assert pair_ranking(scores, labels, groups) == (pytest.approx((1 + 0 + 0.5) / 3), 3)


def test_percentile_nearest_rank():
    from rag.evaluate.metrics import percentile

    assert percentile([0.9, 0.1, 0.2], 0.5) == 0.2
    assert percentile([0.9, 0.1, 0.2], 0.95) == 0.9
    assert percentile([], 0.5) is None


def test_unsupported_detection_counts_label_0_as_the_positive_class():
    from rag.evaluate.metrics import unsupported_detection

    labels = [0, 0, 0, 1, 1, 1, 1]
    predicted = [False, False, True, False, True, True, True]  # 2 of 3 caught, 1 faithful flagged
    precision, recall, f1 = unsupported_detection(predicted, labels)
    assert (precision, recall) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert f1 == pytest.approx(2 / 3)
    everything = unsupported_detection([False] * 7, labels)  # flagging all: recall 1, precision = prevalence
    assert everything == (pytest.approx(3 / 7), 1.0, pytest.approx(2 * (3 / 7) / (1 + 3 / 7)))
    assert unsupported_detection([True] * 7, labels) == (0.0, 0.0, 0.0)  # nothing flagged
    nothing_to_find = unsupported_detection([True, False], [1, 1])
    assert nothing_to_find[0] == 0.0 and math.isnan(nothing_to_find[1]) and math.isnan(nothing_to_find[2])


def test_accept_rate_of_supported_lines():
    from rag.evaluate.metrics import accept_rate

    assert accept_rate([True, False, True, False], [1, 1, 1, 0]) == pytest.approx(2 / 3)
    assert math.isnan(accept_rate([False], [0]))


def test_span_overlap_counts_characters_over_all_answers():
    from rag.evaluate.metrics import span_overlap

    predicted = [[(0, 10)], [], [(5, 9)]]
    gold = [[(5, 15)], [(0, 4)], []]  # 5 shared; 14 marked by the judge; 14 by people
    assert span_overlap(predicted, gold) == (pytest.approx(5 / 14), pytest.approx(5 / 14), pytest.approx(5 / 14))
    overlapping = span_overlap([[(0, 4), (2, 6)]], [[(0, 6)]])  # a character counts once
    assert overlapping == (1.0, 1.0, 1.0)
    assert span_overlap([[(0, 3)]], [[(3, 6)]]) == (0.0, 0.0, 0.0)
    assert math.isnan(span_overlap([[]], [[]])[2])
