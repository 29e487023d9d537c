"""Fit the answers' confidence (rag/answer/confidence.py) on one suite, and its hedging bar.

Every case of the suite is asked as `rag ask` asks it (the default reader); for each answer given,
the signals of rag/answer/confidence.py and whether it is right (every key fact, its source cited;
any answer to an unanswerable question is wrong). A logistic regression (scikit-learn) over the
standardised signals gives the probability that an answer is right. The bar under which an
answer is hedged is the lowest that leaves at most `--confidently-wrong` of all the suite's
questions with an unhedged wrong answer. Written to rag/weights/confidence.json and the weights
manifest. Calibrate on one set and measure on another (`rag eval eval/suites/crowd.jsonl`).

    .venv/bin/python -m eval.reader.calibrate_confidence                      # the news suite
    .venv/bin/python -m eval.reader.calibrate_confidence --index /tmp/news    # reuse an index
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from eval.manifest import record
from rag.answer.confidence import CONFIDENCE_FILE, FEATURES, Calibration
from rag.answer.extractive import ExtractiveAnswerer, signals
from rag.evaluate.suites import answers_case, load_suite
from rag.models.logistic import LogisticModel
from rag.pipeline import build_pipeline
from rag.settings import Settings

HERE = Path(__file__).resolve().parent


def observe(suite_path: Path, index: Path) -> tuple[list[dict[str, float]], list[bool], int]:
    """The signals and the rightness of every answer given, and the number of questions."""
    suite = load_suite(suite_path)
    pipeline = build_pipeline(Settings.from_env().with_(index=index, chroma_url=""))
    pipeline.ingest([suite.corpus])
    answerer = pipeline.answerer("extractive")
    assert isinstance(answerer, ExtractiveAnswerer)
    rows, right = [], []
    for case in suite.cases:
        hits, _ = pipeline.retrieve(case.question, case.question)
        ranked = answerer.candidates(case.question, hits)
        chosen = answerer.select(ranked)
        if not chosen:
            continue
        answer = answerer.compose(case.question, hits, ranked)
        cited = [c.source for c in answer.citations]
        rows.append(signals(case.question, chosen, ranked))
        right.append(bool(case.answerable and answers_case(case, answer.text, cited)))
    return rows, right, len(suite.cases)


def fit(
    rows: list[dict[str, float]], right: list[bool], questions: int, most_wrong: float
) -> tuple[LogisticModel, dict]:
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)
    y = np.asarray(right, dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    regression = LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / scale, y)
    model = LogisticModel(
        FEATURES, tuple(mean.tolist()), tuple(scale.tolist()), tuple(regression.coef_[0].tolist()),
        float(regression.intercept_[0]),
    )  # fmt: skip
    calibration = Calibration(model, "", "")
    probabilities = np.asarray([calibration.confidence(row) for row in rows])  # as answers are scored
    bar = 1.0
    for candidate in sorted(set(probabilities.tolist())):
        wrong = int(((probabilities >= candidate) & (y == 0)).sum())
        if wrong <= most_wrong * questions:
            bar = candidate
            break
    unhedged = probabilities >= bar
    figures = {
        "questions": questions,
        "answers": len(rows),
        "right": int(y.sum()),
        "hedging bar": round(bar, 4),
        "hedged": int((~unhedged).sum()),
        "confidently wrong (share of questions)": round(float((unhedged & (y == 0)).sum()) / questions, 4),
        "right and unhedged": int((unhedged & (y == 1)).sum()),
    }
    return LogisticModel(model.features, model.mean, model.scale, model.weights, model.bias, bar), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", type=Path, default=HERE.parent / "suites" / "news.jsonl")
    parser.add_argument("--index", type=Path, help="an index of the suite's corpus to reuse (default: a temporary one)")
    parser.add_argument(
        "--confidently-wrong", type=float, default=0.10, help="the most unhedged wrong answers, as a share of questions"
    )
    parser.add_argument("--out", type=Path, default=CONFIDENCE_FILE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows, right, questions = observe(args.suite, args.index or Path(tmp) / "index")
    model, figures = fit(rows, right, questions, args.confidently_wrong)
    reader = Settings.from_env().reader
    data = {"model": model.to_json(), "reader": reader, "fitted_on": args.suite.name, "figures": figures}
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    record(
        args.out, f"{args.suite.name}: {figures['answers']} answers to {questions} questions, {figures['right']} right"
    )
    print(json.dumps(figures, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
