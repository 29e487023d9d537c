"""One function wires the pipeline; the CLI, the web app and the eval runner all use it.

The CLI and the web app reach the stages only through this module (an import contract in
pyproject.toml checks it): what they need besides the Pipeline is re-exported below.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from rag.answer.extractive import Answerer, ExtractiveAnswerer, final_answer
from rag.answer.generative import GenerativeAnswerer
from rag.errors import RagError
from rag.index.index import Index
from rag.index.sentence_vectors import documents_with_sentence_vectors
from rag.index.store import ChunkStore, Damage
from rag.ingest.background import BackgroundIngest
from rag.ingest.fetch import is_url
from rag.ingest.formats import SUPPORTED_SUFFIXES
from rag.ingest.run import Progress, ingest
from rag.judge.registry import make_judge
from rag.models.bundled import prepare_bundled_model
from rag.models.embedder import Embedder, make_embedder
from rag.read.registry import make_scorer
from rag.read.scorer import NothingToPrepare, Passage, SentenceScorer
from rag.search.hybrid import HybridRetriever
from rag.settings import Settings
from rag.text.dates import DateRange, range_in_question, wants_recent
from rag.text.followup import follows
from rag.types import Answer, AnswerSentence, Chunk, Document, DocumentInfo, Hit, IngestReport

# What the CLI and the web app use (see the module's docstring).
__all__ = [
    "MAX_QUESTION_CHARS", "BackgroundIngest", "SUPPORTED_SUFFIXES", "CheckReport", "Pipeline", "build_pipeline",
    "final_answer", "is_url", "make_answerer", "make_judge", "prepare_bundled_model",
]  # fmt: skip

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
        self.index = Index(settings)
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
    def store(self) -> ChunkStore:
        """The index's chunk store: what reads of the documents use (writes go through `index`)."""
        return self.index.store

    @property
    def embedder(self) -> Embedder:
        return self._part("embedder", lambda: make_embedder(self.settings))

    @property
    def retriever(self) -> HybridRetriever:
        return self._part("retriever", lambda: HybridRetriever(self.settings, self.index, self.embedder))

    def answerer(self, backend: str | None = None) -> Answerer:
        """The answerer for `backend` ("extractive" or an LLM backend; default: settings.llm)."""
        name = backend or self.settings.llm
        return self._part(
            f"answerer:{name}", lambda: make_answerer(self.settings.with_(llm=name), self.embedder, self.scorer)
        )

    def warm(self) -> None:
        """Load what the first question needs (the model, the lexical index, the reader) now,
        rather than while a user waits."""
        if not self.store.count():
            return
        self.answerer("extractive").answer("warm-up", self.search("warm-up", 1))

    def ingest(
        self,
        paths: Iterable[Path],
        progress: Progress | None = None,
        urls: Iterable[str] = (),
        feeds: Iterable[str] = (),
        allow_private: bool = True,
        defer_reader: bool = False,
    ) -> IngestReport:
        """Files and folders, web pages (`urls`) and feeds in; `allow_private` False refuses
        URLs on private addresses (the web app's default). `defer_reader` stores the passages
        without the reader's sentence vectors, half of an ingest's work: `prepare_reader` does
        that later (`rag serve --ingest`: every article searchable sooner)."""
        prepare = None if defer_reader else self._prepare
        return ingest(
            paths, self.settings, self.index, lambda: self.embedder, progress, urls, feeds, allow_private, prepare
        )

    def ingest_in_background(
        self, paths: Sequence[Path], lock: threading.Lock | None = None, label: str = ""
    ) -> BackgroundIngest:
        """Ingest `paths` in a thread, holding `lock`: the passages first, then the reader's
        sentence vectors (rag/ingest/background.py); started."""
        return BackgroundIngest(
            lambda paths, progress: self.ingest(paths, progress, defer_reader=True),
            paths,
            lock,
            label,
            prepare=self.prepare_reader,
        ).start()

    def prepare_reader(self, progress: Progress | None = None, documents_per_batch: int = 40) -> int:
        """Embed the reader's sentences of every stored document that has none kept yet (stored
        by an ingest that deferred them), a batch of documents at a time; how many documents.
        Until then a question embeds the sentences it reads, a second or so slower."""
        if isinstance(self.scorer, NothingToPrepare) or not self.store.count():
            return 0
        ready = documents_with_sentence_vectors(self.settings.index)
        todo = [d.doc_id for d in self.store.documents() if d.doc_id not in ready]
        for start in range(0, len(todo), documents_per_batch):
            if progress:
                progress("reader", start, len(todo))
            chunks = self.store.nodes_of(todo[start : start + documents_per_batch])
            self.scorer.prepare([Passage(meta["doc_id"], str(meta.get("title", "")), text) for text, meta, _ in chunks])
        if progress:
            progress("reader", len(todo), len(todo))
        return len(todo)

    def _prepare(self, batch: list[tuple[Document, list[Chunk]]]) -> None:
        """What the reader can do at ingest for these newly stored documents (the evidence
        reader embeds their sentences), so that questions about them wait less."""
        passages = [
            Passage(document.doc_id, document.title, chunk.text) for document, chunks in batch for chunk in chunks
        ]
        self.scorer.prepare(passages)

    @property
    def scorer(self) -> SentenceScorer:
        """The reader every answerer of this pipeline shares."""
        return self._part("scorer", lambda: make_scorer(self.settings, self.embedder))

    def search(self, query: str, top_k: int | None = None, dates: DateRange | None = None) -> list[Hit]:
        """The best passages for `query` (see `retrieve` for dates and recency)."""
        query = _clean_question(query)
        return self.retrieve(query, query, top_k, dates)[0]

    def retrieve(
        self, query: str, question: str, top_k: int | None = None, dates: DateRange | None = None
    ) -> tuple[list[Hit], DateRange | None]:
        """The passages for `query`, and the date range they were narrowed to, if any.

        Without `dates`, a question that names one year or month ("in 2016", "en mars 2018")
        reads the passages of the documents dated then, plus the best passage of any date (a
        year in a question often names the event, "the 2010 earthquake", not when the article
        appeared); when no document is dated then, nothing is narrowed. A question asking for
        "the latest" orders passages of nearly equal relevance newest first."""
        recent = wants_recent(question)
        if dates is None and self.settings.dates_from_question:
            named = range_in_question(question)
            if named is not None:
                k = top_k or self.settings.top_k
                narrowed = self.retriever.search(query, k, named, recent)
                if narrowed:
                    best = self.retriever.search(query, 1, None, recent)
                    if best and best[0].chunk_id not in {hit.chunk_id for hit in narrowed}:
                        narrowed = [*narrowed[: k - 1], best[0]]
                    return narrowed, named
        return self.retriever.search(query, top_k, dates, recent), dates

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[str] = (),
        backend: str | None = None,
        dates: DateRange | None = None,
    ) -> Answer:
        """Answer a question; `history` holds the earlier questions of a conversation."""
        return final_answer(self.ask_stream(question, top_k, history, backend, dates))

    def ask_stream(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[str] = (),
        backend: str | None = None,
        dates: DateRange | None = None,
    ) -> Iterator[AnswerSentence | Answer]:
        """Checked sentences as the answerer finishes them, then the whole Answer (always last).

        A follow-up ("and what did Brad Smith say about it?") is condensed with the previous
        question for retrieval, so that "it" finds the same articles; an LLM also sees the
        previous question; the answer is for the follow-up itself. A question that names its
        own subject and points back at nothing is asked alone (rag/text/followup.py). `dates` keeps only the
        documents dated within it; the Answer says which range was applied.
        """
        question = _clean_question(question)
        if not (history and follows(question, history[-1])):
            history = ()  # a new subject: the previous one would steer the search elsewhere
        query = _clean_question(f"{history[-1]} {question}") if history else question
        hits, applied = self.retrieve(query, question, top_k, dates)
        for event in self.answerer(backend).stream(question, hits, history):
            yield replace(event, dates=applied) if isinstance(event, Answer) else event

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def check(self, repair: bool = False) -> CheckReport:
        """The index's integrity: documents whose chunks are not whole, and whether the BM25
        index matches the vectors. With `repair`, each damaged document is removed and, when
        its source file is still there (or its page can be fetched), ingested again, and the
        reader's sentence vectors of documents the store no longer holds are dropped."""
        self.store.require_documents()
        damaged = self.store.damaged()
        report = CheckReport(damaged=damaged, lexical_current=self.index.lexical.is_current())
        if repair:
            self.index.drop_stray_sentence_vectors()
        if repair and damaged:
            for damage in damaged:
                self.index.remove(damage.doc_id)
            pages = [d for d in damaged if is_url(d.source)]  # fetched again
            present = [d for d in damaged if d.source and not is_url(d.source) and Path(d.source).is_file()]
            report.unrepairable = [d for d in damaged if d not in present and d not in pages]
            if present or pages:
                report.ingested = self.ingest([Path(d.source) for d in present], urls=[d.source for d in pages])
        return report

    def remove(self, doc_id: str) -> int:
        removed = self.index.remove(doc_id)
        if not removed:
            raise RagError(f"No document with id {doc_id!r}: `rag docs list` shows the ids")
        return removed


MAX_QUESTION_CHARS = 2000


def _clean_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise RagError("The question is empty: type a question")
    return question[:MAX_QUESTION_CHARS]


def make_answerer(settings: Settings, embedder: Embedder, scorer: SentenceScorer | None = None) -> Answerer:
    """The extractive answerer, or the guarded generative one for an LLM backend (RAG_LLM)."""
    if settings.llm == "extractive":
        return ExtractiveAnswerer(settings, embedder, scorer)
    return GenerativeAnswerer(settings, embedder)


def build_pipeline(settings: Settings | None = None, embedder: Embedder | None = None) -> Pipeline:
    """The pipeline for these settings (from the environment when none are given)."""
    return Pipeline(settings or Settings.from_env(), embedder)
