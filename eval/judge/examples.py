"""Training examples for the trained judge (rag/judge/trained.py): one claim, its question, its
passages and a label (1 supported, 0 not), from

- RAGTruth's training answers (QA and summaries), sentence by sentence: a sentence is unsupported
  when it overlaps a span people marked; the QA sources held apart for calibration are left out;
- hallucinations made from RAGTruth's supported sentences: a number or a name swapped, a clause
  from another source's answer joined on, a sentence of another source, a relation negated;
  and passage sentences quoted as supported claims, so that quoting is not punished;
- PIAF (French): the passage sentence that holds the answer, as is (supported) and with the
  answer swapped for another question's answer of the same kind (unsupported);
- HaluEval QA training rows; DACCORD and RTE3-FR (French NLI: entailed or compatible = 1).

Everything is drawn with a seed; MEMERAG is never read here.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.judge.embedded import JudgeCase, passage_sentences
from rag.judge.trained import claims_of

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "datasets"
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b")
_NAME = re.compile(r"(?<=[\w,;:] )[A-Z][a-zà-ÿ]{2,}(?: [A-Z][a-zà-ÿ]{2,})*")
_NEGATABLE = (
    (" is ", " is not "), (" are ", " are not "), (" was ", " was not "), (" were ", " were not "),
    (" can ", " cannot "), (" will ", " will not "), (" has ", " has not "), (" should ", " should not "),
    (" est ", " n'est pas "), (" sont ", " ne sont pas "),
)  # fmt: skip


@dataclass(frozen=True)
class Example:
    question: str
    claim: str
    contexts: tuple[str, ...]
    label: int
    origin: str


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def calibration_sources(rows: Sequence[dict[str, Any]], share: float, seed: int) -> set[str]:
    """The RAGTruth QA training sources held apart to set the threshold (split by source)."""
    sources = sorted({str(r["source_id"]) for r in rows})
    random.Random(seed).shuffle(sources)
    return set(sources[: round(len(sources) * share)])


def ragtruth(rows: Sequence[dict[str, Any]], origin: str) -> list[Example]:
    """Each answer sentence, labelled by the human spans it overlaps."""
    out = []
    for row in rows:
        case = JudgeCase(row["question"], tuple(row["contexts"]), row["answer"])
        spans = [tuple(s) for s in row.get("spans", [])]
        for claim in claims_of([case]):
            a, b = claim.span
            bad = any(a < end and start < b for start, end in spans)
            out.append(Example(case.question, claim.text, case.contexts, 0 if bad else 1, origin))
    return out


def perturbed(supported: Sequence[Example], rng: random.Random) -> Iterator[Example]:
    """Unsupported claims made from supported ones, one kind per claim, in turn; and quotes."""
    names = [m for e in supported for p in e.contexts for m in _NAME.findall(p)]
    kinds = ("number", "name", "clause", "negation", "foreign", "quote")
    for n, example in enumerate(supported):
        kind = kinds[n % len(kinds)]
        other = supported[rng.randrange(len(supported))]
        passages = " ".join(example.contexts)
        made = ""
        if kind == "number":
            made = _swap_number(example.claim, rng)
        elif kind == "name" and names:
            made = _swap_name(example.claim, [x for x in rng.sample(names, min(20, len(names))) if x not in passages])
        elif kind == "clause" and other.contexts != example.contexts:
            made = f"{example.claim.rstrip(' .')}, and {other.claim[:1].lower()}{other.claim[1:]}"
        elif kind == "negation":
            made = _negate(example.claim)
        elif kind == "foreign" and other.contexts != example.contexts:
            made = other.claim
        elif kind == "quote":
            sentences = [s for s in passage_sentences(example.contexts) if len(s.split()) >= 5]
            if sentences:
                yield Example(example.question, rng.choice(sentences), example.contexts, 1, "made:quote")
            continue
        if made and made != example.claim:
            yield Example(example.question, made, example.contexts, 0, f"made:{kind}")


def _swap_number(text: str, rng: random.Random) -> str:
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return ""
    match = rng.choice(numbers)
    value = match.group()
    digits = re.sub(r"\d", lambda _: str(rng.randrange(10)), value)
    if digits == value:
        digits = str(int(re.sub(r"\D", "", value) or 0) + rng.randrange(2, 9))
    return text[: match.start()] + digits + text[match.end() :]


def _swap_name(text: str, pool: Sequence[str]) -> str:
    found = _NAME.findall(text)
    if not found or not pool:
        return ""
    return text.replace(found[0], pool[0], 1)


def _negate(text: str) -> str:
    for plain, negated in _NEGATABLE:
        if negated in text:
            return text.replace(negated, plain, 1)
    for plain, negated in _NEGATABLE:
        if plain in text:
            return text.replace(plain, negated, 1)
    return ""


def piaf(rng: random.Random, questions: int) -> list[Example]:
    """PIAF: the sentence holding the answer (supported) and the same with another question's
    answer of the same kind (digits or not) in its place (unsupported)."""
    data = json.loads((SHARED / "piaf-v1.0-dev.json").read_text(encoding="utf-8"))
    rows = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                rows.append((qa["question"], context, answer["text"], int(answer["answer_start"])))
    rng.shuffle(rows)
    answers = [r[2] for r in rows]
    out = []
    for question, context, answer, start in rows[:questions]:
        sentence = next((s for s in _sentences_with_offsets(context) if s[1] <= start < s[2]), None)
        if sentence is None or answer not in sentence[0]:
            continue
        digits = any(ch.isdigit() for ch in answer)
        swaps = [a for a in rng.sample(answers, 30) if any(ch.isdigit() for ch in a) == digits and a not in context]
        out.append(Example(question, sentence[0], (context,), 1, "piaf"))
        if swaps:
            out.append(Example(question, sentence[0].replace(answer, swaps[0], 1), (context,), 0, "piaf:swap"))
    return out


def _sentences_with_offsets(text: str) -> list[tuple[str, int, int]]:
    from rag.text.sentences import split_sentences

    return [(s.text, s.start, s.end) for s in split_sentences(text, min_chars=3)]


def halueval(rng: random.Random, lines: int) -> list[Example]:
    rows = read_jsonl(HERE / "halueval_train.jsonl")
    rng.shuffle(rows)
    return [
        Example(r["question"], r["answer"], tuple(r["contexts"]), int(r["label"]), "halueval") for r in rows[:lines]
    ]


def french_nli(rng: random.Random, lines: int) -> list[Example]:
    supported = {"compatibles": 1, "entailment": 1, "contradiction": 0, "neutral": 0}
    rows = read_jsonl(SHARED / "french-nli" / "daccord.jsonl") + read_jsonl(SHARED / "french-nli" / "rte3-fr.jsonl")
    rng.shuffle(rows)
    return [Example("", r["hypothesis"], (r["premise"],), supported[r["label"]], "french-nli") for r in rows[:lines]]
