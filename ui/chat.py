"""The Chat tab: a conversation whose answers stream in with their sources, and the /ask API.

`ChatTab(pipeline)` answers as plain methods (`chat`, `ask_api`), testable with a fake pipeline
and no server; `build()` lays out the tab and wires its events, inside the page's `gr.Tab`.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any

from rag.errors import RagError
from rag.pipeline import MAX_QUESTION_CHARS, Pipeline, final_answer
from rag.text.dates import DateRange
from rag.types import Answer, AnswerSentence
from ui.memory import release_memory
from ui.render import answer_as_markdown, answer_markdown, sentence_html, sources_html

EXAMPLES = [  # from the demo corpus (corpus/): English questions about French articles and the reverse
    "why is the EU looking at Mistral?",
    "Why did Algeria cut off internet access in June 2018?",
    "How many people died in the Nice attack?",
    "Combien de jeunes filles sont mortes dans l'incendie de l'escape game en Pologne ?",
    "What happened in Burundi in 2016?",
    "Que défend Brad Smith ?",
]
# One chat turn's outputs: the conversation, the sources panel, the question box, the answer as
# Markdown for the copy button.
Turn = tuple[list[dict[str, Any]], str, str, str]


class ChatTab:
    """Questions over one pipeline. They run side by side (the pipeline's parts are thread-safe)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

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
            release_memory()

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
    ) -> Iterator[Turn]:
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
                    shown.append(sentence_html(event))
                    yield [*history, {"role": "assistant", "content": " ".join(shown) + " …"}], "", "", ""
                else:
                    answer = event
        except RagError as exc:
            history.append({"role": "assistant", "content": f"⚠️ {html.escape(str(exc))}"})
            yield history, "", "", ""
            return
        final = answer_markdown(answer) + notice
        if not shown:  # the extractive answer is ready at once: stream it in
            words = final.split(" ")
            step = max(1, len(words) // 8)
            for end in range(step, len(words), step):
                yield [*history, {"role": "assistant", "content": " ".join(words[:end])}], "", "", ""
        yield [*history, {"role": "assistant", "content": final}], sources_html(answer), "", answer_as_markdown(answer)

    def ask_api(self, question: str, since: str = "", until: str = "") -> dict[str, Any]:
        """The /ask endpoint: the same object as `rag ask --json`; `since` and `until`
        (YYYY, YYYY-MM or YYYY-MM-DD, optional) keep the documents dated in that range."""
        import gradio as gr

        try:
            answer = final_answer(self.ask_stream(question, dates=DateRange.parse(since, until)))
        except RagError as exc:
            raise gr.Error(str(exc)) from exc
        return answer.to_json()

    # --- layout ----------------------------------------------------------------------------
    def build(self) -> None:
        """The tab's components (the conversation on the left, the sources and the answer's
        settings on the right) and their events."""
        import gradio as gr

        with gr.Row():
            with gr.Column(scale=3):
                chatbot, question, send, copy, clear, copied = self._conversation_column()
            with gr.Column(scale=2):
                sources, since, until, top_k, backend = self._sources_column()
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

    def _conversation_column(self) -> tuple[Any, ...]:
        import gradio as gr

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
        return chatbot, question, send, copy, clear, copied

    def _sources_column(self) -> tuple[Any, ...]:
        import gradio as gr

        sources = gr.HTML(elem_id="sources", value="<h4>Sources</h4><p>Ask a question.</p>")
        with gr.Row():
            since = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD", max_lines=1, elem_id="since")
            until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD", max_lines=1, elem_id="until")
        top_k = gr.Slider(1, 20, value=self.pipeline.settings.top_k, step=1, label="Passages read (top-k)")
        backend = gr.Dropdown(
            self.backends(),
            value=self.pipeline.settings.llm,
            label="Answer written by",
            info="extractive quotes the passages; a language model's sentences are each checked "
            "against the passage they cite (RAG_LLM adds one).",
            elem_id="backend",
        )
        return sources, since, until, top_k, backend
