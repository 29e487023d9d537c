"""The replay backend: recorded answers of real models, replayed offline, for tests.

    RAG_LLM=replay RAG_LLM_MODEL=eval/judge/ragtruth_qa_dev.jsonl

The file holds one JSON object a line with at least "question" and "answer" (the format of
eval/judge/ragtruth_qa_*.jsonl: RAGTruth's answers, written by GPT-4, GPT-3.5, Llama-2 and
Mistral and labelled by people). For each prompt, the backend reads the question and the
numbered passages out of the user message (as rag/prompts.py writes them), looks the recorded
answer up by its normalised question (case, accents, punctuation and spacing ignored; when
several lines share a question, the first one in the file is the answer) and writes it back with
a citation after each sentence: " [n]", where passage n of the prompt shares the most content
words with the sentence (ties go to the lowest n). Recorded answers carry no citations, so the
backend cites as a model that followed the prompt would; the guards of rag/answer/generative.py
then judge text real models wrote, without a model. It streams word by word and is
deterministic. A question the file does not hold, an unreadable file or a prompt without a
question raise LLMError naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import Field, PrivateAttr

from rag.errors import LLMError
from rag.prompts import USER_PROMPT
from rag.text.sentences import split_sentences
from rag.text.words import fold, reader_stems


def _template_marks() -> tuple[str, str, str]:
    """What surrounds the passages and the question in USER_PROMPT: the text before the
    passages, the label on the question's line and what follows the question (up to the next
    placeholder), so that a change of the prompt changes the parser with it."""
    passages_head = USER_PROMPT.split("{passages}")[0]
    before_question, after_question = USER_PROMPT.split("{question}")
    label = before_question.rsplit("\n", 1)[-1]
    return passages_head, "\n" + label, after_question.split("{")[0]


_PASSAGES_HEAD, _QUESTION_LABEL, _QUESTION_END = _template_marks()
# One numbered passage, as answer_prompt writes it: "[n] title (date)" then its text on one line.
_PASSAGE = re.compile(r"\[(\d+)\] [^\n]*\n([^\n]*)")
_WORD_AND_SPACE = re.compile(r"\s*\S+|\s+")


def normalise(question: str) -> str:
    """The question as looked up: folded (lower case, no accents), words only."""
    return " ".join(re.findall(r"\w+", fold(question)))


def parse_prompt(prompt: str) -> tuple[str, list[str]]:
    """The question and the numbered passages' texts (passage n at index n - 1) of a prompt
    that rag.prompts.answer_prompt wrote; the whole chat prompt (system and user) will do."""
    start = prompt.rfind(_QUESTION_LABEL)
    if start < 0:
        raise LLMError(
            f"replay: the prompt has no '{_QUESTION_LABEL.strip()}' line (is it rag.prompts' answer prompt?)"
        )
    question = prompt[start + len(_QUESTION_LABEL) :]
    end = question.find(_QUESTION_END)
    question = question[:end] if end >= 0 else question.split("\n", 1)[0]
    head = prompt.find(_PASSAGES_HEAD)
    passages: dict[int, str] = {}
    if 0 <= head < start:
        for block in prompt[head + len(_PASSAGES_HEAD) : start].split("\n\n"):
            match = _PASSAGE.fullmatch(block.strip("\n"))
            if match:
                passages.setdefault(int(match.group(1)), match.group(2))
    numbered = [passages[n] for n in range(1, len(passages) + 1) if n in passages]
    return question.strip(), numbered


def best_passage(sentence: str, passages: Sequence[str]) -> int:
    """The number (from 1) of the passage sharing the most content words with `sentence`; ties,
    and a sentence sharing none, go to the lowest number."""
    words = set(reader_stems(sentence))
    shared = [len(words & set(reader_stems(passage))) for passage in passages]
    return 1 + max(range(len(shared)), key=lambda i: (shared[i], -i))


def with_citations(answer: str, passages: Sequence[str]) -> str:
    """`answer` with " [n]" after each of its sentences (layout kept); unchanged without passages."""
    if not passages:
        return answer
    parts, done = [], 0
    for sentence in split_sentences(answer):
        parts.append(f"{answer[done : sentence.end]} [{best_passage(sentence.text, passages)}]")
        done = sentence.end
    return "".join(parts) + answer[done:]


def load_answers(path: Path) -> dict[str, str]:
    """Normalised question -> recorded answer (the first line for a question wins)."""
    hint = "set RAG_LLM_MODEL to a JSONL file of recorded answers, e.g. eval/judge/ragtruth_qa_dev.jsonl"
    if not path.is_file():
        raise LLMError(f"replay: no file of recorded answers at {path}: {hint}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LLMError(f"replay: cannot read {path} ({exc}): {hint}") from exc
    answers: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not (isinstance(row, dict) and isinstance(row.get("question"), str) and isinstance(row.get("answer"), str)):
            raise LLMError(f'replay: line {number} of {path} is not a JSON object with "question" and "answer" strings')
        answers.setdefault(normalise(row["question"]), row["answer"])
    if not answers:
        raise LLMError(f"replay: {path} holds no recorded answers: {hint}")
    return answers


class ReplayLLM(CustomLLM):
    """A llama-index LLM that answers each answer prompt with the recorded answer to its question,
    cited. Chat goes through CustomLLM: the messages become one prompt (the user message kept
    whole), then `stream_complete`. Every prompt it receives is kept in `prompts`."""

    path: str
    prompts: list[str] = Field(default_factory=list)
    _answers: dict[str, str] = PrivateAttr(default_factory=dict)

    def __init__(self, path: Path | str, **kwargs: Any) -> None:
        super().__init__(path=str(path), **kwargs)
        self._answers = load_answers(Path(path))

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=f"replay:{Path(self.path).name}", is_chat_model=False)

    def reply(self, prompt: str) -> str:
        """The recorded answer to the prompt's question, with a citation after each sentence."""
        question, passages = parse_prompt(prompt)
        answer = self._answers.get(normalise(question))
        if answer is None:
            raise LLMError(f"replay: {self.path} has no recorded answer to the question {question[:200]!r}")
        return with_citations(answer, passages)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.reply(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Iterator[CompletionResponse]:
        self.prompts.append(prompt)
        full = self.reply(prompt)  # before the first delta: an unknown question fails at once

        def deltas() -> Iterator[CompletionResponse]:
            text = ""
            for delta in _WORD_AND_SPACE.findall(full):
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return deltas()
