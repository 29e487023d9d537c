"""The reader's sentence vectors, computed once and kept beside the index.

The evidence reader (rag/read/evidence.py) compares the question with every sentence of the
retrieved passages through its own adapter of e5, and embedding those 40-60 sentences would be
most of a question's time on a small CPU: ingest embeds each new document's sentences as it
stores the document, and a question looks them up here.

A file `reader-vectors.sqlite` in the index folder holds one row per (sentence, document): the
key is a hash of the sentence and of the model that embedded it (the adapter's sha256 and how
many tokens it reads), so vectors of another adapter are never used, and the value the unit
vector in fp16 (768 bytes for e5-small). Rows belong to a document: the index
(rag/index/index.py) forgets them when the document is replaced or removed. The file is a
cache: a sentence missing from it (an index built before it existed, a document ingested by a
reader of another kind, a damaged file) is embedded when asked and kept; a file that cannot be
read or written is left aside with a warning, and answers are the same, only slower.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rag.index.sqlite import connect, immediate

FILE_NAME = "reader-vectors.sqlite"
SCHEMA_VERSION = "1"
_LOOKUP_BATCH = 500  # keys per SELECT (SQLite allows 32,766 parameters)

log = logging.getLogger(__name__)


def sentence_key(model_tag: str, sentence: str) -> bytes:
    """16 bytes naming this sentence as embedded by this model."""
    return hashlib.blake2b(f"{model_tag}\0{sentence}".encode(), digest_size=16).digest()


class SentenceVectors:
    """Unit vectors of sentences, keyed by sentence and model, owned by documents."""

    def __init__(self, path: Path, model_tag: str, dimensions: int) -> None:
        self.path = path
        self.model_tag = model_tag
        self.dimensions = dimensions
        self._local = threading.local()
        self._broken = False

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS vectors(
                    key BLOB NOT NULL, doc_id TEXT NOT NULL, vector BLOB NOT NULL,
                    PRIMARY KEY (key, doc_id)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS vectors_by_doc ON vectors(doc_id);
                """
            )
            version = db.execute("SELECT value FROM state WHERE key = 'version'").fetchone()
            if version is None or version[0] != SCHEMA_VERSION:
                db.execute("DELETE FROM vectors")
                db.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('version', ?)", (SCHEMA_VERSION,))
            self._local.db = db
        return db

    def _failed(self, exc: Exception) -> None:
        if not self._broken:
            log.warning(
                "The reader's sentence vectors in %s cannot be used (%s): sentences are embedded as they are "
                "asked about, which is slower; delete the file to start it again",
                self.path,
                exc,
            )
        self._broken = True

    def get(self, sentences: Sequence[str]) -> dict[str, Any]:
        """The stored vector (float32 numpy) of each of these sentences that has one."""
        import numpy as np

        if self._broken or not sentences:
            return {}
        keys = {sentence_key(self.model_tag, s): s for s in sentences}
        found: dict[str, Any] = {}
        try:
            db = self._db()
            listed = list(keys)
            for start in range(0, len(listed), _LOOKUP_BATCH):
                batch = listed[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                rows = db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", batch)  # noqa: S608
                for key, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float16)
                    if vector.shape == (self.dimensions,):
                        found[keys[key]] = vector.astype(np.float32)
        except sqlite3.Error as exc:
            self._failed(exc)
            return {}
        return found

    def put(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """Keep (sentence, owning document id, unit vector) rows."""
        import numpy as np

        if self._broken:
            return
        values = [
            (sentence_key(self.model_tag, s), doc_id, np.asarray(v, dtype=np.float16).tobytes())
            for s, doc_id, v in rows
        ]
        self._write("INSERT OR REPLACE INTO vectors(key, doc_id, vector) VALUES (?, ?, ?)", values)

    def forget(self, doc_ids: Iterable[str]) -> None:
        """Remove these documents' rows (before their new version's are put, or when removed)."""
        self._write("DELETE FROM vectors WHERE doc_id = ?", [(d,) for d in dict.fromkeys(doc_ids)])

    def _write(self, statement: str, values: list[tuple[Any, ...]]) -> None:
        """Run the statement for each row of values in one transaction (nothing on a file left aside)."""
        if self._broken or not values:
            return
        try:
            db = self._db()
            with immediate(db):
                db.executemany(statement, values)
        except sqlite3.Error as exc:
            self._failed(exc)

    def documents(self) -> set[str]:
        """The ids of the documents that own rows."""
        if self._broken:
            return set()
        try:
            return {row[0] for row in self._db().execute("SELECT DISTINCT doc_id FROM vectors")}
        except sqlite3.Error as exc:
            self._failed(exc)
            return set()

    def count(self) -> int:
        if self._broken:
            return 0
        try:
            return int(self._db().execute("SELECT count(*) FROM vectors").fetchone()[0])
        except sqlite3.Error as exc:
            self._failed(exc)
            return 0


def keep_only(index: Path, doc_ids: Iterable[str]) -> int:
    """Drop the rows of every document not among these (the store's documents: one removed
    through another client of a Chroma server leaves its rows here); how many documents' rows
    were dropped."""
    gone = documents_with_sentence_vectors(index) - set(doc_ids)
    forget_documents(index, gone)
    return len(gone)


def documents_with_sentence_vectors(index: Path) -> set[str]:
    """The ids of the documents whose sentences the index folder's file keeps vectors of."""
    path = index / FILE_NAME
    return SentenceVectors(path, "", 0).documents() if path.exists() else set()


def forget_documents(index: Path, doc_ids: Iterable[str]) -> None:
    """Drop the rows of these replaced or removed documents from the index folder's file, if it
    has one (no model needed: rows are found by document)."""
    path = index / FILE_NAME
    if path.exists():
        SentenceVectors(path, "", 0).forget(doc_ids)
