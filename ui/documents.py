"""The Documents tab: add files, web pages and feeds, list the index by date, remove a document.

`DocumentsTab(pipeline, upload_dir)` does each as a plain method, through the same ingest as
`rag ingest`; `build(page)` lays out the tab and wires its events (three of them are also API
endpoints: /upload, /add_page, /add_feed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.pipeline import SUPPORTED_SUFFIXES, Pipeline, is_url
from rag.text.dates import DateRange
from rag.types import IngestReport
from ui.render import source_markdown
from ui.uploads import MAX_UPLOAD_MB, store_upload

DOCUMENT_COLUMNS = ["date", "title", "source", "lang", "chunks", "doc_id"]
# What each change returns: the result rows, the document table and the remove menu.
Changed = tuple[list[list[str]], list[list[Any]], Any]


class DocumentsTab:
    """The documents of one pipeline's index, and the files uploaded into `upload_dir`."""

    def __init__(self, pipeline: Pipeline, upload_dir: Path, max_upload_mb: float = MAX_UPLOAD_MB) -> None:
        self.pipeline = pipeline
        self.upload_dir = upload_dir
        self.max_upload_mb = max_upload_mb
        # Writes (uploads, removals, a background ingest) run one at a time; questions take no
        # lock, so one asked meanwhile is not held up.
        self.writing = threading.Lock()

    def upload(self, files: Sequence[Any] | None, progress: Any = None) -> Changed:
        """Ingest uploaded files through the same path as `rag ingest`; one result row per file.

        Each file is stored under a safe name in `upload_dir` (ui/uploads.py); the ingest itself
        (one at a time) then says added, updated, unchanged or why it failed."""
        rows: list[list[str]] = []
        accepted: dict[Path, str] = {}  # stored file -> the name the user sent
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        for item in files or []:
            shown, stored = store_upload(item, self.upload_dir, self.max_upload_mb)
            if isinstance(stored, Path):
                accepted[stored] = shown
            else:
                rows.append([shown, "failed", stored])
        if accepted:
            with self.writing:
                report = self.pipeline.ingest(list(accepted), _progress(progress, "Reading files"))
            rows += _upload_rows(report, accepted)
        return rows, *self._documents_and_choices()

    def add_url(self, url: str | None, feed: bool = False, progress: Any = None) -> Changed:
        """Add a web page (or, with `feed`, every article of an RSS or Atom feed) through the same
        ingest as `rag ingest URL`; private addresses are refused unless the settings allow them."""
        url = (url or "").strip()
        if not is_url(url):
            row = [url or "(empty)", "failed", "give a link starting with http:// or https://"]
            return [row], *self._documents_and_choices()
        with self.writing:
            report = self.pipeline.ingest(
                [],
                _progress(progress, "Fetching pages"),
                urls=[] if feed else [url],
                feeds=[url] if feed else [],
                allow_private=self.pipeline.settings.allow_private_urls,
            )
        rows = [[p, "added", ""] for p in report.added]
        rows += [[p, "updated", ""] for p in report.updated]
        rows += [[p, "unchanged", ""] for p in report.unchanged]
        rows += [[f.source, "failed", f.error] for f in report.failed]
        if not rows:
            rows = [[url, "unchanged", "the feed lists no articles"]]
        return rows, *self._documents_and_choices()

    def remove(self, doc_id: str | None) -> tuple[str, list[list[Any]], Any]:
        if not doc_id:
            return "Choose a document to remove.", *self._documents_and_choices()
        try:
            with self.writing:
                removed = self.pipeline.remove(doc_id)
            message = f"Removed {doc_id} ({removed} chunks)."
        except RagError as exc:
            message = str(exc)
        return message, *self._documents_and_choices()

    def document_rows(self, since: str | None = None, until: str | None = None) -> list[list[Any]]:
        """The indexed documents, newest first, those dated within since..until when given (an
        invalid date raises RagError); a fetched page's source is a link."""
        dates = DateRange.parse(since, until)
        documents = self.pipeline.documents()
        if dates is not None:
            documents = [d for d in documents if dates.covers(d.date)]
        documents.sort(key=lambda d: d.date, reverse=True)
        return [[d.date, d.title, source_markdown(d), d.language, d.chunks, d.doc_id] for d in documents]

    def filter_documents(self, since: str | None, until: str | None) -> tuple[list[list[Any]], str]:
        """The document list for the date filter, and a line saying what it shows."""
        try:
            rows = self.document_rows(since, until)
        except RagError as exc:
            return self.document_rows(), f"⚠️ {exc}"
        shown = DateRange.parse(since, until)
        return rows, f"{len(rows)} documents" + (f" dated {shown.describe()}" if shown else "")

    def _documents_and_choices(self) -> tuple[list[list[Any]], Any]:
        """The document table and the remove menu, from one read of the index."""
        rows = self.document_rows()
        return rows, self._doc_choices(rows)

    def _doc_choices(self, rows: list[list[Any]] | None = None) -> Any:
        import gradio as gr

        choices = [(f"{row[1][:60]} ({row[5]})", row[5]) for row in (self.document_rows() if rows is None else rows)]
        return gr.update(choices=choices, value=None)

    # --- layout ----------------------------------------------------------------------------
    def build(self, page: Any) -> None:
        """The tab's components (adding, then the list, then removing) and their events; the
        remove menu is filled when `page` loads."""
        import gradio as gr

        uploads, link, add_page, add_feed, results = self._adding()
        docs_since, docs_until, docs_filter, docs_shown, documents = self._listing()
        with gr.Row():
            chosen = gr.Dropdown(label="Document to remove", choices=[], elem_id="remove-choice")
            remove = gr.Button("Remove", variant="stop")
        removed = gr.Markdown()

        def upload_with_progress(files: Any, progress: Any = gr.Progress()) -> Any:  # noqa: B008 - Gradio's idiom
            return self.upload(files, progress)

        def page_with_progress(url: str, progress: Any = gr.Progress()) -> Any:  # noqa: B008
            return self.add_url(url, False, progress)

        def feed_with_progress(url: str, progress: Any = gr.Progress()) -> Any:  # noqa: B008
            return self.add_url(url, True, progress)

        changed = [results, documents, chosen]
        uploads.upload(  # also an API: Client(url).predict([handle_file(path)], api_name="/upload")
            upload_with_progress, inputs=uploads, outputs=changed, api_name="upload"
        )
        add_page.click(page_with_progress, inputs=link, outputs=changed, api_name="add_page")
        add_feed.click(feed_with_progress, inputs=link, outputs=changed, api_name="add_feed")
        docs_filter.click(
            self.filter_documents,
            inputs=[docs_since, docs_until],
            outputs=[documents, docs_shown],
            api_visibility="private",
        )
        remove.click(self.remove, inputs=chosen, outputs=[removed, documents, chosen], api_visibility="private")
        page.load(self._doc_choices, outputs=chosen, api_visibility="private")

    def _adding(self) -> tuple[Any, ...]:
        """The upload box, the link box with its two buttons, and the table of results."""
        import gradio as gr

        uploads = gr.File(
            label=f"Add documents ({', '.join(SUPPORTED_SUFFIXES)}; up to {self.max_upload_mb:.0f} MB each)",
            file_count="multiple",
            file_types=list(SUPPORTED_SUFFIXES),
            elem_id="upload",
        )
        with gr.Row():
            link = gr.Textbox(
                label="Or add a web page or a feed by its link",
                placeholder="https://…",
                max_lines=1,
                scale=4,
                elem_id="url",
            )
            add_page = gr.Button("Add page", elem_id="add-page", scale=1)
            add_feed = gr.Button("Add feed (RSS, Atom)", elem_id="add-feed", scale=1)
        results = gr.Dataframe(
            headers=["file or link", "result", "detail"],
            label="Results",
            interactive=False,
            elem_id="upload-results",
        )
        return uploads, link, add_page, add_feed, results

    def _listing(self) -> tuple[Any, ...]:
        """The date filter and the list of indexed documents."""
        import gradio as gr

        with gr.Row():
            docs_since = gr.Textbox(label="Dated from", placeholder="YYYY-MM-DD", max_lines=1)
            docs_until = gr.Textbox(label="Dated until", placeholder="YYYY-MM-DD", max_lines=1)
            docs_filter = gr.Button("Filter the list", elem_id="docs-filter")
        docs_shown = gr.Markdown()
        documents = gr.Dataframe(
            headers=DOCUMENT_COLUMNS,
            datatype=["str", "str", "markdown", "str", "number", "str"],
            value=self.document_rows,
            label="Indexed documents (click a column's name to sort)",
            interactive=False,
            elem_id="documents",
        )
        return docs_since, docs_until, docs_filter, docs_shown, documents


def _progress(progress: Any, reading: str) -> Callable[[str, int, int], None]:
    """The ingest's progress callback, shown in Gradio's `progress` (if any): `reading` while
    the sources are read, then "Embedding passages"."""

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None and total:
            progress(done / total, desc=reading if stage == "reading" else "Embedding passages")

    return report


def _upload_rows(report: IngestReport, accepted: dict[Path, str]) -> list[list[str]]:
    """One result row per stored file, under the name the user sent (and the name it is stored
    under, when that differs)."""
    outcome = {p: "added" for p in report.added}
    outcome.update({p: "updated" for p in report.updated})
    outcome.update({p: "unchanged" for p in report.unchanged})
    errors = {f.source: f.error for f in report.failed}
    rows = []
    for path, shown in accepted.items():
        key = str(path)
        detail = errors.get(key, "")
        if shown != path.name and not detail:
            detail = f"stored as {path.name}"
        rows.append([shown, outcome.get(key, "failed"), detail])
    return rows
