"""How well question-level scores tell answerable questions from unanswerable ones, on retrieval.

    .venv/bin/python -m eval.reader.abstention eval/suites/news.jsonl eval/suites/demo.jsonl \\
        [--decider FOLDER] [--reader FOLDER] [--retrain FOLDER --out FOLDER]

For each suite (indexed once in ~/.cache/rag/sweep/, as eval.reader.sweep does), every question
is retrieved and read by the evidence reader; then the AUC of answerable against unanswerable
questions is printed for: the answerability the evidence reader abstains on (the decider's
cosine, rag/read/evidence.py; `--decider`: another decider's), the reader adapter's closest cosine
(`--adapter`: another adapter's; what it abstained on before the decider), the best
candidate's probability, and with `--reader` a
trained sentence cross-encoder (eval.reader.train) as the best probability it gives the
evidence reader's three best sentences. `--retrain FOLDER` first trains such a cross-encoder
further, from FOLDER's weights, on each training question's answer sentence against only its
hardest non-answers (the evidence reader's three best, and an unanswerable question's three
best), and writes it to `--out`: the experiment of README "The reader" ("Tried for abstention
since"). For the answerability, it also prints the bar that would abstain on `--abstain` (90%)
of a suite's unanswerable questions and the share of its answerable ones that bar refuses, and
with `--bar B` what a given bar refuses (a suite with no unanswerable questions, PIAF's). The
figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from eval.reader import data
from eval.reader.adapters import trained_state
from eval.reader.sweep import suite_pipeline
from eval.reader.train import fit
from eval.reader.train_evidence import Vectors, group_units
from rag.answer.extractive import reader_inputs
from rag.errors import ModelError
from rag.evaluate.suites import load_suite
from rag.models.bundled import bundled_model_dir
from rag.models.weights import file_sha256
from rag.read.adapter import ADAPTER_DIR, ADAPTER_WEIGHTS, adapter_info, load_reader_embedder
from rag.read.cross_encoder import CONFIG_FILE, WEIGHTS_FILE, Reader, build_cross_encoder
from rag.read.evidence import EvidenceScorer, load_evidence
from rag.read.features import features
from rag.read.scorer import ReaderInput, bundled_base
from rag.settings import Settings

BEST = 3  # sentences the cross-encoder reads per question


def hardest_pairs(settings: Settings, seed: int = 13) -> list[tuple[str, str, float]]:
    """(question, candidate text, label): each training group's answer sentences among the
    evidence reader's `BEST` best, and its `BEST` best non-answers (every candidate of an
    unanswerable group is one)."""
    train, _ = data.build(seed, 1500, embed=Vectors(settings), hard_negatives=5)
    model = load_evidence()
    rows = []
    for group, units in zip(train, group_units(train, Vectors(settings, ADAPTER_DIR)), strict=True):
        probabilities = model.logistic.probabilities(features(group.question, units, model.cross_lingual_margin))
        order = sorted(range(len(units)), key=lambda i: -probabilities[i])
        answers = [i for i in order[:BEST] if group.labels[i]]  # those the reader puts in its best three
        negatives = [i for i in order if not group.labels[i]][:BEST]
        for i in answers + negatives:
            read = ReaderInput(group.candidates[i].sentence, group.candidates[i].title)  # as main() reads them
            rows.append((group.question, read.text(), float(group.labels[i])))
    random.Random(seed).shuffle(rows)
    return rows


def retrain(start: Path, out: Path, rows: list[tuple[str, str, float]], epochs: float, lr: float) -> None:
    from safetensors.torch import load_file, save_file

    config = json.loads((start / CONFIG_FILE).read_text(encoding="utf-8"))
    model = build_cross_encoder(bundled_model_dir(Settings().model_cache), config["layers"], config["max_length"])
    model.load_state_dict({k: v.float() for k, v in load_file(str(start / WEIGHTS_FILE)).items()}, strict=False)
    pairs: dict[str, list[Any]] = {
        "question": [r[0] for r in rows],
        "candidate": [r[1] for r in rows],
        "label": [r[2] for r in rows],
    }
    settings = argparse.Namespace(
        epochs=epochs, batch_size=32, lr=lr, head_lr=5 * lr, pos_weight=1.0, bf16=True, seed=13
    )
    started = time.monotonic()
    fit(model, pairs, settings, out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(trained_state(model.eval()), str(out / WEIGHTS_FILE))
    config["sha256"] = file_sha256(out / WEIGHTS_FILE)
    config["training"] = {
        "command": "python -m eval.reader.abstention " + " ".join(sys.argv[1:]),
        "pairs": len(rows),
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


def auc(positives: list[float], negatives: list[float]) -> float:
    """The probability that an answerable question scores above an unanswerable one."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--adapter", type=Path, default=ADAPTER_DIR, help="the reader adapter whose cosine is read")
    parser.add_argument(
        "--decider",
        type=Path,
        default=None,
        help="another decider adapter (eval.reader.train_biencoder --null-bar) whose cosine is the answerability",
    )
    parser.add_argument("--reader", type=Path, default=None, help="a trained cross-encoder folder to score with")
    parser.add_argument("--retrain", type=Path, default=None, help="train this cross-encoder further first")
    parser.add_argument("--out", type=Path, default=Path("/tmp/reader-hardest"), help="where --retrain writes")
    parser.add_argument(
        "--abstain",
        type=float,
        default=0.9,
        help="print the answerability bar that abstains on this share of the unanswerable, and what it refuses",
    )
    parser.add_argument(
        "--bar", type=float, action="append", default=[], help="print the share of the answerable this bar refuses"
    )
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=3e-5)
    args = parser.parse_args()
    if not 0 < args.abstain <= 1:
        parser.error(f"--abstain is a share of the unanswerable questions, in (0, 1] (got {args.abstain})")
    if args.decider is not None:
        try:
            adapter_info(args.decider)
        except ModelError as exc:
            parser.error(f"--decider: {exc}")
    settings = Settings.from_env()
    reader_dir = args.reader
    if args.retrain is not None:
        rows = hardest_pairs(settings)
        print(f"{len(rows)} pairs, {int(sum(r[2] for r in rows))} answers", flush=True)
        retrain(args.retrain, args.out, rows, args.epochs, args.lr)
        reader_dir = args.out
    cross = Reader(bundled_model_dir(settings.model_cache), reader_dir) if reader_dir else None
    model = load_evidence()
    if args.adapter != ADAPTER_DIR:  # its cosines are what is measured; the weights were fitted on another
        model = dataclasses.replace(model, adapter_sha256=file_sha256(args.adapter / ADAPTER_WEIGHTS))
    for path in args.suites:
        suite = load_suite(path)
        pipeline = suite_pipeline(suite, settings)
        scorer = EvidenceScorer(pipeline.settings, pipeline.embedder, model, adapter=args.adapter)
        if args.decider is not None:  # read instead of the shipped one (the bar was calibrated on that)
            scorer.decider = load_reader_embedder(bundled_base(pipeline.settings), args.decider)
        scores: dict[str, dict[bool, list[float]]] = {}
        for case in suite.cases:
            if case.answerable and not (case.facts and case.sources):
                continue
            units = reader_inputs(pipeline.search(case.question))
            probabilities, answerability = scorer.read(case.question, [(u, h.language) for h, _, u in units])
            pieces = list(dict.fromkeys(piece for _, _, u in units for piece in u.pieces))
            values = {
                "answerability (abstains on)": answerability,
                "adapter closest cosine": max(scorer.cosines(case.question, pieces), default=-1.0),
                "best probability": max(probabilities, default=0.0),
            }
            if cross is not None:
                singles = sorted(
                    (i for i, (_, spans, _) in enumerate(units) if len(spans) == 1), key=lambda i: -probabilities[i]
                )[:BEST]
                best = [ReaderInput(units[i][2].sentence, units[i][2].title) for i in singles]
                values["cross-encoder, best of three"] = max(cross.score(case.question, best), default=0.0)
            for name, value in values.items():
                scores.setdefault(name, {True: [], False: []})[case.answerable].append(value)
        print(f"\n{suite.name}: AUC of answerable against unanswerable questions")
        for name, by in scores.items():
            print(f"  {name:<32} {auc(by[True], by[False]):.3f} ({len(by[True])} / {len(by[False])})")
        barred = scores.get("answerability (abstains on)", {True: [], False: []})
        if barred[False]:
            bar = bar_abstaining(barred[False], args.abstain)
            refused = refused_share(barred[True], bar)
            print(
                f"  to abstain on {args.abstain:.0%} of the unanswerable, the answerability bar would be "
                f"{bar:.3f} and refuse {refused:.3f} of the answerable"
            )
        for bar in args.bar:
            print(f"  at bar {bar:.3f}: {refused_share(barred[True], bar):.3f} of the answerable refused")


def bar_abstaining(unanswerable: list[float], share: float) -> float:
    """The lowest bar below which at least `share` of these (unanswerable) scores fall."""
    ordered = sorted(unanswerable)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))] + 1e-6


def refused_share(answerable: list[float], bar: float) -> float:
    return sum(value < bar for value in answerable) / len(answerable) if answerable else float("nan")


if __name__ == "__main__":
    main()
