"""The embedded faithfulness judge: is an answer supported by the passages it was given?

It needs no LLM and no download. Each sentence of the answer is a claim; a claim gets seven
pieces of evidence, then a logistic model turns them into a probability of being supported. The
model is fitted on what real LLMs write: RAGTruth's training answers by GPT-4, GPT-3.5, Llama-2
and Mistral, each sentence labelled by the spans people marked unsupported; its threshold is the
one that best detects hallucinated answers (F1) on sources held apart from the fit
(`python -m eval.judge.train`). The evidence:

- gain: how much closer (e5 cosine) the question *with the claim* comes to the best passage
  sentence than the question alone does; works across languages;
- lexical: the share of the claim's content words found in the passages;
- new: the share of its content words found neither in the passages nor in the question;
- numbers and names: the share of its numbers, and of its capitalised names, missing from the
  passages (names are compared on their first letters, so "européenne" meets "European");
- length (log of its words) and meta: whether it speaks about the passages ("Based on the given
  passages, ..."), which real models write and no passage states.

When the claim and the passages are in different languages the word features say nothing, so a
second model, fitted without the two word-share features, decides. A claim of four words or more
quoted word for word from a passage is supported, whatever the model says; a bare "yes" or "no"
is judged as the statement its question makes. An answer is as supported as its least supported
claim.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.models.embedder import Embedder
from rag.models.logistic import LogisticModel
from rag.models.weights import verified, weight_path
from rag.text.language import detect_language
from rag.text.sentences import Sentence, split_sentences
from rag.text.words import fold, folded_stopwords, judge_names, judge_words

WEIGHTS_FILE = weight_path("judge.json")
FEATURES_SAME_LANGUAGE = ("gain", "lexical", "new", "numbers_missing", "names_missing", "length", "meta")
FEATURES_CROSS_LANGUAGE = ("gain", "numbers_missing", "names_missing", "length", "meta")
# A sentence about the passages rather than the world ("Based on the given passages, ...").
_META = re.compile(
    r"\b(?:based on|according to|passages?|the given|provided|I'm sorry|not mentioned|does not (?:provide|mention)"
    r"|no information|d'après|selon|les passages?|ne (?:mentionne|précise) pas)\b",
    re.IGNORECASE,
)
_CITATION = re.compile(r"\s*\[\d+\]")
_GLUED_SENTENCES = re.compile(r"(?<=[a-z0-9)\]])\.(?=[A-Z])")
BARE_POLAR = re.compile(r"^\W*(?:yes|no|oui|non)\W*$", re.IGNORECASE)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Verdict:
    """How well an answer is supported: `score` in [0, 1], and the judge's reasons; `spans` are
    the [start, end) character offsets, in the answer as given, of the parts found unsupported."""

    score: float
    supported: bool
    reasons: tuple[str, ...] = ()
    claims: tuple[tuple[str, float], ...] = ()
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class JudgeCase:
    """One thing to judge: the question, the passages given, the answer."""

    question: str
    contexts: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class _Passages:
    """What the word evidence needs from one case's passages, computed once for all its claims."""

    text: str
    folded: str
    words: frozenset[str]
    names: frozenset[str]
    squashed: tuple[str, ...]
    question_words: frozenset[str]


@dataclass
class _Claim:
    case: int
    text: str
    cross_language: bool
    span: tuple[int, int] = (0, 0)  # where the claim is in the answer as given
    values: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def glued_passages(contexts: Sequence[str]) -> list[str]:
    """The non-empty passages, with sentences glued by a missing space ("end.Next") unglued."""
    return [_GLUED_SENTENCES.sub(". ", p) for p in contexts if p and p.strip()]


def passage_sentences(contexts: Sequence[str]) -> list[str]:
    """The sentences of the passages a claim is judged against (the passages whole when they
    have none)."""
    passages = glued_passages(contexts)
    return [s.text for p in passages for s in split_sentences(p, min_chars=3)] or passages


def strip_citations(answer: str | None) -> str:
    """The answer without its [n] marks: what the judges check."""
    return _CITATION.sub("", answer or "").strip()


def offsets_in_original(answer: str) -> list[int]:
    """For each character of strip_citations(answer), its offset in `answer`."""
    kept: list[int] = []
    last = 0
    for match in _CITATION.finditer(answer):
        kept.extend(range(last, match.start()))
        last = match.end()
    kept.extend(range(last, len(answer)))
    while kept and answer[kept[0]].isspace():
        kept.pop(0)
    while kept and answer[kept[-1]].isspace():
        kept.pop()
    return kept


class Judge(Protocol):
    """Is an answer supported by the passages it was given? Picked by name (RAG_JUDGE)."""

    name: str

    def judge(self, question: str, contexts: Sequence[str], answer: str) -> Verdict: ...

    def judge_many(self, cases: Sequence[JudgeCase]) -> list[Verdict]: ...

    def thresholds(self) -> dict[str, float]: ...


class EmbeddedJudge:
    """Scores claims against passages with e5 and word evidence; see the module docstring."""

    name = "embedded"

    def __init__(self, embedder: Embedder, weights: Path | dict[str, Any] | None = None) -> None:
        self.embedder = embedder
        data = weights if isinstance(weights, dict) else json.loads(verified(weights or WEIGHTS_FILE).read_text())
        self.same_language = LogisticModel.from_json(data["same_language"])
        self.cross_language = LogisticModel.from_json(data["cross_language"])
        self._stopwords = folded_stopwords()

    def thresholds(self) -> dict[str, float]:
        return {"threshold": self.same_language.threshold, "threshold_cross_language": self.cross_language.threshold}

    def judge(self, question: str, contexts: Sequence[str], answer: str) -> Verdict:
        return self.judge_many([JudgeCase(question, tuple(contexts), answer)])[0]

    def judge_many(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        """Judge many cases with one batch of embeddings."""
        by_case: dict[int, list[_Claim]] = {}
        for claim in self.evidence(cases):
            by_case.setdefault(claim.case, []).append(claim)
        verdicts = []
        for i in range(len(cases)):
            mine = by_case.get(i, [])
            if not mine:
                verdicts.append(Verdict(0.0, False, ("the answer is empty",)))
                continue
            scored = []
            for claim in mine:
                quoted = claim.values.get("quoted", 0.0) == 1.0
                scored.append((claim, 1.0 if quoted else self._model(claim).probability(claim.values)))
            weakest, score = min(scored, key=lambda pair: pair[1])
            supported = score >= self._model(weakest).threshold
            reasons = tuple(weakest.reasons) if not supported else ()
            spans = () if supported else tuple(c.span for c, s in scored if s < self._model(c).threshold)
            claims = tuple((c.text, round(s, 4)) for c, s in scored)
            verdicts.append(Verdict(score, supported, reasons, claims, spans))
        return verdicts

    def _model(self, claim: _Claim) -> LogisticModel:
        return self.cross_language if claim.cross_language else self.same_language

    def _passages(self, case: JudgeCase) -> _Passages:
        text = " ".join(case.contexts)
        return _Passages(
            text=text,
            folded=fold(text),
            words=frozenset(judge_words(text, self._stopwords)),
            names=frozenset(fold(w)[:6] for w in re.findall(r"[\w'’-]+", text)),
            squashed=tuple(_squash(c) for c in case.contexts),
            question_words=frozenset(judge_words(case.question, self._stopwords)),
        )

    def evidence(self, cases: Sequence[JudgeCase]) -> list[_Claim]:
        """The features of every claim of every case (the model's inputs)."""
        import numpy as np

        claims: list[_Claim] = []
        sentences: list[list[str]] = []
        for i, case in enumerate(cases):
            passages = glued_passages(case.contexts)
            sentences.append(passage_sentences(case.contexts))
            answer = strip_citations(case.answer)
            where = offsets_in_original(case.answer or "")
            parts = split_sentences(answer, min_chars=1) or ([Sentence(answer, 0, len(answer))] if answer else [])
            context_language = detect_language(" ".join(passages)) if passages else ""
            for sentence in parts:
                part = sentence.text
                if BARE_POLAR.match(part) and case.question.strip():
                    part = case.question.strip()  # a bare "yes" or "no" asserts what the question asks
                cross = len(part.split()) >= 4 and detect_language(part) != context_language
                claims.append(_Claim(i, part, cross, (where[sentence.start], where[sentence.end - 1] + 1)))
        texts: dict[str, int] = {}
        for claim in claims:
            case = cases[claim.case]
            for text in (case.question, f"{case.question} {claim.text}", *sentences[claim.case]):
                texts.setdefault(text, len(texts))
        if not texts:
            return claims
        passages_of = {i: self._passages(cases[i]) for i in {claim.case for claim in claims}}
        vectors = np.asarray(self.embedder.embed_passages(list(texts)), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        for claim in claims:
            case = cases[claim.case]
            evidence = vectors[[texts[s] for s in sentences[claim.case]]] if sentences[claim.case] else None
            if evidence is None:
                gain = -1.0
                claim.reasons.append("no passage was given")
            else:
                with_claim = float((evidence @ vectors[texts[f"{case.question} {claim.text}"]]).max())
                alone = float((evidence @ vectors[texts[case.question]]).max())
                gain = with_claim - alone
            claim.values = self._word_evidence(claim, passages_of[claim.case])
            claim.values["gain"] = gain
            claim.values["quoted"] = float(_is_quote(claim.text, passages_of[claim.case].squashed))
        return claims

    def _word_evidence(self, claim: _Claim, passages: _Passages) -> dict[str, float]:
        words = judge_words(claim.text, self._stopwords)
        found = [w for w in words if w in passages.words]
        new = [w for w in words if w not in passages.words and w not in passages.question_words]
        numbers = set(NUMBER.findall(claim.text))
        missing_numbers = sorted(n for n in numbers if n not in passages.text)
        names = judge_names(claim.text)
        missing_names = sorted(v for k, v in names.items() if k not in passages.names and k not in passages.folded)
        if missing_names:
            claim.reasons.append("names not in the passages: " + ", ".join(missing_names[:5]))
        if missing_numbers:
            claim.reasons.append("numbers not in the passages: " + ", ".join(missing_numbers[:5]))
        if new and not claim.cross_language:
            claim.reasons.append(f"{len(new)} of {len(words)} content words are not in the passages")
        return {
            "length": math.log1p(len(claim.text.split())),
            "meta": float(bool(_META.search(claim.text))),
            "lexical": len(found) / len(words) if words else 1.0,
            "new": len(new) / len(words) if words else 0.0,
            "numbers_missing": len(missing_numbers) / len(numbers) if numbers else 0.0,
            "names_missing": len(missing_names) / len(names) if names else 0.0,
        }


def _squash(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold(text)))


def _is_quote(claim: str, squashed_passages: Sequence[str]) -> bool:
    """A sentence (four words or more) found word for word in a passage is supported by it.
    Shorter spans ("Delhi") are not claims on their own, so they go to the model."""
    words = _squash(claim)
    return len(words.split()) >= 4 and any(words in passage for passage in squashed_passages)
