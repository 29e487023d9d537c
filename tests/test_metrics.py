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
