"""`rag serve`: the web chat."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rag.cli import common
from rag.cli.common import friendly_errors, index_option, llm_options, llm_overrides, stderr
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.pipeline import BackgroundIngest


@click.command("serve")
@index_option
@click.option(
    "--host", default="127.0.0.1", envvar="RAG_HOST", show_default=True, help="Address to bind (env RAG_HOST)."
)
@click.option("--port", default=7860, type=int, envvar="RAG_PORT", show_default=True, help="Port (env RAG_PORT).")
@click.option("--auth", default=None, envvar="RAG_AUTH", help="user:password to require a login (env RAG_AUTH).")
@click.option(
    "--ingest",
    "ingest_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Also ingest these files or folders behind the chat, as `rag ingest` would (only what changed); "
    "the page shows how far it is, and what is stored can be asked about at once. Repeatable.",
)
@llm_options
@friendly_errors
def serve(
    index: Path | None, host: str, port: int, auth: str | None, ingest_paths: tuple[Path, ...], **llm: Any
) -> None:
    """Start the web chat (Gradio) on http://HOST:PORT.

    It binds to 127.0.0.1 unless told otherwise; bound elsewhere, give --auth user:password
    (or RAG_AUTH) so that only people with the password can use it. The page has an `/ask`
    API endpoint: gradio_client.Client(url).predict(question, api_name="/ask").

    \b
    Examples:
      rag serve
      RAG_AUTH=alice:s3cret rag serve --host 0.0.0.0 --port 8080
      rag serve --llm ollama --llm-model llama3.2     # the page then offers both answerers
      rag serve --ingest corpus/                      # chat now, index corpus/ meanwhile (./setup.sh does this)
    """
    from ui.app import ChatUI

    credentials = _credentials(auth, host)
    pipeline = common.pipeline_from_env(index, **llm_overrides(llm))
    if pipeline.store.count():
        pipeline.warm()  # load the model, the lexical index and the reader now, not at the first question
    elif not ingest_paths:
        stderr().print("The index is empty: add documents in the Documents tab, or run `rag ingest corpus/`")
    page = ChatUI(pipeline)
    if ingest_paths:
        _report_progress(page.index_in_background(list(ingest_paths)))
    stderr().print(f"Serving {pipeline.store.location} on http://{host}:{port} (Ctrl+C to stop)", highlight=False)
    page.launch(host=host, port=port, auth=credentials, quiet=True)


def _report_progress(background: BackgroundIngest, every: float = 20.0) -> None:
    """A line on the terminal every `every` seconds while the background ingest runs, and one when it ends."""

    def watch() -> None:
        while background.wait(every).running:
            stderr().print(background.state().describe(), highlight=False)
        state = background.state()
        colour = "red" if state.error else "green"
        stderr().print(f"[{colour}]{state.describe()}[/{colour}]", highlight=False)

    threading.Thread(target=watch, name="ingest-progress", daemon=True).start()


def _credentials(auth: str | None, host: str) -> tuple[str, str] | None:
    """The (user, password) from --auth; without it, a warning when the page is reachable from elsewhere."""
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise RagError("--auth must look like user:password")
        return (user, password)
    if host not in ("127.0.0.1", "localhost", "::1"):
        stderr().print(f"[yellow]Warning:[/yellow] serving on {host} without a login: set RAG_AUTH=user:password")
    return None
