"""Generated answers, guarded: nothing a model writes reaches the user unchecked.

The model gets the retrieved passages numbered [1]..[k] and the question (prompts in
rag/prompts.py). As its text streams in, each finished sentence goes through the guards:

1. its citations are parsed ([2], [1][3], [1, 3], [passage 2]); a citation to a passage that
   was not given is removed and counted;
2. the embedded judge (rag/judge/embedded.py) checks the sentence against the passages it cites; a
   sentence with no valid citation is unsupported;
3. an unsupported sentence is marked (`RAG_UNSUPPORTED=mark`, the default) or dropped (`drop`).

Citations are renumbered in order of appearance, and each points to the sentence of its passage
closest to what the model wrote, so the reader lands on the span that backs the claim.
When the model writes NO_ANSWER the answer is an abstention; when no sentence is supported, or
the backend fails (unreachable, wrong model, refused key, timeout, empty answer), the extractive
answer is given instead, with a one-line notice saying why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rag.answer.extractive import Candidate, ExtractiveAnswerer, final_answer
from rag.judge.embedded import Judge
from rag.judge.registry import local_judge
from rag.models.embedder import Embedder
from rag.models.llm import describe_failure, get_backend, make_llm
from rag.prompts import abstain_message, answer_prompt
from rag.settings import Settings
from rag.text.language import detect_language
from rag.text.sentences import split_sentences
from rag.types import Answer, AnswerSentence, Citation, Hit

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

# [2]  [1][3]  [1, 3]  [1-2]  [passage 2]  [Passage 1, 2]
_CITATION_GROUP = re.compile(r"\[\s*(?:passages?\s*)?(\d+(?:\s*(?:[,;]|-|–|and|et)\s*\d+)*)\s*\]", re.IGNORECASE)
# "sentence. [1]" -> "sentence [1]." so that citations stay with the sentence they follow.
_CITATIONS_AFTER_STOP = re.compile(r"([.!?…])((?:\s*\[[^\]\n]{1,20}\])+)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NO_ANSWER = re.compile(r"NO[_ ]ANSWER", re.IGNORECASE)
UNSUPPORTED_MARK = "⚠"


@dataclass
class _Draft:
    """The answer being built while the model streams."""

    question: str
    hits: tuple[Hit, ...]
    ranked: Sequence[Candidate]  # the reader's candidates, best first (for the fallback)
    kept: list[AnswerSentence] = field(default_factory=list)
    checked: list[AnswerSentence] = field(default_factory=list)
    citations: dict[int, Citation] = field(default_factory=dict)  # passage number -> citation
    removed: int = 0
    abstained: bool = False


class _BackendFailure(Exception):
    """The LLM backend failed while answering; the text is the one-line notice."""


class _MemoEmbedder:
    """Remembers passage vectors for the length of one answer (the judge and the quote picker
    embed the same passage sentences for every sentence of the answer), and the passages' word
    vectors the judge reads across languages."""

    def __init__(self, embedder: Embedder) -> None:
        self.inner = embedder
        self.name = embedder.name
        self._vectors: dict[str, list[float]] = {}
        self._words: dict[tuple[str, int], tuple[list[str], Any]] = {}
        if hasattr(embedder, "word_vectors"):
            self.word_vectors = self._word_vectors  # only where the embedder gives them

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.inner.embed_passages(missing), strict=True))
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def _word_vectors(self, texts: Sequence[str], layer: int) -> list[tuple[list[str], Any]]:
        missing = list(dict.fromkeys(t for t in texts if (t, layer) not in self._words))
        if missing:
            found = self.inner.word_vectors(missing, layer)  # type: ignore[attr-defined]
            self._words.update(zip([(t, layer) for t in missing], found, strict=True))
        return [self._words[(t, layer)] for t in texts]

    def token_embeddings(self) -> Any:
        return getattr(self.inner, "token_embeddings", lambda: None)()

    def clear(self) -> None:
        self._vectors.clear()
        self._words.clear()


def parse_citations(sentence: str, passages: int) -> tuple[str, tuple[int, ...], int]:
    """The sentence without its citation marks, the valid passage numbers it cites (in order,
    no repeats) and how many cited numbers were not among the `passages` given."""
    numbers: list[int] = []
    invalid = 0
    for group in _CITATION_GROUP.finditer(sentence):
        text = group.group(1)
        if re.search(r"\d\s*[-–]\s*\d", text):
            a, b = (int(x) for x in re.split(r"\s*[-–]\s*", text)[:2])
            found = list(range(a, b + 1)) if 0 < b - a < 10 else [a, b]
        else:
            found = [int(x) for x in re.findall(r"\d+", text)]
        for n in found:
            if 1 <= n <= passages:
                if n not in numbers:
                    numbers.append(n)
            else:
                invalid += 1
    bare = _CONTROL.sub("", _CITATION_GROUP.sub("", sentence))  # no terminal escapes from a model
    bare = re.sub(r"\s+([.,;:!?…])", r"\1", " ".join(bare.split())).strip()
    return bare, tuple(numbers), invalid


def split_generated(text: str) -> list[str]:
    """Sentences of generated text, each with the citations written after it."""
    text = _CITATIONS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)
    return [s.text for s in split_sentences(text, min_chars=2)]


class GenerativeAnswerer:
    """An LLM writes the answer from the numbered passages; the guards check every sentence."""

    def __init__(self, settings: Settings, embedder: Embedder, llm: LLM | None = None) -> None:
        self.settings = settings
        self.name = settings.llm
        self.embedder = embedder
        # The reader's sentence vectors are remembered for the judge and the quote picker.
        self.memo = _MemoEmbedder(embedder)
        self.extractive = ExtractiveAnswerer(settings, self.memo)
        get_backend(settings.llm)  # an unknown name is a settings error, raised now
        if llm is not None:
            self.__dict__["llm"] = llm

    @cached_property
    def llm(self) -> LLM:
        return make_llm(self.settings)

    @cached_property
    def judge(self) -> Judge:
        """The guards' judge: the one `rag eval` uses, without an LLM (with RAG_JUDGE=llm the
        embedded judge guards: a second LLM call per sentence would stall the stream)."""
        return local_judge(self.settings, self.memo)

    def answer(self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()) -> Answer:
        return final_answer(self.stream(question, hits, history))

    def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[str] = ()
    ) -> Iterator[AnswerSentence | Answer]:
        """Yields each checked sentence as soon as the model has written it, then the Answer."""
        # The reader reads the passages first: when no sentence answers, the answer is an
        # abstention without asking the model; otherwise the model sees the passages in the
        # order of their best sentence, the answering passage first.
        self.memo.clear()
        ranked = self.extractive.candidates(question, hits)
        if not self.extractive.select(ranked):
            unanswered = self.extractive.compose(question, hits, ranked)
            notice = f"no passage answers the question, so {self._describe()} was not asked to write from them"
            yield replace(unanswered, notice=notice)
            return
        hits = by_reader(hits, ranked)
        from llama_index.core.llms import ChatMessage

        # A short follow-up ("Et en Europe ?") says little about its language: read it with the
        # question before it.
        short = len(question.split()) < 5 and history
        language = detect_language(f"{history[-1]} {question}" if short else question)
        draft = _Draft(question, tuple(hits), ranked)
        limit = max(3, self.settings.max_answer_sentences)  # a short answer: stop reading after this
        system, user = answer_prompt(question, hits, language, history, limit)
        messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
        text, done, complete = "", 0, True
        try:
            for delta in self._deltas(messages):
                text += delta
                sentences = split_generated(text)
                for sentence in sentences[done : len(sentences) - 1]:  # the last one may still grow
                    checked = self._check(sentence, draft)
                    if checked is not None:
                        yield checked
                done = max(done, len(sentences) - 1)
                if draft.abstained or len(draft.checked) >= limit:
                    complete = False
                    break
        except _BackendFailure as failure:
            yield self._fallback(draft, str(failure), "failed")
            return
        if complete:
            for sentence in split_generated(text)[done:]:
                checked = self._check(sentence, draft)
                if checked is not None:
                    yield checked
        yield self._finish(draft, text, language)

    def _deltas(self, messages: list[Any]) -> Iterator[str]:
        """The model's text as it streams; any failure of the backend, or a stream that outlasts
        the timeout, becomes a _BackendFailure whose text is the notice."""
        try:
            llm = self.llm  # loading a GGUF file is not counted against the timeout
            deadline = time.monotonic() + self.settings.llm_timeout
            for chunk in llm.stream_chat(messages):
                yield chunk.delta or ""
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the answer took longer than {self.settings.llm_timeout:g} s")
        except Exception as exc:  # client libraries raise their own types; describe_failure sorts them
            raise _BackendFailure(describe_failure(self.settings, exc)) from exc

    # --- guards ------------------------------------------------------------------------------
    def _check(self, raw: str, draft: _Draft) -> AnswerSentence | None:
        """Parse, judge and number one generated sentence; None when it is not shown."""
        if draft.abstained:
            return None
        if _NO_ANSWER.search(raw):
            if not any(s.supported for s in draft.kept):
                draft.abstained = True
            return None
        text, cited, invalid = parse_citations(raw, len(draft.hits))
        draft.removed += invalid
        if not any(ch.isalpha() for ch in text) or any(s.text == text for s in draft.checked):
            return None  # no words, or a sentence the model already wrote (small models loop)
        if cited:
            verdict = self.judge.judge_sentence(draft.question, [draft.hits[n - 1].text for n in cited], text)
            supported, score, reasons = verdict.supported, verdict.score, verdict.reasons
        else:
            supported, score = False, 0.0
            reasons = ("it cites no passage that was given",) if invalid else ("it cites no passage",)
        dropped = not supported and self.settings.unsupported == "drop"
        numbers: tuple[int, ...] = ()
        if not dropped:
            numbers = tuple(self._cite(n, text, draft) for n in cited)
        sentence = AnswerSentence(text, numbers, supported, score, tuple(reasons), dropped)
        draft.checked.append(sentence)
        if dropped:
            return None
        draft.kept.append(sentence)
        return sentence

    def _cite(self, passage: int, sentence: str, draft: _Draft) -> int:
        """The answer's number for `passage`, creating its Citation (quote: the passage sentence
        closest to what the model wrote) the first time it is cited."""
        if passage in draft.citations:
            return draft.citations[passage].n
        import numpy as np

        hit = draft.hits[passage - 1]
        spans = split_sentences(hit.text, min_chars=3)
        a, b = (spans[0].start, spans[0].end) if spans else (0, len(hit.text))
        if len(spans) > 1:
            vectors = np.asarray(self.memo.embed_passages([sentence, *(s.text for s in spans)]), dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
            best = spans[int(np.argmax(vectors[1:] @ vectors[0]))]
            a, b = best.start, best.end
        n = len(draft.citations) + 1
        draft.citations[passage] = Citation.of(n, hit, a, b)
        return n

    def _finish(self, draft: _Draft, text: str, language: str) -> Answer:
        if draft.abstained:
            message = abstain_message(language)
            return Answer(draft.question, message, True, (), draft.hits, self.name, removed_citations=draft.removed)
        if not text.strip():
            return self._fallback(draft, f"{self._describe()} returned an empty answer: check RAG_LLM_MODEL", "empty")
        if not any(s.supported for s in draft.kept):
            return self._fallback(
                draft,
                f"{self._describe()}: no sentence of its answer is supported by the passages it cites, "
                "so the extractive answer is shown instead",
                "unsupported",
            )
        dropped = sum(1 for s in draft.checked if s.dropped)
        notice = ""
        if dropped:
            notice = f"{dropped} generated sentence{'s' * (dropped > 1)} not supported by the cited passages "
            notice += f"{'were' if dropped > 1 else 'was'} dropped"
        citations = tuple(sorted(draft.citations.values(), key=lambda c: c.n))
        return Answer(
            draft.question,
            render(draft.kept),
            False,
            citations,
            draft.hits,
            self.name,
            tuple(draft.checked),
            notice,
            draft.removed,
        )

    def _fallback(self, draft: _Draft, notice: str, why: str) -> Answer:
        fallback = self.extractive.compose(draft.question, draft.hits, draft.ranked)
        return replace(
            fallback, notice=notice, removed_citations=draft.removed, rejected=tuple(draft.checked), fallback=why
        )

    def _describe(self) -> str:
        return get_backend(self.name).describe(self.settings)


def by_reader(hits: Sequence[Hit], ranked: Sequence[Candidate]) -> list[Hit]:
    """The hits ordered by the reader's best score among their sentences (`ranked` is best first)."""
    order: dict[str, int] = {}
    for candidate in ranked:
        order.setdefault(candidate.hit.chunk_id, len(order))
    return sorted(hits, key=lambda hit: order.get(hit.chunk_id, len(order)))


def render(sentences: Sequence[AnswerSentence]) -> str:
    """The answer text: each sentence with its citations; unsupported ones marked with ⚠."""
    parts = []
    for s in sentences:
        marks = "".join(f"[{n}]" for n in s.citations)
        body = f"{s.text} {marks}".strip()
        parts.append(body if s.supported else f"{UNSUPPORTED_MARK} {body}")
    return " ".join(parts)
