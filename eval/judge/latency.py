"""How long the judge takes to judge one generated sentence, as the generative path's guards call
it: one sentence against the one or two passages it cites, one call at a time. From the
repository:

    .venv/bin/python -m eval.judge.latency            # the shipped judge, 200 sentences
    .venv/bin/python -m eval.judge.latency --judge cross-encoder
    .venv/bin/python -m eval.judge.latency --file eval/judge/crosslingual_check.jsonl

The sentences are those of RAGTruth QA dev answers (eval/judge/ragtruth_qa_dev.jsonl, or another
`rag eval judge` file: --file; crosslingual_check.jsonl times sentences judged across languages),
each judged against the passage that shares most of its words, as a cited passage would be. Prints
the median and 90th percentile in milliseconds, and the CPU the figures come from.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from eval.machine import cpu_name
from rag.judge.registry import local_judge
from rag.models.embedder import cpu_has_bf16, make_embedder
from rag.settings import Settings
from rag.text.sentences import split_sentences

HERE = Path(__file__).resolve().parent


def guard_calls(limit: int, path: Path = HERE / "ragtruth_qa_dev.jsonl") -> list[tuple[str, str, str]]:
    """(question, cited passage, sentence) triples as the guards see them."""
    calls = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for sentence in split_sentences(row["answer"], min_chars=10):
            words = set(sentence.text.lower().split())
            passage = max(row["contexts"], key=lambda p: len(words & set(p.lower().split())))
            calls.append((row["question"], passage, sentence.text))
            if len(calls) >= limit:
                return calls
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--judge", default="embedded", help="embedded (the default) or cross-encoder (RAG_JUDGE_DIR)")
    parser.add_argument("--file", type=Path, default=HERE / "ragtruth_qa_dev.jsonl", help="a `rag eval judge` file")
    args = parser.parse_args()
    settings = replace(Settings.from_env(), judge=args.judge)
    judge = local_judge(settings, make_embedder(settings))
    calls = guard_calls(args.sentences, args.file)
    judge.judge_sentence(calls[0][0], [calls[0][1]], calls[0][2])  # warm-up: the first call loads the model
    times = []
    for question, passage, sentence in calls:
        start = time.perf_counter()
        judge.judge_sentence(question, [passage], sentence)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(
        json.dumps(
            {
                "judge": args.judge,
                "file": args.file.name,
                "sentences": len(times),
                "median_ms": round(statistics.median(times), 1),
                "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
                "cpu": cpu_name(),
                "bf16": cpu_has_bf16(),
            }
        )
    )


if __name__ == "__main__":
    main()
