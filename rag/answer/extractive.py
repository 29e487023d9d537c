"""Answerers: from a question and its retrieved passages to a short answer with citations.

The default answerer is extractive: every sentence of its answer is a sentence of a retrieved
passage, chosen by the reader and quoted verbatim with its citation, so it cannot say anything
the documents don't. The generative answerer (rag/answer/generative.py) builds on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol

from rag.answer.confidence import Calibration, confidence_features, load_calibration
from rag.models.embedder import Embedder
from rag.prompts import abstain_message, hedge_message
from rag.read.features import answer_span
from rag.read.registry import make_scorer
from rag.read.scorer import ReaderInput, SentenceScorer
from rag.settings import Settings
from rag.text.language import detect_language
from rag.text.names import apposition, defined_name
from rag.text.sentences import asks, candidate_sentences
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
    """One sentence, or two adjacent sentences, of a retrieved passage, scored by the reader."""

    hit: Hit
    spans: tuple[tuple[int, int], ...]  # offsets of each sentence inside hit.text
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.hit.text[a:b] for a, b in self.spans)

    def overlaps(self, other: Candidate) -> bool:
        return self.hit.doc_id == other.hit.doc_id and bool(
            {self.hit.start + a for a, _ in self.spans} & {other.hit.start + a for a, _ in other.spans}
        )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def reader_inputs(
    hits: Sequence[Hit], pairs: bool = True
) -> list[tuple[Hit, tuple[tuple[int, int], ...], ReaderInput]]:
    """Every distinct sentence of the hits (and, with `pairs`, every two adjacent ones), with
    the context the reader reads it with. A document's title line is not a candidate: it
    names the story, it answers nothing, and both readers liked it too much (README). Nor is a
    question (an interviewer's, a rhetorical one), alone or in a pair: it asks, it does not
    answer, and it sits close to the question asked; it stays the next sentence's context."""
    seen: set[tuple[str, int]] = set()
    texts: set[str] = set()
    units: list[tuple[Hit, tuple[tuple[int, int], ...], ReaderInput]] = []
    for hit in hits:
        sentences = candidate_sentences(hit.text, hit.title)
        for i, sentence in enumerate(sentences):
            key = (hit.doc_id, hit.start + sentence.start)  # overlapping chunks repeat sentences
            text = _norm(sentence.text)
            if key in seen or text in texts:  # the same sentence in another copy of an article
                continue
            seen.add(key)
            texts.add(text)
            before = sentences[i - 1].text if i else ""
            if asks(sentence.text):
                continue
            units.append(
                (
                    hit,
                    ((sentence.start, sentence.end),),
                    ReaderInput(sentence.text, hit.title, before, doc_id=hit.doc_id),
                )
            )
            if pairs and i + 1 < len(sentences) and not asks(sentences[i + 1].text):
                after = sentences[i + 1]
                joined = ReaderInput(
                    f"{sentence.text} {after.text}", hit.title, before, (sentence.text, after.text), hit.doc_id
                )
                units.append((hit, ((sentence.start, sentence.end), (after.start, after.end)), joined))
    return units


class ExtractiveAnswerer:
    """Quotes the passage sentences that answer the question; abstains when none does.

    A reader (rag/read/: the evidence reader by default, the e5 cosine or a cross-encoder) scores each
    sentence of the retrieved passages, and each pair of adjacent sentences: a pair wins when
    it scores better than its sentences alone, which keeps a sentence together with the one
    that gives it its subject ("The Commission... The regulator will examine..."). The best
    unit is the answer when its score clears the reader's threshold, else the answerer
    abstains; more units join it when they clear the reader's second threshold (the cosine
    reader has none: its scores measure topic, and the runner-up is rarely a second answer).
    Each sentence is quoted verbatim with its citation, so the answer says nothing the
    articles don't.
    """

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder, scorer: SentenceScorer | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        if scorer is not None:
            self.__dict__["scorer"] = scorer

    @cached_property
    def scorer(self) -> SentenceScorer:
        return make_scorer(self.settings, self.embedder)

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every distinct sentence and sentence pair of the hits, best first."""
        units = reader_inputs(hits, pairs=self.scorer.pairs and self.settings.max_answer_sentences > 1)
        scores = self.scorer.score(question, [(unit, hit.language) for hit, _, unit in units])
        ranked = [Candidate(hit, spans, score) for (hit, spans, _), score in zip(units, scores, strict=True)]
        name = defined_name(question)
        if name is not None:
            # "Who is Brad Smith?" is answered by "Brad Smith, président de Microsoft": the
            # reader, trained on questions that ask for a fact, scores that sentence just under
            # its bar (-0.02 against 0.0 on the demo corpus); a sentence that defines the name
            # in an apposition answers the question by its form (alone: not
            # joined to its neighbour, which would come first in the answer).
            ranked = [
                replace(c, score=max(c.score, self.scorer.threshold))
                if len(c.spans) == 1 and apposition(c.text, name)
                else c
                for c in ranked
            ]
        return sorted(ranked, key=lambda c: -c.score)

    def select(self, ranked: Sequence[Candidate]) -> list[Candidate]:
        """The answer: the best unit if it clears the threshold, then units that clear the
        second one and repeat none of its sentences, up to `max_answer_sentences` sentences;
        none means abstain."""
        if not ranked or ranked[0].score < self.scorer.threshold:
            return []
        chosen = [ranked[0]]
        room = self.settings.max_answer_sentences - len(ranked[0].spans)
        for candidate in ranked[1:]:
            if candidate.score < self.scorer.extra_threshold or room <= 0:
                break
            if len(candidate.spans) <= room and not any(candidate.overlaps(c) for c in chosen):
                chosen.append(candidate)
                room -= len(candidate.spans)
        return chosen

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()) -> Answer:
        return self.compose(question, hits, self.candidates(question, hits))

    def compose(self, question: str, hits: Sequence[Hit], ranked: Sequence[Candidate]) -> Answer:
        """The answer quoting the selected sentences of `ranked` (from `candidates`)."""
        chosen = self.select(ranked)
        if not chosen:
            return Answer(question, abstain_message(detect_language(question)), True, (), tuple(hits))
        spans = [(c.hit, a, b) for c in chosen for a, b in c.spans]
        citations = tuple(
            Citation.of(n, hit, a, b, _answer_span(question, hit.text[a:b])) for n, (hit, a, b) in enumerate(spans, 1)
        )
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        # Each sentence is a verbatim quote of the passage it cites: supported by construction.
        sentences = tuple(AnswerSentence(c.quote, (c.n,), True, 1.0) for c in citations)
        calibration = self._calibration()
        confidence = calibration.confidence(signals(question, chosen, ranked)) if calibration else None
        hedged = calibration is not None and confidence is not None and confidence < calibration.model.threshold
        hedge = hedge_message(detect_language(question), len(citations)) if hedged else ""
        return Answer(
            question, text, False, citations, tuple(hits), self.name, sentences, confidence=confidence, hedge=hedge
        )

    def _calibration(self) -> Calibration | None:
        """The confidence model, when it was fitted on this answerer's reader's scores."""
        calibration = load_calibration()
        return calibration if calibration is not None and calibration.reader == self.settings.reader else None

    def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()
    ) -> Iterator[AnswerSentence | Answer]:
        """The extractive answer is ready at once: a single Answer."""
        yield self.answer(question, hits)


def signals(question: str, chosen: Sequence[Candidate], ranked: Sequence[Candidate]) -> dict[str, float]:
    """The confidence model's features of the answer quoting `chosen` (the first is the best)."""
    runner_up = next((c for c in ranked if not any(c.overlaps(x) for x in chosen)), None)
    return confidence_features(
        question,
        chosen[0].score,
        runner_up.score if runner_up else None,
        [c.text for c in chosen],
        [(c.hit.title, c.hit.text) for c in chosen],
    )


def _answer_span(question: str, quote: str) -> tuple[int, int] | None:
    """The short answer inside a quote: the description of the name a "who is" question asks
    about, or what the reader's rule finds (rag.read.features.answer_span)."""
    name = defined_name(question)
    found = apposition(quote, name) if name else None
    return found or answer_span(question, quote)


def final_answer(events: Iterable[AnswerSentence | Answer]) -> Answer:
    """The Answer at the end of a stream of answer events."""
    answer = None
    for event in events:
        answer = event
    if not isinstance(answer, Answer):
        raise RuntimeError("an answer stream ended without an Answer")
    return answer
