"""The embedded faithfulness judge: is an answer supported by the passages it was given?

It needs no LLM and no download. Each sentence of the answer is a claim; a claim gets nine
pieces of evidence, then a logistic model turns them into a probability of being supported. The
model is fitted on what real LLMs write: RAGTruth's training answers by GPT-4, GPT-3.5, Llama-2
and Mistral, each sentence labelled by the spans people marked unsupported; on sources held apart
from the fit, its answer cut is the one that best detects hallucinated answers (F1), its sentence
cut the one that best finds the sentences people marked (`python -m eval.judge.train`). The
evidence:

- gain: how much closer (e5 cosine) the question *with the claim* comes to the best passage
  sentence than the question alone does; works across languages;
- lexical: the share of the claim's content words found in the passages;
- new: the share of its content words found neither in the passages nor in the question, and
  new_count, how many (log): one invented clause in a long sentence is still invented;
- bigram: the share of its pairs of consecutive words found side by side in the passages, which
  tells a sentence copied or lightly reworded from one composed out of the passages' words;
- numbers and names: the share of its numbers, and of its capitalised names, missing from the
  passages (names are compared on their first letters, so "européenne" meets "European");
- length (log of its words) and meta: whether it speaks about the passages ("Based on the given
  passages, ..."), which real models write and no passage states.

When the claim and the passages are in different languages the word features say nothing, so a
second model decides, fitted without them but with `unaligned`: the share of the claim's content
words whose vector at a middle layer of e5 (where a word meets its translation) meets no word of
the passages. Its one cut keeps as many faithful held-apart sentences as the sentence cut within
a language does, and an answer judged across languages is supported when each sentence reaches
it. A claim of four words or more quoted
word for word from a passage is supported, whatever the model says; a bare "yes" or "no" is
judged as the statement its question makes. An answer is supported with the probability that all
its claims are (the product of theirs): a long answer has more chances to slip than a short one,
and people mark an answer unsupported when one span is. The guards of generated answers judge a
sentence at a time (`judge_sentence`), at the sentence cut.
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
FEATURES_SAME_LANGUAGE = (
    "gain",
    "lexical",
    "new",
    "numbers_missing",
    "names_missing",
    "length",
    "meta",
    "new_count",
    "bigram",
)
FEATURES_CROSS_LANGUAGE = ("gain", "numbers_missing", "names_missing", "length", "meta", "unaligned")
# The layer whose word vectors meet their translations (probed on e5-small: "ban" and "Chinese"
# against a French article on Mistral at 0.37 and 0.38, "examining" against "examine" at 0.79),
# and the cosine below which a word has no counterpart in the passages.
ALIGN_LAYER = 8
ALIGN_CUT = 0.6
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
    pairs: frozenset[tuple[str, str]]


@dataclass
class Claim:
    """One sentence of an answer, where it is in the answer, and the evidence gathered for it."""

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

    def judge_sentence(self, question: str, contexts: Sequence[str], sentence: str) -> Verdict:
        """One sentence of an answer on its own, as the generative path's guards ask."""
        ...

    def thresholds(self) -> dict[str, float]: ...


class EmbeddedJudge:
    """Scores claims against passages with e5 and word evidence; see the module docstring."""

    name = "embedded"

    def __init__(
        self, embedder: Embedder, weights: Path | dict[str, Any] | None = None, align_every: bool = False
    ) -> None:
        """`align_every`: compute `unaligned` for every claim, not only those judged across
        languages (fitting the model across languages on claims within one)."""
        self.embedder = embedder
        self.align_every = align_every
        data = weights if isinstance(weights, dict) else json.loads(verified(weights or WEIGHTS_FILE).read_text())
        self.same_language = LogisticModel.from_json(data["same_language"])
        self.cross_language = LogisticModel.from_json(data["cross_language"])
        # A sentence below its model's cut is unsupported: the guards reject it, and an unsupported
        # answer points at it. The model across languages has one cut, for sentences and answers.
        self._sentence_cut = {
            False: float(data.get("sentence_threshold", self.same_language.threshold)),
            True: self.cross_language.threshold,
        }
        self._stopwords = folded_stopwords()

    def thresholds(self) -> dict[str, float]:
        return {
            "threshold": self.same_language.threshold,
            "threshold_cross_language": self.cross_language.threshold,
            "sentence_threshold": self._sentence_cut[False],
        }

    def judge(self, question: str, contexts: Sequence[str], answer: str) -> Verdict:
        return self.judge_many([JudgeCase(question, tuple(contexts), answer)])[0]

    def judge_sentence(self, question: str, contexts: Sequence[str], sentence: str) -> Verdict:
        """Supported when each of its claims reaches the sentence cut, fitted on the sentences
        people marked: the guards decide sentence by sentence, not answer by answer."""
        return self.judge_many([JudgeCase(question, tuple(contexts), sentence)], by_sentence=True)[0]

    def judge_many(self, cases: Sequence[JudgeCase], by_sentence: bool = False) -> list[Verdict]:
        """Judge many cases with one batch of embeddings; `by_sentence`: each case is supported
        when every one of its claims is, at the sentence cut."""
        by_case: dict[int, list[Claim]] = {}
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
            weakest = min(scored, key=lambda pair: pair[1])[0]
            score = math.prod(s for _, s in scored)
            below = tuple(c.span for c, s in scored if s < self._sentence_cut[c.cross_language])
            across = self._deciding(mine) is self.cross_language
            supported = not below if by_sentence or across else score >= self.same_language.threshold
            reasons = tuple(weakest.reasons) if not supported else ()
            spans = () if supported else below or (weakest.span,)
            claims = tuple((c.text, round(s, 4)) for c, s in scored)
            verdicts.append(Verdict(score, supported, reasons, claims, spans))
        return verdicts

    def _model(self, claim: Claim) -> LogisticModel:
        return self.cross_language if claim.cross_language else self.same_language

    def _deciding(self, claims: Sequence[Claim]) -> LogisticModel:
        """The model that decides an answer: the one that judged most of its claims."""
        crossing = sum(claim.cross_language for claim in claims)
        return self.cross_language if 2 * crossing > len(claims) else self.same_language

    def _passages(self, case: JudgeCase) -> _Passages:
        text = " ".join(case.contexts)
        return _Passages(
            text=text,
            folded=fold(text),
            words=frozenset(judge_words(text, self._stopwords)),
            names=frozenset(fold(w)[:6] for w in re.findall(r"[\w'’-]+", text)),
            squashed=tuple(_squash(c) for c in case.contexts),
            question_words=frozenset(judge_words(case.question, self._stopwords)),
            pairs=frozenset(_pairs(text)),
        )

    def evidence(self, cases: Sequence[JudgeCase]) -> list[Claim]:
        """The features of every claim of every case (the model's inputs)."""
        import numpy as np

        claims: list[Claim] = []
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
                claims.append(Claim(i, part, cross, (where[sentence.start], where[sentence.end - 1] + 1)))
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
        self._alignment(cases, claims)
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
            claim.values.update(self._word_evidence(claim, passages_of[claim.case]))
            claim.values["gain"] = gain
            claim.values["quoted"] = float(_is_quote(claim.text, passages_of[claim.case].squashed))
        return claims

    def _alignment(self, cases: Sequence[JudgeCase], claims: Sequence[Claim]) -> None:
        """unaligned: the share of a claim's content words whose vector (ALIGN_LAYER) meets no
        word of its passages (read whole) at ALIGN_CUT: the word evidence that works across
        languages. Only the model across languages reads it, so it is computed for the claims
        judged across languages (0 for the others, and with an embedder that gives no word
        vectors)."""
        import numpy as np

        for claim in claims:
            claim.values["unaligned"] = 0.0
        word_vectors = getattr(self.embedder, "word_vectors", None)
        glued = {i: glued_passages(cases[i].contexts) for i in {c.case for c in claims}}
        crossing = [c for c in claims if (c.cross_language or self.align_every) and glued[c.case]]
        if word_vectors is None or not crossing:
            return
        texts: dict[str, int] = {}
        for claim in crossing:
            for text in (claim.text, *glued[claim.case]):
                texts.setdefault(text, len(texts))
        words = word_vectors(list(texts), ALIGN_LAYER)
        for claim in crossing:
            written, vectors = words[texts[claim.text]]
            content = [k for k, w in enumerate(written) if _is_content(w, self._stopwords)]
            if not content:
                continue
            passages = np.concatenate([words[texts[p]][1] for p in glued[claim.case]])
            best = (vectors[content] @ passages.T).max(axis=1)
            missing = [written[k].strip(".,;:!?()«»\"'") for k, b in zip(content, best, strict=True) if b < ALIGN_CUT]
            claim.values["unaligned"] = len(missing) / len(content)
            if missing and claim.cross_language:
                claim.reasons.append("words with no counterpart in the passages: " + ", ".join(missing[:5]))

    def _word_evidence(self, claim: Claim, passages: _Passages) -> dict[str, float]:
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
        pairs = _pairs(claim.text)
        return {
            "length": math.log1p(len(claim.text.split())),
            "new_count": math.log1p(len(new)),
            "bigram": sum(pair in passages.pairs for pair in pairs) / len(pairs) if pairs else 1.0,
            "meta": float(bool(_META.search(claim.text))),
            "lexical": len(found) / len(words) if words else 1.0,
            "new": len(new) / len(words) if words else 0.0,
            "numbers_missing": len(missing_numbers) / len(numbers) if numbers else 0.0,
            "names_missing": len(missing_names) / len(names) if names else 0.0,
        }


def _is_content(word: str, stopwords: frozenset[str]) -> bool:
    """A word that carries content: not a stopword, three letters or more, or a number."""
    bare = re.sub(r"\W", "", fold(word))
    return any(ch.isdigit() for ch in bare) or (len(bare) >= 3 and bare not in stopwords)


def _pairs(text: str) -> list[tuple[str, str]]:
    """Consecutive folded words, stopwords included: how a sentence strings words together."""
    words = re.findall(r"\w+", fold(text))
    return list(zip(words, words[1:], strict=False))


def _squash(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold(text)))


def _is_quote(claim: str, squashed_passages: Sequence[str]) -> bool:
    """A sentence (four words or more) found word for word in a passage is supported by it.
    Shorter spans ("Delhi") are not claims on their own, so they go to the model."""
    words = _squash(claim)
    return len(words.split()) >= 4 and any(words in passage for passage in squashed_passages)
