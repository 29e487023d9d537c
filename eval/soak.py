"""An afternoon of use in a few minutes: questions from many clients, uploads and a CLI ingest,
all at once, against one served index. Prints its figures; exits 1 when anything failed.

    .venv/bin/python -m eval.soak                       # 1,000 questions, 10 clients (about 10 minutes)
    .venv/bin/python -m eval.soak --questions 200 --uploads 10 --json

What it does:
1. Builds an index of `corpus/` and the first --articles Wikinews articles of eval/news/corpus
   with `rag ingest`, and starts `rag serve` on it.
2. Reads the server's memory once it serves (the served figure), then warms it up (--warmup
   questions per client, all at once, and one upload).
3. Asks --questions questions (the news and demo suites' questions, in turn) through the `/ask`
   API from --clients concurrent clients, while one more client uploads --uploads articles through
   the `/upload` API (some of them twice, some changed: added, unchanged and updated) and a
   `rag ingest` process adds another batch of articles to the same index.
   The server's memory is read every 2 s along the way.
4. Checks the index (`rag docs check`: every
   document whole, the lexical index current) and that every article written is there once.

Reported: errors (expected: none), question latency p50/p95 (waiting in the server's queue
included), the server's resident memory when it starts serving, at the start of the run and at
its end (the median of the first and of the last tenth of readings taken every 2 s), the growth
from start to end (target: under 10%) and the memory along the run, and what the uploads and the
CLI ingest did.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rag.evaluate.metrics import percentile

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RAG = str(Path(sys.executable).with_name("rag"))
NEWS = HERE / "news" / "corpus"
SUITES = [HERE / "suites" / "news.jsonl", HERE / "suites" / "demo.jsonl"]
OUTCOMES = ("added", "updated", "unchanged", "failed")  # of `rag ingest --json`, counted


def _count(value: object) -> int:
    """A count from `rag ingest --json`: a number, or a list (the failures)."""
    return value if isinstance(value, int) else len(value) if isinstance(value, list) else 0


def questions(n: int) -> list[str]:
    pool: list[str] = []
    for suite in SUITES:
        for line in suite.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "question" in row:
                pool.append(str(row["question"]))
    return [pool[i % len(pool)] for i in range(n)]


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no memory figure for process {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("rag serve exited before answering") from None
            time.sleep(0.5)
    raise SystemExit(f"rag serve did not answer within {seconds:.0f} s")


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    articles = sorted(NEWS.glob("*.txt"))
    base, uploaded, cli_batch = (
        articles[: args.articles],
        articles[args.articles : args.articles + args.uploads],
        articles[args.articles + args.uploads : args.articles + args.uploads + args.cli_articles],
    )
    index = work / "index"
    env = {**os.environ, "RAG_INDEX": str(index)}
    start_folder = work / "start"
    start_folder.mkdir()
    for path in [*sorted((REPO / "corpus").glob("*.txt")), *base]:
        shutil.copy(path, start_folder / path.name)
    subprocess.run([RAG, "ingest", str(start_folder)], env=env, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = (work / "serve.log").open("w")
    server = subprocess.Popen([RAG, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(url, server)
        uploads_folder = work / "to-upload"
        uploads_folder.mkdir()
        memory_served = resident_mb(server.pid)
        # Warm-up at the run's own concurrency: serving concurrent clients costs memory once
        # (each thread's buffers, torch's for each new input shape, the allocator's arenas),
        # which levels off within about a hundred questions; the start figure is taken after
        # it, so that the growth measures what keeps growing with use.
        warm = [Client(url, verbose=False) for _ in range(args.clients)]
        with ThreadPoolExecutor(args.clients) as pool:
            list(
                pool.map(
                    lambda c_q: c_q[0].predict(c_q[1], api_name="/ask"),
                    zip(warm * args.warmup, questions(args.warmup * args.clients)[::-1], strict=True),
                )
            )
        first = uploads_folder / "warm-up.txt"
        first.write_text("Les apiculteurs du Gers comptent leurs ruches après un hiver doux.", encoding="utf-8")
        warm[0].predict([handle_file(str(first))], api_name="/upload")

        errors: list[str] = []
        latencies: list[float] = []
        lock = threading.Lock()
        todo: queue.Queue[str] = queue.Queue()
        for question in questions(args.questions):
            todo.put(question)

        def asker() -> None:
            client = Client(url, verbose=False)
            while True:
                try:
                    question = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                try:
                    answer = client.predict(question, api_name="/ask")
                    if not isinstance(answer, dict) or "abstained" not in answer:
                        raise ValueError(f"unexpected reply {str(answer)[:80]}")
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        errors.append(f"ask {question[:40]!r}: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    latencies.append(time.perf_counter() - started)

        upload_results: dict[str, int] = {}

        def uploader() -> None:
            client = Client(url, verbose=False)
            plan: list[tuple[Path, bool]] = []  # (file, change it before this upload)
            for i, path in enumerate(uploaded):
                target = uploads_folder / path.name
                shutil.copy(path, target)
                plan.append((target, False))
                if i % 3 == 1:
                    plan.append((target, False))  # the same again: unchanged
                elif i % 3 == 2:
                    plan.append((target, True))  # changed since: updated
            for target, change in plan:
                if change:
                    target.write_text(target.read_text(encoding="utf-8") + "\n\nMise à jour.", encoding="utf-8")
                try:
                    rows = client.predict([handle_file(str(target))], api_name="/upload")[0]
                    for row in rows["data"] if isinstance(rows, dict) else rows:
                        upload_results[row[1]] = upload_results.get(row[1], 0) + 1
                        if row[1] == "failed":
                            errors.append(f"upload {target.name}: {row[2]}")
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"upload {target.name}: {type(exc).__name__}: {exc}")
                time.sleep(args.upload_every)

        cli_folder = work / "cli"
        cli_folder.mkdir()
        for path in cli_batch:
            shutil.copy(path, cli_folder / path.name)
        samples: list[float] = []
        done = threading.Event()

        def sampler() -> None:  # the server's memory along the run
            while not done.wait(2.0):
                samples.append(resident_mb(server.pid))

        threading.Thread(target=sampler, daemon=True).start()
        started = time.perf_counter()
        threads = [threading.Thread(target=asker) for _ in range(args.clients)]
        threads.append(threading.Thread(target=uploader))
        for thread in threads:
            thread.start()
        cli = subprocess.run(
            [RAG, "ingest", "--json", str(cli_folder)], env=env, capture_output=True, text=True, check=False
        )
        if cli.returncode != 0:
            errors.append(f"rag ingest exited {cli.returncode}: {cli.stderr.strip()[-300:]}")
        cli_report = json.loads(cli.stdout) if cli.stdout.strip().startswith("{") else {}
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        done.set()
        samples.append(resident_mb(server.pid))
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        if errors:  # what the server said about them
            print((work / "serve.log").read_text(encoding="utf-8", errors="replace")[-6000:], file=sys.stderr)

    check = subprocess.run([RAG, "docs", "check", "--json"], env=env, capture_output=True, text=True, check=False)
    listed = subprocess.run([RAG, "docs", "list", "--json"], env=env, capture_output=True, text=True, check=True)
    documents = json.loads(listed.stdout)
    sources = [Path(d["source"]).name for d in documents]
    expected = {p.name for p in [*base, *uploaded, *cli_batch]} | {"warm-up.txt"}
    missing = sorted(expected - set(sources))
    twice = sorted({s for s in sources if sources.count(s) > 1})
    if check.returncode != 0:
        errors.append(f"rag docs check: {check.stdout.strip()[-300:]}")
    if missing:
        errors.append(f"articles missing from the index: {missing[:5]}")
    if twice:
        errors.append(f"articles stored twice: {twice[:5]}")
    # Start and end: the median of the first and of the last tenth of the readings (one every
    # 2 s): a single reading lands on a high or a low of the allocator's ebb and flow.
    tenth = max(3, len(samples) // 10)
    memory_start, memory_end = statistics.median(samples[:tenth]), statistics.median(samples[-tenth:])
    growth = (memory_end - memory_start) / memory_start
    return {
        "questions": args.questions,
        "clients": args.clients,
        "answered": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 1),
        "ask_p50_s": round(percentile(latencies, 0.5) or 0, 3),
        "ask_p95_s": round(percentile(latencies, 0.95) or 0, 3),
        "server_memory_served_mb": round(memory_served),
        "server_memory_start_mb": round(memory_start),
        "server_memory_end_mb": round(memory_end),
        "memory_growth": round(growth, 4),
        "memory_along_the_run_mb": [round(m) for m in samples[:: max(1, len(samples) // 10)]],
        "uploads": upload_results,
        "cli_ingest": {k: _count(cli_report.get(k, 0)) for k in OUTCOMES},
        "documents": len(documents),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=1000, help="questions asked in all (default 1000)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent question clients (default 10)")
    parser.add_argument(
        "--warmup", type=int, default=10, help="warm-up questions per client before the start figure (10)"
    )
    parser.add_argument("--articles", type=int, default=100, help="Wikinews articles indexed at start (100)")
    parser.add_argument("--uploads", type=int, default=30, help="articles uploaded during the run (30)")
    parser.add_argument("--upload-every", type=float, default=1.0, help="seconds between uploads (1.0)")
    parser.add_argument("--cli-articles", type=int, default=40, help="articles a `rag ingest` adds meanwhile (40)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-soak-") as tmp:
        result = soak(args, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for key, value in result.items():
            if key != "errors":
                print(f"{key:24} {value}")
        print(f"{'errors':24} {len(result['errors'])}")
        for error in result["errors"][:20]:
            print(f"  {error}")
    ok = not result["errors"] and result["memory_growth"] < 0.10
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
