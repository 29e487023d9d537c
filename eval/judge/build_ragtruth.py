"""Build the RAGTruth measuring and calibration files from the shared RAGTruth training answers
(see README.md beside this file).

Each RAGTruth answer gives one line in `rag eval judge` format: label 1 when people found it fully
supported by its passages, 0 when they marked a span unsupported; "spans" holds those spans as
[start, end] character offsets into the answer. The sources (a question with its passages, or a
news article) are split 70/30 with seed 0, never the answers: every answer about one source lands
on the same side. The QA answers go to ragtruth_qa_{train,dev}.jsonl, the summaries to
ragtruth_summary_{train,dev}.jsonl.

    .venv/bin/python -m eval.judge.build_ragtruth
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 0
TRAIN_SHARE = 0.7
SUMMARY_QUESTION = "Summarize the following news."
# shared file -> the stem of the two files written here
SOURCES = {"qa-train.jsonl": "ragtruth_qa", "summary-train.jsonl": "ragtruth_summary"}


def split_sources(rows: Sequence[dict[str, Any]], seed: int = SEED, share: float = TRAIN_SHARE) -> set[str]:
    """The source ids of the train side: `share` of the distinct sources, drawn with `seed`."""
    sources = sorted({str(row["source_id"]) for row in rows})
    random.Random(seed).shuffle(sources)
    return set(sources[: round(len(sources) * share)])


def to_line(row: dict[str, Any]) -> dict[str, Any]:
    """One RAGTruth answer as a `rag eval judge` line (label 1: faithful, 0: hallucinated)."""
    answer = row["answer"]
    spans = sorted((int(s["start"]), int(s["end"])) for s in row["spans"])
    for start, end in spans:
        if not 0 <= start < end <= len(answer):
            raise ValueError(f"{row['id']}: span {start}-{end} outside the answer")
    return {
        "question": row["question"] or SUMMARY_QUESTION,
        "contexts": list(row["passages"]),
        "answer": answer,
        "label": 0 if row["hallucinated"] else 1,
        "spans": [list(span) for span in spans],
        "model": row["model"],
        "source_id": str(row["source_id"]),
        "id": str(row["id"]),
        "language": "en",
    }


def build(source: Path, stem: str, out_dir: Path = HERE) -> dict[str, dict[str, int]]:
    """Write `stem`_train.jsonl and `stem`_dev.jsonl from one shared file; their counts."""
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = split_sources(rows)
    counts: dict[str, dict[str, int]] = {}
    for side in ("train", "dev"):
        lines = [to_line(row) for row in rows if (str(row["source_id"]) in train) == (side == "train")]
        with (out_dir / f"{stem}_{side}.jsonl").open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        counts[f"{stem}_{side}"] = {
            "answers": len(lines),
            "sources": len({line["source_id"] for line in lines}),
            "hallucinated": sum(1 for line in lines if line["label"] == 0),
            "spans": sum(len(line["spans"]) for line in lines),
        }
    return counts


def main(shared: Path, out_dir: Path = HERE) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for name, stem in SOURCES.items():
        counts.update(build(shared / name, stem, out_dir))
    for name, figures in counts.items():
        print(f"{name}: " + ", ".join(f"{value} {key}" for key, value in figures.items()))
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = HERE.parents[2] / "shared" / "datasets" / "ragtruth"
    parser.add_argument(
        "shared", type=Path, nargs="?", default=default, help="the RAGTruth folder (default: %(default)s)"
    )
    main(parser.parse_args().shared)
