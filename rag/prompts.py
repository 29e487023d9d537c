"""Every fixed text the pipeline shows users or sends to a language model, in one place."""

from __future__ import annotations

from collections.abc import Sequence

from rag.types import Hit

ABSTAIN = {
    "en": "The documents don't contain the answer to this question. The closest passages are listed below.",
    "fr": "Les documents ne contiennent pas la réponse à cette question. Les passages les plus proches "
    "sont listés ci-dessous.",
}

HEDGE = {  # before one quote, before several
    "en": (
        "The articles may not answer this directly; the closest sentence says:",
        "The articles may not answer this directly; the closest sentences say:",
    ),
    "fr": (
        "Les articles ne répondent peut-être pas directement à cette question ; la phrase la plus proche dit :",
        "Les articles ne répondent peut-être pas directement à cette question ; les phrases les plus proches disent :",
    ),
}

# What the model must write, alone, when the passages don't answer the question.
NO_ANSWER = "NO_ANSWER"

LANGUAGE_NAMES = {"en": "English", "fr": "French"}

SYSTEM_PROMPT = """You answer questions about news articles using only the numbered passages you are given.
Rules:
- Use only facts stated in the passages. Never add facts from memory.
- End every sentence with the number of the passage it comes from, in square brackets, like [1] or [2][3].
- Cite only passage numbers that appear in the list.
- Write at most {max_sentences} short sentences, in {language}.
- If the passages do not contain the answer, write only: {no_answer}"""

USER_PROMPT = """Passages:

{passages}
{earlier}
Question: {question}

Answer in {language}, with a citation [n] after each sentence (or {no_answer}):"""


def abstain_message(language: str) -> str:
    return ABSTAIN.get(language, ABSTAIN["en"])


def hedge_message(language: str, sentences: int = 1) -> str:
    """What a hedged answer says before its quotes (rag/answer/confidence.py)."""
    one, several = HEDGE.get(language, HEDGE["en"])
    return one if sentences == 1 else several


def answer_prompt(
    question: str, hits: Sequence[Hit], language: str, history: Sequence[str] = (), max_sentences: int = 3
) -> tuple[str, str]:
    """The (system, user) messages asking for a cited answer from numbered passages."""
    name = LANGUAGE_NAMES.get(language, "the language of the question")
    passages = "\n\n".join(
        f"[{n}] {hit.title} ({hit.date})\n{' '.join(hit.text.split())}" for n, hit in enumerate(hits, 1)
    )
    earlier = f"\nEarlier question in this conversation: {history[-1]}\n" if history else ""
    system = SYSTEM_PROMPT.format(max_sentences=max_sentences, language=name, no_answer=NO_ANSWER)
    user = USER_PROMPT.format(passages=passages, earlier=earlier, question=question, language=name, no_answer=NO_ANSWER)
    return system, user


# The LLM judge (rag/judge/llm.py), after RAGAS's faithfulness: claims first, then a verdict each.
CLAIMS_SYSTEM = "You split answers into short, self-contained factual claims. You never add information."

CLAIMS_USER = """Question: {question}
Answer: {answer}

Rewrite the answer as a list of short, self-contained factual claims (replace pronouns by what they refer to).
Write one claim per line, each starting with "- ". Write nothing else."""

VERDICTS_SYSTEM = (
    "You check claims against a context, strictly: a claim is supported only if the context states it "
    "or it follows directly from the context. Knowledge from outside the context does not count."
)

VERDICTS_USER = """Context:
{context}

Claims:
{claims}

For each claim, write one line: its number, then "yes" if the context supports it or "no" if it does not.
Example:
1. yes
2. no"""
