"""The retrievers hybrid search fuses (rag/search/hybrid.py), as llama-index retrievers.

This module imports llama-index and Chroma, which take seconds: hybrid.py imports it when a
search first needs it, so that commands which never search (`rag --help`) do not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from chromadb.errors import ChromaError
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQuery

from rag.index.lexical import LexicalIndex
from rag.index.store import ChunkStore
from rag.models.embedder import Embedder
from rag.text.dates import DateRange

T = TypeVar("T")


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
        vector = self._embedder.embed_query(query_bundle.query_str)
        where = self._dates.chroma_where() if self._dates else None
        result = retrying(
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


def retrying(read: Callable[[], T], store: ChunkStore, attempts: int = 3) -> T:
    """A Chroma read, tried again when another process's write made it fail: a filtered query
    (a date range) that meets a chunk this process's embedded client has not loaded fails whole
    ("Error finding id", seen in eval/soak.py). The store opens itself again when it sees that
    write (ChunkStore.fingerprint); a write landing between that check and the query is caught
    here."""
    for attempt in range(attempts):
        try:
            return read()
        except ChromaError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
            store.fingerprint()  # reopens the store if another process wrote
    raise AssertionError("unreachable")


class FixedRetriever(BaseRetriever):
    """Results already retrieved (the lexical side, read before the dense side needs them)."""

    def __init__(self, results: list[NodeWithScore]) -> None:
        super().__init__()
        self._results = results

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return list(self._results)


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
