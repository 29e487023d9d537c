"""The web chat: a thin Gradio layer around the same pipeline as `rag ask`.

`ChatUI(pipeline)` is the page: a Chat tab (ui/chat.py) and a Documents tab (ui/documents.py),
each a class whose plain methods do what the tab does, so they can be tested with a fake
pipeline and no server; ui/render.py turns an answer into HTML. `build()` assembles the tabs
into one Gradio page and `launch()` serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.pipeline import BackgroundIngest, Pipeline
from ui.chat import ChatTab
from ui.documents import DocumentsTab
from ui.uploads import MAX_UPLOAD_MB

INTRO = (
    "## Ask your articles\nEvery sentence of an answer cites its passage: click **[n]** to see it. "
    "When the articles don't say, you are told so."
)

CSS = """
.source { border-left: 3px solid #d0d7de; padding: 6px 10px; margin: 8px 0; scroll-margin: 80px; }
.source mark { background: #fff3b0; padding: 0 2px; scroll-margin: 80px; }
.source mark.active { background: #ffd33d; outline: 2px solid #0969da; }
.source mark .answer-span { font-weight: 700; text-decoration: underline; text-decoration-thickness: 2px; }
.source .meta { color: #57606a; font-size: 0.85em; }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
.abstained { color: #9a6700; font-weight: 600; }
.hedge { color: #9a6700; font-style: italic; margin-bottom: 4px; }
.hedged { display: block; border-left: 3px solid #d4a72c; padding-left: 8px; color: #57606a; }
.unsupported { background: #fff1e5; color: #953800; border-bottom: 1px dashed #953800; }
.notice { color: #57606a; font-size: 0.9em; margin-top: 6px; }
.confidence { color: #57606a; font-size: 0.85em; margin-top: 4px; }
.source a.origin { color: inherit; }
"""

# Clicking [n] in an answer brings source n into view and marks it, without leaving the page.
JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a.cite, a[href^="#src-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const target = document.getElementById(link.getAttribute('href').slice(1));
    if (!target) return;
    document.querySelectorAll('#sources .active').forEach((el) => el.classList.remove('active'));
    target.classList.add('active');
    target.scrollIntoView({behavior: 'smooth', block: 'center'});
  }, true);
}
"""


class ChatUI:
    """The chat page over one pipeline: its two tabs, and the server."""

    def __init__(self, pipeline: Pipeline, upload_dir: Path | None = None, max_upload_mb: float = MAX_UPLOAD_MB):
        self.pipeline = pipeline
        self.chat = ChatTab(pipeline)
        self.documents = DocumentsTab(pipeline, upload_dir or pipeline.settings.index / "uploads", max_upload_mb)
        self.background: BackgroundIngest | None = None

    def index_in_background(self, paths: list[Path], label: str = "") -> BackgroundIngest:
        """Ingest `paths` behind the chat (`rag serve --ingest`): the page shows how far it is,
        and each batch can be asked about as soon as it is stored."""
        self.background = self.pipeline.ingest_in_background(paths, self.documents.writing, label)
        return self.background

    def indexing_line(self) -> str:
        """The line above the tabs while a background ingest runs, and once it has ended."""
        return f"*{self.background.state().describe()}*" if self.background is not None else ""

    def _indexing_tick(self) -> tuple[str, Any]:
        import gradio as gr

        running = self.background is not None and self.background.state().running
        return self.indexing_line(), gr.Timer(active=running)

    def build(self) -> Any:
        import gradio as gr

        with gr.Blocks(title="rag-news: cited answers", analytics_enabled=False) as page:
            gr.Markdown(INTRO)
            if self.background is not None:
                indexing = gr.Markdown(self.indexing_line, elem_id="indexing")
                timer = gr.Timer(2.0)
                timer.tick(self._indexing_tick, outputs=[indexing, timer], api_visibility="private")
            with gr.Tab("Chat"):
                self.chat.build()
            with gr.Tab("Documents"):
                self.documents.build(page)
            gr.api(self.chat.ask_api, api_name="ask")
        return page

    def launch(
        self, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None, **kwargs: Any
    ) -> Any:
        page = self.build()
        page.queue(default_concurrency_limit=4)
        return page.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            max_file_size=f"{self.documents.max_upload_mb:.0f}mb",
            css=CSS,
            js=JS,
            footer_links=["api"],
            **kwargs,
        )
