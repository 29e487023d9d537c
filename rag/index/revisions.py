"""The log of recent writes, kept in a small Chroma collection beside the chunks.

Each write stamps a new revision on the chunk collection (rag/index/store.py) and leaves a
record here: its id the revision it stamped, the revision before it and the documents written.
A lexical index on another machine then catches up with the documents written since it last
looked rather than by comparing every document (1.18 s at 100,000 chunks). Records are only
added, never rewritten: two machines writing at once leave two records after one revision,
which a catching-up index sees (and then compares).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

WRITES_KEPT = 64


class WriteLog:
    """The records of the last WRITES_KEPT writes to one chunk collection."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def record(self, revision: str, before: str, doc_ids: Iterable[str]) -> None:
        """Note a write that took the collection from `before` to `revision`; the oldest records
        beyond WRITES_KEPT go."""
        self.collection.add(
            ids=[revision],
            embeddings=[[0.0]],
            metadatas=[{"before": before, "docs": json.dumps(list(doc_ids)), "at": time.time()}],
        )
        if self.collection.count() > WRITES_KEPT:
            kept = self.collection.get(include=["metadatas"])
            by_age = sorted(zip(kept["ids"], kept["metadatas"], strict=True), key=lambda r: r[1].get("at", 0))
            self.collection.delete(ids=[rid for rid, _ in by_age[: len(by_age) - WRITES_KEPT]])

    def written_since(self, revision: str, until: str) -> list[str] | None:
        """The documents written from `revision` to `until` (a document once); None when the log
        does not lead from one to the other in one line (too far behind, a change of unknown
        documents, or two writers at once)."""
        records = self.collection.get(include=["metadatas"])
        after: dict[str, list[str]] = {}
        docs: dict[str, list[str]] = {}
        for rid, meta in zip(records["ids"], records["metadatas"], strict=True):
            after.setdefault(str((meta or {}).get("before", "")), []).append(rid)
            try:
                docs[rid] = [str(d) for d in json.loads(str((meta or {}).get("docs", "[]")))]
            except ValueError:
                return None
        written: list[str] = []
        at = revision
        for _ in range(len(docs) + 1):
            if at == until:
                return list(dict.fromkeys(written))
            following = after.get(at, [])
            if len(following) != 1:
                return None  # not recorded, or a fork: two writes followed the same revision
            at = following[0]
            written.extend(docs[at])
        return None
