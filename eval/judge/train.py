"""Fit the embedded judge (rag/judge/embedded.py) on what real LLMs write, and calibrate it.

The claims are the sentences of RAGTruth's QA training answers (eval/judge/ragtruth_qa_train.jsonl:
GPT-4, GPT-3.5, Llama-2 and Mistral answers), labelled unsupported when they overlap a span people
marked. A quarter of the training *sources* (every answer about them, by any model) is held
apart: the logistic models are fitted on the other three quarters, sentence by sentence (the
model across languages too, with its word-vector evidence computed for every sentence), and the
thresholds are set on the held-apart answers: the answer cut maximises hallucination-detection
F1 at answer level (an answer's score is the product of its sentences'), the sentence cut F1 at
finding the marked sentences, and the cut across languages keeps as many faithful sentences as
the sentence cut does (see main). The measuring sets (ragtruth_qa_dev.jsonl, HaluEval val,
MEMERAG, crosslingual_check.jsonl) are never read here.

Writes rag/weights/judge.json and enters it in the weights manifest. Needs the bundled model
(`rag models prepare`). From the repository:

    .venv/bin/python -m eval.judge.train          # about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from eval.judge.fitting import fit_logistic
from eval.manifest import record
from rag.evaluate.judging import figures, read_labelled
from rag.judge.embedded import FEATURES_CROSS_LANGUAGE, FEATURES_SAME_LANGUAGE, WEIGHTS_FILE, Claim, EmbeddedJudge
from rag.models.embedder import make_embedder
from rag.settings import Settings

HERE = Path(__file__).resolve().parent
TRAIN = HERE / "ragtruth_qa_train.jsonl"
SEED = 7
HELD_APART = 0.25


def placeholder(features: tuple[str, ...]) -> dict[str, Any]:
    n = len(features)
    return {"features": list(features), "mean": [0.0] * n, "scale": [1.0] * n, "weights": [0.0] * n, "bias": 0.0}


def held_apart_sources(rows: list[dict[str, Any]]) -> set[str]:
    sources = sorted({str(r["source_id"]) for r in rows})
    random.Random(SEED).shuffle(sources)
    return set(sources[: round(len(sources) * HELD_APART)])


def best_f1_threshold(scores: list[float], labels: list[int]) -> tuple[float, float]:
    """The answer-level threshold (supported when score >= it) that maximises F1 of "unsupported"."""
    best = (-1.0, 0.5)
    for cut in sorted(set(scores)):
        flagged = [s < cut for s in scores]
        tp = sum(1 for f, y in zip(flagged, labels, strict=True) if f and not y)
        wrong = sum(1 for f, y in zip(flagged, labels, strict=True) if f != (not y))
        best = max(best, (2 * tp / max(1, 2 * tp + wrong), cut))
    return best[1], best[0]


def keeping_as_many(scores: list[float], labels: list[int], reference: list[float], cut: float) -> float:
    """The cut on `scores` that keeps (at or above it) as many of the faithful items (label 1) as
    `cut` keeps on the `reference` scores of the same items."""
    kept = sum(r >= cut for r, y in zip(reference, labels, strict=True) if y)
    faithful = sorted((s for s, y in zip(scores, labels, strict=True) if y), reverse=True)
    return faithful[max(0, min(len(faithful), kept) - 1)]


def overlaps_span(claim: Claim, spans: list[list[int]]) -> bool:
    """Whether a claim overlaps a span people marked unsupported."""
    return any(claim.span[0] < end and start < claim.span[1] for start, end in spans)


def main() -> None:
    embedder = make_embedder(Settings.from_env())
    rows = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines() if line.strip()]
    held = held_apart_sources(rows)
    data = read_labelled(TRAIN)
    fit = [i for i, row in enumerate(rows) if str(row["source_id"]) not in held]
    calibration = [i for i, row in enumerate(rows) if str(row["source_id"]) in held]
    weights: dict[str, Any] = {
        "same_language": dict(placeholder(FEATURES_SAME_LANGUAGE), threshold=0.5),
        "cross_language": dict(placeholder(FEATURES_CROSS_LANGUAGE), threshold=0.5),
    }
    probe = EmbeddedJudge(embedder, weights, align_every=True)
    claims = probe.evidence([data.cases[i] for i in fit])
    # A sentence is unsupported when it overlaps a span people marked.
    labels = [0 if overlaps_span(c, rows[fit[c.case]]["spans"]) else 1 for c in claims]
    values = [c.values for c in claims if c.values.get("quoted") != 1.0]
    kept = [y for c, y in zip(claims, labels, strict=True) if c.values.get("quoted") != 1.0]
    same = fit_logistic(values, kept, FEATURES_SAME_LANGUAGE)
    crossing = fit_logistic(values, kept, FEATURES_CROSS_LANGUAGE)
    weights = {"same_language": same.to_json(), "cross_language": crossing.to_json()}
    # The thresholds are set on the held-apart answers. Within a language: the cut that best
    # detects unsupported answers (F1), then the cut that best finds the marked sentences (F1): a
    # sentence below it is unsupported (the guards reject it; an unsupported answer points at it).
    # The model across languages reads no words of the passages, only vectors: at its own best F1
    # it flags nearly every sentence, so its cut is the one that keeps as many of the faithful
    # held-apart sentences as the cut within a language keeps, and an answer judged across
    # languages is supported when each of its sentences reaches it (rag/judge/embedded.py).
    cases = [data.cases[i] for i in calibration]
    truth = [data.labels[i] for i in calibration]
    within_language = EmbeddedJudge(embedder, weights)
    threshold, f1 = best_f1_threshold([v.score for v in within_language.judge_many(cases)], truth)
    weights["same_language"]["threshold"] = threshold
    judge = EmbeddedJudge(embedder, weights, align_every=True)
    held_claims = [c for c in judge.evidence(cases) if c.values.get("quoted") != 1.0]
    marked = [0 if overlaps_span(c, rows[calibration[c.case]]["spans"]) else 1 for c in held_claims]
    within = [judge.same_language.probability(c.values) for c in held_claims]
    across = [judge.cross_language.probability(c.values) for c in held_claims]
    cut = best_f1_threshold(within, marked)[0]
    weights["sentence_threshold"] = cut
    weights["cross_language"]["threshold"] = keeping_as_many(across, marked, within, cut)
    verdicts = EmbeddedJudge(embedder, weights, align_every=True).judge_many(cases)
    weights["provenance"] = (
        f"fitted by python -m eval.judge.train on {len(values)} sentences of {len(fit)} RAGTruth QA training answers "
        f"(MIT; labels from the human spans); on {len(calibration)} answers of {len(held)} held-apart sources: "
        f"the answer cut, best F1 of unsupported answers ({f1:.3f}); the sentence cut, best F1 of marked "
        "sentences; across languages, the cut that keeps as many faithful sentences as the sentence cut; "
        f"embeddings: {embedder.name}"
    )
    WEIGHTS_FILE.write_text(json.dumps(weights, indent=2) + "\n")
    record(
        WEIGHTS_FILE,
        f"eval/judge/ragtruth_qa_train.jsonl: {len(fit)} RAGTruth QA answers fitted, {len(calibration)} held apart "
        f"for the threshold (MIT); features from {embedder.name}",
    )
    predicted = [v.supported for v in verdicts]
    summary = figures(predicted, [v.score for v in verdicts], truth)
    thresholds = {name: round(weights[name]["threshold"], 4) for name in ("same_language", "cross_language")}
    thresholds["same_language sentences"] = round(cut, 4)
    print(json.dumps({"thresholds": thresholds, "held_apart": summary}, indent=1))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
