"""The `rag` command line: the `main` group here, its commands in one module per command group.

documents (ingest, docs, reindex), questions (search, ask), serve, evaluate (eval), models; what they
share (options, errors as one-line messages, the pipeline, JSON output) is in common.
"""

from __future__ import annotations

import gc

import click

from rag.cli.documents import docs, ingest, reindex
from rag.cli.evaluate import evaluate
from rag.cli.models import models
from rag.cli.questions import ask, search
from rag.cli.serve import serve

__all__ = ["entry", "main"]


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


for command in (ingest, search, ask, docs, reindex, serve, evaluate, models):
    main.add_command(command)


def entry() -> None:
    """The `rag` command. Once the command is done the process ends: Python's last garbage
    collection would walk every object that torch, transformers and Chroma made (1.5-2 s after
    a command that loaded the model, `python -m eval.benchmark`), all freed when the process exits. Files,
    the index and the reading worker are closed before (their own code and atexit hooks)."""
    try:
        main()
    finally:
        gc.freeze()
