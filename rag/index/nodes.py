"""How a document's chunks are stored in Chroma: llama-index nodes and the metadata they carry.

Every chunk carries its document's metadata and content hash, so the list of documents, the
unchanged check and the lexical index are all derived from the chunks (rag/index/store.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rag.text.dates import bounds
from rag.types import Chunk, Document

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode

# Rows per read of the whole collection: one get() of every chunk fails on a large index
# (Chroma's SQLite refuses a statement with more variables than its limit: "too many SQL
# variables", measured at 40,000 chunks, tests/test_store.py).
PAGE = 5000
# Each chunk's date as numbers (rag/text/dates.py) for date filters; an index written before them
# gets them added in place when opened (no re-embedding).
DATES_VERSION = "1"

# Metadata that describes the document, not the passage: kept out of the lexical text.
_NOT_LEXICAL = [
    "doc_id", "source", "date", "language", "content_hash", "chunk_index", "n_chunks", "start", "end",
    "url", "author", "site", "date_from", "date_to",
]  # fmt: skip

Written = tuple[Document, list[Chunk], list[list[float]]]
"""A document to write: its chunks and their embeddings, in the same order."""


def signature(first_chunks: Iterable[dict[str, Any]]) -> str:
    """A document's content hash from its first chunks' metadata (two hashes, sorted, when an
    interrupted update left two versions side by side)."""
    return "|".join(sorted({str(m.get("content_hash", "")) for m in first_chunks}))


def to_nodes(items: Iterable[Written]) -> list[BaseNode]:
    """The nodes Chroma stores for these documents: one a chunk, with its embedding and metadata."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    nodes: list[BaseNode] = []
    for document, chunks, embeddings in items:
        dated = date_fields(document.date)
        for chunk, embedding in zip(chunks, embeddings, strict=True):
            node = TextNode(
                id_=chunk.chunk_id,
                text=chunk.text,
                embedding=embedding,
                start_char_idx=chunk.start,
                end_char_idx=chunk.end,
                metadata={
                    "title": document.title,
                    "source": document.source,
                    "date": document.date,
                    **dated,
                    "url": document.url,
                    "author": document.author,
                    "site": document.site,
                    "language": document.language,
                    "content_hash": document.content_hash,
                    "chunk_index": chunk.index,
                    "n_chunks": len(chunks),
                    "start": chunk.start,
                    "end": chunk.end,
                },
                excluded_embed_metadata_keys=_NOT_LEXICAL,
                excluded_llm_metadata_keys=_NOT_LEXICAL,
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=document.doc_id)},
            )
            nodes.append(node)
    return nodes


def date_fields(date: str) -> dict[str, int]:
    """The chunk metadata date filters read (rag/text/dates.py)."""
    low, high = bounds(date)
    return {"date_from": low, "date_to": high}


def add_date_bounds(collection: Any) -> None:
    """Give every chunk of an index written before date filters its `date_from`/`date_to`
    (from its `date`), a page at a time; then mark the collection as done."""
    offset = 0
    while True:
        page = collection.get(include=["metadatas"], limit=PAGE, offset=offset)
        todo = [(cid, m) for cid, m in zip(page["ids"], page["metadatas"], strict=True) if m and "date_from" not in m]
        if todo:
            collection.update(
                ids=[cid for cid, _ in todo],
                metadatas=[{**m, **date_fields(str(m.get("date", "")))} for _, m in todo],
            )
        if len(page["ids"]) < PAGE:
            break
        offset += PAGE
    metadata = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    collection.modify(metadata={**metadata, "dates": DATES_VERSION})
