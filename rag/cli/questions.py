"""Questions to the index: `rag search` (passages) and `rag ask` (a cited answer, printed as it is checked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rag.cli import common
from rag.cli.common import (
    date_options,
    friendly_errors,
    index_option,
    llm_options,
    llm_overrides,
    print_json,
    read_questions,
    stderr,
)
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.types import Answer, AnswerSentence


@click.command("search")
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
    pipeline = common.pipeline_from_env(index, top_k=top_k)
    if questions:
        for q in read_questions(questions):
            print_json({"query": q, "hits": [h.to_json() for h in pipeline.search(q, dates=dates)]})
        return
    if not query:
        raise RagError("Give a QUERY, or --questions FILE")
    hits = pipeline.search(query, dates=dates)
    if as_json:
        print_json({"query": query, "hits": [h.to_json() for h in hits]})
        return
    for rank, hit in enumerate(hits, 1):
        click.echo(
            click.style(f"{rank}. {hit.title}", bold=True)
            + f"  ({hit.date}, {hit.url or hit.source}, score {hit.score:.3f})"
        )
        click.echo(_excerpt(hit.text, 400, "   ") + "\n")


@click.command("ask")
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
    pipeline = common.pipeline_from_env(index, top_k=top_k, **llm_overrides(llm))
    if questions:
        for q in read_questions(questions):
            print_json(pipeline.ask(q, dates=dates).to_json())
        return
    if not question:
        raise RagError("Give a QUESTION, or --questions FILE")
    if as_json:
        print_json(pipeline.ask(question, dates=dates).to_json())
        return
    _print_answer(pipeline.ask_stream(question, dates=dates))


def _print_answer(events: Iterator[AnswerSentence | Answer]) -> None:
    """Print checked sentences as they come, then the notice, the answer if not yet shown and its sources."""
    from rag.types import AnswerSentence

    answer, streamed = None, False
    for event in events:
        if isinstance(event, AnswerSentence):
            streamed = True
            _print_sentence(event)
        else:
            answer = event
    assert answer is not None
    if answer.notice:
        stderr().print(f"[yellow]Notice:[/yellow] {answer.notice}", highlight=False)
    if answer.dates is not None:
        stderr().print(f"[dim]{answer.dates.note()}[/dim]", highlight=False)
    if answer.hedge:
        click.echo(click.style(answer.hedge, fg="yellow"))
    if not streamed or answer.abstained or answer.backend == "extractive":
        click.echo(answer.text)
    if answer.confidence is not None:
        stderr().print(f"[dim]Confidence {answer.confidence:.0%}[/dim]", highlight=False)
    click.echo()
    _print_sources(answer)


def _print_sentence(sentence: AnswerSentence) -> None:
    """One checked sentence with its citation marks; an unsupported one in yellow, with the judge's reasons."""
    marks = "".join(f"[{n}]" for n in sentence.citations)
    if sentence.supported:
        click.echo(f"{sentence.text} {marks}".strip())
        return
    why = "; ".join(sentence.reasons) or "the judge found no support"
    click.echo(
        click.style(f"⚠ {sentence.text} {marks}".strip(), fg="yellow")
        + click.style(f"  (not supported by its citation: {why})", dim=True)
    )


def _print_sources(answer: Answer) -> None:
    """The cited passages' quotes, or, when the answer abstained, the three closest passages."""
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
