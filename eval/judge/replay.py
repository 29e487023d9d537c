"""What the guards of generated answers do with text real models wrote: RAGTruth's recorded
answers replayed through the generative path, offline.

For each recorded answer of a `rag eval judge` file (default: RAGTruth QA dev, answers written
by GPT-4, GPT-3.5, Llama-2 and Mistral, labelled by people), the record's own three passages
become the retrieved hits (no index), and rag.answer.generative.GenerativeAnswerer answers its
question with the replay backend (RAG_LLM=replay, rag/models/replay.py) over a file holding that
one record: the reader reads the passages, the model "writes" the recorded answer with a
citation after each sentence (the passage sharing the most words with it), and each sentence
goes through the guards (citations parsed, the judge on the cited passage, mark or drop, the
extractive fallback when nothing holds) exactly as in the chat.

Printed, as JSON:

  faithful_sentences_kept          of the checked sentences of faithful answers (label 1), the
                                   share the guards kept as supported (want: high)
  span_sentences_rejected          of the checked sentences of hallucinated answers (label 0)
                                   that overlap a span people marked unsupported, the share the
                                   guards rejected (want: high)
  other_hallucinated_kept          the other sentences of hallucinated answers, the share kept
  faithful_answers_fully_accepted  the share of faithful answers whose every checked sentence
                                   was kept, with no fallback: the accept rate users see
  fallback                         the share of answers replaced by the extractive answer
                                   because no sentence held
  reader_abstained                 answers where the reader found no answering sentence, so the
                                   model was never asked: not guard decisions, counted apart

Only the sentences the chat would check are counted: the answerer stops reading after
max(3, RAG_MAX_ANSWER_SENTENCES) sentences (--max-sentences raises it), and `sentences` reports
how many of the recorded sentences that leaves. Other RAG_* variables apply (RAG_JUDGE,
RAG_READER, RAG_UNSUPPORTED...). The bundled e5 does the reading and judging: about ten seconds
of CPU an answer (the reader reads every sentence of three long passages), so --limit 40 takes
six to seven minutes on two cores.

    .venv/bin/python -m eval.judge.replay --limit 40
    .venv/bin/python -m eval.judge.replay --file eval/judge/ragtruth_qa_train.jsonl --max-sentences 10
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.answer.generative import GenerativeAnswerer
from rag.models.embedder import Embedder, make_embedder
from rag.models.llm import make_llm
from rag.models.replay import ReplayLLM
from rag.settings import Settings
from rag.text.sentences import split_sentences
from rag.types import Answer, AnswerSentence, Hit

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "ragtruth_qa_dev.jsonl"
_WORD = re.compile(r"\w+")


def hits_of(record: dict[str, Any]) -> list[Hit]:
    """The record's passages as retrieved hits, in their order, with no title or date."""
    key = str(record.get("id", "record"))
    return [
        Hit(f"{key}-{i}", f"{key}-{i}", "", "", "", str(record.get("language", "en")), text, 0, len(text), 1.0 - i / 10)
        for i, text in enumerate(record["contexts"])
    ]


def _find(words: Sequence[str], target: Sequence[str], start: int) -> int | None:
    for i in range(start, len(words) - len(target) + 1):
        if list(words[i : i + len(target)]) == list(target):
            return i
    return None


def locate(answer: str, sentences: Sequence[str]) -> list[tuple[int, int] | None]:
    """Where each checked sentence (citations removed, spacing normalised) lies in the recorded
    answer, as character offsets; None when its words are not found in a row."""
    found = list(_WORD.finditer(answer))
    words = [m.group().lower() for m in found]
    ranges: list[tuple[int, int] | None] = []
    cursor = 0
    for sentence in sentences:
        target = [w.lower() for w in _WORD.findall(sentence)]
        at = _find(words, target, cursor) if target else None
        if at is None and target:
            at = _find(words, target, 0)
        if at is None:
            ranges.append(None)
            continue
        ranges.append((found[at].start(), found[at + len(target) - 1].end()))
        cursor = at + len(target)
    return ranges


def checked_sentences(answer: Answer, backend: str) -> tuple[AnswerSentence, ...]:
    """The generated sentences the guards judged: the answer's, or those a fallback replaced."""
    return answer.sentences if answer.backend == backend else answer.rejected


def replay_one(record: dict[str, Any], settings: Settings, embedder: Embedder, folder: Path) -> dict[str, Any]:
    """One recorded answer through the generative path; what the guards did with each sentence."""
    path = folder / "answer.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    answer_settings = settings.with_(llm="replay", llm_model=str(path))
    llm = make_llm(answer_settings)
    assert isinstance(llm, ReplayLLM)
    answerer = GenerativeAnswerer(answer_settings, embedder, llm=llm)
    answer = answerer.answer(record["question"], hits_of(record))
    sentences = checked_sentences(answer, "replay")
    spans = [tuple(s) for s in record.get("spans", [])]
    outcome: dict[str, Any] = {
        "id": record.get("id", ""),
        "model": record.get("model", ""),
        "label": int(record["label"]),
        "asked": bool(llm.prompts),  # the reader found an answering sentence, so the model was asked
        "fallback": answer.fallback,
        "recorded_sentences": len(split_sentences(record["answer"])),
        "sentences": [],
    }
    for sentence, where in zip(sentences, locate(record["answer"], [s.text for s in sentences]), strict=True):
        in_span = None if where is None else any(a < where[1] and where[0] < b for a, b in spans)
        outcome["sentences"].append(
            {
                "text": sentence.text,
                "supported": sentence.supported,
                "score": round(sentence.score, 4),
                "in_span": in_span,
            }
        )
    return outcome


def _share(part: int, whole: int) -> dict[str, Any]:
    return {"share": round(part / whole, 3) if whole else None, "of": whole, "count": part}


def summarise(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report over every replayed answer (see the module's docstring)."""
    asked = [o for o in outcomes if o["asked"]]
    faithful = [o for o in asked if o["label"] == 1]
    hallucinated = [o for o in asked if o["label"] == 0]
    kept = [s["supported"] for o in faithful for s in o["sentences"]]
    in_span = [s["supported"] for o in hallucinated for s in o["sentences"] if s["in_span"]]
    other = [s["supported"] for o in hallucinated for s in o["sentences"] if s["in_span"] is False]

    def accepted(o: dict[str, Any]) -> bool:
        return not o["fallback"] and bool(o["sentences"]) and all(s["supported"] for s in o["sentences"])

    by_model: dict[str, dict[str, Any]] = {}
    for model in sorted({o["model"] for o in faithful}):
        mine = [o for o in faithful if o["model"] == model]
        by_model[model] = _share(sum(accepted(o) for o in mine), len(mine))
    abstained = Counter("faithful" if o["label"] else "hallucinated" for o in outcomes if not o["asked"])
    return {
        "answers": len(outcomes),
        "asked": {"faithful": len(faithful), "hallucinated": len(hallucinated)},
        "reader_abstained": {"faithful": abstained["faithful"], "hallucinated": abstained["hallucinated"]},
        "sentences": {
            "recorded": sum(o["recorded_sentences"] for o in asked),
            "checked": sum(len(o["sentences"]) for o in asked),
            "not_located": sum(s["in_span"] is None for o in asked for s in o["sentences"]),
        },
        "faithful_sentences_kept": _share(sum(kept), len(kept)),
        "span_sentences_rejected": _share(sum(not s for s in in_span), len(in_span)),
        "other_hallucinated_kept": _share(sum(other), len(other)),
        "faithful_answers_fully_accepted": _share(sum(accepted(o) for o in faithful), len(faithful)),
        "faithful_answers_fully_accepted_by_model": by_model,
        "fallback": {
            "all": _share(sum(o["fallback"] == "unsupported" for o in asked), len(asked)),
            "faithful": _share(sum(o["fallback"] == "unsupported" for o in faithful), len(faithful)),
            "hallucinated": _share(sum(o["fallback"] == "unsupported" for o in hallucinated), len(hallucinated)),
        },
        "backend_failed": sum(o["fallback"] == "failed" for o in asked),
    }


def run(path: Path, limit: int, max_sentences: int | None, per_answer: bool = False) -> dict[str, Any]:
    """Replay the first `limit` answers of `path` (0: all) and report."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = records[:limit] if limit > 0 else records
    with tempfile.TemporaryDirectory(prefix="rag-replay-") as tmp:
        folder = Path(tmp)
        settings = Settings.from_env(index=folder / "index", max_answer_sentences=max_sentences)
        embedder = make_embedder(settings)
        outcomes = []
        for n, record in enumerate(records, 1):
            outcomes.append(replay_one(record, settings, embedder, folder))
            if n % 10 == 0:
                print(f"{n}/{len(records)} answers replayed", file=sys.stderr)
    report: dict[str, Any] = {
        "file": str(path),
        "settings": {
            "judge": settings.judge,
            "reader": settings.reader,
            "unsupported": settings.unsupported,
            "checked_per_answer": max(3, settings.max_answer_sentences),
        },
        **summarise(outcomes),
    }
    if per_answer:
        report["per_answer"] = outcomes
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.judge.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--file", type=Path, default=DEFAULT_FILE, help="a `rag eval judge` JSONL file (default %(default)s)"
    )
    parser.add_argument("--limit", type=int, default=0, help="replay the first N answers of the file (0: all)")
    parser.add_argument(
        "--max-sentences",
        type=int,
        default=None,
        help="RAG_MAX_ANSWER_SENTENCES: the answerer checks max(3, this) sentences (default: the setting, 3)",
    )
    parser.add_argument("--per-answer", action="store_true", help="add each answer's sentences and verdicts")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"no file at {args.file}")
    print(json.dumps(run(args.file, args.limit, args.max_sentences, args.per_answer), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
