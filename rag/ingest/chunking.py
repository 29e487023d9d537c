"""Sentence-aware chunking with overlap; each chunk keeps its character offsets in the document."""

from __future__ import annotations

from dataclasses import replace

from rag.types import Chunk, Document


def chunk_id(doc_id: str, content_hash: str, index: int) -> str:
    """A chunk's id: its document, the version of the document it belongs to, its place."""
    return f"{doc_id}-{content_hash[:8]}-{index:04d}"


def with_content_hash(document: Document, chunks: list[Chunk], content_hash: str) -> tuple[Document, list[Chunk]]:
    """The document and its chunks as another version (a fetched page is versioned by the hash
    of the text extracted from it, known only once it is read)."""
    return replace(document, content_hash=content_hash), [
        replace(chunk, chunk_id=chunk_id(document.doc_id, content_hash, chunk.index)) for chunk in chunks
    ]


def chunk_document(document: Document, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Split a document into overlapping chunks that end on sentence boundaries where possible."""
    from llama_index.core import Document as LlamaDocument
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    nodes = splitter.get_nodes_from_documents([LlamaDocument(text=document.text, id_=document.doc_id)])
    chunks: list[Chunk] = []
    cursor = 0
    for index, node in enumerate(nodes):
        text = node.get_content()
        start = getattr(node, "start_char_idx", None)
        if start is None or document.text[start : start + len(text)] != text:
            # The splitter could not place the chunk; find it ourselves after the previous one.
            start = document.text.find(text, max(0, cursor - chunk_size * 8))
            if start < 0:
                start = document.text.find(text)
        if start < 0:  # cannot happen with SentenceSplitter, which only cuts and strips
            raise ValueError(f"chunk {index} of {document.source} is not a span of the document")
        chunks.append(
            Chunk(
                chunk_id=chunk_id(document.doc_id, document.content_hash, index),
                doc_id=document.doc_id,
                index=index,
                text=text,
                start=start,
                end=start + len(text),
            )
        )
        cursor = start
    return chunks
