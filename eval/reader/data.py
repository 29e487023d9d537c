"""Training and calibration data for the reader, from the shared data sets.

    .venv/bin/python -m eval.reader.data      # prints the groups' sizes

Each question becomes a *group*: the question, candidate sentences (`rag.read.scorer.ReaderInput`:
the sentence with its document's title and the sentence before it) and which of them hold the
answer. A group with no positive is an unanswerable question.

- PIAF (French): the positive is the sentence of the paragraph that contains the answer offset;
  hard negatives are the paragraph's other sentences and sentences of the article's other
  paragraphs (same topic, no answer). For calibration, an *on-topic unanswerable* group pairs
  the question with the article's other paragraphs alone. Sentences that contain the answer text
  elsewhere are left out rather than called negative.
- PIAF with our English questions (eval/piaf/questions_en.jsonl, English about French): the
  ones the PIAF suite does not ask, whose paragraph it does not use, as above: they teach the
  reader what a cross-lingual match looks like.
- Wikinews questions we wrote (eval/reader/wikinews_questions.jsonl: English about French
  articles, French about English ones, the typical use; articles the news suite does not use):
  the positive is the sentence that holds `answer` (a verbatim piece of it); negatives are the
  article's other sentences and three of other articles; a question whose `answer` is null asks
  for a detail the article does not give: an on-topic unanswerable group. One article in five
  is held apart for calibration.
- HaluEval QA (English): the positive is the sentence of `knowledge` that contains
  `right_answer`; negatives are its other sentences and sentences of other rows; for
  calibration, an unanswerable group pairs the question with another row's knowledge.

Split: the PIAF paragraphs that the evaluation suites use (eval/suites/piaf.jsonl and the English
questions of eval/piaf/questions_en.jsonl) are never trained on; of the other articles, one in
six is held apart for calibration. HaluEval: `halueval-qa-train.jsonl` trains, 600 rows of
`halueval-qa-dev.jsonl` calibrate. The news suite (eval/suites/news.jsonl) is never trained on.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.read.scorer import ReaderInput
from rag.text.sentences import split_sentences

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

SHARED = REPO.parent / "shared" / "datasets"
PIAF_SOURCE = SHARED / "piaf-v1.0-dev.json"
HALUEVAL_TRAIN = SHARED / "halueval-qa-train.jsonl"
HALUEVAL_DEV = SHARED / "halueval-qa-dev.jsonl"
WIKINEWS = SHARED / "wikinews"
WIKINEWS_QUESTIONS = HERE / "wikinews_questions.jsonl"
SUITES = REPO / "eval" / "suites"
PIAF_DIR = REPO / "eval" / "piaf"


@dataclass
class Group:
    """One question and its candidates; `labels[i]` is 1 when candidate i holds the answer."""

    question: str
    source: str  # "piaf", "piaf-en", "wikinews" or "halueval"
    language: str  # the question's
    candidates: list[ReaderInput] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    doc: str = ""  # the document the question was written on
    answer: str = ""  # its answer text, normalised ("" when unknown or unanswerable)

    @property
    def answerable(self) -> bool:
        return any(self.labels)


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def sentences_of(text: str, title: str = "") -> list[tuple[int, int, ReaderInput]]:
    """(start, end, candidate) for each sentence of `text`, each read with the one before it."""
    found = split_sentences(text, min_chars=12)
    return [(s.start, s.end, ReaderInput(s.text, title, found[i - 1].text if i else "")) for i, s in enumerate(found)]


def _jsonl(path: Path, skip_header: bool = False) -> list[dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[1 if skip_header else 0 :] if line.strip()]


def held_out_piaf_docs() -> set[str]:
    """PIAF paragraphs (eval/piaf/corpus file names) that evaluation uses: never trained on."""
    docs: set[str] = set()
    for case in _jsonl(SUITES / "piaf.jsonl", skip_header=True):
        docs.update(str(s) for s in case.get("sources", []))  # type: ignore[attr-defined]
    for row in _jsonl(PIAF_DIR / "questions_en.jsonl"):
        docs.add(str(row["doc"]))
    return docs


def _english_questions() -> dict[str, str]:
    """Our English questions about PIAF paragraphs the PIAF suite does not use: paragraph -> question."""
    suite = _jsonl(SUITES / "piaf.jsonl", skip_header=True)
    asked = {case["question"] for case in suite}
    used = {s for case in suite for s in case.get("sources", [])}  # type: ignore[attr-defined]
    rows = _jsonl(PIAF_DIR / "questions_en.jsonl")
    return {str(r["doc"]): str(r["question"]) for r in rows if r["question"] not in asked and r["doc"] not in used}


def piaf_calibrating(article: int) -> bool:
    """Whether PIAF's article number `article` is held apart from training, for calibration."""
    return article % 6 == 5


def piaf_groups(
    rng: random.Random, negatives_elsewhere: int = 4, unanswerable_train: bool = False
) -> tuple[list[Group], list[Group]]:
    """(training groups, calibration groups) from PIAF, French and English questions; with
    `unanswerable_train`, the training side gets on-topic unanswerable groups too."""
    data = json.loads(PIAF_SOURCE.read_text(encoding="utf-8"))["data"]
    held = held_out_piaf_docs()
    english = _english_questions()
    train: list[Group] = []
    calibration: list[Group] = []
    for a, article in enumerate(data):
        title = article.get("title", "").replace("_", " ")
        units = [sentences_of(p["context"], title) for p in article["paragraphs"]]
        calibrating = piaf_calibrating(a)
        target = calibration if calibrating else train
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
                start, text = answer["answer_start"], norm(answer["text"])
                group = Group(question, source, language, doc=f"piaf/{a}", answer=text)
                for s, e, cand in units[p]:
                    holds = s <= start < e
                    if not holds and text and text in norm(cand.sentence):
                        continue  # the answer is here too: not a negative
                    group.candidates.append(cand)
                    group.labels.append(int(holds))
                if not any(group.labels):
                    continue
                clean_others = [c for c in others if not (text and text in norm(c.sentence))]
                extra = rng.sample(clean_others, min(negatives_elsewhere, len(clean_others)))
                group.candidates += extra
                group.labels += [0] * len(extra)
                target.append(group)
                if (calibrating or unanswerable_train) and clean_others:  # its paragraph gone: on-topic, unanswerable
                    away = Group(question, source, language, doc=f"piaf/{a}", answer=text)
                    away.candidates = rng.sample(clean_others, min(8, len(clean_others)))
                    away.labels = [0] * len(away.candidates)
                    target.append(away)
    return train, calibration


_GLUED = re.compile(r"([a-z0-9\)\"'])\.([A-Z])")  # "Keltner.James": HaluEval glues its snippets


def halueval_groups(
    rows: list[dict[str, object]], rng: random.Random, unanswerable: bool, on_topic: bool = False
) -> list[Group]:
    """Groups of HaluEval rows; with `unanswerable`, one row in three also asked of another row's
    knowledge; with `on_topic`, each also asked of its own knowledge without the answer sentence
    (the rest is about the same people and things: an on-topic unanswerable group)."""
    units = [sentences_of(_GLUED.sub(r"\1. \2", str(row["knowledge"]).strip())) for row in rows]
    groups: list[Group] = []
    for i, row in enumerate(rows):
        answer = norm(str(row["right_answer"]))
        if not answer or answer in {"yes", "no"}:
            continue
        group = Group(str(row["question"]).strip(), "halueval", "en", doc=f"halueval/{i}", answer=answer)
        for _, _, cand in units[i]:
            group.candidates.append(cand)
            group.labels.append(int(answer in norm(cand.sentence)))
        if sum(group.labels) != 1:
            continue  # the answer is in no sentence, or in several: no clear positive
        others = [c for j in rng.sample(range(len(rows)), 3) if j != i for _, _, c in units[j]]
        group.candidates += others[:3]
        group.labels += [0] * len(others[:3])
        groups.append(group)
        if on_topic:  # its own knowledge's other sentences (the labels start with them)
            rest = [c for (_, _, c), label in zip(units[i], group.labels, strict=False) if not label]
            if rest:
                groups.append(Group(group.question, "halueval", "en", rest, [0] * len(rest), f"halueval/{i}", answer))
        if unanswerable and i % 3 == 0:  # another row's knowledge: unanswerable
            j = rng.randrange(len(rows))
            if j != i and units[j]:
                away = Group(group.question, "halueval", "en", [c for _, _, c in units[j]], [0] * len(units[j]))
                away.doc, away.answer = f"halueval/{i}", answer
                groups.append(away)
    return groups


def _wikinews_body(language: str, name: str) -> str:
    """A shared Wikinews article without its first two lines (its date and its title)."""
    text = (WIKINEWS / language / name).read_text(encoding="utf-8")
    return text.split("\n", 2)[2] if text.startswith("date ") else text


def wikinews_groups(rng: random.Random) -> tuple[list[Group], list[Group]]:
    """(training groups, calibration groups) from our questions on Wikinews articles."""
    rows = _jsonl(WIKINEWS_QUESTIONS)
    titles = {}
    for language in ("fr", "en"):
        for entry in _jsonl(WIKINEWS / f"index_{language}.jsonl"):
            titles[(language, str(entry["file"]))] = str(entry["title"])
    articles: dict[tuple[str, str], list[ReaderInput]] = {}
    for row in rows:
        key = (str(row["article_language"]), str(row["file"]))
        if key not in articles:
            articles[key] = [c for _, _, c in sentences_of(_wikinews_body(*key), titles.get(key, ""))]
    order = sorted(articles)
    held = {key for i, key in enumerate(order) if i % 5 == 4}
    train: list[Group] = []
    calibration: list[Group] = []
    for row in rows:
        key = (str(row["article_language"]), str(row["file"]))
        answer = row["answer"]
        group = Group(str(row["question"]), "wikinews", str(row["language"]), doc="/".join(key))
        group.answer = norm(str(answer)) if answer is not None else ""
        group.candidates = list(articles[key])
        group.labels = [int(answer is not None and str(answer) in c.sentence) for c in group.candidates]
        others = [c for k in rng.sample(order, 4) if k != key for c in articles[k]]
        extra = rng.sample(others, min(3, len(others)))
        group.candidates += extra
        group.labels += [0] * len(extra)
        (calibration if key in held else train).append(group)
    return train, calibration


Embed = Callable[[list[str], bool], Any]  # (texts, are_queries) -> unit vectors, one row each


def _piaf_pool() -> list[tuple[str, ReaderInput]]:
    data = json.loads(PIAF_SOURCE.read_text(encoding="utf-8"))["data"]
    held = held_out_piaf_docs()
    return [
        (f"piaf/{a}", c)
        for a, article in enumerate(data)
        for p, paragraph in enumerate(article["paragraphs"])
        if f"{a:03d}_{p:02d}.md" not in held
        for _, _, c in sentences_of(paragraph["context"], article.get("title", "").replace("_", " "))
    ]


def _wikinews_pool(limit: int = 400) -> list[tuple[str, ReaderInput]]:
    """Sentences of Wikinews articles the news suite does not use (those we asked about first)."""
    used = {p.name for p in (REPO / "eval" / "news" / "corpus").iterdir()}
    asked = {(str(r["article_language"]), str(r["file"])) for r in _jsonl(WIKINEWS_QUESTIONS)}
    entries = [
        (language, str(e["file"]), str(e["title"]))
        for language in ("fr", "en")
        for e in _jsonl(WIKINEWS / f"index_{language}.jsonl")
        if str(e["file"]) not in used
    ]
    entries.sort(key=lambda e: ((e[0], e[1]) not in asked, e[1]))
    pool = []
    for language, name, title in entries[:limit]:
        pool += [(f"{language}/{name}", c) for _, _, c in sentences_of(_wikinews_body(language, name), title)]
    return pool


def _halueval_pool(rows: list[dict[str, object]]) -> list[tuple[str, ReaderInput]]:
    return [
        (f"halueval/{i}", c)
        for i, row in enumerate(rows)
        for _, _, c in sentences_of(_GLUED.sub(r"\1. \2", str(row["knowledge"]).strip()))
    ]


def add_hard_negatives(groups: list[Group], pool: list[tuple[str, ReaderInput]], embed: Embed, k: int) -> None:
    """Give each group the `k` sentences of *other* documents closest to its question (e5
    cosine), as the retriever would put them beside the answer: they teach the reader that a
    sentence of the right kind ("died at 75") about someone else is no answer."""
    if not groups or not pool:
        return
    import numpy as np

    vectors = embed([c.sentence for _, c in pool], False)
    queries = embed([g.question for g in groups], True)
    similarity = queries @ vectors.T
    for group, row in zip(groups, similarity, strict=True):
        taken = 0
        for j in np.argsort(-row)[: 8 * k]:
            doc, candidate = pool[int(j)]
            if doc == group.doc or (group.answer and group.answer in norm(candidate.sentence)):
                continue
            group.candidates.append(candidate)
            group.labels.append(0)
            taken += 1
            if taken == k:
                break


def build(
    seed: int = 13,
    halueval_rows: int = 1500,
    cross_lingual_copies: int = 3,
    embed: Embed | None = None,
    hard_negatives: int = 5,
    unanswerable_train: bool = False,
) -> tuple[list[Group], list[Group]]:
    """(training groups, calibration groups); `halueval_rows` of the training file are used, and
    the cross-lingual groups (few, and the typical use) appear `cross_lingual_copies` times.
    With `embed`, each group also gets `hard_negatives` sentences of other documents. With
    `unanswerable_train`, training also gets on-topic unanswerable groups: each PIAF question
    asked of its article's other paragraphs, each HaluEval question of its knowledge without the
    answer sentence."""
    rng = random.Random(seed)
    piaf_train, piaf_cal = piaf_groups(rng, unanswerable_train=unanswerable_train)
    wikinews_train, wikinews_cal = wikinews_groups(rng)
    rows = _jsonl(HALUEVAL_TRAIN)
    rng.shuffle(rows)
    dev = _jsonl(HALUEVAL_DEV)[:600]
    halueval_train = halueval_groups(rows[:halueval_rows], rng, unanswerable=False, on_topic=unanswerable_train)
    halueval_cal = halueval_groups(dev, rng, unanswerable=True)
    if embed is not None:
        piaf_pool, wikinews_pool = _piaf_pool(), _wikinews_pool()
        add_hard_negatives(piaf_train + piaf_cal, piaf_pool, embed, hard_negatives)
        add_hard_negatives(wikinews_train + wikinews_cal, wikinews_pool, embed, hard_negatives)
        add_hard_negatives(halueval_train, _halueval_pool(rows[:halueval_rows]), embed, hard_negatives)
        add_hard_negatives(halueval_cal, _halueval_pool(dev), embed, hard_negatives)
    train = piaf_train + wikinews_train + halueval_train
    train += [g for g in train if g.source in ("wikinews", "piaf-en")] * (cross_lingual_copies - 1)
    return train, piaf_cal + wikinews_cal + halueval_cal


def summary(groups: list[Group]) -> str:
    by_source = {s: sum(1 for g in groups if g.source == s) for s in ("piaf", "piaf-en", "wikinews", "halueval")}
    unanswerable = sum(1 for g in groups if not g.answerable)
    pairs = sum(len(g.candidates) for g in groups)
    return f"{len(groups)} groups {by_source}, {unanswerable} unanswerable, {pairs} pairs"


if __name__ == "__main__":
    argparse.ArgumentParser(description="Print the sizes of the reader's training and calibration data.").parse_args()
    train, calibration = build()
    print("train:", summary(train))
    print("calibration:", summary(calibration))
