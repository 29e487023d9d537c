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

from rag.answer import final_answer
from rag.errors import RagError
from rag.pipeline import MAX_QUESTION_CHARS, Pipeline
from rag.readers import SUPPORTED_SUFFIXES
from rag.types import Answer, AnswerSentence, Citation

EXAMPLES = [
    "why is the EU looking at Mistral?",
    "How much has Microsoft invested in OpenAI?",
    "Pourquoi la Commission européenne s'intéresse-t-elle à Mistral AI ?",
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
                f"{html.escape(h.title)} · {html.escape(h.date)} · {html.escape(h.source)}</div>"
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
                f'<div class="source"><b>{numbers} {html.escape(first.title)}</b>'
                f'<div class="meta">{html.escape(first.date)} · {html.escape(first.source)}</div>'
                f"<p>{''.join(parts)}</p></div>"
            )
        return "<h4>Sources</h4>" + "".join(blocks)

    # --- chat ------------------------------------------------------------------------------
    def ask_stream(
        self, question: str, top_k: int | None = None, history: Sequence[str] = (), backend: str | None = None
    ) -> Iterator[AnswerSentence | Answer]:
        question = (question or "").strip()
        if not question:
            raise RagError("Type a question first.")
        try:
            yield from self.pipeline.ask_stream(question[:MAX_QUESTION_CHARS], top_k, history, backend)
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
    ) -> Iterator[tuple[list[dict[str, Any]], str, str]]:
        """One chat turn, streamed: yields (conversation, sources panel, text box)."""
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            yield history, "", ""
            return
        notice = ""
        if len(message) > MAX_QUESTION_CHARS:
            notice = f"\n\n_(Your question was cut to its first {MAX_QUESTION_CHARS} characters.)_"
        earlier = [str(turn["content"]) for turn in history if turn.get("role") == "user"]
        history.append({"role": "user", "content": message[:MAX_QUESTION_CHARS]})
        shown: list[str] = []
        try:
            for event in self.ask_stream(message, int(top_k) if top_k else None, earlier, backend or None):
                if isinstance(event, AnswerSentence):  # a generated sentence, already checked
                    shown.append(self.sentence_html(event))
                    yield [*history, {"role": "assistant", "content": " ".join(shown) + " …"}], "", ""
                else:
                    answer = event
        except RagError as exc:
            history.append({"role": "assistant", "content": f"⚠️ {html.escape(str(exc))}"})
            yield history, "", ""
            return
        sources = self.sources_html(answer)
        final = self.answer_markdown(answer) + notice
        if not shown:  # the extractive answer is ready at once: stream it in
            words = final.split(" ")
            step = max(1, len(words) // 8)
            for end in range(step, len(words), step):
                yield [*history, {"role": "assistant", "content": " ".join(words[:end])}], "", ""
        yield [*history, {"role": "assistant", "content": final}], sources, ""

    def ask_api(self, question: str) -> dict[str, Any]:
        """The /ask endpoint: the same object as `rag ask --json`."""
        import gradio as gr

        try:
            answer = final_answer(self.ask_stream(question))
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

    def document_rows(self) -> list[list[Any]]:
        documents = self.pipeline.documents()
        return [[d.doc_id, d.title, d.date, d.language, d.chunks, d.source] for d in documents]

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

        choices = [(f"{row[1][:60]} ({row[0]})", row[0]) for row in (self.document_rows() if rows is None else rows)]
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
                            clear = gr.Button("New conversation")
                        gr.Examples(EXAMPLES, inputs=question, label="Examples")
                    with gr.Column(scale=2):
                        sources = gr.HTML(elem_id="sources", value="<h4>Sources</h4><p>Ask a question.</p>")
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
                results = gr.Dataframe(
                    headers=["file", "result", "detail"],
                    label="Upload results",
                    interactive=False,
                    elem_id="upload-results",
                )
                documents = gr.Dataframe(
                    headers=["doc_id", "title", "date", "lang", "chunks", "source"],
                    value=self.document_rows,
                    label="Indexed documents",
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
                inputs=[question, chatbot, top_k, backend],
                outputs=[chatbot, sources, question],
                api_visibility="private",
            )
            clear.click(
                lambda: ([], "<h4>Sources</h4>", ""), outputs=[chatbot, sources, question], api_visibility="private"
            )

            def upload_with_progress(files: Any, progress: Any = gr.Progress()) -> Any:  # noqa: B008 - Gradio's idiom
                return self.upload(files, progress)

            uploads.upload(  # also an API: Client(url).predict([handle_file(path)], api_name="/upload")
                upload_with_progress, inputs=uploads, outputs=[results, documents, chosen], api_name="upload"
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


def _paragraphs(escaped: str) -> str:
    return escaped.replace("\n\n", "<br><br>").replace("\n", "<br>")
