"""Fit the embedded judge on halueval_train.jsonl and measure it on halueval_val.jsonl.

Writes rag/weights/judge.json (the two logistic models and their provenance), enters it in the
weights manifest and prints the validation figures. Needs the bundled model
(`rag models prepare`). From the repository:

    .venv/bin/python -m eval.judge.train
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.judge.fitting import fit_logistic
from eval.manifest import record
from rag.evaluate.judging import judge_file, read_labelled
from rag.judge.embedded import FEATURES_CROSS_LANGUAGE, FEATURES_SAME_LANGUAGE, WEIGHTS_FILE, EmbeddedJudge
from rag.models.embedder import make_embedder
from rag.settings import Settings

HERE = Path(__file__).resolve().parent
PLACEHOLDER = {
    "features": list(FEATURES_SAME_LANGUAGE),
    "mean": [0.0] * 5,
    "scale": [1.0] * 5,
    "weights": [0.0] * 5,
    "bias": 0.0,
    "threshold": 0.5,
}


def main() -> None:
    embedder = make_embedder(Settings.from_env())
    cross = dict(
        PLACEHOLDER, features=list(FEATURES_CROSS_LANGUAGE), mean=[0.0] * 3, scale=[1.0] * 3, weights=[0.0] * 3
    )
    probe = EmbeddedJudge(embedder, {"same_language": PLACEHOLDER, "cross_language": cross})
    train = read_labelled(HERE / "halueval_train.jsonl")
    claims = probe.evidence(train.cases)
    # A case's label is its claims' label (HaluEval answers are one claim, almost always).
    rows = [c.values for c in claims]
    labels = [train.labels[c.case] for c in claims]
    same = fit_logistic(rows, labels, FEATURES_SAME_LANGUAGE)
    crossing = fit_logistic(rows, labels, FEATURES_CROSS_LANGUAGE)
    weights = {
        "same_language": same.to_json(),
        "cross_language": crossing.to_json(),
        "provenance": "fitted by python -m eval.judge.train on eval/judge/halueval_train.jsonl "
        f"({len(train.cases)} answers, HaluEval QA dev rows, MIT); embeddings: {embedder.name}",
    }
    WEIGHTS_FILE.write_text(json.dumps(weights, indent=2) + "\n")
    record(
        WEIGHTS_FILE,
        f"eval/judge/halueval_train.jsonl: {len(train.cases)} HaluEval QA answers (MIT); features from {embedder.name}",
    )
    judge = EmbeddedJudge(embedder)
    for name in ("halueval_train.jsonl", "halueval_val.jsonl"):
        _, summary = judge_file(HERE / name, judge)
        summary.pop("skipped")
        print(json.dumps(summary))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
