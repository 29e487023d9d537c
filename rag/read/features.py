"""Evidence that a sentence answers a question, beyond the topic the e5 cosine measures.

The "evidence" reader (rag/read/evidence.py) is a logistic regression over these features, trained by
`python -m eval.reader.train_evidence`. For a question and its candidate sentences:

- the e5 cosine of question and sentence, and how far it is below the best candidate's;
- the question's words in the sentence, weighted by how rare they are *among the candidates*
  (words every candidate shares are the topic; the ones that single a sentence out are what the
  question is about), in the sentence alone and with its context (title, previous sentence);
- the question's named things (capitalised words, numbers), which are mostly spelt alike in
  French and English, so they match across languages where the words do not;
- the kind of answer the question asks for (who, when, where, how many, why...) against what
  the sentence holds (names the question does not give, a year, a date, a number, an amount,
  a cause): "How old was X when he died?" wants a number in the sentence about X.

Words are compared lower-cased, without accents and cut to their first five letters, a crude
stem that also matches many French and English cognates (enquête/enquiry do not, commission
does): `reader_stems` and `reader_names` in rag/text/words.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text.words import READER_STOPWORDS, fold, reader_names, reader_stem, reader_stems

_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER_WORDS = frozenset(
    """
    one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty
    hundred hundreds thousand thousands million millions billion billions dozen dozens
    un deux trois quatre cinq six sept huit neuf dix onze douze vingt trente quarante cinquante
    cent cents mille million millions milliard milliards dizaine dizaines centaine centaines
    douzaine
    """.split()
)
_MONTHS = re.compile(
    r"\b(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|"
    r"décembre|decembre|monday|tuesday|wednesday|thursday|friday|saturday|sunday|lundi|mardi|"
    r"mercredi|jeudi|vendredi|samedi|dimanche|yesterday|today|tonight|hier|aujourd'hui)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:1[6-9]\d\d|20\d\d)\b")
_DIGIT = re.compile(r"\d")
_AMOUNT = re.compile(r"%|\bper ?cent\b|\bpour ?cent\b|[€$£]|\beuros?\b|\bdollars?\b|\blivres?\b|\bpounds?\b", re.I)
_CAUSE = re.compile(
    r"\b(?:because|due to|owing to|as a result|in order to|so that|after|following|since|"
    r"parce qu\w*|car|en raison|à cause|a cause|afin|suite à|suite a|après|apres|grâce à|"
    r"faute de|puisque|pour cause|raison|cause|reason|accus\w*|allege\w*|over)\b",
    re.IGNORECASE,
)
_PLACE = re.compile(r"\b(?:in|at|near|from|à|a|en|dans|près de|au|aux)\s+(?:the\s+|la\s+|le\s+|l')?[A-ZÀ-Ý]")

QUESTION_TYPES = ("who", "when", "where", "number", "why", "yesno", "what")
_TYPE_PATTERNS = (
    (
        "number",
        r"\b(?:how many|how much|how old|how long|how tall|how far|how high|how big|"
        r"how large|what percentage|what share|what age|what score|what amount|what number|"
        r"combien|quel âge|quel pourcentage|quelle part|quel montant|quelle somme|quel score|"
        r"quelle hauteur|quelle taille|quelle distance|à combien)\b",
    ),
    (
        "when",
        r"\b(?:when|what year|which year|what date|what day|since when|how long ago|quand|"
        r"quelle année|en quelle année|quelle date|quel jour|depuis quand|à quelle date)\b",
    ),
    (
        "where",
        r"\b(?:where|which city|which country|which town|which region|which province|"
        r"what city|what country|what town|in which place|où|quelle ville|quel pays|quelle région|"
        r"quelle province|dans quelle|dans quel)\b",
    ),
    (
        "why",
        r"\b(?:why|for what reason|what caused|what led|pourquoi|pour quelle raison|"
        r"qu'est-ce qui a causé|quelle raison|quelle cause|what reason|what prompted)\b",
    ),
    (
        "who",
        r"\b(?:who|whom|whose|qui|which company|which party|which team|which group|"
        r"quelle entreprise|quel parti|quelle équipe|quel groupe|quelle société)\b",
    ),
    ("yesno", r"^(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|est-ce)\b"),
)
_TYPES = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in _TYPE_PATTERNS]
SENTENCE_KINDS = ("names", "year", "date", "number", "amount", "cause", "place")

FEATURES: tuple[str, ...] = (
    "cosine",
    "cosine_gap",  # best candidate's cosine minus this one's
    "cosine_rank",  # 1 / (1 + rank by cosine)
    "overlap",  # rare-among-candidates question words in the sentence, share of the best's
    "overlap_gap",
    "overlap_context",  # ... in the sentence, its title and the sentence before it
    "names",  # the question's capitalised words and numbers found in the sentence
    "names_context",
    "novelty",  # share of the sentence's words that the question does not have
    "log_length",
    "no_before",  # first sentence of its passage
    "pair",
    "question_cosine_best",  # the best cosine for this question: answerability
    "question_overlap_best",
) + tuple(f"{q}*{k}" for q in QUESTION_TYPES for k in SENTENCE_KINDS)


def question_type(question: str) -> str:
    for name, pattern in _TYPES:
        if pattern.search(question):
            return name
    return "what"


def sentence_kinds(sentence: str, question_stems: set[str]) -> dict[str, float]:
    new_names = [n for n in reader_names(sentence) if n not in question_stems and not n.isdigit()]
    words = {w.lower() for w in _WORD.findall(sentence)}
    digits = bool(_DIGIT.search(_YEAR.sub("", sentence)))
    return {
        "names": min(len(new_names), 3) / 3,
        "year": float(bool(_YEAR.search(sentence))),
        "date": float(bool(_MONTHS.search(sentence))),
        "number": float(digits or bool(words & _NUMBER_WORDS)),
        "amount": float(bool(_AMOUNT.search(sentence))),
        "cause": float(bool(_CAUSE.search(sentence))),
        "place": float(bool(_PLACE.search(sentence))),
    }


@dataclass(frozen=True)
class Unit:
    """A candidate as the features see it."""

    sentence: str
    context: str  # title and previous sentence
    cosine: float  # e5 cosine of question and sentence
    cross_lingual: bool  # the question and the sentence's document are in different languages
    first: bool  # no sentence before it in its passage
    pair: bool = False  # two adjacent sentences read as one


def features(question: str, units: Sequence[Unit], margin: float = 0.0) -> list[list[float]]:
    """One row of FEATURES per unit. Cross-lingual cosines run lower than same-language ones:
    they get `margin` back, so that language itself never decides (a model that saw it learnt
    to prefer English distractors for English questions about French articles)."""
    if not units:
        return []
    q_stems = set(reader_stems(question))
    q_names = reader_names(question) - {reader_stem(w) for w in question.split()[:1]}
    kind = question_type(question)
    stems = [set(reader_stems(u.sentence)) for u in units]
    contexts = [s | set(reader_stems(u.context)) for s, u in zip(stems, units, strict=True)]
    singles = [s for s, u in zip(stems, units, strict=True) if not u.pair]  # pairs repeat their words
    n = len(singles)
    weight = {t: math.log((n + 1) / (0.5 + sum(t in s for s in singles))) for t in q_stems}
    total = sum(weight.values()) or 1.0
    # Words match within a language only: a sentence's overlap is measured against the best of
    # the candidates in its own language, so English distractors do not outscore the French
    # answer to an English question for sharing its words.
    raw = [sum(weight[t] for t in q_stems & s) / total for s in stems]
    raw_context = [sum(weight[t] for t in q_stems & c) / total for c in contexts]
    best_raw = {
        side: max((r for r, u in zip(raw, units, strict=True) if u.cross_lingual == side), default=0.0)
        for side in (False, True)
    }
    best_context = {
        side: max((r for r, u in zip(raw_context, units, strict=True) if u.cross_lingual == side), default=0.0)
        for side in (False, True)
    }
    overlap = [r / (best_raw[u.cross_lingual] or 1.0) for r, u in zip(raw, units, strict=True)]
    overlap_context = [r / (best_context[u.cross_lingual] or 1.0) for r, u in zip(raw_context, units, strict=True)]
    cosines = [u.cosine + margin * u.cross_lingual for u in units]
    best_cosine, best_overlap = max(cosines), max(overlap)
    order = sorted(range(len(units)), key=lambda i: -cosines[i])
    rank = {i: r for r, i in enumerate(order)}
    rows = []
    for i, unit in enumerate(units):
        names_here = reader_names(unit.sentence) | stems[i]
        names_context = names_here | contexts[i]
        kinds = sentence_kinds(unit.sentence, q_stems)
        row = {
            "cosine": cosines[i],
            "cosine_gap": best_cosine - cosines[i],
            "cosine_rank": 1.0 / (1 + rank[i]),
            "overlap": overlap[i],
            "overlap_gap": best_overlap - overlap[i],
            "overlap_context": overlap_context[i],
            "names": len(q_names & names_here) / len(q_names) if q_names else 0.0,
            "names_context": len(q_names & names_context) / len(q_names) if q_names else 0.0,
            "novelty": len(stems[i] - q_stems) / len(stems[i]) if stems[i] else 0.0,
            "log_length": math.log1p(len(unit.sentence)) / 6,
            "no_before": float(unit.first),
            "pair": float(unit.pair),
            "question_cosine_best": best_cosine,
            "question_overlap_best": best_overlap,
        }
        for q in QUESTION_TYPES:
            for k in SENTENCE_KINDS:
                row[f"{q}*{k}"] = kinds[k] if q == kind else 0.0
        rows.append([row[name] for name in FEATURES])
    return rows


# --- the answer inside a quoted sentence --------------------------------------------------------

_MONTH_WORDS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|"
    r"décembre|decembre)"
)
_DATE_SPAN = re.compile(
    rf"\b(?:\d{{1,2}}(?:er)?\s+{_MONTH_WORDS}(?:\s+\d{{4}})?|{_MONTH_WORDS}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"{_MONTH_WORDS}\s+\d{{4}}|(?:1[6-9]\d\d|20\d\d))\b",
    re.IGNORECASE,
)
_NUMBER_WORD_ALTERNATION = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_QUANTITY_SPAN = re.compile(
    r"(?:\b(?:près de|environ|plus de|moins de|about|nearly|almost|over|more than|less than|around|some)\s+)?"
    rf"(?:\b\d+(?:[\u202f\u00a0 ]\d{{3}})*(?:[.,]\d+)?|\b(?:{_NUMBER_WORD_ALTERNATION})\b)"
    r"(?:\s*(?:%|‰|€|\$|£|\bpour ?cent\b|\bper ?cent\b))?"
    r"(?:\s+(?:millions?|milliards?|billions?|thousands?|hundreds?|mille|dizaines?|centaines?)\b)?"
    r"(?:\s+(?:de\s+|d['’])?(?:dollars|euros|livres|pounds|francs|ans|years?|mètres|metres|meters|km|kilomètres|"
    r"kilometres|personnes|people)\b)?",
    re.IGNORECASE,
)
_NAME_SPAN = re.compile(
    r"\b[A-ZÀ-Ý][\w'’-]*(?:\s+(?:(?:de|du|des|da|van|von|der|al|bin|la|le)\s+)?[A-ZÀ-Ý][\w'’-]*)*", re.UNICODE
)


def answer_span(question: str, sentence: str) -> tuple[int, int] | None:
    """Where in `sentence` the answer to `question` most likely is, for the questions whose
    answer is a short thing of a known kind: a number or quantity (how many, how much, how old),
    a date or year (when), a name (who) or a place (where). The first such thing the question
    does not already give; None for other questions (why, what, yes/no) or when there is none.
    Offsets are into `sentence`."""
    kind = question_type(question)
    given = set(reader_stems(question)) | reader_names(question)
    folded_question = fold(question)

    def new(start: int, end: int) -> bool:
        text = sentence[start:end].strip()
        if not text or fold(text) in folded_question:
            return False
        return any(reader_stem(w) not in given for w in _WORD.findall(text) if w.lower() not in READER_STOPWORDS)

    if kind == "number":
        for m in _QUANTITY_SPAN.finditer(sentence):
            year_only = _YEAR.fullmatch(m.group().strip()) is not None
            if not year_only and new(m.start(), m.end()):
                return _trimmed(sentence, m.start(), m.end())
    elif kind == "when":
        for m in _DATE_SPAN.finditer(sentence):
            if new(m.start(), m.end()):
                return _trimmed(sentence, m.start(), m.end())
    elif kind in ("who", "where"):
        places = [m.end() - 1 for m in _PLACE.finditer(sentence)] if kind == "where" else []
        found = []
        for m in _NAME_SPAN.finditer(sentence):
            words = m.group().split()
            if words[0].lower() in READER_STOPWORDS:  # "Les", "The" opening a sentence
                continue
            if kind == "where" and m.start() not in places:
                continue
            if new(m.start(), m.end()):
                found.append((len(words) < 2, m.start(), m.end()))
        if found:  # a full name ("Sam Altman") before a single capitalised word ("PDG")
            _, start, end = min(found)
            return _trimmed(sentence, start, end)
    return None


def _trimmed(sentence: str, start: int, end: int) -> tuple[int, int]:
    while end > start and not sentence[end - 1].isalnum() and sentence[end - 1] not in "%€$£":
        end -= 1
    while start < end and sentence[start].isspace():
        start += 1
    return start, end
