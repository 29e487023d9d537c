"""Fit the reader (rag/reader.py) and calibrate its abstention threshold.

    .venv/bin/python eval/reader/train.py            # writes rag/reader.json and rag/reader.sha256

Groups come from eval/reader/data.py (PIAF French questions, our English questions about PIAF
paragraphs, HaluEval English questions; the paragraphs the evaluation suites use are never
seen). Every candidate sentence and question is embedded once with the bundled e5, each
candidate gets the reader's features, and a logistic regression (rag.judge.fit_logistic) is
fitted on them. The abstention threshold is the best-candidate probability that best separates
the answerable calibration groups from the unanswerable ones (balanced accuracy), on groups held
apart from training (one PIAF article in six, 600 HaluEval dev rows). Takes a few minutes on 2
cores, most of it embedding.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from eval.reader.data import Group, build  # noqa: E402
from rag.embedder import make_embedder  # noqa: E402
from rag.judge import LogisticModel, best_threshold, fit_logistic  # noqa: E402
from rag.reader import CHECKSUM_FILE, FEATURES, MODEL_FILE, features, sha256_of  # noqa: E402
from rag.settings import Settings  # noqa: E402

SEED = 13


def feature_rows(groups: list[Group], vectors: dict[str, object], queries: dict[str, object]) -> list[list[dict]]:
    """For each group, the feature dicts of its candidates."""
    import numpy as np

    out = []
    for g in groups:
        q = np.asarray(queries[g.question])
        cos = [float(np.dot(q, np.asarray(vectors[c.sentence]))) for c in g.candidates]
        best = max(cos)
        out.append([features(g.question, g.language, c, x, best) for c, x in zip(g.candidates, cos, strict=True)])
    return out


def embed_all(groups: list[Group]) -> tuple[dict[str, object], dict[str, object]]:
    """Unit vectors of every candidate sentence and question (cached in the model cache)."""
    import pickle

    settings = Settings.from_env()
    cache = settings.model_cache / "reader-train-vectors.pkl"
    stored: tuple[dict[str, object], dict[str, object]] = ({}, {})
    if cache.exists():
        stored = pickle.loads(cache.read_bytes())
    vectors, queries = _embed(groups, settings, *stored)
    cache.write_bytes(pickle.dumps((vectors, queries)))
    return vectors, queries


def _embed(
    groups: list[Group], settings: Settings, vectors: dict[str, object], queries: dict[str, object]
) -> tuple[dict[str, object], dict[str, object]]:
    import numpy as np
    from rich.progress import track

    embedder = make_embedder(settings)
    sentences = sorted({c.sentence for g in groups for c in g.candidates} - set(vectors))
    questions = sorted({g.question for g in groups} - set(queries))
    batch = 128
    for i in track(range(0, len(sentences), batch), description=f"embedding {len(sentences)} sentences"):
        chunk = sentences[i : i + batch]
        for text, vec in zip(chunk, embedder.embed_passages(chunk), strict=True):
            v = np.asarray(vec, dtype=np.float32)
            vectors[text] = v / (np.linalg.norm(v) or 1.0)
    for question in track(questions, description=f"embedding {len(questions)} questions"):
        v = np.asarray(embedder.embed_query(question), dtype=np.float32)
        queries[question] = v / (np.linalg.norm(v) or 1.0)
    return vectors, queries


def calibrate(model: LogisticModel, groups: list[Group], rows: list[list[dict]]) -> dict[str, float]:
    best_scores, answerable, top_right, cosine_right = [], [], [], []
    for g, feats in zip(groups, rows, strict=True):
        probs = [model.probability(f) for f in feats]
        top = max(range(len(probs)), key=probs.__getitem__)
        best_scores.append(probs[top])
        answerable.append(int(g.answerable))
        top_right.append(bool(g.labels[top]))
        cos = [f["cos"] for f in feats]
        cosine_right.append(bool(g.labels[max(range(len(cos)), key=cos.__getitem__)]))
    threshold = best_threshold(best_scores, answerable)
    n_ans = sum(answerable)
    n_un = len(groups) - n_ans
    figures = {
        "threshold": round(threshold, 4),
        "groups": len(groups),
        "answerable": n_ans,
        "top1_selection_accuracy": round(sum(r for r, a in zip(top_right, answerable, strict=True) if a) / n_ans, 4),
        "false_abstention_rate": round(
            sum(1 for s, a in zip(best_scores, answerable, strict=True) if a and s < threshold) / n_ans, 4
        ),
        "unanswerable_abstained": round(
            sum(1 for s, a in zip(best_scores, answerable, strict=True) if not a and s < threshold) / n_un, 4
        ),
    }
    for source in sorted({g.source for g in groups}):
        for name, right in (("reader", top_right), ("cosine", cosine_right)):
            mine = [r for g, r, a in zip(groups, right, answerable, strict=True) if g.source == source and a]
            if mine:
                figures[f"top1_{name}_{source}"] = round(sum(mine) / len(mine), 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halueval", type=int, default=1500, help="HaluEval training groups (all PIAF ones are used)")
    parser.add_argument("--pair-margin", type=float, default=0.6, help="probability for a further answer sentence")
    options = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(SEED)
    train, calibration = build(SEED)
    halueval = [g for g in train if g.source == "halueval"]
    train = [g for g in train if g.source != "halueval"] + rng.sample(halueval, min(options.halueval, len(halueval)))
    vectors, queries = embed_all(train + calibration)
    train_rows = feature_rows(train, vectors, queries)
    rows = [f for feats in train_rows for f in feats]
    labels = [y for g in train for y in g.labels]
    model = fit_logistic(rows, labels, FEATURES)
    figures = calibrate(model, calibration, feature_rows(calibration, vectors, queries))
    threshold = figures["threshold"]
    data = {
        "what": "the reader of rag/reader.py: a logistic model over its features; retrain with eval/reader/train.py",
        "model": model.to_json(),
        "threshold": threshold,
        "pair_margin": max(options.pair_margin, threshold),
        "training": {
            "groups": len(train),
            "candidates": len(rows),
            "by_source": {s: sum(1 for g in train if g.source == s) for s in ("piaf", "piaf-en", "halueval")},
            "seconds": round(time.perf_counter() - started),
        },
        "calibration": figures,
    }
    MODEL_FILE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    CHECKSUM_FILE.write_text(f"{sha256_of(MODEL_FILE)}  {MODEL_FILE.name}\n")
    print(json.dumps({k: v for k, v in data.items() if k != "model"}, indent=2))
    print("weights:", dict(zip(FEATURES, (round(w, 3) for w in model.weights), strict=True)))


if __name__ == "__main__":
    main()
