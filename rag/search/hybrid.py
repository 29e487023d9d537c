"""Hybrid retrieval: dense (e5 through Chroma) and lexical (BM25 over SQLite FTS5) fused into one ranking."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rag.errors import SettingsError
from rag.index.lexical import LexicalIndex
from rag.index.store import ChunkStore
from rag.models.embedder import Embedder
from rag.settings import Settings
from rag.text.dates import DateRange, bounds
from rag.text.language import detect_language
from rag.types import Hit

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever

T = TypeVar("T")
FUSION_MODES = {"relative": "relative_score", "rrf": "reciprocal_rerank"}
# The lexical side's best candidates written in another language than the query are given their
# dense score too. e5 rates a passage in the query's own language above one in another language
# on the same subject, so an English question about a French article found by its words (a name:
# "why is the EU looking at Mistral?") missed the dense side's 100 candidates and counted as its
# worst. Measured (news suite recall@5 / PIAF English questions recall@1, recall@5): none 0.935 /
# 0.600, 0.967 (and the Mistral article outside the top 5 among the 1,143 of corpus/); the top 3
# 0.935 / 0.583, 0.958 (Mistral first); the top 10 0.935 / 0.550, 0.958; every lexical candidate
# of another language 0.903 on the news suite (French questions about English articles lose).
CROSS_LANGUAGE_WORD_MATCHES = 3


@functools.cache
def _dense_retriever_class() -> type:
    """Defined on first use, once, so that importing this module does not import llama-index."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle
    from llama_index.core.vector_stores.types import VectorStoreQuery

    class DenseRetriever(BaseRetriever):
        """Nearest chunks in Chroma to the query's embedding; `also` (the lexical side's
        candidates) are given their cosine too, so that fusion weighs both signals for every
        candidate: a passage only BM25 found (an English question's rare name in a French
        article) otherwise counted as the dense side's worst."""

        def __init__(
            self,
            store: ChunkStore,
            embedder: Embedder,
            top_k: int,
            dates: DateRange | None,
            also: list[NodeWithScore] | None = None,
        ) -> None:
            super().__init__()
            self._store = store
            self._embedder = embedder
            self._top_k = top_k
            self._dates = dates
            self._also = also or []

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            import numpy as np

            vector = self._embedder.embed_query(query_bundle.query_str)
            where = self._dates.chroma_where() if self._dates else None
            result = _retrying(
                lambda: self._store.vector_store.query(
                    VectorStoreQuery(query_embedding=vector, similarity_top_k=self._top_k), where=where
                ),
                self._store,
            )
            found = [
                NodeWithScore(node=node, score=float(score))
                for node, score in zip(result.nodes or [], result.similarities or [], strict=True)
            ]
            seen = {n.node.node_id for n in found}
            missing = {n.node.node_id: n.node for n in self._also if n.node.node_id not in seen}
            if missing:
                from chromadb.errors import ChromaError

                try:
                    got = self._store.collection.get(ids=list(missing), include=["embeddings"])
                except ChromaError:
                    # A chunk deleted by a concurrent update since the lexical side read it makes
                    # Chroma fail the whole read ("Error finding id", seen in eval/soak.py): this
                    # search goes without those scores, as it did before they were added.
                    return found
                query = np.asarray(vector, dtype=np.float32)
                for chunk_id, embedding in zip(got["ids"], got["embeddings"], strict=True):
                    cosine = float(np.dot(np.asarray(embedding, dtype=np.float32), query))
                    found.append(NodeWithScore(node=missing[chunk_id], score=cosine))
            return found

    return DenseRetriever


def _retrying(read: Callable[[], T], store: ChunkStore, attempts: int = 3) -> T:
    """A Chroma read, tried again when another process's write made it fail: a filtered query
    (a date range) that meets a chunk this process's embedded client has not loaded fails whole
    ("Error finding id", seen in eval/soak.py). The store opens itself again when it sees that
    write (ChunkStore.fingerprint); a write landing between that check and the query is caught
    here."""
    from chromadb.errors import ChromaError

    for attempt in range(attempts):
        try:
            return read()
        except ChromaError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
            store.fingerprint()  # reopens the store if another process wrote
    raise AssertionError("unreachable")


@functools.cache
def _fixed_retriever_class() -> type:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle

    class FixedRetriever(BaseRetriever):
        """Results already retrieved (the lexical side, read before the dense side needs them)."""

        def __init__(self, results: list[NodeWithScore]) -> None:
            super().__init__()
            self._results = results

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            return list(self._results)

    return FixedRetriever


@functools.cache
def _lexical_retriever_class() -> type:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle

    class LexicalRetriever(BaseRetriever):
        """BM25 over the lexical index (rag/index/lexical.py), synced with the store first."""

        def __init__(self, index: LexicalIndex, top_k: int, dates: DateRange | None) -> None:
            super().__init__()
            self._index = index
            self._top_k = top_k
            self._dates = dates

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            return [
                NodeWithScore(node=node, score=score)
                for node, score in self._index.search(query_bundle.query_str, self._top_k, self._dates)
            ]

    return LexicalRetriever


class HybridRetriever:
    """Dense + BM25 candidates fused by llama-index's QueryFusionRetriever."""

    def __init__(self, settings: Settings, store: ChunkStore, embedder: Embedder) -> None:
        if settings.fusion not in FUSION_MODES:
            valid = ", ".join(FUSION_MODES)
            raise SettingsError(f"Unknown fusion mode {settings.fusion!r}; valid: {valid}")
        self.settings = settings
        self.store = store
        self.embedder = embedder

    def lexical(self, dates: DateRange | None = None) -> BaseRetriever:
        """The BM25 retriever (its index is brought up to date with the store when it reads: one
        fingerprint a search, whose chunk count costs 42 ms at 1,000,000 chunks)."""
        return _lexical_retriever_class()(self.store.lexical, self.settings.candidates, dates)

    def search(
        self, query: str, top_k: int | None = None, dates: DateRange | None = None, recent: bool = False
    ) -> list[Hit]:
        """The `top_k` best passages for the query, among the documents dated within `dates` when
        given; with `recent`, of two passages scored within RECENCY_TIE of each other, the newer
        comes first."""
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever

        self.store.require_documents()
        k = top_k or self.settings.top_k
        lexical = self.lexical(dates).retrieve(query)
        language = detect_language(query)
        across = [n for n in lexical[:CROSS_LANGUAGE_WORD_MATCHES] if n.node.metadata.get("language") != language]
        dense = _dense_retriever_class()(self.store, self.embedder, self.settings.candidates, dates, across)
        fusion = QueryFusionRetriever(
            [dense, _fixed_retriever_class()(lexical)],
            llm=MockLLM(),  # one query, no rewriting: the LLM is never called
            mode=FUSION_MODES[self.settings.fusion],  # type: ignore[arg-type]
            retriever_weights=[1.0 - self.settings.lexical_weight, self.settings.lexical_weight],
            similarity_top_k=k + RECENCY_WINDOW if recent else k,
            num_queries=1,
            use_async=False,
        )
        hits = [_to_hit(result) for result in fusion.retrieve(query)]
        return by_recency(hits)[:k] if recent else hits


# Recency as a tie-breaker: passages whose fused scores differ by less than this are ordered
# newest first; a few more candidates are fetched so a newer one just below the cut can move up.
RECENCY_TIE = 0.02
RECENCY_WINDOW = 3


def by_recency(hits: list[Hit]) -> list[Hit]:
    """Hits in score order, except that within a run of scores less than RECENCY_TIE apart
    from the run's best, the newer passage comes first."""
    out: list[Hit] = []
    group: list[Hit] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        if group and group[0].score - hit.score >= RECENCY_TIE:
            out.extend(sorted(group, key=lambda h: -bounds(h.date)[1]))
            group = []
        group.append(hit)
    out.extend(sorted(group, key=lambda h: -bounds(h.date)[1]))
    return out


def _to_hit(result: Any) -> Hit:
    node, meta = result.node, result.node.metadata
    return Hit(
        chunk_id=node.node_id,
        doc_id=str(node.ref_doc_id),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        date=str(meta.get("date", "")),
        language=str(meta.get("language", "")),
        text=node.get_content(),
        start=int(meta.get("start", node.start_char_idx or 0)),
        end=int(meta.get("end", node.end_char_idx or 0)),
        score=float(result.score or 0.0),
        url=str(meta.get("url", "")),
    )
