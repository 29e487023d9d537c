"""Answerers: from a question and its retrieved passages to a short answer with citations.

The default answerer is extractive: every sentence of its answer is a sentence of a retrieved
passage, quoted verbatim with its citation, so it cannot say anything the documents don't.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.embedder import Embedder
from rag.prompts import abstain_message
from rag.readers import detect_language
from rag.sentences import split_sentences
from rag.settings import Settings
from rag.types import Answer, AnswerSentence, Citation, Hit


class Answerer(Protocol):
    name: str

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()) -> Answer: ...

    def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()
    ) -> Iterator[AnswerSentence | Answer]:
        """Checked sentences as they are ready, then the whole Answer (always last)."""
        ...


@dataclass(frozen=True)
class Candidate:
    """One sentence, or two adjacent sentences, of a retrieved passage, scored against the question."""

    hit: Hit
    spans: tuple[tuple[int, int], ...]  # offsets of each sentence inside hit.text
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.hit.text[a:b] for a, b in self.spans)


class ExtractiveAnswerer:
    """Quotes the passage sentences closest to the question; abstains when none is close enough.

    Candidates are single sentences and pairs of adjacent sentences: a pair wins when it is
    closer to the question than any single sentence, which keeps a sentence together with the
    one that gives it its subject ("The Commission... The regulator will examine...").
    On PIAF this picks a unit containing the answer for 82% of questions, against 71% for
    single sentences (see eval/README.md).
    """

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every distinct sentence and sentence pair of the hits, best first."""
        import numpy as np

        seen: set[tuple[str, int]] = set()
        units: list[tuple[Hit, tuple[tuple[int, int], ...]]] = []
        for hit in hits:
            sentences = split_sentences(hit.text, min_chars=12)
            for i, sentence in enumerate(sentences):
                key = (hit.doc_id, hit.start + sentence.start)  # overlapping chunks repeat sentences
                if key in seen:
                    continue
                seen.add(key)
                units.append((hit, ((sentence.start, sentence.end),)))
                if self.settings.max_answer_sentences > 1 and i + 1 < len(sentences):
                    after = sentences[i + 1]
                    units.append((hit, ((sentence.start, sentence.end), (after.start, after.end))))
        if not units:
            return []
        texts = [" ".join(hit.text[a:b] for a, b in spans) for hit, spans in units]
        query = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        vectors = np.asarray(self.embedder.embed_passages(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = vectors @ query / np.where(norms == 0, 1.0, norms)
        ranked = [Candidate(hit, spans, float(score)) for (hit, spans), score in zip(units, scores, strict=True)]
        return sorted(ranked, key=lambda c: -c.score)

    def threshold(self, question_language: str, hit: Hit) -> float:
        """Cross-lingual similarities run lower than same-language ones, so they get a lower bar."""
        base = self.settings.min_sentence_score
        return base if question_language == hit.language else base - self.settings.cross_lingual_margin

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()) -> Answer:
        ranked = self.candidates(question, hits)
        language = detect_language(question)
        if not ranked or ranked[0].score < self.threshold(language, ranked[0].hit):
            return Answer(question, abstain_message(language), True, (), tuple(hits))
        best = ranked[0]
        citations = tuple(Citation.of(n, best.hit, a, b) for n, (a, b) in enumerate(best.spans, 1))
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


def make_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    """The extractive answerer, or the guarded generative one for an LLM backend (RAG_LLM)."""
    if settings.llm == "extractive":
        return ExtractiveAnswerer(settings, embedder)
    from rag.generate import GenerativeAnswerer

    return GenerativeAnswerer(settings, embedder)
