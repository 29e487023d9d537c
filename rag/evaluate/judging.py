"""`rag eval judge`: read a labelled JSONL file, judge every line, score the judge: as a
classifier (accuracy, balanced accuracy, AUROC, pairs), as hallucination detection is scored
(precision, recall and F1 of "unsupported", label 0 the positive class; the accept rate of
supported answers; characters of unsupported spans when lines give them), and per language."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluate.metrics import (
    accept_rate,
    accuracy,
    auroc,
    balanced_accuracy,
    pair_ranking,
    span_overlap,
    unsupported_detection,
)
from rag.judge.embedded import Judge, JudgeCase, Verdict
from rag.text.language import detect_language

Spans = tuple[tuple[int, int], ...]
SHORT_ANSWER_WORDS = 8  # shorter answers are told apart by language with their question


@dataclass
class LabelledCases:
    cases: list[JudgeCase] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    spans: list[Spans | None] = field(default_factory=list)  # None: the line gives no spans


def read_labelled(path: Path) -> LabelledCases:
    """Lines of {"question", "contexts": [...], "answer", "label"}; bad lines are named and skipped."""
    if not path.is_file():
        raise RagError(f"{path}: no such file (give a JSONL file of {{question, contexts, answer, label}})")
    out = LabelledCases()
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            out.skipped.append(f"{where}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            out.skipped.append(f"{where}: expected an object")
            continue
        problem = _problem(row)
        if problem:
            out.skipped.append(f"{where}: {problem}")
            continue
        case = JudgeCase(str(row["question"]), tuple(row["contexts"]), str(row["answer"]))
        out.cases.append(case)
        out.labels.append(int(row["label"]))
        out.languages.append(_language(row.get("language"), case))
        out.spans.append(tuple((int(a), int(b)) for a, b in row["spans"]) if "spans" in row else None)
    return out


def _problem(row: dict[str, Any]) -> str:
    """What makes a line unreadable, or ""."""
    missing = [k for k in ("question", "contexts", "answer", "label") if k not in row]
    contexts = row.get("contexts")
    spans = row.get("spans", [])
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        return "contexts must be a list of strings"
    if row["label"] not in (0, 1, True, False):
        return "label must be 0 or 1"
    if not isinstance(spans, list) or not all(
        isinstance(s, list) and len(s) == 2 and all(isinstance(i, int) for i in s) for s in spans
    ):
        return "spans must be a list of [start, end] character offsets"
    return ""


def _language(given: Any, case: JudgeCase) -> str:
    """The line's "language", else the answer's (with its question when the answer is short)."""
    if isinstance(given, str) and given.strip():
        return given.strip()
    text = case.answer if len(case.answer.split()) >= SHORT_ANSWER_WORDS else f"{case.question} {case.answer}"
    return detect_language(text) if text.strip() else "unknown"


def judge_file(
    path: Path, judge: Judge, progress: Callable[[int, int], None] | None = None, limit: int | None = None
) -> tuple[list[Verdict], dict[str, Any]]:
    """Verdicts for every valid line (the first `limit`), in order, and the judge's figures."""
    data = read_labelled(path)
    if limit is not None:
        data.cases, data.labels = data.cases[:limit], data.labels[:limit]
        data.languages, data.spans = data.languages[:limit], data.spans[:limit]
    batch = 1 if judge.name == "llm" else 64  # an LLM judge answers one case at a time
    verdicts: list[Verdict] = []
    for start in range(0, len(data.cases), batch):
        verdicts.extend(judge.judge_many(data.cases[start : start + batch]))
        if progress:
            progress(len(verdicts), len(data.cases))
    scores = [v.score for v in verdicts]
    predicted = [v.supported for v in verdicts]
    groups = [json.dumps([c.question, c.contexts]) for c in data.cases]
    pairs, n_pairs = pair_ranking(scores, data.labels, groups)
    summary = {
        "file": str(path),
        "cases": len(data.cases),
        "skipped": data.skipped,
        **figures(predicted, scores, data.labels),
        "pairs_ranked_right": pairs,
        "pairs": n_pairs,
        "judge": judge.name,
        **judge.thresholds(),
        **span_figures(verdicts, data.spans),
        "by_language": by_language(predicted, scores, data.labels, data.languages),
    }
    if judge.name == "llm":  # how often the model's reply could not be read (the embedded judge decided)
        from rag.judge.llm import UNREADABLE

        summary["unreadable"] = sum(UNREADABLE in v.reasons for v in verdicts)
    return verdicts, summary


def figures(predicted: list[bool], scores: list[float], labels: list[int]) -> dict[str, Any]:
    """The judge's figures on some lines, as a classifier and as a hallucination detector."""
    precision, recall, f1 = unsupported_detection(predicted, labels)
    return {
        "accuracy": accuracy(predicted, labels),
        "balanced_accuracy": balanced_accuracy(predicted, labels),
        "auroc": auroc(scores, labels),
        "unsupported_precision": precision,
        "unsupported_recall": recall,
        "unsupported_f1": f1,
        "accept_rate": accept_rate(predicted, labels),
        "supported_cases": sum(1 for y in labels if y),
        "unsupported_cases": sum(1 for y in labels if not y),
    }


def by_language(
    predicted: list[bool], scores: list[float], labels: list[int], languages: list[str]
) -> dict[str, dict[str, Any]]:
    """The same figures for each language's lines, the most frequent language first."""
    rows: dict[str, list[int]] = {}
    for i, language in enumerate(languages):
        rows.setdefault(language, []).append(i)
    out = {}
    for language, mine in sorted(rows.items(), key=lambda item: (-len(item[1]), item[0])):
        pick = [predicted[i] for i in mine], [scores[i] for i in mine], [labels[i] for i in mine]
        out[language] = {"cases": len(mine), **figures(*pick)}
    return out


def span_figures(verdicts: list[Verdict], gold: list[Spans | None]) -> dict[str, Any]:
    """Character-level precision, recall and F1 of unsupported spans, over the lines that give
    spans, when the judge marks spans at all (else nothing)."""
    lines = [(verdict.spans, spans) for verdict, spans in zip(verdicts, gold, strict=True) if spans is not None]
    if not lines or not any(verdict.spans for verdict in verdicts):
        return {}
    precision, recall, f1 = span_overlap([mine for mine, _ in lines], [theirs for _, theirs in lines])
    return {
        "span_cases": len(lines),
        "unsupported_char_precision": precision,
        "unsupported_char_recall": recall,
        "unsupported_char_f1": f1,
    }
