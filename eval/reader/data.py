"""Training and calibration data for the reader, from the shared data sets.

Each question becomes a *group*: the question, candidate sentences (`rag.reader.ReaderInput`:
the sentence, its document's language, whether it leads its document) and which of them hold the
answer. A group with no positive is an unanswerable question.

- PIAF (French): the positive is the sentence of the paragraph that contains the answer offset;
  hard negatives are the paragraph's other sentences and the sentences of the article's other
  paragraphs (same topic, no answer); an *on-topic unanswerable* group pairs the question with
  the article's other paragraphs alone. Sentences that contain the answer text elsewhere are
  left out rather than called negative.
- PIAF with our English questions (eval/piaf/questions_en.jsonl, English about French): the
  ones the PIAF suite does not ask, whose paragraph it does not use, as above: they teach the
  reader what a cross-lingual match looks like.
- HaluEval QA (English): the positive is the sentence of `knowledge` that contains
  `right_answer`; negatives are its other sentences and sentences of other rows; an
  unanswerable group pairs the question with another row's knowledge.

Split: the PIAF paragraphs that the evaluation suites use (eval/suites/piaf.jsonl and the English
questions of eval/piaf/questions_en.jsonl) are never trained on; of the other articles, one in
six is held apart for calibration. HaluEval: `halueval-qa-train.jsonl` trains, 600 rows of
`halueval-qa-dev.jsonl` calibrate.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from rag.reader import ReaderInput  # noqa: E402
from rag.sentences import split_sentences  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
PIAF_SOURCE = SHARED / "piaf-v1.0-dev.json"
HALUEVAL_TRAIN = SHARED / "halueval-qa-train.jsonl"
HALUEVAL_DEV = SHARED / "halueval-qa-dev.jsonl"
SUITES = REPO / "eval" / "suites"
PIAF_DIR = REPO / "eval" / "piaf"


@dataclass
class Group:
    """One question and its candidates; `labels[i]` is 1 when candidate i holds the answer."""

    question: str
    source: str  # "piaf", "piaf-en" or "halueval"
    language: str  # the question's
    candidates: list[ReaderInput] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return any(self.labels)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _sentences(text: str, language: str, lead: bool = True) -> list[tuple[int, int, ReaderInput]]:
    """(start, end, candidate) for each sentence of `text` (the first leads when `lead`)."""
    sentences = split_sentences(text, min_chars=12)
    return [(s.start, s.end, ReaderInput(s.text, language, lead and i == 0)) for i, s in enumerate(sentences)]


def held_out_piaf_docs() -> set[str]:
    """PIAF paragraphs (eval/piaf/corpus file names) that evaluation uses: never trained on."""
    docs: set[str] = set()
    for line in (SUITES / "piaf.jsonl").read_text(encoding="utf-8").splitlines()[1:]:
        docs.update(json.loads(line).get("sources", []))
    for line in (PIAF_DIR / "questions_en.jsonl").read_text(encoding="utf-8").splitlines():
        docs.add(json.loads(line)["doc"])
    return docs


def _english_questions() -> dict[str, str]:
    """Our English questions about PIAF paragraphs that the PIAF suite does not use: paragraph -> question."""
    suite = [json.loads(line) for line in (SUITES / "piaf.jsonl").read_text(encoding="utf-8").splitlines()[1:]]
    asked = {case["question"] for case in suite}
    used = {s for case in suite for s in case.get("sources", [])}
    rows = [json.loads(line) for line in (PIAF_DIR / "questions_en.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["doc"]: r["question"] for r in rows if r["question"] not in asked and r["doc"] not in used}


def piaf_groups(rng: random.Random) -> tuple[list[Group], list[Group]]:
    """(training groups, calibration groups) from PIAF, French and English questions."""
    data = json.loads(PIAF_SOURCE.read_text(encoding="utf-8"))["data"]
    held = held_out_piaf_docs()
    english = _english_questions()
    train: list[Group] = []
    calibration: list[Group] = []
    for a, article in enumerate(data):
        units = [_sentences(p["context"], "fr", lead=(i == 0)) for i, p in enumerate(article["paragraphs"])]
        target = calibration if a % 6 == 5 else train
        for p, paragraph in enumerate(article["paragraphs"]):
            name = f"{a:03d}_{p:02d}.md"
            questions = [(qa["question"].strip(), "fr", "piaf", qa["answers"][0]) for qa in paragraph["qas"]]
            if name in held:
                if name not in english:
                    continue
                # Our English translation of the paragraph's first question, with its answer.
                questions = [(english[name], "en", "piaf-en", paragraph["qas"][0]["answers"][0])]
            others = [c for q, u in enumerate(units) if q != p for _, _, c in u]
            for question, language, source, answer in questions:
                start, text = answer["answer_start"], _norm(answer["text"])
                group = Group(question, source, language)
                for s, e, cand in units[p]:
                    holds = s <= start < e
                    if not holds and text and text in _norm(cand.sentence):
                        continue  # the answer is here too: not a negative
                    group.candidates.append(cand)
                    group.labels.append(int(holds))
                if not any(group.labels):
                    continue
                clean_others = [c for c in others if not (text and text in _norm(c.sentence))]
                extra = rng.sample(clean_others, min(4, len(clean_others)))
                group.candidates += extra
                group.labels += [0] * len(extra)
                target.append(group)
                if clean_others:  # the same question, its paragraph gone: on-topic, unanswerable
                    away = Group(question, source, language)
                    away.candidates = rng.sample(clean_others, min(8, len(clean_others)))
                    away.labels = [0] * len(away.candidates)
                    target.append(away)
    return train, calibration


_GLUED = re.compile(r"([a-z0-9\)\"'])\.([A-Z])")  # "Keltner.James": HaluEval glues its snippets


def _halueval_rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def halueval_groups(rows: list[dict[str, str]], rng: random.Random) -> list[Group]:
    units = []
    for row in rows:
        knowledge = _GLUED.sub(r"\1. \2", row["knowledge"].strip())
        units.append(_sentences(knowledge, "en"))
    groups: list[Group] = []
    for i, row in enumerate(rows):
        answer = _norm(row["right_answer"])
        if not answer or answer in {"yes", "no"}:
            continue
        group = Group(row["question"].strip(), "halueval", "en")
        for _, _, cand in units[i]:
            group.candidates.append(cand)
            group.labels.append(int(answer in _norm(cand.sentence)))
        if sum(group.labels) != 1:
            continue  # the answer is in no sentence, or in several: no clear positive
        others = [c for j in rng.sample(range(len(rows)), 3) if j != i for _, _, c in units[j]]
        group.candidates += others[:3]
        group.labels += [0] * len(others[:3])
        groups.append(group)
        if i % 3 == 0:  # another row's knowledge: unanswerable (a third of the rows, to keep the mix)
            j = rng.randrange(len(rows))
            if j != i and units[j]:
                away = Group(group.question, "halueval", "en", [c for _, _, c in units[j]], [0] * len(units[j]))
                groups.append(away)
    return groups


def build(seed: int = 13) -> tuple[list[Group], list[Group]]:
    """(training groups, calibration groups)."""
    rng = random.Random(seed)
    piaf_train, piaf_cal = piaf_groups(rng)
    halueval_train = halueval_groups(_halueval_rows(HALUEVAL_TRAIN), rng)
    halueval_cal = halueval_groups(_halueval_rows(HALUEVAL_DEV)[:600], rng)
    return piaf_train + halueval_train, piaf_cal + halueval_cal


if __name__ == "__main__":
    train, calibration = build()
    for name, groups in (("train", train), ("calibration", calibration)):
        by_source = {s: sum(1 for g in groups if g.source == s) for s in ("piaf", "piaf-en", "halueval")}
        unanswerable = sum(1 for g in groups if not g.answerable)
        candidates = sum(len(g.candidates) for g in groups)
        print(f"{name}: {len(groups)} groups {by_source}, {unanswerable} unanswerable, {candidates} candidates")
