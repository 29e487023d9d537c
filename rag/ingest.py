"""Ingest: files and folders in, documents chunked and embedded into the store.

Unchanged files are recognised by a hash of their bytes (and of the chunking and embedding
settings) before anything is parsed or embedded, so re-ingesting an unchanged corpus never
loads the embedding model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from rag.embedder import Embedder
from rag.errors import DocumentError
from rag.isolation import Limits, read_isolated
from rag.readers import check_readable, doc_id_for
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Chunk, Document, IngestFailure, IngestReport

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) while ingesting; stage is 'reading' or 'embedding'."""

_CHUNKER_VERSION = "1"
_EMBED_BATCH_CHUNKS = 64


def find_files(paths: Iterable[Path], report: IngestReport) -> list[Path]:
    """Expand folders recursively (skipping hidden entries); name paths that don't exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if not hidden and (child.is_file() or child.is_symlink()):
                    files.append(child)
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            report.failed.append(IngestFailure(str(path), "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for file in files:
        key = file.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique


def content_hash(data: bytes, settings: Settings) -> str:
    signature = f"{_CHUNKER_VERSION}/{settings.chunk_size}/{settings.chunk_overlap}/{settings.embed_model}"
    return hashlib.sha256(signature.encode() + b"\0" + data).hexdigest()


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    store: ChunkStore,
    embedder: Callable[[], Embedder],
    progress: Progress | None = None,
) -> IngestReport:
    """Add new files, replace changed ones, skip unchanged ones; never stop at a bad file.

    Streaming: documents are embedded and stored as soon as about one batch of chunks is read,
    so memory holds one batch, whatever the number of files, and what is done stays done if
    the run is cut short.
    """
    report = IngestReport()
    files = find_files(paths, report)
    known = {doc.doc_id: doc for doc in store.documents()}
    source_by_hash = {doc.content_hash: doc.source for doc in known.values()}
    limits = Limits(settings.read_timeout, settings.read_memory_mb)
    writer = _Writer(store, embedder, report, progress)
    for done, path in enumerate(files, 1):
        if progress:
            progress("reading", done, len(files))
        try:
            data = check_readable(path, int(settings.max_file_mb * 1_000_000))
            digest = content_hash(data, settings)
            doc_id = doc_id_for(path)
            previous = known.get(doc_id)
            if previous is not None and previous.content_hash == digest:
                report.unchanged.append(str(path))
                continue
            twin = source_by_hash.get(digest)
            if previous is None and twin is not None:
                report.unchanged.append(str(path))
                report.notes.append(f"{path}: same content as {twin}, which is already indexed")
                continue
            document, chunks = read_isolated(
                limits, path, data, doc_id, digest, settings.chunk_size, settings.chunk_overlap
            )
            source_by_hash[digest] = str(path)
        except DocumentError as exc:
            report.failed.append(IngestFailure(str(path), str(exc)))
            continue
        except Exception as exc:  # a parser bug must not stop the run or lose other files
            report.failed.append(IngestFailure(str(path), f"could not be read ({type(exc).__name__}: {exc})"))
            continue
        (report.updated if previous is not None else report.added).append(str(path))
        writer.add(document, chunks)
    writer.flush()
    return report


def _mark_failed(report: IngestReport, source: str, error: str) -> None:
    for bucket in (report.added, report.updated):
        for entry in list(bucket):
            if str(Path(entry).absolute()) == source:
                bucket.remove(entry)
    report.failed.append(IngestFailure(source, error))


class _Writer:
    """Embeds and stores documents a batch of about _EMBED_BATCH_CHUNKS chunks at a time (whole
    documents per batch); the model loads with the first batch, never for an unchanged corpus."""

    def __init__(
        self, store: ChunkStore, embedder: Callable[[], Embedder], report: IngestReport, progress: Progress | None
    ) -> None:
        self.store, self.embedder, self.report, self.progress = store, embedder, report, progress
        self.pending: list[tuple[Document, list[Chunk]]] = []
        self.queued = self.embedded = 0

    def add(self, document: Document, chunks: list[Chunk]) -> None:
        self.pending.append((document, chunks))
        self.queued += len(chunks)
        if self.queued - self.embedded >= _EMBED_BATCH_CHUNKS:  # the chunks pending
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        texts = [chunk.text for _, chunks in batch for chunk in chunks]
        if self.progress:
            self.progress("embedding", self.embedded, self.queued)
        try:
            vectors = self.embedder().embed_passages(texts)
        except Exception as exc:  # the documents of this batch fail; what is stored stays as it was
            for document, _ in batch:
                _mark_failed(self.report, document.source, f"could not be embedded ({type(exc).__name__}: {exc})")
        else:
            offset = 0
            for document, chunks in batch:
                try:
                    self.store.replace_document(document, chunks, vectors[offset : offset + len(chunks)])
                except Exception as exc:
                    _mark_failed(self.report, document.source, f"could not be stored ({type(exc).__name__}: {exc})")
                offset += len(chunks)
            self.report.chunks_embedded += len(texts)
        self.embedded += len(texts)
        if self.progress:
            self.progress("embedding", self.embedded, self.queued)
