"""The chunk store: Chroma (embedded and persistent, or a server) through llama-index.

Chroma is the single source of truth. Every chunk carries its document's metadata and content
hash, so the list of documents, the unchanged check and the lexical index are all derived from
it; there is no second catalogue that could drift out of step.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from rag.errors import NoIndexError, SettingsError
from rag.index.nodes import DATES_VERSION, PAGE, add_date_bounds, signature
from rag.index.revisions import WriteLog
from rag.settings import Settings
from rag.types import DocumentInfo

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

# How widely Chroma's HNSW graph is searched. e5's vectors sit in a narrow cone (cosines of
# 0.7-0.9), where the graph search at Chroma's default (100) misses true nearest chunks: measured
# on 479 Wikinews chunks and our 162 Wikinews questions, the exact nearest chunk was missing from
# the 100 candidates for 7-10 questions (the count varied from one load of the index to the
# next), and none at 400. Raised on existing indexes when they are opened.
SEARCH_EF = 400
CONSTRUCTION_EF = 200


@dataclass(frozen=True)
class Damage:
    """A document whose chunks are not whole, and what is wrong."""

    doc_id: str
    source: str
    problem: str


class ChunkStore:
    """Chunks with their vectors and metadata, grouped by document. Written through the index
    (rag/index/index.py), which keeps the lexical index and the sentence vectors in step."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._seen_revision = ""  # the collection's revision this process's Chroma client holds
        self._reopening = threading.Lock()

    @cached_property
    def _client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            if not url.hostname:
                raise SettingsError(f"RAG_CHROMA_URL={self.settings.chroma_url!r} is not a URL like http://host:8000")
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        path = self.settings.index / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)

    @cached_property
    def collection(self) -> Any:
        collection = self._client.get_or_create_collection(
            self.settings.collection,
            embedding_function=None,
            metadata={
                "hnsw:space": "cosine",
                "hnsw:search_ef": SEARCH_EF,
                "hnsw:construction_ef": CONSTRUCTION_EF,
                "embed_model": self.settings.embed_model,
            },
        )
        hnsw = (getattr(collection, "configuration_json", None) or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or 0) < SEARCH_EF:
            collection.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}})
        built_with = (collection.metadata or {}).get("embed_model")
        if built_with and built_with != self.settings.embed_model:
            raise SettingsError(
                f"The index {self.location} was built with the embedding model {built_with!r}, "
                f"not {self.settings.embed_model!r}: use that model, or another --index"
            )
        if (collection.metadata or {}).get("dates") != DATES_VERSION:
            add_date_bounds(collection)
        self._seen_revision = str((collection.metadata or {}).get("revision") or "")  # what this client loaded
        return collection

    @cached_property
    def vector_store(self) -> ChromaVectorStore:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index)

    def exists(self) -> bool:
        """Whether there is an index to read, without creating one."""
        if self.settings.chroma_url:
            return True
        return (self.settings.index / "chroma").is_dir()

    def require_documents(self) -> None:
        """Refuse an empty index (one chunk read: a count costs 42 ms at 1,000,000 chunks)."""
        if not self.exists() or not self.collection.get(limit=1, include=[])["ids"]:
            raise NoIndexError(f"No documents in {self.location} yet: run `rag ingest corpus/` first")

    def count(self) -> int:
        return int(self.collection.count()) if self.exists() else 0

    def documents(self) -> list[DocumentInfo]:
        """One entry per document, from the metadata of its first chunk."""
        if not self.exists():
            return []
        got = self._get_all(["metadatas"], where={"chunk_index": 0})
        docs = [
            DocumentInfo(
                doc_id=str(m["doc_id"]),
                title=str(m.get("title", "")),
                source=str(m.get("source", "")),
                date=str(m.get("date", "")),
                language=str(m.get("language", "")),
                chunks=int(m.get("n_chunks", 0)),
                content_hash=str(m.get("content_hash", "")),
                url=str(m.get("url", "")),
                author=str(m.get("author", "")),
                site=str(m.get("site", "")),
            )
            for m in got["metadatas"]
        ]
        # Two first chunks for one document mean an update was interrupted between writing the
        # new chunks and deleting the old: blank the hash so the next ingest redoes that file.
        by_id: dict[str, DocumentInfo] = {}
        for doc in docs:
            if doc.doc_id in by_id and by_id[doc.doc_id].content_hash != doc.content_hash:
                doc = replace(doc, content_hash="")
            by_id[doc.doc_id] = doc
        return sorted(by_id.values(), key=lambda d: (d.source, d.doc_id))

    def _get_all(self, include: list[str], where: dict[str, Any] | None = None) -> dict[str, list[Any]]:
        """Every matching chunk's id and `include` fields, read a page at a time."""
        out: dict[str, list[Any]] = {"ids": [], **{field: [] for field in include}}
        offset = 0
        while True:
            page = self.collection.get(where=where, include=include, limit=PAGE, offset=offset)
            for field in out:
                out[field].extend(page[field])
            if len(page["ids"]) < PAGE:
                return out
            offset += PAGE

    def damaged(self) -> list[Damage]:
        """Documents whose chunks are not whole: some missing (a write cut short), or two
        versions side by side (an update cut short between writing the new chunks and deleting
        the old). One paged read of every chunk's metadata."""
        if not self.exists():
            return []
        versions: dict[str, dict[str, tuple[int, set[int], str]]] = {}  # doc -> hash -> (n, indexes, source)
        for m in self._get_all(["metadatas"])["metadatas"]:
            m = m or {}
            entry = versions.setdefault(str(m.get("doc_id", "")), {}).setdefault(
                str(m.get("content_hash", "")), (int(m.get("n_chunks", 0)), set(), str(m.get("source", "")))
            )
            entry[1].add(int(m.get("chunk_index", -1)))
        out = []
        for doc_id, by_hash in sorted(versions.items()):
            source = next(src for _, _, src in by_hash.values())
            if len(by_hash) > 1:
                out.append(Damage(doc_id, source, f"{len(by_hash)} versions side by side (an update was cut short)"))
                continue
            ((n, seen, _),) = by_hash.values()
            missing = len(set(range(n)) - seen)
            if missing:
                out.append(Damage(doc_id, source, f"{missing} of its {n} chunks missing (a write was cut short)"))
        return out

    def chunk_ids(self, doc_id: str) -> list[str]:
        return self.chunk_ids_of([doc_id])

    def write_nodes(self, doc_ids: list[str], nodes: list[BaseNode]) -> None:
        """Write these documents' new chunks (`nodes`, rag/index/nodes.py), then delete their
        old ones, and stamp one revision. The caller holds `writing()` (Index.write).

        In this order a failure part-way never loses a document: at worst a document's old and
        new chunks sit side by side until the next ingest of its file, which removes the old.
        """
        keep = {node.node_id for node in nodes}
        old = [cid for cid in self.chunk_ids_of(doc_ids) if cid not in keep]
        for start in range(0, len(nodes), 512):
            self.vector_store.add(nodes[start : start + 512])
        if old:
            self.collection.delete(ids=old)
        self.mark_changed(doc_ids)

    def chunk_ids_of(self, doc_ids: list[str]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(doc_ids), 500):
            batch = doc_ids[start : start + 500]
            where = {"doc_id": batch[0]} if len(batch) == 1 else {"doc_id": {"$in": batch}}
            ids.extend(self._get_all([], where=where)["ids"])
        return ids

    def delete_document(self, doc_id: str) -> int:
        """Delete every chunk of a document, stamping a revision if there were any; how many
        there were. The caller holds `writing()` (Index.remove)."""
        ids = self.chunk_ids(doc_id)
        if ids:
            self.collection.delete(ids=ids)
            self.mark_changed([doc_id])
        return len(ids)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time on a local index, across threads and processes (the chat's
        uploads, a CLI ingest, a repair): an exclusive lock on `<index>/write.lock`, held for one
        document's write. Reads never take it. A Chroma server orders its clients' writes itself."""
        if self.settings.chroma_url:
            yield
            return
        import fcntl

        self.settings.index.mkdir(parents=True, exist_ok=True)
        with (self.settings.index / "write.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def mark_changed(self, doc_ids: Iterable[str] | None = None) -> None:
        """Stamp a new revision on the collection, where every process reading it (on this
        machine or through a Chroma server) sees it: their lexical index is then stale. The
        write's documents (`doc_ids`; None when not known) are recorded first in the log of
        recent writes."""
        current = self._client.get_collection(self.settings.collection).metadata or {}
        # hnsw:* keys cannot be written again (Chroma keeps them in the collection's configuration)
        metadata = {k: v for k, v in current.items() if not k.startswith("hnsw:")}
        revision = uuid.uuid4().hex
        before = str(current.get("revision") or "")
        if doc_ids is not None and before:  # an unknown change leaves no record: the chain breaks
            self.log.record(revision, before, doc_ids)
        self.collection.modify(metadata={**metadata, "revision": revision})
        self._seen_revision = revision  # our own write: our client holds it

    @cached_property
    def log(self) -> WriteLog:
        """The log of recent writes (rag/index/revisions.py)."""
        return WriteLog(
            self._client.get_or_create_collection(f"{self.settings.collection}-writes", embedding_function=None)
        )

    def written_since(self, revision: str, until: str | None = None) -> list[str] | None:
        """The documents written since the collection was at `revision`, up to revision `until`
        (the current one when not given: the caller that already read it from the fingerprint
        passes it); None when the log of recent writes cannot tell (WriteLog.written_since)."""
        if until is None:
            until = str((self._client.get_collection(self.settings.collection).metadata or {}).get("revision") or "")
        return self.log.written_since(revision, until)

    def document_signatures(self) -> dict[str, str]:
        """Each document's content hash (two side by side after an interrupted update), from the
        first chunks' metadata: what the lexical index compares to find what changed."""
        firsts: dict[str, list[dict[str, Any]]] = {}
        for m in self._get_all(["metadatas"], where={"chunk_index": 0})["metadatas"]:
            firsts.setdefault(str((m or {}).get("doc_id", "")), []).append(m or {})
        return {doc_id: signature(metadatas) for doc_id, metadatas in firsts.items()}

    def nodes_of(self, doc_ids: list[str]) -> list[tuple[str, dict[str, Any], BaseNode]]:
        """Every chunk of these documents: (text, metadata as stored, node)."""
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        got = self._get_all(["documents", "metadatas"], where={"doc_id": {"$in": doc_ids}})
        return [
            (text, meta, metadata_dict_to_node(meta, text))
            for meta, text in zip(got["metadatas"], got["documents"], strict=True)
        ]

    def fingerprint(self) -> str:
        """Changes whenever any chunk is added or removed: the revision each write stamps on the
        collection, and the chunk count (two small reads, whatever the index's size). An index
        written before revisions gets one stamped now (its lexical index then catches up once)."""
        count = self.collection.count()  # (creates the collection on first use)
        revision = (self._client.get_collection(self.settings.collection).metadata or {}).get("revision")
        if not revision:
            self.mark_changed()
            revision = (self._client.get_collection(self.settings.collection).metadata or {}).get("revision")
        if self._reopen_if_written_elsewhere(str(revision)):
            count = self.collection.count()
        return f"{revision}-{count}"

    def _reopen_if_written_elsewhere(self, revision: str) -> bool:
        """Open the embedded store again when another process wrote to it since this one last
        looked (a `rag ingest` beside a running chat): Chroma's embedded client keeps each
        collection's vector index in memory and never reads what another process added, so the
        new chunks stayed out of vector search and a filtered search (a date range) failed with
        "Error finding id" (tests/test_store.py). A new client loads the index from disk and its
        log. The old one is not stopped: searches running on it finish. A Chroma server has
        one process holding the index: nothing to do."""
        if self.settings.chroma_url or revision == self._seen_revision:
            return False
        with self._reopening:
            if revision == self._seen_revision:
                return False
            self._seen_revision = revision
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient._identifier_to_system.pop(self._client._identifier, None)
            for cached in ("_client", "collection", "vector_store", "log"):
                self.__dict__.pop(cached, None)
            return True
