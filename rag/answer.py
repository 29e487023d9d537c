"""Answerers: from a question and its retrieved passages to a short answer with citations.

The default answerer is extractive: every sentence of its answer is a sentence of a retrieved
passage, quoted verbatim with its citation, so it cannot say anything the documents don't.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.embedder import Embedder
from rag.errors import SettingsError
from rag.prompts import abstain_message
from rag.readers import detect_language
from rag.sentences import split_sentences
from rag.settings import Settings
from rag.types import Answer, Citation, Hit


class Answerer(Protocol):
    name: str

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer: ...


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, scored against the question."""

    hit: Hit
    text: str
    start: int  # offsets inside hit.text
    end: int
    score: float


class ExtractiveAnswerer:
    """Picks the passage sentences closest to the question; abstains when none is close enough."""

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every distinct sentence of the hits, scored by cosine similarity to the question."""
        import numpy as np

        seen: set[tuple[str, int]] = set()
        pending: list[tuple[Hit, int, int, str]] = []
        for hit in hits:
            for sentence in split_sentences(hit.text, min_chars=12):
                key = (hit.doc_id, hit.start + sentence.start)  # overlapping chunks repeat sentences
                if key not in seen:
                    seen.add(key)
                    pending.append((hit, sentence.start, sentence.end, sentence.text))
        if not pending:
            return []
        query = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        vectors = np.asarray(self.embedder.embed_passages([p[3] for p in pending]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = vectors @ query / np.where(norms == 0, 1.0, norms)
        return sorted(
            (Candidate(hit, text, start, end, float(score)) for (hit, start, end, text), score in zip(pending, scores)),
            key=lambda c: -c.score,
        )

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        ranked = self.candidates(question, hits)
        threshold = self.settings.min_sentence_score
        if not ranked or ranked[0].score < threshold:
            return Answer(question, abstain_message(detect_language(question)), True, (), tuple(hits))
        best = ranked[0].score
        chosen = [c for c in ranked if c.score >= max(threshold, best - _MARGIN)]
        chosen = chosen[: self.settings.max_answer_sentences]
        # Read in document order when the sentences come from the same document.
        lead = chosen[0].hit.doc_id
        chosen.sort(key=lambda c: (c.hit.doc_id != lead, c.hit.doc_id, c.hit.start + c.start))
        citations = tuple(
            Citation(
                n=n,
                doc_id=c.hit.doc_id,
                chunk_id=c.hit.chunk_id,
                title=c.hit.title,
                source=c.hit.source,
                date=c.hit.date,
                quote=c.text,
                passage=c.hit.text,
                quote_start=c.start,
                quote_end=c.end,
                doc_start=c.hit.start,
            )
            for n, c in enumerate(chosen, 1)
        )
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        return Answer(question, text, False, citations, tuple(hits))


# A second sentence joins the answer only if it is nearly as close to the question as the best.
_MARGIN = 0.02

ANSWERERS: dict[str, Callable[[Settings, Embedder], Answerer]] = {"extractive": ExtractiveAnswerer}


def make_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    try:
        factory = ANSWERERS[settings.answerer]
    except KeyError:
        valid = ", ".join(sorted(ANSWERERS))
        raise SettingsError(f"Unknown answerer {settings.answerer!r}; valid: {valid}") from None
    return factory(settings, embedder)
