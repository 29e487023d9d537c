"""The LLM judge: faithfulness as RAGAS measures it, with whatever LLM backend is configured.

An answer is split into claims by the model (prompt 1), then the model gives each claim a verdict
against the passages (prompt 2); the score is the share of supported claims, and the answer is
supported when every claim is. Small models answer loosely, so the parsing is lenient and
guarded: a claim that shares less than half its content words with the answer is not a claim of
the answer (the model invented it) and the answer's own sentences are used instead; when no
verdict can be read, the embedded judge decides that case and says so in the reasons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.judge.embedded import Judge, JudgeCase, Verdict, strip_citations
from rag.models.llm import describe_failure
from rag.prompts import CLAIMS_SYSTEM, CLAIMS_USER, VERDICTS_SYSTEM, VERDICTS_USER
from rag.settings import Settings
from rag.text.sentences import split_sentences
from rag.text.words import folded_stopwords, judge_words

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

_LISTED = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$", re.MULTILINE)
_VERDICT = re.compile(r"^\s*(?:claim\s*)?(\d+)\s*[.):\-]?\s*\W*\s*(yes|no|oui|non)\b", re.IGNORECASE | re.MULTILINE)
MAX_CLAIMS = 8
UNREADABLE = "the LLM's verdicts were unreadable: embedded judge used"


class LLMJudge:
    """Claims, then verdicts, by an LLM; see the module docstring."""

    name = "llm"

    def __init__(self, llm: LLM, settings: Settings, fallback: Judge) -> None:
        self.llm = llm
        self.settings = settings
        self.fallback = fallback
        self._stopwords = folded_stopwords()

    def thresholds(self) -> dict[str, float]:
        return {"threshold": 1.0}  # supported when every claim is

    def judge(self, question: str, contexts: Sequence[str], answer: str) -> Verdict:
        return self.judge_many([JudgeCase(question, tuple(contexts), answer)])[0]

    def judge_sentence(self, question: str, contexts: Sequence[str], sentence: str) -> Verdict:
        return self.judge(question, contexts, sentence)  # supported when every claim is, whatever their number

    def judge_many(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        return [self._judge(case) for case in cases]

    def _judge(self, case: JudgeCase) -> Verdict:
        answer = strip_citations(case.answer)
        contexts = [c for c in case.contexts if c and c.strip()]
        if not answer:
            return Verdict(0.0, False, ("the answer is empty",))
        if not contexts:
            return Verdict(0.0, False, ("no passage was given",))
        claims = self.claims(case.question, answer)
        verdicts = self.verdicts(contexts, claims)
        if verdicts is None:
            verdict = self.fallback.judge(case.question, contexts, answer)
            note = UNREADABLE
            return replace(verdict, reasons=(*verdict.reasons, note))
        pairs = list(zip(claims, verdicts, strict=True))
        reasons = tuple(f"not supported: {claim}" for claim, ok in pairs if not ok)
        return Verdict(sum(verdicts) / len(verdicts), all(verdicts), reasons, tuple((c, float(ok)) for c, ok in pairs))

    def claims(self, question: str, answer: str) -> list[str]:
        """The model's claims that really come from the answer, else the answer's sentences."""
        reply = self._ask(CLAIMS_SYSTEM, CLAIMS_USER.format(question=question, answer=answer))
        answer_words = set(judge_words(f"{question} {answer}", self._stopwords))
        claims = []
        for claim in _LISTED.findall(reply):
            words = judge_words(claim, self._stopwords)
            if words and sum(w in answer_words for w in words) / len(words) >= 0.5:
                claims.append(claim)
        if not claims:
            claims = [s.text for s in split_sentences(answer, min_chars=1)] or [answer]
        return claims[:MAX_CLAIMS]

    def verdicts(self, contexts: Sequence[str], claims: Sequence[str]) -> list[bool] | None:
        """One verdict per claim; a claim the model skipped counts as unsupported; None when the
        reply holds no verdict at all."""
        numbered = "\n".join(f"{i}. {claim}" for i, claim in enumerate(claims, 1))
        context = "\n\n".join(" ".join(c.split()) for c in contexts)
        reply = self._ask(VERDICTS_SYSTEM, VERDICTS_USER.format(context=context, claims=numbered))
        found: dict[int, bool] = {}
        for number, word in _VERDICT.findall(reply):
            found.setdefault(int(number), word.lower() in ("yes", "oui"))
        if not found and len(claims) == 1:  # "Yes." for a single claim
            bare = re.match(r"\W*(yes|no|oui|non)\b", reply, re.IGNORECASE)
            if bare:
                found[1] = bare.group(1).lower() in ("yes", "oui")
        if not any(1 <= n <= len(claims) for n in found):
            return None
        return [found.get(i, False) for i in range(1, len(claims) + 1)]

    def _ask(self, system: str, user: str) -> str:
        from llama_index.core.llms import ChatMessage

        from rag.models.llm import LLMError

        try:
            messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
            response = self.llm.chat(messages)
        except Exception as exc:  # the client libraries' own errors, made into one line
            raise LLMError(f"LLM judge: {describe_failure(self.settings, exc)}") from exc
        return str(response.message.content or "")
