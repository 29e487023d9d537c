"""Ingest: files and folders in, documents chunked and embedded into the index.

Unchanged files are recognised by a hash of their bytes (and of the chunking and embedding
settings) before anything is parsed or embedded, so re-ingesting an unchanged corpus never
loads the embedding model.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path

from rag.errors import DocumentError
from rag.index.index import Index
from rag.ingest.chunking import with_content_hash
from rag.ingest.fetch import Fetcher, normalize_url, parse_feed
from rag.ingest.formats import Origin, check_readable, doc_id_for
from rag.ingest.worker import Limits, read_isolated
from rag.models.embedder import Embedder
from rag.settings import Settings
from rag.types import Chunk, Document, DocumentInfo, IngestFailure, IngestReport

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) while ingesting; stage is 'reading' or 'embedding'."""
Prepare = Callable[[list[tuple[Document, list[Chunk]]]], None]
"""Called with each batch of documents just stored, to do now the work answering them will need
(the reader embeds their sentences: rag/index/sentence_vectors.py)."""

Read = tuple[Document, list[Chunk], DocumentInfo | None]
"""A new or changed document as read: its chunks, and the version the index holds (if any)."""

_CHUNKER_VERSION = "1"
_EMBED_BATCH_CHUNKS = 256
# While the model loads (8 s with its imports), reading goes on up to this many chunks, so that
# reading is done under the loading rather than between batches once it is loaded.
_READ_AHEAD_CHUNKS = 4096


IGNORE_FILE = ".ragignore"


def find_files(paths: Iterable[Path], report: IngestReport) -> list[Path]:
    """Expand folders recursively (skipping hidden entries and what a folder's `.ragignore`
    lists: one glob pattern a line, matched against the path inside that folder or the file's
    name); name paths that don't exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            ignored = _ignore_patterns(path)
            for child in sorted(path.rglob("*")):
                inside = child.relative_to(path)
                hidden = any(part.startswith(".") for part in inside.parts)
                skip = any(fnmatch(inside.as_posix(), p) or fnmatch(child.name, p) for p in ignored)
                if not hidden and not skip and (child.is_file() or child.is_symlink()):
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


def _ignore_patterns(folder: Path) -> list[str]:
    try:
        lines = (folder / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def content_hash(data: bytes, settings: Settings) -> str:
    signature = f"{_CHUNKER_VERSION}/{settings.chunk_size}/{settings.chunk_overlap}/{settings.embed_model}"
    return hashlib.sha256(signature.encode() + b"\0" + data).hexdigest()


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    index: Index,
    embedder: Callable[[], Embedder],
    progress: Progress | None = None,
    urls: Iterable[str] = (),
    feeds: Iterable[str] = (),
    allow_private: bool = True,
    prepare: Prepare | None = None,
) -> IngestReport:
    """Add new files, pages and feed items, replace changed ones, skip unchanged ones; never
    stop at a bad one.

    Streaming: documents are embedded and stored as soon as about one batch of chunks is read,
    so memory holds one batch, whatever the number of files, and what is done stays done if
    the run is cut short. `urls` are web pages and `feeds` RSS or Atom feeds whose items are
    fetched as pages (rag/ingest/fetch.py; `allow_private` False refuses private addresses). `prepare`
    is given each batch once stored; when it fails, the documents stay stored and a note says so.
    """
    run = _Run(settings, index, embedder, progress, allow_private, prepare)
    files = find_files(paths, run.report)
    urls, feeds = list(urls), list(feeds)
    items: list[tuple[str, Origin | None]] = [(url, None) for url in urls]
    for feed in feeds:
        items.extend(run.feed_items(feed))
    total = len(files) + len(items)
    for done, path in enumerate(files, 1):
        if progress:
            progress("reading", done, total)
        run.file(path)
    for done, (url, hints) in enumerate(items, len(files) + 1):
        if progress:
            progress("reading", done, total)
        run.page(url, hints)
    run.writer.flush()
    return run.report


class _Run:
    """One ingest run: what the index holds, and the documents read so far."""

    def __init__(
        self,
        settings: Settings,
        index: Index,
        embedder: Callable[[], Embedder],
        progress: Progress | None,
        allow_private: bool,
        prepare: Prepare | None = None,
    ) -> None:
        self.settings = settings
        self.report = IngestReport()
        self.known = {doc.doc_id: doc for doc in index.store.documents()}
        self.source_by_hash = {doc.content_hash: doc.source for doc in self.known.values()}
        self.limits = Limits(settings.read_timeout, settings.read_memory_mb)
        self.writer = _Writer(index, embedder, self.report, progress, prepare)
        self.fetcher = Fetcher(settings, allow_private)

    def file(self, path: Path) -> None:
        with timed(self.report, "reading"):
            read = self._read_file(path)
        if read is not None:
            self._keep(str(path), *read)

    def page(self, url: str, hints: Origin | None = None) -> None:
        """A web page, known by its URL: unchanged when the text extracted from it is (a page's
        ads and counters change at every fetch; its article does not)."""
        source = normalize_url(url)
        with timed(self.report, "reading"):
            read = self._read_page(source, hints)
        if read is not None:
            self._keep(source, *read)

    def _keep(self, source: str, document: Document, chunks: list[Chunk], previous: DocumentInfo | None) -> None:
        """A new or changed document read: counted, and handed to the writer."""
        (self.report.updated if previous is not None else self.report.added).append(source)
        self.writer.add(document, chunks)

    def _read_file(self, path: Path) -> Read | None:
        try:
            data = check_readable(path, int(self.settings.max_file_mb * 1_000_000))
            digest = content_hash(data, self.settings)
            doc_id = doc_id_for(path)
            previous = self.known.get(doc_id)
            if self._unchanged(str(path), previous, digest):
                return None
            document, chunks = read_isolated(
                self.limits, path, data, doc_id, digest, self.settings.chunk_size, self.settings.chunk_overlap
            )
            self.source_by_hash[digest] = str(path)
        except DocumentError as exc:
            self.report.failed.append(IngestFailure(str(path), str(exc)))
            return None
        except Exception as exc:  # a parser bug must not stop the run or lose other files
            self.report.failed.append(IngestFailure(str(path), f"could not be read ({type(exc).__name__}: {exc})"))
            return None
        return document, chunks, previous

    def _read_page(self, source: str, hints: Origin | None) -> Read | None:
        try:
            fetched = self.fetcher.page(source)
            doc_id = doc_id_for_url(source)
            origin = Origin(source, hints.title if hints else "", hints.date if hints else "")
            document, chunks = read_isolated(
                self.limits,
                Path("page.html"),
                fetched.data,
                doc_id,
                "",
                self.settings.chunk_size,
                self.settings.chunk_overlap,
                origin,
            )
            text = f"{document.title}\n{document.date}\n{document.author}\n{document.text}"
            digest = content_hash(text.encode("utf-8"), self.settings)
            previous = self.known.get(doc_id)
            if self._unchanged(source, previous, digest):
                return None
            document, chunks = with_content_hash(document, chunks, digest)
            self.source_by_hash[digest] = source
        except DocumentError as exc:
            self.report.failed.append(IngestFailure(source, str(exc)))
            return None
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the run
            self.report.failed.append(IngestFailure(source, f"could not be read ({type(exc).__name__}: {exc})"))
            return None
        return document, chunks, previous

    def feed_items(self, feed: str) -> list[tuple[str, Origin | None]]:
        """The pages a feed links to (a failure is reported under the feed's URL)."""
        source = normalize_url(feed)
        try:
            items = parse_feed(self.fetcher.feed(source))
        except DocumentError as exc:
            self.report.failed.append(IngestFailure(source, f"feed: {exc}"))
            return []
        except Exception as exc:  # noqa: BLE001
            self.report.failed.append(IngestFailure(source, f"feed could not be read ({type(exc).__name__}: {exc})"))
            return []
        if not items:
            self.report.notes.append(f"{source}: the feed lists no articles")
        limit = self.settings.fetch_max_items
        if len(items) > limit:
            self.report.notes.append(
                f"{source}: the feed lists {len(items)} articles; the first {limit} were read (RAG_FETCH_MAX_ITEMS)"
            )
        return [(item.url, Origin(item.url, item.title, item.date)) for item in items[:limit]]

    def _unchanged(self, source: str, previous: DocumentInfo | None, digest: str) -> bool:
        if previous is not None and previous.content_hash == digest:
            self.report.unchanged.append(source)
            return True
        twin = self.source_by_hash.get(digest)
        if previous is None and twin is not None:
            self.report.unchanged.append(source)
            self.report.notes.append(f"{source}: same content as {twin}, which is already indexed")
            return True
        return False


@contextmanager
def timed(report: IngestReport, stage: str) -> Iterator[None]:
    """Count the seconds of a `with` block for `stage` in the report."""
    started = time.perf_counter()
    try:
        yield
    finally:
        report.timed(stage, time.perf_counter() - started)


def doc_id_for_url(url: str) -> str:
    """A page's id, from its normalized URL: fetching it again updates the same document."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def _mark_failed(report: IngestReport, source: str, error: str) -> None:
    for bucket in (report.added, report.updated):
        for entry in list(bucket):
            if str(Path(entry).absolute()) == source:
                bucket.remove(entry)
    report.failed.append(IngestFailure(source, error))


class _Writer:
    """Embeds and stores documents a batch of about _EMBED_BATCH_CHUNKS chunks at a time (whole
    documents per batch). The model starts loading, in a thread, when the first document to embed
    is read, so loading overlaps reading (up to _READ_AHEAD_CHUNKS chunks read ahead); never for
    an unchanged corpus."""

    def __init__(
        self,
        index: Index,
        embedder: Callable[[], Embedder],
        report: IngestReport,
        progress: Progress | None,
        prepare: Prepare | None = None,
    ) -> None:
        self.index, self.embedder, self.report, self.progress = index, embedder, report, progress
        self.prepare = prepare
        self.pending: list[tuple[Document, list[Chunk]]] = []
        self.queued = self.embedded = 0
        self._loading: threading.Thread | None = None

    def _load(self) -> None:
        try:
            self.embedder()
        except Exception:  # noqa: BLE001 - the first batch asks again and reports it
            pass

    def add(self, document: Document, chunks: list[Chunk]) -> None:
        if self._loading is None:  # the model loads while the next files are read
            self._loading = threading.Thread(target=self._load, name="load-embedder", daemon=True)
            self._loading.start()
        self.pending.append((document, chunks))
        self.queued += len(chunks)
        pending = self.queued - self.embedded
        loading = self._loading.is_alive()
        if pending >= _EMBED_BATCH_CHUNKS and not (loading and pending < _READ_AHEAD_CHUNKS):
            self.flush()

    def _prepare(self, batch: list[tuple[Document, list[Chunk]]]) -> None:
        if self.prepare is None:
            return
        try:
            with timed(self.report, "reader's sentence vectors"):
                self.prepare(batch)
        except Exception as exc:  # noqa: BLE001 - stored is stored; answering does that work later
            self.prepare = None
            self.report.notes.append(
                f"The reader could not embed the new documents' sentences ({type(exc).__name__}: {exc}); "
                "they are stored, and questions about them embed their sentences as they are asked (slower)"
            )

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        texts = [chunk.text for _, chunks in batch for chunk in chunks]
        if self.progress:
            self.progress("embedding", self.embedded, self.queued)
        try:
            with timed(self.report, "loading the model"):
                model = self.embedder()
            with timed(self.report, "embedding passages"):
                vectors = model.embed_passages(texts)
        except Exception as exc:  # the documents of this batch fail; what is stored stays as it was
            for document, _ in batch:
                _mark_failed(self.report, document.source, f"could not be embedded ({type(exc).__name__}: {exc})")
        else:
            items, offset = [], 0
            for document, chunks in batch:
                items.append((document, chunks, vectors[offset : offset + len(chunks)]))
                offset += len(chunks)
            try:
                with timed(self.report, "storing"):
                    self.index.write(items)  # one write for the batch
            except Exception as exc:  # the batch's documents fail; their previous versions stay
                for document, _ in batch:
                    _mark_failed(self.report, document.source, f"could not be stored ({type(exc).__name__}: {exc})")
            else:
                self._prepare(batch)
            self.report.chunks_embedded += len(texts)
        self.embedded += len(texts)
        if self.progress:
            self.progress("embedding", self.embedded, self.queued)
