"""Sentence segmentation that keeps character offsets, for quoting and highlighting spans."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? or … (possibly followed by closing quotes or brackets) before
# whitespace and a capital, digit or opening quote; a line break always ends one.
_BOUNDARY = re.compile(r"(?<=[.!?…])[»\"”’)\]]*\s+(?=[«\"“A-ZÀ-ÖØ-Þ0-9(\[])|\n+")
_ABBREVIATIONS = re.compile(r"(?:\b(?:M|Mme|Mlle|Dr|Pr|St|Mr|Mrs|Ms|No|etc|vs|p|cf|ex)|\b[A-Z])\.$")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def split_sentences(text: str, min_chars: int = 3) -> list[Sentence]:
    """Sentences of `text` with their offsets; text[start:end] == sentence.text."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if "\n" not in match.group() and _ABBREVIATIONS.search(text[start : match.start()]):
            continue
        _append(sentences, text, start, match.start(), min_chars)
        start = match.end()
    _append(sentences, text, start, len(text), min_chars)
    return sentences


def candidate_sentences(text: str, title: str = "") -> list[Sentence]:
    """The sentences of a passage the readers read: at least 12 characters, and never the
    document's title line (it names the story and answers nothing; README "The reader")."""
    heading = " ".join(title.lower().split())
    return [s for s in split_sentences(text, min_chars=12) if " ".join(s.text.lower().split()) != heading]


_CLOSERS = '»"”’)]' + " \u00a0\u202f"


def asks(sentence: str) -> bool:
    """Whether the sentence is a question (it ends with "?", before any closing quote or
    bracket): an interviewer's question or a rhetorical one, never an answer."""
    return sentence.rstrip(_CLOSERS).endswith("?")


def _append(sentences: list[Sentence], text: str, start: int, end: int, min_chars: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if len(stripped) < min_chars or not any(ch.isalpha() for ch in stripped):
        return
    lead = len(piece) - len(piece.lstrip())
    sentences.append(Sentence(stripped, start + lead, start + lead + len(stripped)))
