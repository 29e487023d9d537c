"""Hybrid retrieval: dense (e5 through Chroma) and lexical (BM25 over SQLite FTS5) fused into one ranking."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from rag.embedder import Embedder
from rag.errors import SettingsError
from rag.lexical import LexicalIndex
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Hit

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever

FUSION_MODES = {"relative": "relative_score", "rrf": "reciprocal_rerank"}


@functools.cache
def _dense_retriever_class() -> type:
    """Defined on first use, once, so that importing this module does not import llama-index."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle
    from llama_index.core.vector_stores.types import VectorStoreQuery

    class DenseRetriever(BaseRetriever):
        """Nearest chunks in Chroma to the query's embedding."""

        def __init__(self, store: ChunkStore, embedder: Embedder, top_k: int) -> None:
            super().__init__()
            self._store = store
            self._embedder = embedder
            self._top_k = top_k

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            vector = self._embedder.embed_query(query_bundle.query_str)
            result = self._store.vector_store.query(
                VectorStoreQuery(query_embedding=vector, similarity_top_k=self._top_k)
            )
            return [
                NodeWithScore(node=node, score=float(score))
                for node, score in zip(result.nodes or [], result.similarities or [], strict=True)
            ]

    return DenseRetriever


@functools.cache
def _lexical_retriever_class() -> type:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle

    class LexicalRetriever(BaseRetriever):
        """BM25 over the lexical index (rag/lexical.py), synced with the store first."""

        def __init__(self, index: LexicalIndex, top_k: int) -> None:
            super().__init__()
            self._index = index
            self._top_k = top_k

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            return [
                NodeWithScore(node=node, score=score)
                for node, score in self._index.search(query_bundle.query_str, self._top_k)
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

    def lexical(self) -> BaseRetriever:
        """The BM25 retriever, its index brought up to date with the store."""
        self.store.lexical.sync()
        return _lexical_retriever_class()(self.store.lexical, self.settings.candidates)

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever

        self.store.require_documents()
        k = top_k or self.settings.top_k
        dense = _dense_retriever_class()(self.store, self.embedder, self.settings.candidates)
        fusion = QueryFusionRetriever(
            [dense, self.lexical()],
            llm=MockLLM(),  # one query, no rewriting: the LLM is never called
            mode=FUSION_MODES[self.settings.fusion],  # type: ignore[arg-type]
            retriever_weights=[1.0 - self.settings.lexical_weight, self.settings.lexical_weight],
            similarity_top_k=k,
            num_queries=1,
            use_async=False,
        )
        return [_to_hit(result) for result in fusion.retrieve(query)]


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
    )
