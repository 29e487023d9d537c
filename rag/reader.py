"""The reader: does this sentence answer this question? A calibrated probability per sentence.

Cosine similarity between a question and a sentence measures topic, not answerhood: it prefers
an article's lead to the sentence that holds the answer, and it cannot tell a question the
articles answer from one they only touch. The reader adds what an answer looks like to the e5
similarity, and a logistic model fitted on PIAF (French) and HaluEval (English) questions
(`eval/reader/train.py`) weighs it all:

- `cos`, `cos_gap`: e5 cosine of the question and the sentence, and its gap to the best sentence
  of the candidates (a sentence is judged against its rivals);
- `overlap`, `new_words`: the share of the question's words in the sentence, and of the
  sentence's words that are not in the question (an answer adds something);
- `has_number`, `has_name`, `has_date`: numbers, capitalised names and dates the question does
  not already hold;
- `want_number`, `want_time`, `want_person`, `want_place`: whether the question asks for a
  quantity, a time, a person or a place *and* the sentence offers one (the answer type);
- `lead`: the first sentence of its document; `cross_lingual`: question and sentence in
  different languages; `length`: the sentence's length in words (log).

The same probability decides to abstain, with a threshold calibrated on questions held apart from
training, on-topic unanswerable ones included. The model ships as `rag/reader.json` (features,
weights, thresholds, provenance) with its SHA-256 in `rag/reader.sha256`, checked at load.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.embedder import Embedder
from rag.errors import ModelError
from rag.judge import LogisticModel, fold

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "reader.json"
CHECKSUM_FILE = HERE / "reader.sha256"
FEATURES = (
    "cos",
    "cos_gap",
    "overlap",
    "new_words",
    "has_number",
    "has_name",
    "has_date",
    "want_number",
    "want_time",
    "want_person",
    "want_place",
    "lead",
    "cross_lingual",
    "length",
)
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,\s]\d{3})*(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![\w'’])[A-ZÀ-ÖØ-Þ][\w'’-]+")
_MONTHS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
    "january february march april may june july august september october november december "
    "lundi mardi mercredi jeudi vendredi samedi dimanche monday tuesday wednesday thursday friday saturday sunday"
)
_DATE = re.compile(r"\b(?:1[5-9]|20)\d\d\b|\b(?:" + "|".join(_MONTHS.split()) + r")\b", re.IGNORECASE)
_ASKS = {
    "want_number": re.compile(
        r"\b(?:how (?:many|much|old|long|high|tall|far)|what (?:share|percentage|proportion)|combien|"
        r"quel (?:âge|pourcentage|montant|score|taux)|quelle (?:part|somme|proportion|hauteur))\b",
        re.IGNORECASE,
    ),
    "want_time": re.compile(
        r"\b(?:when|what year|since when|what date|quand|en quelle année|depuis quand|quelle date|"
        r"à quelle date|jusqu'à quelle date)\b",
        re.IGNORECASE,
    ),
    "want_person": re.compile(r"\b(?:who|whom|whose|qui|quel (?:ministre|président|journaliste))\b", re.IGNORECASE),
    "want_place": re.compile(r"\b(?:where|which (?:city|country|town|district)|où|dans quelle ville)\b", re.IGNORECASE),
}
_STOP = frozenset(
    "the a an of to in on at for and or is are was were be been by with from that this what which who how why "
    "when where did does do has have had it its as le la les un une des du de d l et ou est sont a été par pour "
    "dans sur au aux en que qui quoi quel quelle quels quelles comment pourquoi quand où ce cette ces se sa son "
    "ses leur leurs il elle ils elles y ne pas plus".split()
)


@dataclass(frozen=True)
class ReaderInput:
    """A candidate sentence with what the reader knows of it."""

    sentence: str
    language: str  # the document's language
    lead: bool  # the first sentence of its document


def _stems(text: str) -> set[str]:
    """Content words, folded and cut to five letters (a cheap stemmer for English and French)."""
    return {w[:5] for w in _WORD.findall(fold(text)) if w not in _STOP and len(w) > 1}


def features(question: str, question_language: str, item: ReaderInput, cos: float, best_cos: float) -> dict[str, float]:
    """The reader's evidence for one sentence (see the module docstring)."""
    q_stems, s_stems = _stems(question), _stems(item.sentence)
    q_names = {n[:5].lower() for n in _NAME.findall(question)}
    numbers = [n for n in _NUMBER.findall(item.sentence) if n.strip() not in question]
    names = [n for n in _NAME.findall(item.sentence) if n[:5].lower() not in q_names]
    # A name that starts the sentence is often just its first word.
    names = [n for n in names if not item.sentence.startswith(n)] or names[1:]
    has = {"number": float(bool(numbers)), "name": float(bool(names)), "date": float(bool(_DATE.search(item.sentence)))}
    asks = {key: bool(pattern.search(question)) for key, pattern in _ASKS.items()}
    return {
        "cos": cos,
        "cos_gap": cos - best_cos,
        "overlap": len(q_stems & s_stems) / len(q_stems) if q_stems else 0.0,
        "new_words": len(s_stems - q_stems) / len(s_stems) if s_stems else 0.0,
        "has_number": has["number"],
        "has_name": has["name"],
        "has_date": has["date"],
        "want_number": float(asks["want_number"]) * (2 * has["number"] - 1),
        "want_time": float(asks["want_time"]) * (2 * max(has["date"], has["number"]) - 1),
        "want_person": float(asks["want_person"]) * (2 * has["name"] - 1),
        "want_place": float(asks["want_place"]) * (2 * has["name"] - 1),
        "lead": float(item.lead),
        "cross_lingual": float(bool(question_language) and question_language != item.language),
        "length": math.log1p(len(_WORD.findall(item.sentence))),
    }


@dataclass(frozen=True)
class ReaderConfig:
    threshold: float  # answerability: below this best probability, abstain
    pair_margin: float  # a further sentence joins the answer when its probability reaches this


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Reader:
    """Scores candidate sentences with the e5 embedder the pipeline already has loaded."""

    def __init__(self, embedder: Embedder, model_file: Path = MODEL_FILE, checksum_file: Path = CHECKSUM_FILE) -> None:
        try:
            expected = checksum_file.read_text().split()[0]
            actual = sha256_of(model_file)
            data = json.loads(model_file.read_text(encoding="utf-8"))
        except (OSError, IndexError, ValueError) as exc:
            raise ModelError(f"The reader's model {model_file} is missing or unreadable: reinstall") from exc
        if actual != expected:
            raise ModelError(
                f"The reader's model {model_file} does not match its checksum (sha256 {actual[:12]}..., expected "
                f"{expected[:12]}...): reinstall the project, or retrain it with eval/reader/train.py"
            )
        self.model = LogisticModel.from_json(data["model"])
        if tuple(self.model.features) != FEATURES:
            raise ModelError(f"The reader's model {model_file} was fitted on other features: retrain it")
        self.config = ReaderConfig(float(data["threshold"]), float(data["pair_margin"]))
        self.embedder = embedder

    def score(self, question: str, question_language: str, items: Sequence[ReaderInput]) -> list[float]:
        """The probability that each sentence answers the question."""
        if not items:
            return []
        cosines = cosine_to_question(self.embedder, question, [i.sentence for i in items])
        best = max(cosines)
        return [
            self.model.probability(features(question, question_language, item, cos, best))
            for item, cos in zip(items, cosines, strict=True)
        ]


def cosine_to_question(embedder: Embedder, question: str, sentences: Sequence[str]) -> list[float]:
    """e5 cosine of the question (as a query) and each sentence (as a passage)."""
    import numpy as np

    query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    vectors = np.asarray(embedder.embed_passages(list(sentences)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
    return (vectors @ query / np.where(norms == 0, 1.0, norms)).tolist()
