"""One index: the chunk store, the lexical index and the reader's sentence vectors, written together.

Chroma (rag/index/store.py) holds the chunks and is the source of truth; the lexical index
(rag/index/lexical.py) and the reader's sentence vectors (rag/index/sentence_vectors.py) are
derived from it. Every write and removal goes through `Index`, so a document is written or
removed in all three and no caller has to remember the other two.
"""

from __future__ import annotations

from rag.index.lexical import LexicalIndex
from rag.index.nodes import Written, to_nodes
from rag.index.sentence_vectors import forget_documents, keep_only
from rag.index.store import ChunkStore
from rag.settings import Settings


class Index:
    """The chunk store (`store`, what reads use), the lexical index kept in step with it
    (`lexical`), and the sentence vectors the reader keeps beside them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = ChunkStore(settings)
        self.lexical = LexicalIndex(settings, self.store)

    def write(self, items: list[Written]) -> None:
        """Store these documents (new, or new versions of stored ones) as one write: one turn of
        the write lock, one revision, one step of the lexical index. Their new chunks are written
        before their old ones are deleted (ChunkStore.write_nodes); their sentence vectors are
        then forgotten, for the reader to embed the new sentences (its `prepare`) or when asked."""
        nodes = to_nodes(items)
        doc_ids = list(dict.fromkeys(document.doc_id for document, _, _ in items))
        with self.store.writing():
            before = self._fingerprint_if_local()
            self.store.write_nodes(doc_ids, nodes)
            self._lexical_follows(doc_ids, before)
        forget_documents(self.settings.index, doc_ids)

    def remove(self, doc_id: str) -> int:
        """Remove a document from all three; how many chunks it had (0 when it was not stored)."""
        removed = 0
        if self.store.exists():
            with self.store.writing():
                before = self._fingerprint_if_local()
                removed = self.store.delete_document(doc_id)
                if removed:
                    self._lexical_follows([doc_id], before)
        forget_documents(self.settings.index, [doc_id])
        return removed

    def drop_stray_sentence_vectors(self) -> int:
        """Drop the sentence vectors of documents the store no longer holds (one removed through
        another client of a Chroma server leaves its rows here); how many documents' rows went."""
        return keep_only(self.settings.index, [d.doc_id for d in self.store.documents()])

    def _fingerprint_if_local(self) -> str:
        return "" if self.settings.chroma_url else self.store.fingerprint()

    def _lexical_follows(self, doc_ids: list[str], before: str) -> None:
        """Bring the local lexical index along with this write when it was in step just before
        it: then the write is the only change since (every local writer holds the write lock), and
        the next search, here or in another process on this index, has nothing to catch up. With a
        Chroma server, other machines write without our lock: searches catch up from the log of
        recent writes (rag/index/revisions.py), or by comparison when it does not reach back."""
        if before:
            self.lexical.follow(doc_ids, before, self.store.fingerprint())
