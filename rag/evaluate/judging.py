"""`rag eval judge`: read a labelled JSONL file, judge every line, score the judge."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluate.metrics import accuracy, auroc, balanced_accuracy, pair_ranking
from rag.judge.embedded import Judge, JudgeCase, Verdict


@dataclass
class LabelledCases:
    cases: list[JudgeCase] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


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
        missing = [k for k in ("question", "contexts", "answer", "label") if k not in row]
        contexts = row.get("contexts")
        if missing:
            out.skipped.append(f"{where}: missing {', '.join(missing)}")
        elif not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            out.skipped.append(f"{where}: contexts must be a list of strings")
        elif row["label"] not in (0, 1, True, False):
            out.skipped.append(f"{where}: label must be 0 or 1")
        else:
            out.cases.append(JudgeCase(str(row["question"]), tuple(contexts), str(row["answer"])))
            out.labels.append(int(row["label"]))
    return out


def judge_file(
    path: Path, judge: Judge, progress: Callable[[int, int], None] | None = None, limit: int | None = None
) -> tuple[list[Verdict], dict[str, Any]]:
    """Verdicts for every valid line (the first `limit`), in order, and the judge's figures."""
    data = read_labelled(path)
    if limit is not None:
        data.cases, data.labels = data.cases[:limit], data.labels[:limit]
    batch = 64 if judge.name == "embedded" else 1  # an LLM judge answers one case at a time
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
        "accuracy": accuracy(predicted, data.labels),
        "balanced_accuracy": balanced_accuracy(predicted, data.labels),
        "auroc": auroc(scores, data.labels),
        "pairs_ranked_right": pairs,
        "pairs": n_pairs,
        "judge": judge.name,
        **judge.thresholds(),
    }
    if judge.name == "llm":  # how often the model's reply could not be read (the embedded judge decided)
        from rag.judge.llm import UNREADABLE

        summary["unreadable"] = sum(UNREADABLE in v.reasons for v in verdicts)
    return verdicts, summary
