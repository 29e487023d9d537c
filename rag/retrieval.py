"""Hybrid retrieval: dense (e5 through Chroma) and lexical (BM25) fused into one ranking."""

from __future__ import annotations

import functools
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embedder import Embedder
from rag.errors import SettingsError
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Hit

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever

FUSION_MODES = {"relative": "relative_score", "rrf": "reciprocal_rerank"}


def _stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    return sorted(set(STOPWORDS_EN) | set(STOPWORDS_FRENCH))


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


def lexical_cache(settings: Settings) -> Path:
    """Where the BM25 index is kept on disk, with the store fingerprint it was built from."""
    return settings.index / "bm25"


def lexical_is_current(settings: Settings, store: ChunkStore) -> bool:
    """Whether the BM25 index on disk was built from the chunks the store holds now (if not,
    the next search rebuilds it)."""
    stamp = lexical_cache(settings) / "fingerprint"
    return stamp.exists() and stamp.read_text() == store.fingerprint()


class HybridRetriever:
    """Dense + BM25 candidates fused by llama-index's QueryFusionRetriever."""

    def __init__(self, settings: Settings, store: ChunkStore, embedder: Embedder) -> None:
        if settings.fusion not in FUSION_MODES:
            valid = ", ".join(FUSION_MODES)
            raise SettingsError(f"Unknown fusion mode {settings.fusion!r}; valid: {valid}")
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._lexical: Any = None
        self._lexical_fingerprint = ""
        self._lexical_lock = threading.Lock()

    def lexical(self) -> BaseRetriever:
        """The BM25 retriever, rebuilt only when the store changed, and cached on disk.
        Concurrent searches share one rebuild; the retriever they get is never changed after."""
        fingerprint = self.store.fingerprint()
        if self._lexical is not None and fingerprint == self._lexical_fingerprint:
            return self._lexical
        with self._lexical_lock:
            if self._lexical is None or fingerprint != self._lexical_fingerprint:
                self._lexical = self._load_or_build_lexical(fingerprint)
                self._lexical_fingerprint = fingerprint
            return self._lexical

    def _load_or_build_lexical(self, fingerprint: str) -> BaseRetriever:
        import bm25s
        import Stemmer
        from llama_index.retrievers.bm25 import BM25Retriever

        cache = lexical_cache(self.settings)
        stamp = cache / "fingerprint"
        # French stemming and English + French stopwords: the corpus is mostly French news.
        kwargs = {"stemmer": Stemmer.Stemmer("french"), "language": _stopwords()}
        if stamp.exists() and stamp.read_text() == fingerprint:
            bm25 = bm25s.BM25.load(str(cache), load_corpus=True, show_progress=False)
            top_k = min(self.settings.candidates, len(bm25.corpus))
            retriever = BM25Retriever(existing_bm25=bm25, similarity_top_k=top_k, **kwargs)
        else:
            nodes = self.store.all_nodes()
            top_k = min(self.settings.candidates, len(nodes))
            retriever = BM25Retriever(nodes=nodes, similarity_top_k=top_k, **kwargs)
            _save_lexical(retriever, fingerprint, cache)
        return retriever

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


def _save_lexical(retriever: Any, fingerprint: str, cache: Path) -> None:
    """Write the BM25 index beside the cache, then swap it in: another process (a second
    `rag serve` on the same index) never reads a half-written one."""
    fresh = cache.with_name(f"{cache.name}.{uuid.uuid4().hex[:8]}.tmp")
    fresh.mkdir(parents=True)
    retriever.bm25.save(str(fresh), corpus=retriever.corpus, show_progress=False)
    (fresh / "fingerprint").write_text(fingerprint)
    old = cache.with_name(f"{cache.name}.{uuid.uuid4().hex[:8]}.old")
    try:
        if cache.exists():
            os.rename(cache, old)
        os.rename(fresh, cache)
    except OSError:  # another process swapped its own in first: theirs is as good
        pass
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


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
