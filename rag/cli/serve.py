"""`rag serve`: the web chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rag.cli import common
from rag.cli.common import friendly_errors, index_option, llm_options, llm_overrides, stderr
from rag.errors import RagError


@click.command("serve")
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

    credentials = _credentials(auth, host)
    pipeline = common.pipeline_from_env(index, **llm_overrides(llm))
    if pipeline.store.count():
        pipeline.warm()  # load the model, the lexical index and the reader now, not at the first question
    else:
        stderr().print("The index is empty: add documents in the Documents tab, or run `rag ingest corpus/`")
    stderr().print(f"Serving {pipeline.store.location} on http://{host}:{port} (Ctrl+C to stop)", highlight=False)
    ChatUI(pipeline).launch(host=host, port=port, auth=credentials, quiet=True)


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
