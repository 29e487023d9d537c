"""The lexical side of retrieval: BM25 over SQLite FTS5, kept in step with Chroma incrementally.

Chroma stays the source of truth. The lexical index (`<index>/lexical.sqlite`) holds each
chunk's text, metadata and its tokens (lower-cased words of two letters or more, English and
French stopwords removed, French Snowball stems: what the bm25s index this replaces used), and
for each document the signature (content hashes) it was built from. Before a search, if the
store's fingerprint moved since the last sync, the documents' signatures in Chroma (one small
read per document, the first chunk's metadata) are compared with the lexical index's: documents
that changed or disappeared lose their rows, new or changed ones are read from Chroma and
tokenized. Adding one article to a 100,000-chunk index therefore costs the next query one read
of the document list and one article's chunks, not a rebuild of everything.

Each process (and each machine, with a Chroma server) keeps its own file and catches up by the
same comparison, so writes made anywhere are seen everywhere. Syncs run in one immediate SQLite
transaction: two processes on one index never apply the same change twice.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.index.nodes import signature
from rag.index.sqlite import connect, immediate
from rag.settings import Settings
from rag.text.words import bm25_stopwords, fold

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode

    from rag.index.store import ChunkStore
    from rag.text.dates import DateRange

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
SCHEMA_VERSION = "3"  # the tokenizer and the tables: another version is rebuilt
_DOCS_PER_READ = 200


@functools.lru_cache(maxsize=200_000)  # a language's vocabulary, bounded for a long-running server
def _stem_word(word: str) -> str:
    return str(_stemmer().stemWord(word))


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("french")


def tokens(text: str) -> list[str]:
    """The words BM25 counts: lower-cased, stopwords dropped, French stems, then without
    accents ("Francois" finds "François")."""
    stop = bm25_stopwords()
    return [_fold_stem(word) for word in _TOKEN.findall(text.lower()) if word not in stop]


@functools.lru_cache(maxsize=200_000)
def _fold_stem(word: str) -> str:
    return fold(_stem_word(word))


class LexicalIndex:
    """BM25 search over the chunks Chroma holds, synced before each search when they changed."""

    def __init__(self, settings: Settings, store: ChunkStore) -> None:
        self.path = lexical_path(settings)
        self.store = store
        self._local = threading.local()
        self._sync_lock = threading.Lock()
        self._synced = ""  # the store fingerprint this process last synced to

    # --- connection ------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            _create(db)
            self._local.db = db
        return db

    def fingerprint(self) -> str:
        row = self._db().execute("SELECT value FROM state WHERE key = 'fingerprint'").fetchone()
        return str(row[0]) if row else ""

    def is_current(self) -> bool:
        """Whether the lexical index holds exactly the chunks the store holds now."""
        return self.store.exists() and self.fingerprint() == self.store.fingerprint()

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM chunks").fetchone()[0])

    # --- keeping in step -------------------------------------------------------------------
    def sync(self) -> tuple[int, int]:
        """Bring the index in step with the store; (documents removed, documents added)."""
        target = self.store.fingerprint()
        if target == self._synced:
            return 0, 0
        with self._sync_lock:
            db = self._db()
            if self.fingerprint() == target:
                self._synced = target
                return 0, 0
            with immediate(db):
                have_fingerprint = self.fingerprint()
                if have_fingerprint == target:  # another process did it while we waited
                    self._synced = target
                    return 0, 0
                replayed = self._replay_log(db, have_fingerprint, target)
                if replayed is not None:
                    self._synced = target
                    return replayed
                now = self.store.document_signatures()
                have = dict(db.execute("SELECT doc_id, signature FROM docs").fetchall())
                gone = [doc for doc, signature in have.items() if now.get(doc) != signature]
                new = [doc for doc, signature in now.items() if have.get(doc) != signature]
                for doc_id in gone:
                    _delete_document(db, doc_id)
                for start in range(0, len(new), _DOCS_PER_READ):
                    batch = new[start : start + _DOCS_PER_READ]
                    _insert(db, self.store.nodes_of(batch))
                    db.executemany(
                        "INSERT OR REPLACE INTO docs(doc_id, signature) VALUES (?, ?)", [(d, now[d]) for d in batch]
                    )
                db.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('fingerprint', ?)", (target,))
            self._synced = target
            return len(gone), len(new)

    def follow(self, doc_ids: list[str], before: str, after: str) -> bool:
        """Apply one write of these documents (the store at `before`, then at `after`) if the
        index was at `before`; whether it did (if not, the next search catches up)."""
        with self._sync_lock:
            db = self._db()
            with immediate(db):
                if self.fingerprint() != before:
                    return False
                self._replay(db, doc_ids)
                db.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('fingerprint', ?)", (after,))
            self._synced = after
            return True

    def _replay_log(self, db: sqlite3.Connection, have: str, target: str) -> tuple[int, int] | None:
        """Catch up from the store's log of recent writes: (documents removed, documents added
        or updated), or None (nothing done) when the log does not reach back to `have` or the
        result would not hold the store's count of chunks (the caller then compares)."""
        have_revision = have.rsplit("-", 1)[0]
        target_revision, target_count = target.rsplit("-", 1)
        if not have or have_revision == target_revision:
            return None
        written = self.store.written_since(have_revision, target_revision)
        if written is None:
            return None
        db.execute("SAVEPOINT replay")
        present = self._replay(db, written)
        if str(self.count()) != target_count:  # a write landed meanwhile, or a gap
            db.execute("ROLLBACK TO replay")
            db.execute("RELEASE replay")
            return None
        db.execute("RELEASE replay")
        db.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('fingerprint', ?)", (target,))
        return len(written) - present, present

    def _replay(self, db: sqlite3.Connection, doc_ids: list[str]) -> int:
        """Index these documents as the store holds them now (removed if it no longer does);
        how many it still holds."""
        firsts: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(doc_ids), _DOCS_PER_READ):
            batch = doc_ids[start : start + _DOCS_PER_READ]
            for doc_id in batch:
                _delete_document(db, doc_id)
            nodes = self.store.nodes_of(batch)
            _insert(db, nodes)
            for _, meta, _ in nodes:
                if meta.get("chunk_index") == 0:
                    firsts.setdefault(str(meta.get("doc_id", "")), []).append(meta)
        db.executemany(
            "INSERT INTO docs(doc_id, signature) VALUES (?, ?)",
            [(doc_id, signature(metas)) for doc_id, metas in firsts.items()],
        )
        return len(firsts)

    def rebuild(self) -> int:
        """Start again from the store (`rag reindex`); the number of chunks indexed."""
        with self._sync_lock:
            _clear(self._db())
            self._synced = ""
        self.sync()
        return self.count()

    # --- search ----------------------------------------------------------------------------
    def search(self, query: str, top_k: int, dates: DateRange | None = None) -> list[tuple[BaseNode, float]]:
        """The `top_k` chunks that best match the query's words, by BM25 (higher is better),
        among the documents dated within `dates` when given."""
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        self.sync()
        words = list(dict.fromkeys(tokens(query)))
        if not words:
            return []
        match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
        within, bounds = _within(dates)
        rows = (
            self._db()
            .execute(
                "SELECT chunks.text, chunks.meta, bm25(fts) AS rank FROM fts JOIN chunks ON chunks.id = fts.rowid "
                f"WHERE fts MATCH ?{within} ORDER BY rank LIMIT ?",
                (match, *bounds, top_k),
            )
            .fetchall()
        )
        return [(metadata_dict_to_node(json.loads(meta), text), -float(rank)) for text, meta, rank in rows]

    def named(
        self, names: Iterable[Sequence[str]], most: int, dates: DateRange | None = None
    ) -> list[tuple[BaseNode, float]]:
        """The chunks that hold one of `names` verbatim (any of a name's spellings, each as a
        phrase of its tokens), scored by the rarity of the names they hold (the sum of their log
        inverse chunk frequency). A name held by more than `most` chunks tells none apart and is
        left out. It reads the index as the last `search` left it, without syncing again:
        HybridRetriever.search calls it just after the BM25 search synced (one fingerprint read
        of the store a question, not two)."""
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        db = self._db()
        total = max(self.count(), 1)
        within, bounds = _within(dates)
        found: dict[int, tuple[str, str]] = {}
        scores: dict[int, float] = {}
        for name in names:
            phrases = list(dict.fromkeys(" ".join(words) for words in map(tokens, name) if words))
            if not phrases:
                continue
            rows = db.execute(
                "SELECT chunks.id, chunks.text, chunks.meta FROM fts JOIN chunks ON chunks.id = fts.rowid "
                f"WHERE fts MATCH ?{within} LIMIT ?",
                (" OR ".join(f'"{phrase}"' for phrase in phrases), *bounds, most + 1),
            ).fetchall()
            if not rows or len(rows) > most:
                continue
            rarity = math.log(1 + total / len(rows))
            for row_id, text, meta in rows:
                found[row_id] = (text, meta)
                scores[row_id] = scores.get(row_id, 0.0) + rarity
        ranked = sorted(scores, key=lambda row_id: -scores[row_id])
        return [(metadata_dict_to_node(json.loads(found[r][1]), found[r][0]), scores[r]) for r in ranked]


def _within(dates: DateRange | None) -> tuple[str, tuple[int, ...]]:
    """The SQL condition, and its values, that keeps the chunks of documents whose dates overlap
    `dates` (none when no range is given)."""
    if dates is None:
        return "", ()
    return " AND chunks.date_to >= ? AND chunks.date_from <= ?", (max(dates.low, 1), dates.high)


def lexical_path(settings: Settings) -> Path:
    return settings.index / "lexical.sqlite"


def _create(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS docs(doc_id TEXT PRIMARY KEY, signature TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS chunks(
            id INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
            text TEXT NOT NULL, meta TEXT NOT NULL, date_from INTEGER NOT NULL DEFAULT 0,
            date_to INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
        CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, tokenize = 'unicode61 remove_diacritics 0');
        """
    )
    version = db.execute("SELECT value FROM state WHERE key = 'version'").fetchone()
    if version is None or version[0] != SCHEMA_VERSION:
        _clear(db)


def _clear(db: sqlite3.Connection) -> None:
    """Empty every table, marked with this schema's version."""
    with immediate(db):
        for table in ("chunks", "docs", "fts", "state"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        db.execute("INSERT INTO state(key, value) VALUES ('version', ?)", (SCHEMA_VERSION,))


def _delete_document(db: sqlite3.Connection, doc_id: str) -> None:
    db.execute("DELETE FROM fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)", (doc_id,))
    db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
    db.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))


def _insert(db: sqlite3.Connection, nodes: Iterable[tuple[str, dict[str, Any], BaseNode]]) -> None:
    from llama_index.core.schema import MetadataMode

    for text, meta, node in nodes:
        cursor = db.execute(
            "INSERT INTO chunks(chunk_id, doc_id, text, meta, date_from, date_to) VALUES (?, ?, ?, ?, ?, ?)",
            (
                node.node_id,
                str(meta.get("doc_id", "")),
                text,
                json.dumps(meta, ensure_ascii=False),
                int(meta.get("date_from") or 0),
                int(meta.get("date_to") or 0),
            ),
        )
        # the title and the text, as they were embedded
        db.execute(
            "INSERT INTO fts(rowid, tokens) VALUES (?, ?)",
            (cursor.lastrowid, " ".join(tokens(node.get_content(metadata_mode=MetadataMode.EMBED)))),
        )
