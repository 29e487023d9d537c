"""What goes into the index and what is in it: `rag ingest`, `rag docs list|remove|check`, `rag reindex`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rag.cli import common
from rag.cli.common import friendly_errors, index_option, print_json, stderr
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.pipeline import CheckReport
    from rag.types import IngestReport


@click.command("ingest")
@click.argument("sources", nargs=-1)
@index_option
@click.option(
    "--feed", "feeds", multiple=True, metavar="URL", help="An RSS or Atom feed: each of its articles is added."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@click.option("--timings", is_flag=True, help="Also say where the time went, stage by stage (--json always does).")
@friendly_errors
def ingest(sources: tuple[str, ...], index: Path | None, feeds: tuple[str, ...], as_json: bool, timings: bool) -> None:
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
      rag ingest corpus/ --timings      # reading, embedding, storing... in seconds
    """
    from rag.pipeline import is_url

    if not sources and not feeds:
        raise RagError("Give files, folders or URLs to add (or --feed URL): `rag ingest --help` shows examples")
    urls = [source for source in sources if is_url(source)]
    paths = [Path(source) for source in sources if not is_url(source)]
    from rag.cli.progress import BarPerStage, counting_bars

    started = time.perf_counter()
    pipeline = common.pipeline_from_env(index)
    with counting_bars(stderr()) as bar:
        progress = BarPerStage(bar, lambda stage: "Reading" if stage == "reading" else "Embedding chunks")
        report = pipeline.ingest(paths, progress, urls=urls, feeds=feeds)
    report.timed("total", time.perf_counter() - started)
    if as_json:
        print_json(report.to_json())
    else:
        _print_ingest_summary(report, pipeline.store.location)
        if timings:
            stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in report.seconds.items())
            stderr().print(f"  time: {stages}", highlight=False)
    sys.exit(0 if report.ok else 1)


def _print_ingest_summary(report: IngestReport, location: str) -> None:
    console = stderr()
    console.print(
        f"[green]{len(report.added)} added[/green], {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, "
        f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/]"
        f" ({report.chunks_embedded} chunks embedded) in {location}",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)
    for failure in report.failed:
        console.print(f"  [red]failed[/red] {failure.source}: {failure.error}", highlight=False)


@click.group("docs")
def docs() -> None:
    """List and remove indexed documents."""


@docs.command("list")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@friendly_errors
def docs_list(index: Path | None, as_json: bool) -> None:
    """List the indexed documents with their ids, dates and chunk counts."""
    documents = common.pipeline_from_env(index).documents()
    if as_json:
        print_json([d.to_json() for d in documents])
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
    pipeline = common.pipeline_from_env(index)
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
    report = common.pipeline_from_env(index).check(repair=repair)
    fixed = repair and not report.unrepairable and (report.ingested is None or report.ingested.ok)
    if as_json:
        print_json(
            {
                "damaged": [vars(d) for d in report.damaged],
                "lexical_current": report.lexical_current,
                "repaired": bool(report.damaged) and fixed,
                "unrepairable": [vars(d) for d in report.unrepairable],
            }
        )
    else:
        _print_check(report, repair, fixed)
    if report.damaged and not fixed:
        raise SystemExit(1)


def _print_check(report: CheckReport, repair: bool, fixed: bool) -> None:
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


@click.command("reindex")
@index_option
@friendly_errors
def reindex(index: Path | None) -> None:
    """Rebuild the lexical (BM25) index from the chunks in Chroma.

    Never needed in normal use: each search first brings the lexical index up to date with the
    writes made since (by any process), one document at a time. Use it if the file
    `<index>/lexical.sqlite` was lost or damaged; searches wait while it runs.
    """
    pipeline = common.pipeline_from_env(index)
    pipeline.store.require_documents()
    with stderr().status("Rebuilding the lexical index…"):
        chunks = pipeline.index.lexical.rebuild()
    click.echo(f"Lexical index rebuilt: {chunks} chunks.", err=True)
