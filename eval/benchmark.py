"""Speed figures of the pipeline on the PIAF corpus (419 documents), printed, not asserted.

    .venv/bin/python eval/benchmark.py [--questions 100]

Measures: model load time; ingest throughput (chunks/s, embedding included) into a fresh
persistent index; re-ingest of the unchanged corpus, in-process and through the `rag` command
(which must not load the model); search and ask latency p50/p95; peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rag.metrics import percentile  # noqa: E402
from rag.pipeline import build_pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402


def timed(func, items):  # type: ignore[no-untyped-def]
    times = []
    for item in items:
        started = time.perf_counter()
        func(item)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100, help="how many questions to time (default 100)")
    args = parser.parse_args()
    corpus = HERE / "piaf" / "corpus"
    lines = (HERE / "piaf" / "questions_fr.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines[:: max(1, len(lines) // args.questions)]][
        : args.questions
    ]
    english = [json.loads(line)["question"] for line in (HERE / "piaf" / "questions_en.jsonl").read_text().splitlines()]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(index=Path(tmp) / "index")
        pipeline = build_pipeline(settings)
        started = time.perf_counter()
        pipeline.embedder.embed_query("warm up")
        load = time.perf_counter() - started

        started = time.perf_counter()
        report = pipeline.ingest([corpus])
        ingest_s = time.perf_counter() - started
        chunks = report.chunks_embedded

        started = time.perf_counter()
        again = build_pipeline(settings).ingest([corpus])
        reingest_s = time.perf_counter() - started
        started = time.perf_counter()
        command = [str(Path(sys.executable).with_name("rag")), "ingest", str(corpus), "--json"]
        proc = subprocess.run([*command, "--index", str(settings.index)], capture_output=True, text=True)
        reingest_cli_s = time.perf_counter() - started
        assert json.loads(proc.stdout)["unchanged"] == len(again.unchanged)

        pipeline.search(questions[0])  # builds the BM25 index once
        search_fr = timed(pipeline.search, questions)
        search_en = timed(pipeline.search, english[: args.questions])
        ask = timed(pipeline.ask, questions[: max(10, args.questions // 2)] + english[: max(10, args.questions // 4)])

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"documents                 {len(report.added)} ({chunks} chunks)")
    print(f"model load                {load:.1f} s")
    print(f"ingest                    {ingest_s:.1f} s, {chunks / ingest_s:.1f} chunks/s (embedding included)")
    print(f"re-ingest unchanged       {reingest_s:.2f} s in-process, {reingest_cli_s:.2f} s as `rag ingest`")
    for name, times in (("search (French)", search_fr), ("search (English)", search_en), ("ask", ask)):
        p50, p95 = ((percentile(times, q) or 0.0) * 1000 for q in (0.5, 0.95))
        print(f"{name:<25} p50 {p50:.0f} ms, p95 {p95:.0f} ms ({len(times)} queries)")
    print(f"peak memory               {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
