"""Train the judge (rag/judge/trained.py) and calibrate its threshold. From the repository:

    .venv/bin/pip install -e '.[train]'          # datasets, accelerate for the trainer
    .venv/bin/python -m eval.judge.train_reader  # writes ~/.cache/rag/judge_reader/ (37 min, 2 cores)
    RAG_JUDGE=cross-encoder .venv/bin/rag eval judge eval/judge/ragtruth_qa_dev.jsonl

The model is the bundled multilingual-e5-small cut to its first six layers, mean pooling and a
linear head, trained with sentence-transformers' CrossEncoderTrainer and a binary cross-entropy
loss on the claims of eval/judge/examples.py (its docstring lists the data). The token
embeddings stay frozen; the six layers and the head are saved (fp16, about 21 MB) with their
sha256 in judge.json. It is not shipped: README "The judge" has its figures.

Calibration: a share of RAGTruth's QA training *sources* (never answers) is held apart from
training; the threshold is the one that maximises hallucination-detection F1 at response level
(an answer is unsupported when its least supported sentence scores below it) on their answers.
The measuring sets (RAGTruth QA dev, MEMERAG, HaluEval val) are never read here.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from eval.judge import examples
from eval.reader.adapters import trained_state
from eval.reader.train import fit
from rag.judge.embedded import JudgeCase
from rag.judge.trained import (
    CONFIG_FILE,
    LAYERS,
    MAX_LENGTH,
    WEIGHTS_FILE,
    EvidencePicker,
    TrainedJudge,
    load_model,
    pair_text,
)
from rag.models.bundled import bundled_model_dir
from rag.models.embedder import cpu_has_bf16, make_embedder
from rag.models.weights import file_sha256
from rag.read.cross_encoder import build_cross_encoder
from rag.settings import Settings


def gather(args: argparse.Namespace) -> tuple[list[examples.Example], list[dict[str, Any]]]:
    """The training examples and the held-apart calibration answers."""
    rng = random.Random(args.seed)
    qa = examples.read_jsonl(examples.HERE / "ragtruth_qa_train.jsonl")
    held = examples.calibration_sources(qa, args.calibration_share, args.seed)
    fit_rows = [r for r in qa if str(r["source_id"]) not in held]
    calibration = [r for r in qa if str(r["source_id"]) in held]
    summaries = examples.read_jsonl(examples.HERE / "ragtruth_summary_train.jsonl")
    real = examples.ragtruth(fit_rows, "ragtruth:qa") + examples.ragtruth(summaries, "ragtruth:summary")
    made = list(examples.perturbed([e for e in real if e.label == 1], rng))
    rows = real + made + examples.piaf(rng, args.piaf) + examples.halueval(rng, args.halueval)
    rows += examples.french_nli(rng, args.nli)
    rng.shuffle(rows)
    return rows, calibration


def pairs_for(rows: list[examples.Example], picker: EvidencePicker) -> dict[str, list[Any]]:
    questions = [picker.cut_question(r.question) for r in rows]
    evidence = picker.pick(questions, [r.claim for r in rows], [r.contexts for r in rows])
    texts = [pair_text(q, r.claim, e) for q, r, e in zip(questions, rows, evidence, strict=True)]
    return {"claim": [t[0] for t in texts], "passages": [t[1] for t in texts], "label": [float(r.label) for r in rows]}


def best_f1_threshold(scores: list[float], labels: list[int]) -> tuple[float, float]:
    """The threshold maximising F1 of "unsupported" (label 0) when score < threshold flags it."""
    best = (0.0, 0.5)
    for step in range(1, 100):
        t = step / 100
        flagged = [s < t for s in scores]
        tp = sum(1 for f, y in zip(flagged, labels, strict=True) if f and y == 0)
        fp = sum(1 for f, y in zip(flagged, labels, strict=True) if f and y == 1)
        fn = sum(1 for f, y in zip(flagged, labels, strict=True) if not f and y == 0)
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        best = max(best, (f1, t))
    return best[1], best[0]


def save(model: Any, out: Path, threshold: float, info: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(trained_state(model), str(out / WEIGHTS_FILE))
    config = {"sha256": file_sha256(out / WEIGHTS_FILE), "threshold": threshold, "layers": LAYERS}
    config |= {"max_length": MAX_LENGTH, **info}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


def main(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    started = time.time()
    embedder = make_embedder(settings)
    base = bundled_model_dir(settings.model_cache)
    model = build_cross_encoder(base, LAYERS, MAX_LENGTH)
    if args.init:  # go on training a judge trained before (its weights, not its threshold)
        model = load_model(base, args.init)[1]
    rows, calibration = gather(args)
    print(f"{len(rows)} training claims: {dict(Counter(r.origin for r in rows))}", flush=True)
    print(f"labels: {dict(Counter(r.label for r in rows))}; calibration answers: {len(calibration)}", flush=True)
    pairs = pairs_for(rows, EvidencePicker(embedder, model.tokenizer, MAX_LENGTH))
    print(f"evidence picked in {time.time() - started:.0f} s", flush=True)
    args.bf16 = cpu_has_bf16()
    work = args.out.parent / f"{args.out.name}.tmp"
    fit(model, pairs, args, work)
    trained = time.time()
    save(model, work, 0.5, {})
    judge = TrainedJudge(embedder, base, work)
    cases = [JudgeCase(r["question"], tuple(r["contexts"]), r["answer"]) for r in calibration]
    scores = [v.score for v in judge.judge_many(cases)]
    threshold, f1 = best_f1_threshold(scores, [int(r["label"]) for r in calibration])
    info = {
        "provenance": f"python -m eval.judge.train_reader --seed {args.seed} --epochs {args.epochs}"
        + (f" --init {args.init.name}" if args.init else ""),
        "training_claims": dict(Counter(r.origin for r in rows)),
        "calibration": f"{len(calibration)} RAGTruth QA training answers of held-apart sources: F1 {f1:.3f}",
        "minutes": {"training": round((trained - started) / 60, 1), "total": round((time.time() - started) / 60, 1)},
    }
    save(model, work, threshold, info)
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    if args.out.exists():
        shutil.rmtree(args.out)
    work.rename(args.out)
    print(json.dumps({"threshold": threshold, "calibration_f1": round(f1, 4), **info}, indent=1))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=Settings().judge_dir, help="where the weights and judge.json go (RAG_JUDGE_DIR)"
    )
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5, help="learning rate of the six layers")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the new linear head")
    parser.add_argument("--pos-weight", type=float, default=1.0, help="weight of supported claims in the loss")
    parser.add_argument("--calibration-share", type=float, default=0.25, help="RAGTruth QA sources held apart")
    parser.add_argument("--piaf", type=int, default=400, help="PIAF questions turned into claims")
    parser.add_argument("--halueval", type=int, default=800, help="HaluEval training lines")
    parser.add_argument("--nli", type=int, default=900, help="French NLI pairs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--init", type=Path, default=None, help="start from the judge in this folder")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse())
