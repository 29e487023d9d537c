"""One function wires the pipeline; the CLI, the web app and the eval runner all use it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rag.answer import Answerer, ExtractiveAnswerer, final_answer
from rag.embedder import Embedder, make_embedder
from rag.errors import RagError, SettingsError
from rag.generate import GenerativeAnswerer
from rag.ingest import Progress, ingest
from rag.judge import EmbeddedJudge, Judge
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore, Damage
from rag.types import Answer, AnswerSentence, DocumentInfo, Hit, IngestReport

T = TypeVar("T")


@dataclass
class CheckReport:
    """What `rag docs check` found and, with --repair, did."""

    damaged: list[Damage]
    lexical_current: bool
    ingested: IngestReport | None = None  # the damaged documents ingested again
    unrepairable: list[Damage] = field(default_factory=list)  # removed; their source file is gone


class Pipeline:
    """Ingest, search, ask and manage documents over one index. Models load on first use.

    Searches and answers may run in several threads at once (the web app serves concurrent
    users): each part is built once, under a lock, and the parts are safe to share. Writes
    (ingest, remove) are safe alongside reads; the web app still runs one write at a time.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = ChunkStore(settings)
        self._parts: dict[str, object] = {}
        if embedder is not None:
            self._parts["embedder"] = embedder
        self._building = threading.RLock()

    def _part(self, key: str, build: Callable[[], T]) -> T:
        """The part named `key`, built on first use by exactly one thread."""
        if key not in self._parts:
            with self._building:
                if key not in self._parts:
                    self._parts[key] = build()
        return self._parts[key]  # type: ignore[return-value]

    @property
    def embedder(self) -> Embedder:
        return self._part("embedder", lambda: make_embedder(self.settings))

    @property
    def retriever(self) -> HybridRetriever:
        return self._part("retriever", lambda: HybridRetriever(self.settings, self.store, self.embedder))

    def answerer(self, backend: str | None = None) -> Answerer:
        """The answerer for `backend` ("extractive" or an LLM backend; default: settings.llm)."""
        name = backend or self.settings.llm
        return self._part(f"answerer:{name}", lambda: make_answerer(self.settings.with_(llm=name), self.embedder))

    def warm(self) -> None:
        """Load what the first question needs (the model, the lexical index, the reader) now,
        rather than while a user waits."""
        if not self.store.count():
            return
        self.answerer("extractive").answer("warm-up", self.search("warm-up", 1))

    def ingest(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        return ingest(paths, self.settings, self.store, lambda: self.embedder, progress)

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        return self.retriever.search(_clean_question(query), top_k)

    def ask(
        self, question: str, top_k: int | None = None, history: Sequence[str] = (), backend: str | None = None
    ) -> Answer:
        """Answer a question; `history` holds the earlier questions of a conversation."""
        return final_answer(self.ask_stream(question, top_k, history, backend))

    def ask_stream(
        self, question: str, top_k: int | None = None, history: Sequence[str] = (), backend: str | None = None
    ) -> Iterator[AnswerSentence | Answer]:
        """Checked sentences as the answerer finishes them, then the whole Answer (always last).

        A follow-up ("and what did Brad Smith say about it?") is condensed with the previous
        question for retrieval, so that "it" finds the same articles; an LLM also sees the
        previous question; the answer is for the follow-up itself.
        """
        question = _clean_question(question)
        query = _clean_question(f"{history[-1]} {question}") if history else question
        hits = self.retriever.search(query, top_k)
        yield from self.answerer(backend).stream(question, hits, history)

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def check(self, repair: bool = False) -> CheckReport:
        """The index's integrity: documents whose chunks are not whole, and whether the BM25
        index matches the vectors. With `repair`, each damaged document is removed and, when
        its source file is still there, ingested again."""
        self.store.require_documents()
        damaged = self.store.damaged()
        report = CheckReport(damaged=damaged, lexical_current=self.store.lexical.is_current())
        if repair and damaged:
            for damage in damaged:
                self.store.remove_document(damage.doc_id)
            present = [d for d in damaged if d.source and Path(d.source).is_file()]
            report.unrepairable = [d for d in damaged if d not in present]
            report.ingested = self.ingest([Path(d.source) for d in present]) if present else None
        return report

    def remove(self, doc_id: str) -> int:
        removed = self.store.remove_document(doc_id)
        if not removed:
            raise RagError(f"No document with id {doc_id!r}: `rag docs list` shows the ids")
        return removed


MAX_QUESTION_CHARS = 2000


def _clean_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise RagError("The question is empty: type a question")
    return question[:MAX_QUESTION_CHARS]


def make_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    """The extractive answerer, or the guarded generative one for an LLM backend (RAG_LLM)."""
    if settings.llm == "extractive":
        return ExtractiveAnswerer(settings, embedder)
    return GenerativeAnswerer(settings, embedder)


def make_judge(settings: Settings, embedder: Embedder) -> Judge:
    """The embedded judge (default), or the LLM judge over the configured LLM backend."""
    embedded = EmbeddedJudge(embedder)
    if settings.judge == "embedded":
        return embedded
    if settings.judge != "llm":
        raise SettingsError(f"Unknown judge {settings.judge!r} (RAG_JUDGE); valid: embedded, llm")
    if settings.llm == "extractive":
        raise SettingsError("The LLM judge needs an LLM backend: set RAG_LLM (or --llm), see `rag ask --help`")
    from rag.llm import make_llm
    from rag.llm_judge import LLMJudge

    return LLMJudge(make_llm(settings), settings, embedded)


def build_pipeline(settings: Settings | None = None, embedder: Embedder | None = None) -> Pipeline:
    """The pipeline for these settings (from the environment when none are given)."""
    return Pipeline(settings or Settings.from_env(), embedder)
