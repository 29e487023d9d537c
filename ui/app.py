"""The web chat: a thin Gradio layer around the same pipeline as `rag ask`.

`ChatUI(pipeline)` holds everything the page does as plain methods (answer rendering, chat
turns, uploads, document list), so it can be tested with a fake pipeline and no server;
`build()` lays out the Gradio page and `launch()` serves it.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import threading
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.pipeline import MAX_QUESTION_CHARS, SUPPORTED_SUFFIXES, Pipeline, final_answer, is_url
from rag.text.dates import DateRange
from rag.types import Answer, AnswerSentence, Citation, DocumentInfo, Hit

EXAMPLES = [  # from the demo corpus (corpus/): English questions about French articles and the reverse
    "why is the EU looking at Mistral?",
    "Why did Algeria cut off internet access in June 2018?",
    "How many people died in the Nice attack?",
    "Combien de jeunes filles sont mortes dans l'incendie de l'escape game en Pologne ?",
    "What happened in Burundi in 2016?",
    "Que défend Brad Smith ?",
]
MAX_UPLOAD_MB = 20.0
_CITATION = re.compile(r"\[(\d+)\]")

CSS = """
.source { border-left: 3px solid #d0d7de; padding: 6px 10px; margin: 8px 0; scroll-margin: 80px; }
.source mark { background: #fff3b0; padding: 0 2px; scroll-margin: 80px; }
.source mark.active { background: #ffd33d; outline: 2px solid #0969da; }
.source mark .answer-span { font-weight: 700; text-decoration: underline; text-decoration-thickness: 2px; }
.source .meta { color: #57606a; font-size: 0.85em; }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
.abstained { color: #9a6700; font-weight: 600; }
.unsupported { background: #fff1e5; color: #953800; border-bottom: 1px dashed #953800; }
.notice { color: #57606a; font-size: 0.9em; margin-top: 6px; }
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
    """Everything the chat page does, over one pipeline."""

    def __init__(self, pipeline: Pipeline, upload_dir: Path | None = None, max_upload_mb: float = MAX_UPLOAD_MB):
        self.pipeline = pipeline
        self.upload_dir = upload_dir or pipeline.settings.index / "uploads"
        self.max_upload_mb = max_upload_mb
        # Questions run side by side (the pipeline's parts are thread-safe); writes (uploads,
        # removals) run one at a time, and a question asked meanwhile is not held up.
        self._writing = threading.Lock()

    # --- rendering -------------------------------------------------------------------------
    @staticmethod
    def answer_markdown(answer: Answer) -> str:
        """The answer with each [n] turned into a link to source n; a generated sentence that its
        cited passage doesn't support is shown as such; a notice follows when there is one."""
        if answer.abstained:
            body = f'<span class="abstained">{html.escape(answer.text)}</span>'
        elif answer.sentences:
            # Built from the sentences, so that only the answer's own citations become links: a
            # "[2]" inside a quoted article (a footnote, or a fake meant to mislead) stays text.
            body = " ".join(ChatUI.sentence_html(s) for s in answer.sentences if not s.dropped)
        else:
            body = _link_citations(html.escape(answer.text))
        if answer.notice:
            body += f'<div class="notice">Note: {html.escape(answer.notice)}</div>'
        if answer.dates is not None:
            body += f'<div class="notice">{html.escape(answer.dates.note())}.</div>'
        if answer.rejected:  # what the model wrote, for the curious: each sentence with its verdict
            written = " ".join(ChatUI.sentence_html(s) for s in answer.rejected)
            body += f'<details class="notice"><summary>What the model wrote</summary>{written}</details>'
        return body

    @staticmethod
    def sentence_html(sentence: AnswerSentence) -> str:
        marks = "".join(_cite_link(n) for n in sentence.citations)
        text = f"{html.escape(sentence.text)} {marks}".strip()
        if sentence.supported:
            return text
        why = "; ".join(sentence.reasons) or "the judge found no support"
        title = html.escape(f"Not supported by the cited passage ({why})", quote=True)
        return f'<span class="unsupported" title="{title}">⚠ {text}</span>'

    @staticmethod
    def sources_html(answer: Answer) -> str:
        """One block per citation: title, date, source and the passage with the quote highlighted."""
        if answer.abstained:
            blocks = [
                f'<div class="source" id="closest-{i}"><div class="meta">closest passage {i} · '
                f"{_title_html(h.title, h.url)} · {html.escape(h.date)} · {_origin_html(h)}</div>"
                f"<p>{_paragraphs(html.escape(h.text))}</p></div>"
                for i, h in enumerate(answer.hits[:3], 1)
            ]
            return "<h4>No answer in the documents: the closest passages</h4>" + "".join(blocks)
        blocks = []
        by_chunk: dict[str, list[Citation]] = {}
        for c in answer.citations:  # quotes from one passage are shown in one block
            by_chunk.setdefault(c.chunk_id, []).append(c)
        for quotes in by_chunk.values():
            first = quotes[0]
            parts, cursor = [], 0
            for c in sorted(quotes, key=lambda q: q.quote_start):
                parts.append(_paragraphs(html.escape(first.passage[cursor : c.quote_start])))
                parts.append(f'<mark id="src-{c.n}">{_quote_html(c)} <sup>[{c.n}]</sup></mark>')
                cursor = c.quote_end
            parts.append(_paragraphs(html.escape(first.passage[cursor:])))
            numbers = "".join(f"[{c.n}]" for c in quotes)
            blocks.append(
                f'<div class="source"><b>{numbers} {_title_html(first.title, first.url)}</b>'
                f'<div class="meta">{html.escape(first.date)} · {_origin_html(first)}</div>'
                f"<p>{''.join(parts)}</p></div>"
            )
        return "<h4>Sources</h4>" + "".join(blocks)

    @staticmethod
    def answer_as_markdown(answer: Answer) -> str:
        """The answer as a reader pastes it elsewhere: its sentences with their [n], then each
        citation: title, date, link (or file) and the quoted sentence."""
        if answer.abstained:
            return answer.text
        if answer.sentences:
            kept = [s for s in answer.sentences if not s.dropped]
            text = " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.citations)}".strip() for s in kept)
        else:
            text = answer.text
        lines = [text, ""]
        for c in answer.citations:
            where = f"<{c.url}>" if c.url else c.source
            lines.append(f"[{c.n}] {c.title} ({c.date}), {where}: « {' '.join(c.quote.split())} »")
        return "\n".join(lines).strip()

    # --- chat ------------------------------------------------------------------------------
    def ask_stream(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[str] = (),
        backend: str | None = None,
        dates: DateRange | None = None,
    ) -> Iterator[AnswerSentence | Answer]:
        question = (question or "").strip()
        if not question:
            raise RagError("Type a question first.")
        try:
            yield from self.pipeline.ask_stream(question[:MAX_QUESTION_CHARS], top_k, history, backend, dates)
        finally:
            _release_memory()

    def backends(self) -> list[str]:
        """The answer backends this page offers: the extractive one, and the configured LLM."""
        return list(dict.fromkeys(["extractive", self.pipeline.settings.llm]))

    def chat(
        self,
        message: str,
        history: list[dict[str, Any]] | None,
        top_k: float | None = None,
        backend: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], str, str, str]]:
        """One chat turn, streamed: yields (conversation, sources panel, text box, the answer as
        Markdown for the copy button). `since`/`until` keep the documents dated in that range."""
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            yield history, "", "", ""
            return
        notice = ""
        if len(message) > MAX_QUESTION_CHARS:
            notice = f"\n\n_(Your question was cut to its first {MAX_QUESTION_CHARS} characters.)_"
        earlier = [str(turn["content"]) for turn in history if turn.get("role") == "user"]
        history.append({"role": "user", "content": message[:MAX_QUESTION_CHARS]})
        shown: list[str] = []
        try:
            dates = DateRange.parse(since, until)
            for event in self.ask_stream(message, int(top_k) if top_k else None, earlier, backend or None, dates):
                if isinstance(event, AnswerSentence):  # a generated sentence, already checked
                    shown.append(self.sentence_html(event))
                    yield [*history, {"role": "assistant", "content": " ".join(shown) + " …"}], "", "", ""
                else:
                    answer = event
        except RagError as exc:
            history.append({"role": "assistant", "content": f"⚠️ {html.escape(str(exc))}"})
            yield history, "", "", ""
            return
        sources = self.sources_html(answer)
        final = self.answer_markdown(answer) + notice
        if not shown:  # the extractive answer is ready at once: stream it in
            words = final.split(" ")
            step = max(1, len(words) // 8)
            for end in range(step, len(words), step):
                yield [*history, {"role": "assistant", "content": " ".join(words[:end])}], "", "", ""
        yield [*history, {"role": "assistant", "content": final}], sources, "", self.answer_as_markdown(answer)

    def ask_api(self, question: str, since: str = "", until: str = "") -> dict[str, Any]:
        """The /ask endpoint: the same object as `rag ask --json`; `since` and `until`
        (YYYY, YYYY-MM or YYYY-MM-DD, optional) keep the documents dated in that range."""
        import gradio as gr

        try:
            answer = final_answer(self.ask_stream(question, dates=DateRange.parse(since, until)))
        except RagError as exc:
            raise gr.Error(str(exc)) from exc
        return answer.to_json()

    # --- documents -------------------------------------------------------------------------
    def upload(self, files: Sequence[Any] | None, progress: Any = None) -> tuple[list[list[str]], list[list[Any]], Any]:
        """Ingest uploaded files through the same path as `rag ingest`; one result row per file.

        A file is stored only as `<upload_dir>/<safe name>`: the name the browser sent loses any
        folder, control character and excess length; it is copied in whole, then renamed into
        place, so two uploads of one name never mix; the ingest itself (one at a time) then says
        added, updated, unchanged or why it failed."""
        rows: list[list[str]] = []
        accepted: dict[Path, str] = {}  # stored file -> the name the user sent
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        for item in files or []:
            temp = Path(getattr(item, "name", None) or str(item))
            sent = str(getattr(item, "orig_name", None) or temp.name)
            name = safe_upload_name(sent)
            shown = name if len(sent) > 200 else sent
            if Path(name).suffix not in SUPPORTED_SUFFIXES:
                rows.append([shown, "failed", f"unsupported type; allowed: {', '.join(SUPPORTED_SUFFIXES)}"])
                continue
            try:
                size_mb = temp.stat().st_size / 1e6
                if size_mb > self.max_upload_mb:
                    rows.append([shown, "failed", f"too large ({size_mb:.1f} MB, limit {self.max_upload_mb:.0f} MB)"])
                    continue
                target = self.upload_dir / name
                partial = self.upload_dir / f".{uuid.uuid4().hex}.part"
                try:
                    shutil.copyfile(temp, partial)
                    os.replace(partial, target)
                finally:
                    partial.unlink(missing_ok=True)  # (gone once renamed)
            except OSError as exc:
                rows.append([shown, "failed", f"could not be stored ({exc.strerror or exc}); try again"])
                continue
            accepted[target] = shown
        if accepted:

            def report_progress(stage: str, done: int, total: int) -> None:
                if progress is not None and total:
                    progress(done / total, desc="Reading files" if stage == "reading" else "Embedding passages")

            with self._writing:
                report = self.pipeline.ingest(list(accepted), report_progress)
            outcome = {p: "added" for p in report.added}
            outcome.update({p: "updated" for p in report.updated})
            outcome.update({p: "unchanged" for p in report.unchanged})
            errors = {f.source: f.error for f in report.failed}
            for path, shown in accepted.items():
                key = str(path)
                detail = errors.get(key, "")
                if shown != path.name and not detail:
                    detail = f"stored as {path.name}"
                rows.append([shown, outcome.get(key, "failed"), detail])
        return rows, *self._documents_and_choices()

    DOCUMENT_COLUMNS = ["date", "title", "source", "lang", "chunks", "doc_id"]

    def document_rows(self, since: str | None = None, until: str | None = None) -> list[list[Any]]:
        """The indexed documents, newest first, those dated within since..until when given (an
        invalid date raises RagError); a fetched page's source is a link."""
        dates = DateRange.parse(since, until)
        documents = self.pipeline.documents()
        if dates is not None:
            documents = [d for d in documents if dates.covers(d.date)]
        documents.sort(key=lambda d: d.date, reverse=True)
        return [[d.date, d.title, _source_markdown(d), d.language, d.chunks, d.doc_id] for d in documents]

    def filter_documents(self, since: str | None, until: str | None) -> tuple[list[list[Any]], str]:
        """The document list for the date filter, and a line saying what it shows."""
        try:
            rows = self.document_rows(since, until)
        except RagError as exc:
            return self.document_rows(), f"⚠️ {exc}"
        shown = DateRange.parse(since, until)
        return rows, f"{len(rows)} documents" + (f" dated {shown.describe()}" if shown else "")

    def add_url(
        self, url: str | None, feed: bool = False, progress: Any = None
    ) -> tuple[list[list[str]], list[list[Any]], Any]:
        """Add a web page (or, with `feed`, every article of an RSS or Atom feed) through the same
        ingest as `rag ingest URL`; private addresses are refused unless the settings allow them."""
        url = (url or "").strip()
        if not is_url(url):
            row = [url or "(empty)", "failed", "give a link starting with http:// or https://"]
            return [row], *self._documents_and_choices()

        def report_progress(stage: str, done: int, total: int) -> None:
            if progress is not None and total:
                progress(done / total, desc="Fetching pages" if stage == "reading" else "Embedding passages")

        with self._writing:
            report = self.pipeline.ingest(
                [],
                report_progress,
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
            with self._writing:
                removed = self.pipeline.remove(doc_id)
            message = f"Removed {doc_id} ({removed} chunks)."
        except RagError as exc:
            message = str(exc)
        return message, *self._documents_and_choices()

    def _documents_and_choices(self) -> tuple[list[list[Any]], Any]:
        """The document table and the remove menu, from one read of the index."""
        rows = self.document_rows()
        return rows, self._doc_choices(rows)

    def _doc_choices(self, rows: list[list[Any]] | None = None) -> Any:
        import gradio as gr

        choices = [(f"{row[1][:60]} ({row[5]})", row[5]) for row in (self.document_rows() if rows is None else rows)]
        return gr.update(choices=choices, value=None)

    # --- page ------------------------------------------------------------------------------
    def build(self) -> Any:
        import gradio as gr

        with gr.Blocks(title="rag-news: cited answers", analytics_enabled=False) as page:
            gr.Markdown(
                "## Ask your articles\nEvery sentence of an answer cites its passage: click **[n]** to see it. "
                "When the articles don't say, you are told so."
            )
            with gr.Tab("Chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(label="Conversation", height=460, elem_id="chat")
                        question = gr.Textbox(
                            placeholder="Ask a question, in English or French…",
                            show_label=False,
                            elem_id="question",
                            max_lines=4,
                        )
                        with gr.Row():
                            send = gr.Button("Ask", variant="primary", elem_id="ask")
                            copy = gr.Button("Copy answer (Markdown)", elem_id="copy")
                            clear = gr.Button("New conversation")
                        copied = gr.Textbox(visible=False, elem_id="answer-markdown")
                        gr.Examples(EXAMPLES, inputs=question, label="Examples")
                    with gr.Column(scale=2):
                        sources = gr.HTML(elem_id="sources", value="<h4>Sources</h4><p>Ask a question.</p>")
                        with gr.Row():
                            since = gr.Textbox(
                                label="Published from", placeholder="YYYY-MM-DD", max_lines=1, elem_id="since"
                            )
                            until = gr.Textbox(
                                label="Published until", placeholder="YYYY-MM-DD", max_lines=1, elem_id="until"
                            )
                        top_k = gr.Slider(
                            1, 20, value=self.pipeline.settings.top_k, step=1, label="Passages read (top-k)"
                        )
                        backend = gr.Dropdown(
                            self.backends(),
                            value=self.pipeline.settings.llm,
                            label="Answer written by",
                            info="extractive quotes the passages; a language model's sentences are each checked "
                            "against the passage they cite (RAG_LLM adds one).",
                            elem_id="backend",
                        )
            with gr.Tab("Documents"):
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
                with gr.Row():
                    docs_since = gr.Textbox(label="Dated from", placeholder="YYYY-MM-DD", max_lines=1)
                    docs_until = gr.Textbox(label="Dated until", placeholder="YYYY-MM-DD", max_lines=1)
                    docs_filter = gr.Button("Filter the list", elem_id="docs-filter")
                docs_shown = gr.Markdown()
                documents = gr.Dataframe(
                    headers=self.DOCUMENT_COLUMNS,
                    datatype=["str", "str", "markdown", "str", "number", "str"],
                    value=self.document_rows,
                    label="Indexed documents (click a column's name to sort)",
                    interactive=False,
                    elem_id="documents",
                )
                with gr.Row():
                    chosen = gr.Dropdown(label="Document to remove", choices=[], elem_id="remove-choice")
                    remove = gr.Button("Remove", variant="stop")
                removed = gr.Markdown()

            gr.on(
                [question.submit, send.click],
                self.chat,
                inputs=[question, chatbot, top_k, backend, since, until],
                outputs=[chatbot, sources, question, copied],
                api_visibility="private",
            )
            copy.click(  # in the browser: the last answer, with its citations, to the clipboard
                None,
                inputs=copied,
                js="(text) => { if (text) { navigator.clipboard.writeText(text); } return text; }",
                api_visibility="private",
            )
            clear.click(
                lambda: ([], "<h4>Sources</h4>", "", ""),
                outputs=[chatbot, sources, question, copied],
                api_visibility="private",
            )

            def upload_with_progress(files: Any, progress: Any = gr.Progress()) -> Any:  # noqa: B008 - Gradio's idiom
                return self.upload(files, progress)

            def page_with_progress(url: str, progress: Any = gr.Progress()) -> Any:  # noqa: B008
                return self.add_url(url, False, progress)

            def feed_with_progress(url: str, progress: Any = gr.Progress()) -> Any:  # noqa: B008
                return self.add_url(url, True, progress)

            uploads.upload(  # also an API: Client(url).predict([handle_file(path)], api_name="/upload")
                upload_with_progress, inputs=uploads, outputs=[results, documents, chosen], api_name="upload"
            )
            add_page.click(page_with_progress, inputs=link, outputs=[results, documents, chosen], api_name="add_page")
            add_feed.click(feed_with_progress, inputs=link, outputs=[results, documents, chosen], api_name="add_feed")
            docs_filter.click(
                self.filter_documents,
                inputs=[docs_since, docs_until],
                outputs=[documents, docs_shown],
                api_visibility="private",
            )
            remove.click(self.remove, inputs=chosen, outputs=[removed, documents, chosen], api_visibility="private")
            page.load(self._doc_choices, outputs=chosen, api_visibility="private")
            gr.api(self.ask_api, api_name="ask")
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
            max_file_size=f"{self.max_upload_mb:.0f}mb",
            css=CSS,
            js=JS,
            footer_links=["api"],
            **kwargs,
        )


MAX_NAME_CHARS = 120


class _MemoryTrimmer:
    """Hands the memory freed by answers back to the system (glibc's malloc_trim), at most every
    `every_s` seconds. Concurrent answers leave freed buffers in each thread's malloc arena, which
    glibc keeps: measured over 360 questions from 10 threads, resident memory grew 2996 -> 3796 MB
    without this and 2547 -> 2780 MB with it (eval/soak.py measures the served app)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        import ctypes
        import time

        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every_s:
                return
            self._last = now
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing to do
            pass


_release_memory = _MemoryTrimmer(every_s=2.0)


def safe_upload_name(sent: str) -> str:
    """The name an upload is stored under: the last part of what the browser sent (no folder,
    whichever separator it uses), printable characters only, no leading dot, at most
    MAX_NAME_CHARS characters with its extension (lower-cased) kept."""
    base = unicodedata.normalize("NFC", sent.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch if ch.isprintable() else "_" for ch in base).strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(base)
    if len(suffix) > 12 or not suffix[1:].isalnum():  # not an extension: part of the name
        stem, suffix = base, ""
    stem = stem[: MAX_NAME_CHARS - len(suffix)].strip() or "upload"
    return stem + suffix.lower()


def _link_citations(escaped: str) -> str:
    return _CITATION.sub(lambda m: _cite_link(int(m.group(1))), escaped)


def _cite_link(n: int) -> str:
    """[n] as a link to source n in the sources panel."""
    return f'<a class="cite" href="#src-{n}">[{n}]</a>'


def _quote_html(c: Citation) -> str:
    """The quote, escaped, with the short answer the reader found in it (if any) in bold."""
    text = c.passage
    if not c.quote_start <= c.span_start < c.span_end <= c.quote_end:
        return html.escape(text[c.quote_start : c.quote_end])
    return (
        html.escape(text[c.quote_start : c.span_start])
        + '<strong class="answer-span" title="the likely answer">'
        + html.escape(text[c.span_start : c.span_end])
        + "</strong>"
        + html.escape(text[c.span_end : c.quote_end])
    )


_NEW_TAB = 'target="_blank" rel="noopener noreferrer"'


def _safe_link(url: str) -> str:
    """The URL if it is an http(s) link, else "" (never a javascript: or data: link)."""
    return url if is_url(url) else ""


def _title_html(title: str, url: str) -> str:
    """A source's title, a link to its page when it has one (opens in a new tab)."""
    link = _safe_link(url)
    if not link:
        return html.escape(title)
    return f'<a class="origin" href="{html.escape(link, quote=True)}" {_NEW_TAB}>{html.escape(title)}</a>'


def _origin_html(item: Citation | Hit) -> str:
    """Where a source comes from: its link, or its file."""
    link = _safe_link(item.url)
    if not link:
        return html.escape(item.source)
    return (
        f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">{html.escape(link)}</a>'
    )


def _source_markdown(document: DocumentInfo) -> str:
    """The document list's source cell: its file or URL, a link to its page when it has one."""
    link = _safe_link(document.url)
    if link:
        return f"[{_markdown_escape(document.source)}]({link.replace(')', '%29').replace(' ', '%20')})"
    return _markdown_escape(document.source)


def _markdown_escape(text: str) -> str:
    """Escape what Markdown would turn into markup in a path or URL (underscores inside words
    stay as they are: Markdown leaves them alone)."""
    return re.sub(r"([\\`*\[\]<>])", r"\\\1", text)


def _paragraphs(escaped: str) -> str:
    return escaped.replace("\n\n", "<br><br>").replace("\n", "<br>")
