"""Train the evidence reader (rag/read/features.py, rag/read/evidence.py) and calibrate its
abstention. From the repository:

    .venv/bin/python -m eval.reader.train_evidence      # a few minutes on 2 cores, most of it
                                                        # embedding (cached for the next run)
    RAG_READER=evidence .venv/bin/rag ask "..."

A logistic regression (scikit-learn, which sentence-transformers already needs) over the
features of rag/read/features.py, fitted on the training groups of eval/reader/data.py (PIAF, our
English questions on PIAF, our Wikinews questions, HaluEval, each question with e5-mined hard
negatives from other documents), on the cosines of the reader's adapter (eval.reader.train_biencoder;
`--adapter none` for the retrieval e5's). Its figures on the groups held apart from training are
kept in evidence.json ("calibration"). Whether to answer at all is decided by the decider's
cosine (`--decider`: a second adapter, eval.reader.train_biencoder --null-bar) of the closest of the
`--decider-candidates` most probable candidates, or with `--decider none` by the reader
adapter's cosine of the closest candidate: its bar (`answer_cosine`) is calibrated on retrieved
passages for our Wikinews questions (on-topic unanswerable ones included) and PIAF questions
held apart from training (retrieval_calibration). The
weights (a few dozen numbers) go to rag/weights/evidence.json with the sha256 the reader checks at
load time, and into the weights manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.manifest import record
from eval.reader import data
from eval.reader.train import calibrate, e5_embed
from rag.models.bundled import bundled_model_dir
from rag.models.embedder import make_embedder
from rag.models.weights import file_sha256
from rag.read.adapter import ADAPTER_DIR, ADAPTER_WEIGHTS, DECIDER_DIR, load_reader_embedder
from rag.read.evidence import EVIDENCE_FILE, EvidenceModel, EvidenceScorer
from rag.read.features import FEATURES, Unit, features
from rag.read.scorer import ReaderInput
from rag.settings import Settings


class Vectors:
    """Unit vectors of questions and sentences, kept on disk between runs: from the retrieval
    e5 (`adapter` None) or from the reader's adapter."""

    def __init__(self, settings: Settings, adapter: Path | None = None) -> None:
        self.settings, self.adapter = settings, adapter
        name = "base" if adapter is None else file_sha256(adapter / ADAPTER_WEIGHTS)[:16]
        self.path = settings.model_cache / f"evidence-train-vectors-{name}.pkl"
        self.cache: dict[tuple[bool, str], object] = {}
        if self.path.exists():
            self.cache = pickle.loads(self.path.read_bytes())
        self._encode: data.Embed | None = None

    def encoder(self) -> data.Embed:
        if self.adapter is not None:
            return load_reader_embedder(bundled_model_dir(self.settings.model_cache), self.adapter).vectors
        return e5_embed(self.settings, announce=False)

    def __call__(self, texts: list[str], queries: bool) -> Any:
        import numpy as np

        missing = sorted({t for t in texts if (queries, t) not in self.cache})
        if missing:
            if self._encode is None:
                self._encode = self.encoder()
            print(f"embedding {len(missing)} {'questions' if queries else 'sentences'}", flush=True)
            for text, row in zip(missing, self._encode(missing, queries), strict=True):
                self.cache[(queries, text)] = np.asarray(row, dtype=np.float16)
            self.path.write_bytes(pickle.dumps(self.cache))
        return np.asarray([self.cache[(queries, t)] for t in texts], dtype=np.float32)


def with_pairs(group: data.Group) -> data.Group:
    """The group with each two adjacent sentences of one document also read as one candidate,
    as the answerer reads them (rag/answer/extractive.py); a pair holds the answer when either does."""
    pairs, labels = [], []
    c, y = group.candidates, group.labels
    for i in range(len(c) - 1):
        if c[i + 1].before == c[i].sentence and c[i + 1].title == c[i].title:
            pairs.append(
                ReaderInput(
                    f"{c[i].sentence} {c[i + 1].sentence}", c[i].title, c[i].before, (c[i].sentence, c[i + 1].sentence)
                )
            )
            labels.append(max(y[i], y[i + 1]))
    copy = data.Group(group.question, group.source, group.language, doc=group.doc, answer=group.answer)
    copy.candidates, copy.labels = group.candidates + pairs, group.labels + labels
    return copy


def group_units(groups: list[data.Group], vectors: Vectors) -> list[list[Unit]]:
    """Each group's candidates as the features see them."""
    from rag.text.language import detect_language

    questions = vectors([g.question for g in groups], True)
    texts = sorted({piece for g in groups for c in g.candidates for piece in c.pieces})
    sentences = vectors(texts, False)
    index = {s: i for i, s in enumerate(texts)}
    languages: dict[str, str] = {}
    out = []
    for g, q in zip(groups, questions, strict=True):
        units = []
        for c in g.candidates:
            if c.sentence not in languages:
                languages[c.sentence] = detect_language(f"{c.title} {c.before} {c.sentence}")
            cosine = {piece: float(sentences[index[piece]] @ q) for piece in c.pieces}
            units.append(c.unit(cosine, languages[c.sentence] != g.language))
        out.append(units)
    return out


def cross_lingual_margin(groups: list[data.Group], units: list[list[Unit]]) -> float:
    """How much lower a question's cosine to its answer sentence runs across languages."""
    same: list[float] = []
    cross: list[float] = []
    for group, group_units in zip(groups, units, strict=True):
        for unit, label in zip(group_units, group.labels, strict=True):
            if label and not unit.pair:
                (cross if unit.cross_lingual else same).append(unit.cosine)
    return round(sum(same) / len(same) - sum(cross) / len(cross), 4) if same and cross else 0.0


def _wikinews_calibration(settings: Settings, distractors: int) -> tuple[Path, list[tuple[str, str | None]]]:
    """A corpus of the articles our Wikinews questions were written on and `distractors` other
    Wikinews articles (none of the news suite's); the questions, with their answers (None:
    on-topic unanswerable)."""
    rows = data._jsonl(data.WIKINEWS_QUESTIONS)
    asked = sorted({(str(r["article_language"]), str(r["file"])) for r in rows})
    used = {p.name for p in (data.REPO / "eval" / "news" / "corpus").iterdir()}
    others = sorted(
        (language, p.name)
        for language in ("fr", "en")
        for p in (data.WIKINEWS / language).glob("*.txt")
        if p.name not in used and (language, p.name) not in asked
    )
    corpus = settings.model_cache / "calibration" / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for language, name in asked + others[:: max(1, len(others) // distractors)][:distractors]:
        target = corpus / f"{language}_{name}"
        if not target.exists():
            target.write_text((data.WIKINEWS / language / name).read_text(encoding="utf-8"), encoding="utf-8")
    questions = [(str(r["question"]), None if r["answer"] is None else str(r["answer"])) for r in rows]
    return corpus, questions


def _piaf_calibration(settings: Settings) -> tuple[Path, list[tuple[str, str | None]]]:
    """A corpus of the paragraphs of the PIAF articles held apart from training (as
    eval/piaf/corpus holds the suite's), and their French questions with their answers."""
    articles = json.loads(data.PIAF_SOURCE.read_text(encoding="utf-8"))["data"]
    corpus = settings.model_cache / "calibration-piaf" / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    held = data.held_out_piaf_docs()
    questions: list[tuple[str, str | None]] = []
    for a, article in enumerate(articles):
        if not data.piaf_calibrating(a):
            continue
        title = article.get("title", "").replace("_", " ")
        for p, paragraph in enumerate(article["paragraphs"]):
            name = f"{a:03d}_{p:02d}.md"
            target = corpus / name
            if not target.exists():
                target.write_text(f"---\ntitle: {title}\n---\n{paragraph['context']}\n", encoding="utf-8")
            if name not in held:
                questions += [(qa["question"].strip(), qa["answers"][0]["text"]) for qa in paragraph["qas"]]
    return corpus, questions


def _closest_on_retrieval(
    settings: Settings, corpus: Path, questions: list[tuple[str, str | None]], scorer: EvidenceScorer
) -> tuple[list[tuple[float, bool]], list[float]]:
    """Each question asked of an index of `corpus`, its candidates read from the passages
    retrieved: (its answerability, the cosine the reader's bar is set on: the decider's or the
    adapter's closest; whether the best candidate holds the answer) for the answerable ones, the
    answerability alone for the unanswerable ones."""
    from rag.answer.extractive import reader_inputs
    from rag.pipeline import build_pipeline

    pipeline = build_pipeline(settings.with_(index=corpus.parent / "index"))
    pipeline.ingest([corpus])
    answerable: list[tuple[float, bool]] = []
    unanswerable: list[float] = []
    for question, answer in questions:
        units = reader_inputs(pipeline.search(question))
        probabilities, closest = scorer.read(question, [(unit, hit.language) for hit, _, unit in units])
        if not probabilities:
            continue
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        if answer is None:
            unanswerable.append(closest)
        else:
            answerable.append((closest, data.norm(answer) in data.norm(units[best][2].sentence)))
    return answerable, unanswerable


def retrieval_calibration(
    settings: Settings,
    scorer: EvidenceScorer,
    max_false_abstentions: float,
    distractors: int = 150,
    bar_sets: Sequence[str] = ("wikinews",),
) -> dict[str, object]:
    """The answerability bar, calibrated as the reader is used, on questions asked of an index
    and read from the passages retrieved: our Wikinews questions (on-topic unanswerable ones
    included) and PIAF's questions on the articles held apart from training. The bar is the
    highest at which at most `max_false_abstentions` of the answerable questions of each of
    `bar_sets` are refused, whatever the unanswerable ones then get; both sets' figures at that
    bar are reported. News and encyclopaedic text do not sit at the same cosines: a bar set on
    news refuses more of PIAF's answerable questions (README "The reader"). The Wikinews
    questions' articles are partly the reader's training data: their figures lean optimistic."""
    sets = {
        "wikinews": _wikinews_calibration(settings, distractors),
        "piaf": _piaf_calibration(settings),
    }
    read = {name: _closest_on_retrieval(settings, corpus, rows, scorer) for name, (corpus, rows) in sets.items()}
    bars = {}
    for name, (answerable, _) in read.items():
        tops = sorted(top for top, _ in answerable)
        bars[name] = round(tops[int(max_false_abstentions * len(tops))], 3)
    bar = min(bars[name] for name in bar_sets)
    out: dict[str, object] = {"answer_cosine": bar, "set_by": list(bar_sets)}
    for name, (answerable, unanswerable) in read.items():
        out[name] = {
            "questions": f"{len(answerable)} answerable, {len(unanswerable)} unanswerable",
            "bar_alone": bars[name],
            "top1_right": round(sum(ok for _, ok in answerable) / len(answerable), 4),
            "answered_right_at_bar": round(sum(1 for t, ok in answerable if ok and t >= bar) / len(answerable), 4),
            "false_abstentions_at_bar": round(sum(1 for t, _ in answerable if t < bar) / len(answerable), 4),
        }
        if unanswerable:
            out[name]["unanswerable_abstained_at_bar"] = round(  # type: ignore[index]
                sum(1 for t in unanswerable if t < bar) / len(unanswerable), 4
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=EVIDENCE_FILE, help="where the weights go")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--halueval-rows", type=int, default=1500, help="HaluEval training rows used")
    parser.add_argument("--hard-negatives", type=int, default=5, help="sentences of other documents per question")
    parser.add_argument(
        "--adapter", type=Path, default=ADAPTER_DIR, help="the reader adapter whose cosines it reads ('none': e5's)"
    )
    parser.add_argument(
        "--decider",
        type=Path,
        default=DECIDER_DIR,
        help="the adapter whose cosine decides to answer ('none': the reader's)",
    )
    parser.add_argument(
        "--decider-candidates", type=int, default=5, help="the most probable candidates the decider reads"
    )
    parser.add_argument(
        "--max-false-abstentions",
        type=float,
        default=0.10,
        help="share of answerable calibration questions the answerability bar may refuse",
    )
    parser.add_argument(
        "--bar-sets",
        default="wikinews",
        help="the calibration sets whose answerable questions the bar may refuse at most that share of "
        "(comma-separated: wikinews, piaf; the lowest of their bars is kept)",
    )
    parser.add_argument(
        "--extra-threshold",
        type=float,
        default=0.5,
        help="probability at which a further sentence joins the answer (0.5: the balanced ranker calls it an answer)",
    )
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    adapter = None if str(args.adapter) == "none" else args.adapter
    decider = None if str(args.decider) == "none" else args.decider
    bar_sets = [name.strip() for name in args.bar_sets.split(",") if name.strip()]
    if not bar_sets or not set(bar_sets) <= {"wikinews", "piaf"}:
        parser.error(f"--bar-sets takes wikinews, piaf or both (got {args.bar_sets!r})")

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    started = time.monotonic()
    settings = Settings.from_env()
    mining = Vectors(settings)  # hard negatives: what the retrieval e5 puts near the question
    vectors = mining if adapter is None else Vectors(settings, adapter)
    train_groups, calibration_groups = data.build(
        args.seed, args.halueval_rows, embed=mining, hard_negatives=args.hard_negatives
    )
    train_groups = [with_pairs(g) for g in train_groups]
    calibration_groups = [with_pairs(g) for g in calibration_groups]
    print("train:", data.summary(train_groups), flush=True)
    print("calibration:", data.summary(calibration_groups), flush=True)
    train_units = group_units(train_groups, vectors)
    margin = cross_lingual_margin(train_groups, train_units)
    train_rows = [features(g.question, u, margin) for g, u in zip(train_groups, train_units, strict=True)]
    x = np.asarray([r for rows in train_rows for r in rows], dtype=np.float64)
    y = np.asarray([label for g in train_groups for label in g.labels])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=args.c, max_iter=2000, class_weight="balanced")
    model.fit((x - mean) / scale, y)
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    weights = {
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in coef],
        "intercept": round(intercept, 6),
        "answer_cosine": -1.0,  # calibrated below
        "extra_threshold": args.extra_threshold,
        "adapter_sha256": "" if adapter is None else file_sha256(adapter / ADAPTER_WEIGHTS),
        "cross_lingual_margin": margin,
        "decider_sha256": "" if decider is None else file_sha256(decider / ADAPTER_WEIGHTS),
        "decider_candidates": 0 if decider is None else args.decider_candidates,
    }
    model_object = EvidenceModel.from_json(weights)

    calibration_rows = [
        features(g.question, u, margin)
        for g, u in zip(calibration_groups, group_units(calibration_groups, vectors), strict=True)
    ]
    calibration_scores = [model_object.logistic.probabilities(rows) for rows in calibration_rows]
    figures = calibrate(calibration_groups, calibration_scores)
    cosine_top1 = [
        g.labels[int(np.argmax([r[0] for r in rows]))] == 1
        for g, rows in zip(calibration_groups, calibration_rows, strict=True)
        if g.answerable
    ]
    figures["cosine_top1_right"] = round(sum(cosine_top1) / len(cosine_top1), 4)
    scorer = EvidenceScorer(
        settings, make_embedder(settings), model_object, adapter or ADAPTER_DIR, decider or DECIDER_DIR
    )
    retrieval = retrieval_calibration(settings, scorer, args.max_false_abstentions, bar_sets=bar_sets)
    print("calibrated on retrieval:", json.dumps(retrieval), flush=True)
    weights["answer_cosine"] = retrieval["answer_cosine"]
    out = {
        "sha256": hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest(),
        "model": weights,
        "training": {
            "command": "python -m eval.reader.train_evidence " + " ".join(sys.argv[1:]),
            "data": data.summary(train_groups),
            "minutes": round((time.monotonic() - started) / 60, 1),
            **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        },
        "calibration": {"data": data.summary(calibration_groups), **figures},
        "calibration_on_retrieval": retrieval,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    record(
        args.out,
        f"{data.summary(train_groups)}; answer bar calibrated on the {', '.join(bar_sets)} questions "
        f"at {args.max_false_abstentions:.0%} false abstentions",
    )
    print(json.dumps(out["calibration"], indent=1))
    for name, weight in sorted(zip(FEATURES, coef, strict=True), key=lambda p: -abs(p[1]))[:15]:
        print(f"{weight:+.3f} {name}")


if __name__ == "__main__":
    main()
