"""What every command shares: its options, the error handling at the edge, the pipeline and the output.

Errors become one-line messages here (`friendly_errors`), never tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rag.errors import RagError
from rag.settings import JUDGES, LLM_BACKENDS, Settings

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

F = TypeVar("F", bound=Callable[..., Any])

LLM_OPTION_NAMES = ("llm", "llm_model", "llm_base_url", "llm_api_key", "llm_timeout")


def stderr() -> Any:
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
            type=click.Choice(LLM_BACKENDS),
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
        type=click.Choice(list(JUDGES)),
        default=None,
        help="Faithfulness judge (env RAG_JUDGE): embedded (default, no LLM; fitted on real LLM answers), "
        "cross-encoder (trained from a checkout into RAG_JUDGE_DIR) or llm (claims then verdicts by the --llm "
        "backend).",
    )(func)


def llm_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the values of `llm_options` out of a command's keyword arguments, as settings overrides."""
    return {name: kwargs.pop(name) for name in LLM_OPTION_NAMES}


def friendly_errors(func: F) -> F:
    """Turn our errors into one red line and exit status 2; never show a traceback for them."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RagError as exc:
            stderr().print(f"[red]Error:[/red] {exc}", highlight=False)
            sys.exit(2)
        except KeyboardInterrupt:
            stderr().print("[yellow]Interrupted.[/yellow] What was already stored is kept.")
            sys.exit(130)
        except Exception as exc:  # a bug of ours: one line for the user, the traceback on request
            if os.environ.get("RAG_DEBUG"):
                raise
            stderr().print(
                f"[red]Unexpected error:[/red] {type(exc).__name__}: {exc} (run again with RAG_DEBUG=1 for details)",
                highlight=False,
            )
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


def pipeline_from_env(index: Path | None, **overrides: Any) -> Pipeline:
    """The pipeline a command works with: settings from RAG_* variables and the command's options.

    Commands call it as `common.pipeline_from_env`, so that tests replace it in one place.
    """
    from rag.pipeline import build_pipeline

    return build_pipeline(Settings.from_env(index=index, **overrides))


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


def read_questions(source: str) -> Iterator[str]:
    """The non-blank lines of a file, or of stdin when source is '-', stripped."""
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
