"""Answerers: from a question and its retrieved passages to a short answer with citations.

The default answerer is extractive: every sentence of its answer is a sentence of a retrieved
passage, quoted verbatim with its citation, so it cannot say anything the documents don't.
Which sentences, and whether to answer at all, the reader decides (rag/reader.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from rag.embedder import Embedder
from rag.errors import SettingsError
from rag.prompts import abstain_message
from rag.readers import detect_language
from rag.sentences import split_sentences
from rag.settings import Settings
from rag.types import Answer, AnswerSentence, Citation, Hit

if TYPE_CHECKING:
    from rag.reader import Reader

# The pipeline hands answerers a way to get its one reader, so that the model loads once, on use.
ReaderSource = Callable[[], "Reader"]


class Answerer(Protocol):
    name: str

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()) -> Answer: ...

    def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()
    ) -> Iterator[AnswerSentence | Answer]:
        """Checked sentences as they are ready, then the whole Answer (always last)."""
        ...


READERS = ("trained", "cosine")


@dataclass(frozen=True)
class Candidate:
    """One sentence (or, for the cosine scorer, two adjacent ones) of a retrieved passage, scored
    against the question."""

    hit: Hit
    spans: tuple[tuple[int, int], ...]  # offsets of each sentence inside hit.text
    score: float
    lead: bool = False  # the first sentence of its document

    @property
    def text(self) -> str:
        return " ".join(self.hit.text[a:b] for a, b in self.spans)


class ExtractiveAnswerer:
    """Quotes the passage sentences that answer the question; abstains when none does.

    The default scorer is the trained reader (rag/reader.py, `RAG_READER=trained`): it weighs, for
    each sentence of the retrieved passages, its e5 similarity to the question against its rivals'
    and what an answer to this question looks like (a number, a date, a name...); its calibrated
    probability both picks the sentences and decides when the articles don't answer. The answer
    quotes the best sentence (with its neighbour when e5 finds the pair closer to the question)
    and up to `max_answer_sentences` sentences in all whose probability passes the pair margin.

    `RAG_READER=cosine` is the earlier scorer, kept for comparison: e5 cosine between the question
    and single sentences or adjacent pairs, abstaining below `min_sentence_score`.
    """

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder, reader: ReaderSource | None = None) -> None:
        if settings.reader not in READERS:
            raise SettingsError(f"Unknown reader {settings.reader!r} (RAG_READER); valid: {', '.join(READERS)}")
        self.settings = settings
        self.embedder = embedder
        self._reader_source = reader

    @cached_property
    def reader(self) -> Reader:
        """The reader, loaded on first use (a shared one when the pipeline gave it)."""
        if self._reader_source is not None:
            return self._reader_source()
        from rag.reader import Reader

        return Reader(self.embedder)

    def sentences(self, hits: Sequence[Hit]) -> list[Candidate]:
        """Every distinct sentence of the hits, in order (overlapping chunks repeat sentences)."""
        seen: set[tuple[str, int]] = set()
        units: list[Candidate] = []
        for hit in hits:
            sentences = split_sentences(hit.text, min_chars=12)
            for i, sentence in enumerate(sentences):
                key = (hit.doc_id, hit.start + sentence.start)
                if key in seen:
                    continue
                seen.add(key)
                units.append(Candidate(hit, ((sentence.start, sentence.end),), 0.0, hit.start == 0 and i == 0))
        return units

    def read(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """The hits' sentences scored by the reader, best first."""
        from rag.reader import ReaderInput

        units = self.sentences(hits)
        items = [ReaderInput(u.text, u.hit.language, u.lead) for u in units]
        scores = self.reader.score(question, detect_language(question), items)
        return sorted((replace(u, score=s) for u, s in zip(units, scores, strict=True)), key=lambda c: -c.score)

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every distinct sentence and sentence pair of the hits by e5 cosine, best first (`cosine`)."""
        import numpy as np

        units: list[Candidate] = []
        singles = self.sentences(hits)
        for i, unit in enumerate(singles):
            units.append(unit)
            after = singles[i + 1] if i + 1 < len(singles) else None
            if self.settings.max_answer_sentences > 1 and after is not None and after.hit is unit.hit:
                units.append(replace(unit, spans=unit.spans + after.spans))
        if not units:
            return []
        query = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        vectors = np.asarray(self.embedder.embed_passages([u.text for u in units]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = vectors @ query / np.where(norms == 0, 1.0, norms)
        return sorted((replace(u, score=float(s)) for u, s in zip(units, scores, strict=True)), key=lambda c: -c.score)

    def threshold(self, question_language: str, hit: Hit) -> float:
        """Cosine scorer: cross-lingual similarities run lower than same-language ones, so they get
        a lower bar."""
        base = self.settings.min_sentence_score
        return base if question_language == hit.language else base - self.settings.cross_lingual_margin

    def choose(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """The candidates the answer quotes, in the order it quotes them; empty to abstain."""
        if self.settings.reader == "cosine":
            ranked = self.candidates(question, hits)
            if not ranked or ranked[0].score < self.threshold(detect_language(question), ranked[0].hit):
                return []
            return [ranked[0]]
        ranked = self.read(question, hits)
        config = self.reader.config
        if not ranked or ranked[0].score < config.threshold:
            return []
        best = self.with_neighbour(question, ranked[0], hits)
        room = self.settings.max_answer_sentences - len(best.spans)
        taken = {(best.hit.chunk_id, span) for span in best.spans}
        more = [c for c in ranked[1:] if c.score >= config.pair_margin and (c.hit.chunk_id, c.spans[0]) not in taken]
        return [best, *more[: max(0, room)]]

    def with_neighbour(self, question: str, best: Candidate, hits: Sequence[Hit]) -> Candidate:
        """The best sentence, or it with the sentence before or after it when e5 finds the pair
        closer to the question: a sentence often needs its neighbour for its subject, or for the
        cause that follows it (as the cosine scorer's pairs do)."""
        if self.settings.max_answer_sentences < 2:
            return best
        sentences = split_sentences(best.hit.text, min_chars=12)
        spans = [(s.start, s.end) for s in sentences]
        if best.spans[0] not in spans:
            return best
        i = spans.index(best.spans[0])
        units = [best.spans]
        if i > 0:
            units.append((spans[i - 1], spans[i]))
        if i + 1 < len(spans):
            units.append((spans[i], spans[i + 1]))
        texts = [" ".join(best.hit.text[a:b] for a, b in unit) for unit in units]
        from rag.reader import cosine_to_question

        cosines = cosine_to_question(self.embedder, question, texts)
        chosen = units[max(range(len(units)), key=cosines.__getitem__)]
        return replace(best, spans=tuple(chosen))

    def rank_passages(self, question: str, hits: Sequence[Hit]) -> tuple[list[Hit], bool]:
        """The hits, the passage with the best answer sentence first, and whether the reader
        finds an answer in them at all (for an LLM: what to read first, and when not to answer).
        The cosine scorer keeps the retrieval order and leaves the decision to the model."""
        if self.settings.reader == "cosine" or not hits:
            return list(hits), True
        ranked = self.read(question, hits)
        best: dict[str, float] = {}
        for candidate in ranked:
            best.setdefault(candidate.hit.chunk_id, candidate.score)
        ordered = sorted(hits, key=lambda h: -best.get(h.chunk_id, 0.0))
        return ordered, bool(ranked) and ranked[0].score >= self.reader.config.threshold

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()) -> Answer:
        chosen = self.choose(question, hits)
        if not chosen:
            return Answer(question, abstain_message(detect_language(question)), True, (), tuple(hits))
        spans = [(c.hit, a, b) for c in chosen for a, b in c.spans]
        citations = tuple(Citation.of(n, hit, a, b) for n, (hit, a, b) in enumerate(spans, 1))
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        # Each sentence is a verbatim quote of the passage it cites: supported by construction.
        sentences = tuple(AnswerSentence(c.quote, (c.n,), True, 1.0) for c in citations)
        return Answer(question, text, False, citations, tuple(hits), self.name, sentences)

    def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()
    ) -> Iterator[AnswerSentence | Answer]:
        """The extractive answer is ready at once: a single Answer."""
        yield self.answer(question, hits)


def final_answer(events: Iterable[AnswerSentence | Answer]) -> Answer:
    """The Answer at the end of a stream of answer events."""
    answer = None
    for event in events:
        answer = event
    if not isinstance(answer, Answer):
        raise RuntimeError("an answer stream ended without an Answer")
    return answer


def make_answerer(settings: Settings, embedder: Embedder, reader: ReaderSource | None = None) -> Answerer:
    """The extractive answerer, or the guarded generative one for an LLM backend (RAG_LLM)."""
    if settings.llm == "extractive":
        return ExtractiveAnswerer(settings, embedder, reader)
    from rag.generate import GenerativeAnswerer

    return GenerativeAnswerer(settings, embedder, reader=reader)
