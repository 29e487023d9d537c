"""Fitting the embedded judge's logistic models (rag/judge/embedded.py) on labelled claims."""

from __future__ import annotations

from collections.abc import Sequence

from rag.models.logistic import LogisticModel


def fit_logistic(
    rows: Sequence[dict[str, float]], labels: Sequence[int], features: Sequence[str], l2: float = 0.01
) -> LogisticModel:
    """Logistic regression by gradient descent on standardised features; the threshold is the
    probability that maximises balanced accuracy on the same rows."""
    import numpy as np

    x = np.array([[row[f] for f in features] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(4000):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * w)
        b -= 0.5 * float((p - y).mean())
    probabilities = 1.0 / (1.0 + np.exp(-(z @ w + b)))
    threshold = best_threshold(probabilities.tolist(), [int(v) for v in y])
    return LogisticModel(tuple(features), tuple(mean), tuple(scale), tuple(w), float(b), threshold)


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The score cut that maximises balanced accuracy (ties broken towards the middle)."""
    pairs = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    best, cut = -1.0, 0.5
    below_pos = below_neg = 0
    for i, (score, label) in enumerate(pairs):
        if i == 0 or score != pairs[i - 1][0]:
            balanced = ((positives - below_pos) / max(positives, 1) + below_neg / max(negatives, 1)) / 2
            if balanced > best:
                best, cut = balanced, (score + pairs[i - 1][0]) / 2 if i else score
        below_pos += label
        below_neg += 1 - label
    return float(cut)
