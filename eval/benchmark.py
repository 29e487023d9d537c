"""Speed figures of the pipeline on the PIAF corpus (419 documents), printed, not asserted.

    .venv/bin/python -m eval.benchmark [--questions 100]
    .venv/bin/python -m eval.benchmark --scale 100000

Measures: ingest side by side with a plain llama-index pipeline over the same corpus and the same
prepared e5 folder (SimpleDirectoryReader, SentenceSplitter 384/64, HuggingFaceEmbedding,
ChromaVectorStore into a fresh persistent Chroma; each run in a fresh process, model load and
imports included, chunks/s and peak memory of each); model load time; ingest throughput
(chunks/s, embedding included) into a fresh persistent index; re-ingest of the unchanged corpus,
in-process and through the `rag` command (which must not load the model); search and ask latency
p50/p95; peak memory.

`--scale N` measures search against index size instead: an index of N chunks built from the
Wikinews texts (../shared/datasets/wikinews; paragraphs reused as often as needed, five chunks a
document), whose vectors are the e5 vectors of 500 real paragraphs with a little noise (embedding
N chunks here would take hours), written as the store writes chunks; then the first search (which
builds the lexical index), search p50/p95, ask p50/p95, the first search after ingesting one more
article (the lexical index catches up), and peak memory. Each run (one size per process, so
that its peak memory is its own) adds its row to eval/benchmarks/scale.jsonl; `--plot` draws
those rows as docs/scale.png, the latency against index size (needs matplotlib: the dev extra).

    .venv/bin/python -m eval.benchmark --scale 1000   # then 10000, 100000, 1000000
    .venv/bin/python -m eval.benchmark --plot

`--files N` measures streaming ingest instead: `rag ingest` of N files (distinct short texts from
the shared data sets) into a fresh index, its time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag.evaluate.metrics import percentile
from rag.index.lexical import LexicalIndex, lexical_path
from rag.pipeline import build_pipeline
from rag.settings import Settings

HERE = Path(__file__).resolve().parent
SCALE_ROWS = HERE / "benchmarks" / "scale.jsonl"
SCALE_PLOT = HERE.parent / "docs" / "scale.png"


def timed(func, items):  # type: ignore[no-untyped-def]
    times = []
    for item in items:
        started = time.perf_counter()
        func(item)
        times.append(time.perf_counter() - started)
    return times


def search_parts(pipeline, questions):  # type: ignore[no-untyped-def]
    """Parts of a search timed alone, the same questions again: the store's fingerprint (is the
    lexical index current?), BM25 over FTS5, and Chroma's nearest neighbours (the query's vector
    already computed); the rest of a search is embedding the query and fusing the lists."""
    from llama_index.core.vector_stores.types import VectorStoreQuery

    store, k, embed = pipeline.store, pipeline.settings.candidates, pipeline.embedder.embed_query
    nearest = {q: VectorStoreQuery(query_embedding=embed(q), similarity_top_k=k) for q in questions}
    return {
        "fingerprint": timed(lambda q: store.fingerprint(), questions),
        "lexical": timed(lambda q: pipeline.index.lexical.search(q, k), questions),
        "dense": timed(lambda q: store.vector_store.query(nearest[q]), questions),
    }


def scale(n: int, questions: list[str]) -> None:
    import numpy as np
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    wikinews = HERE.parent.parent / "shared" / "datasets" / "wikinews"
    paragraphs = [
        p.strip()
        for path in sorted(wikinews.glob("*/*.txt"))
        for p in path.read_text(encoding="utf-8").split("\n\n")
        if len(p.strip()) > 200
    ]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(index=Path(tmp) / "index")
        pipeline = build_pipeline(settings)
        seeds = np.asarray(pipeline.embedder.embed_passages(paragraphs[:500]), dtype=np.float32)
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        per_doc, batch = 5, 5000
        for start in range(0, n, batch):
            rows = range(start, min(n, start + batch))
            vectors = seeds[[i % len(seeds) for i in rows]] + rng.normal(0, 0.02, (len(rows), seeds.shape[1]))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            pipeline.store.vector_store.add(
                [
                    TextNode(
                        id_=f"s{i // per_doc}:{i % per_doc}",
                        text=paragraphs[i % len(paragraphs)],
                        embedding=vector.tolist(),
                        metadata={
                            "title": f"document {i // per_doc}",
                            "source": f"scale/{i // per_doc}.txt",
                            "chunk_index": i % per_doc,
                            "n_chunks": per_doc,
                        },
                        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"s{i // per_doc}")},
                    )
                    for i, vector in zip(rows, vectors, strict=True)
                ]
            )
            print(f"  {min(n, start + batch)} chunks written", flush=True)
        pipeline.store.mark_changed()  # as the store's own writes do
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        pipeline.search(questions[0])
        first_s = time.perf_counter() - started
        search = timed(pipeline.search, questions)
        parts = search_parts(pipeline, questions)
        ask = timed(pipeline.ask, questions[:20])
        # Another machine's lexical index (same Chroma, its own SQLite file) at the same state
        elsewhere = Path(tmp) / "elsewhere"
        elsewhere.mkdir()
        with sqlite3.connect(lexical_path(settings)) as source, sqlite3.connect(elsewhere / "lexical.sqlite") as copy:
            source.backup(copy)
        article = Path(tmp) / "new.txt"
        article.write_text(paragraphs[-1] + "\n\n" + paragraphs[-2], encoding="utf-8")
        pipeline.ingest([article])
        started = time.perf_counter()
        pipeline.search(questions[1])
        after_add_s = time.perf_counter() - started
        other = LexicalIndex(settings.with_(index=elsewhere), pipeline.store)
        started = time.perf_counter()
        removed, added = other.sync()
        elsewhere_s = time.perf_counter() - started
        assert (removed, added) == (0, 1) and other.is_current(), (removed, added)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p50, p95 = ((percentile(search, q) or 0.0) * 1000 for q in (0.5, 0.95))
    ask50, ask95 = (percentile(ask, q) or 0.0 for q in (0.5, 0.95))
    print(f"chunks                    {n} (written in {build_s:.0f} s)")
    print(f"first search              {first_s:.1f} s (builds the lexical index from every chunk)")
    print(f"search                    p50 {p50:.0f} ms, p95 {p95:.0f} ms ({len(search)} queries)")
    for part, times in parts.items():
        part50, part95 = ((percentile(times, q) or 0.0) * 1000 for q in (0.5, 0.95))
        print(f"  of which {part:<15} p50 {part50:.0f} ms, p95 {part95:.0f} ms")
    print(f"ask                       p50 {ask50:.2f} s, p95 {ask95:.2f} s ({len(ask)} questions)")
    print(f"search after one ingest   {after_add_s:.2f} s (the lexical index catches up with one article)")
    print(f"another machine catches up {elsewhere_s:.2f} s (its own lexical index, the same Chroma)")
    print(f"peak memory               {peak_mb:.0f} MB")
    row = {
        "chunks": n,
        "write_s": round(build_s, 1),
        "first_search_s": round(first_s, 2),
        "search_p50_ms": round(p50, 1),
        "search_p95_ms": round(p95, 1),
        **{f"{part}_p95_ms": round((percentile(times, 0.95) or 0.0) * 1000, 1) for part, times in parts.items()},
        "ask_p50_s": round(ask50, 3),
        "ask_p95_s": round(ask95, 3),
        "search_after_ingest_s": round(after_add_s, 3),
        "elsewhere_catch_up_s": round(elsewhere_s, 3),
        "peak_mb": round(peak_mb),
        "measured": time.strftime("%Y-%m-%d"),
    }
    SCALE_ROWS.parent.mkdir(parents=True, exist_ok=True)
    with SCALE_ROWS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    print(f"(row added to {SCALE_ROWS.relative_to(HERE.parent)}; `--plot` draws them)")


def latest_rows(path: Path) -> list[dict[str, float]]:
    """The last row measured for each index size, smallest first."""
    rows: dict[int, dict[str, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[int(row["chunks"])] = row
    return [rows[n] for n in sorted(rows)]


def plot(rows: list[dict[str, float]], out: Path) -> None:
    """Search p50/p95 and ask p50 against index size, log-log, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    sizes = [row["chunks"] for row in rows]
    figure, axis = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    axis.plot(sizes, [r["search_p50_ms"] for r in rows], "o-", label="search p50")
    axis.plot(sizes, [r["search_p95_ms"] for r in rows], "o--", label="search p95")
    axis.plot(sizes, [r["ask_p50_s"] * 1000 for r in rows], "s-", label="ask p50")
    axis.axhline(150, color="grey", linewidth=0.8, linestyle=":", label="target: search p95 150 ms at 100,000")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "25" else ""))
    axis.set_xlabel("chunks in the index")
    axis.set_ylabel("latency (ms)")
    axis.set_title("rag-news: latency against index size (2 cores)")
    axis.grid(True, which="both", linewidth=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)


def plain_llamaindex(corpus: Path, index: Path) -> int:
    """The baseline: llama-index's own ingest over the same model; the number of chunks."""
    import chromadb
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.models.bundled import prepare_bundled_model

    settings = Settings.from_env()
    documents = SimpleDirectoryReader(str(corpus), recursive=True).load_data()
    nodes = SentenceSplitter(chunk_size=384, chunk_overlap=64).get_nodes_from_documents(documents)
    embed = HuggingFaceEmbedding(
        model_name=str(prepare_bundled_model(settings.model_cache)),
        text_instruction=settings.passage_prefix,
        query_instruction=settings.query_prefix,
        device="cpu",
    )
    client = chromadb.PersistentClient(path=str(index))
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
    VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed)
    return len(nodes)


def measured_run(
    name: str, command: list[str], ok: tuple[int, ...]
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run `command` in its own process under /usr/bin/time: the finished process, its seconds
    and its peak memory in MB; an exit status outside `ok` stops the benchmark."""
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss %M", *command], cwd=HERE.parent, capture_output=True, text=True, check=False
    )  # from the repository, where `-m eval.benchmark` is found
    seconds = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
    return proc, seconds, int(proc.stderr.rsplit("maxrss ", 1)[1].split()[0]) / 1024


def many_files(n: int, folder: Path) -> int:
    """Write up to `n` distinct short texts from the shared data sets into `folder`, one file each
    (PIAF paragraphs, Wikinews paragraphs, PIAF questions with their answers, HaluEval passages):
    how many were written. They stay on this machine, in a temporary folder."""
    shared = HERE.parent.parent / "shared" / "datasets"
    seen: set[str] = set()

    def texts():  # type: ignore[no-untyped-def]
        articles = json.loads((shared / "piaf-v1.0-dev.json").read_text(encoding="utf-8"))["data"]
        for article in articles:
            yield from (paragraph["context"] for paragraph in article["paragraphs"])
        for path in sorted(shared.glob("wikinews/*/*.txt")):
            yield from (line for line in path.read_text(encoding="utf-8").splitlines() if len(line) > 80)
        for article in articles:
            for paragraph in article["paragraphs"]:
                yield from (f"{qa['question']} {qa['answers'][0]['text']}" for qa in paragraph["qas"])
        for line in (shared / "halueval-qa-train.jsonl").read_text(encoding="utf-8").splitlines():
            yield json.loads(line)["knowledge"]

    written = 0
    for text in texts():
        key = " ".join(text.split())
        if written == n or len(key) < 80 or key in seen:
            continue
        seen.add(key)
        (folder / f"{written:06d}.txt").write_text(text.strip() + "\n", encoding="utf-8")
        written += 1
    return written


def ingest_files(n: int) -> None:
    """`rag ingest` of `n` files into a fresh index, in its own process: time and peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        written = many_files(n, folder)
        command = [str(Path(sys.executable).with_name("rag")), "ingest", str(folder), "--index", str(Path(tmp) / "i")]
        _, seconds, rss = measured_run("rag ingest", command, ok=(0,))
        print(f"files                     {written} (distinct texts from ../shared/datasets)")
        print(f"rag ingest                {seconds:.1f} s, peak {rss:.0f} MB")


def side_by_side(corpus: Path) -> None:
    """Each ingest in a fresh process, one after the other: seconds, chunks/s, peak memory."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "plain llama-index": [sys.executable, "-m", "eval.benchmark", "--plain-llamaindex", str(corpus),
                                  str(Path(tmp) / "p")],
            "rag ingest": [str(Path(sys.executable).with_name("rag")), "ingest", str(corpus), "--json", "--index",
                           str(Path(tmp) / "r")],
        }  # fmt: skip
        for name, command in runs.items():
            proc, seconds, rss = measured_run(name, command, ok=(0, 1))
            out = proc.stdout.strip().splitlines()[-1]
            chunks = int(out) if name == "plain llama-index" else None
            if chunks is None:
                from rag.pipeline import build_pipeline as build

                chunks = build(Settings.from_env(index=Path(tmp) / "r")).store.count()
            rows.append((name, seconds, chunks, rss))
    for name, seconds, chunks, rss in rows:
        print(f"{name:<25} {seconds:.1f} s, {chunks} chunks, {chunks / seconds:.1f} chunks/s, peak {rss:.0f} MB")
    (_, base_s, base_n, _), (_, ours_s, ours_n, _) = rows
    print(f"{'ingest speed-up':<25} {(ours_n / ours_s) / (base_n / base_s):.2f}x the plain llama-index chunks/s")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--plain-llamaindex":  # the baseline's own process
        print(plain_llamaindex(Path(sys.argv[2]), Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100, help="how many questions to time (default 100)")
    parser.add_argument("--scale", type=int, default=None, help="search latency at an index of this many chunks")
    parser.add_argument(
        "--ingest-only", action="store_true", help="only the side-by-side ingest against plain llama-index"
    )
    parser.add_argument("--corpus", type=Path, default=None, help="corpus for the side-by-side ingest (PIAF's)")
    parser.add_argument("--files", type=int, default=None, help="peak memory of `rag ingest` of this many files")
    parser.add_argument("--plot", action="store_true", help=f"draw the --scale rows as {SCALE_PLOT.name}")
    args = parser.parse_args()
    for option in ("questions", "scale", "files"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option} takes a number of at least 1 (got {getattr(args, option)})")
    if args.files is not None:
        ingest_files(args.files)
        return
    if args.plot:
        if not SCALE_ROWS.exists():
            sys.exit(f"No rows in {SCALE_ROWS}: measure some first with --scale N")
        try:
            plot(latest_rows(SCALE_ROWS), SCALE_PLOT)
        except ImportError:
            sys.exit("--plot needs matplotlib: .venv/bin/pip install -e '.[dev]'")
        print(f"wrote {SCALE_PLOT}")
        return
    corpus = HERE / "piaf" / "corpus"
    lines = (HERE / "piaf" / "questions_fr.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines[:: max(1, len(lines) // args.questions)]][
        : args.questions
    ]
    english = [json.loads(line)["question"] for line in (HERE / "piaf" / "questions_en.jsonl").read_text().splitlines()]
    if args.scale is not None:
        scale(args.scale, questions[:50])
        return
    side_by_side(args.corpus or corpus)
    if args.ingest_only:
        return

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

        pipeline.search(questions[0])  # builds the lexical index once
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
