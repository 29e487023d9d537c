"""Scores for a judge or a classifier (accuracy, balanced accuracy, AUROC, pair ranking; the
detection of unsupported answers and of unsupported characters, as hallucination detection is
scored), and the nearest-rank percentile used for latencies."""

from __future__ import annotations

import math
from collections.abc import Sequence


def accuracy(predicted: Sequence[bool], labels: Sequence[int]) -> float:
    return sum(p == bool(y) for p, y in zip(predicted, labels, strict=True)) / max(len(labels), 1)


def balanced_accuracy(predicted: Sequence[bool], labels: Sequence[int]) -> float:
    """Mean of the recall on each class (NaN when a class is missing)."""
    pos = [p for p, y in zip(predicted, labels, strict=True) if y]
    neg = [not p for p, y in zip(predicted, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    return (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    ranked = sorted(zip(scores, labels, strict=True))
    positives = sum(1 for _, y in ranked if y)
    negatives = len(ranked) - positives
    if not positives or not negatives:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average = (i + 1 + j) / 2
        rank_sum += average * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def pair_ranking(scores: Sequence[float], labels: Sequence[int], groups: Sequence[str]) -> tuple[float, int]:
    """Share of (supported, unsupported) pairs about the same question and passages in which the
    supported answer scores higher (ties count half); and how many pairs there were."""
    by_group: dict[str, tuple[list[float], list[float]]] = {}
    for score, label, group in zip(scores, labels, groups, strict=True):
        by_group.setdefault(group, ([], []))[0 if label else 1].append(score)
    wins, pairs = 0.0, 0
    for good, bad in by_group.values():
        for g in good:
            for b in bad:
                wins += 1.0 if g > b else 0.5 if g == b else 0.0
                pairs += 1
    return (wins / pairs if pairs else float("nan")), pairs


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-quantile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def precision_recall_f1(true_positives: int, predicted: int, actual: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts: precision is 0 when nothing was predicted, recall NaN
    when there was nothing to find (F1 then NaN too)."""
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / actual if actual else float("nan")
    if math.isnan(recall):
        return precision, recall, recall
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def unsupported_detection(predicted: Sequence[bool], labels: Sequence[int]) -> tuple[float, float, float]:
    """Precision, recall and F1 of detecting unsupported answers, as hallucination detection is
    scored: label 0 is the positive class, and a line is flagged when judged not supported."""
    pairs = list(zip(predicted, labels, strict=True))
    caught = sum(1 for p, y in pairs if not p and not y)
    return precision_recall_f1(caught, sum(1 for p, _ in pairs if not p), sum(1 for _, y in pairs if not y))


def accept_rate(predicted: Sequence[bool], labels: Sequence[int]) -> float:
    """Share of the supported lines (label 1) judged supported (NaN when there are none)."""
    kept = [p for p, y in zip(predicted, labels, strict=True) if y]
    return sum(kept) / len(kept) if kept else float("nan")


def _characters(spans: Sequence[tuple[int, int]]) -> set[int]:
    return {i for start, end in spans for i in range(start, end)}


def span_overlap(
    predicted: Sequence[Sequence[tuple[int, int]]], gold: Sequence[Sequence[tuple[int, int]]]
) -> tuple[float, float, float]:
    """Character-level precision, recall and F1 of unsupported spans, summed over all answers:
    the characters marked by both over those marked by the judge, and over those marked by people."""
    both = marked = actual = 0
    for mine, theirs in zip(predicted, gold, strict=True):
        mine_chars, their_chars = _characters(mine), _characters(theirs)
        both += len(mine_chars & their_chars)
        marked += len(mine_chars)
        actual += len(their_chars)
    return precision_recall_f1(both, marked, actual)
