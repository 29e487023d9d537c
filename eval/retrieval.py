"""Retrieval recall of `rag search --questions` on a suite of questions with their gold document.

Ingests the suite's corpus into an index (a temporary one unless --index is given), runs the
real command line once per questions file, and prints recall@1, recall@k and MRR.

    .venv/bin/python -m eval.retrieval                       # PIAF, French and English questions
    .venv/bin/python -m eval.retrieval --index /tmp/piaf -k 5 --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAG = str(Path(sys.executable).with_name("rag"))


def rag(*args: str, index: Path, stdin: str | None = None) -> str:
    proc = subprocess.run([RAG, *args, "--index", str(index)], input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"rag {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def score(questions: list[dict[str, str]], results: list[dict], k: int) -> dict[str, float]:
    at1 = atk = rr = 0.0
    for question, result in zip(questions, results, strict=True):
        names = [Path(hit["source"]).name for hit in result["hits"]]
        if question["doc"] in names:
            rank = names.index(question["doc"]) + 1
            at1 += rank == 1
            atk += rank <= k
            rr += 1.0 / rank
    n = len(questions)
    return {"questions": n, "recall@1": at1 / n, f"recall@{k}": atk / n, "mrr": rr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", type=Path, default=HERE / "piaf", help="folder with corpus/ and questions_*.jsonl")
    parser.add_argument("--index", type=Path, default=None, help="index folder to (re)use")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--questions", default="questions_*.jsonl", help="which question files (glob)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        started = time.perf_counter()
        ingest = json.loads(rag("ingest", str(args.suite / "corpus"), "--json", index=index))
        report: dict[str, object] = {"ingest": ingest, "ingest_seconds": round(time.perf_counter() - started, 1)}
        for path in sorted(args.suite.glob(args.questions)):
            questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            started = time.perf_counter()
            out = rag("search", "--questions", "-", "-k", str(args.k), index=index,
                      stdin="\n".join(q["question"] for q in questions) + "\n")  # fmt: skip
            results = [json.loads(line) for line in out.splitlines()]
            figures = score(questions, results, args.k)
            figures["seconds"] = round(time.perf_counter() - started, 1)
            report[path.stem] = figures
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"ingest: {report['ingest']} in {report['ingest_seconds']} s")
    for name, row in report.items():
        if isinstance(row, dict) and "mrr" in row:
            cells = "  ".join(
                f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}" for key, value in row.items()
            )
            print(f"{name:<16} {cells}")


if __name__ == "__main__":
    main()
