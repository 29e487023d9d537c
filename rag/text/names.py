"""The names a question asks about: people, organisations, places, events, as written.

News questions are mostly about someone or something named ("Who is Brad Smith?", "Combien
Mistral AI a-t-elle levé ?"). A name is the one part of an English question that a French article
spells the same way, so retrieval reads the passages that hold it (rag/search/hybrid.py). A
name here is a run of capitalised words (or an acronym), joined by the particles names carry
("Charles de Gaulle", "Banque de France"), that does not open the question unless it is not a
common word ("Microsoft a-t-il investi ?" names Microsoft; "Qui est..." names nobody).
"""

from __future__ import annotations

import functools
import re

from rag.text.words import bm25_stopwords, fold

_WORD = re.compile(r"[^\W\d_][\w’'.-]*[\w]|[^\W\d_]", re.UNICODE)
_POSSESSIVE = re.compile(r"['’]s?$")  # "Turkey's", "Reuters'"
_ELISION = re.compile(r"^(?:[dDlLjJnNsScCmMtT]|[qQ]u|[jJ]usqu|[lL]orsqu|[pP]uisqu)['’]")
# Words that join the capitalised words of one name.
PARTICLES = frozenset("de du des d la le van von der den da di al el bin ibn y of the and et".split())
# Capitalised words that open or fill questions without naming anything.
_COMMON = frozenset(
    """
    who whom whose what which when where why how is are was were do does did has have had can
    could will would should may might must in on at by for from with about after before since
    during and or but if the a an this that these those there tell give name list according
    qui que quoi quel quelle quels quelles quand où pourquoi comment combien est-ce est sont
    était a ont avait le la les l un une des du de d au aux en dans par pour sur selon depuis
    après avant pendant et ou mais si ce cet cette ces il elle ils elles on y
    """.split()
)


@functools.cache
def _not_names() -> frozenset[str]:
    """Words that are no name even capitalised: the stopwords and the words questions open with."""
    return bm25_stopwords() | _COMMON


def question_names(question: str) -> list[str]:
    """The names in `question`, in order, each once: runs of capitalised words or acronyms."""
    names: list[str] = []
    run: list[str] = []
    pending: list[str] = []  # particles seen after a name's word, kept if another word follows

    def close() -> None:
        if run and " ".join(run) not in names:
            names.append(" ".join(run))
        run.clear()
        pending.clear()

    end = 0
    for i, match in enumerate(_WORD.finditer(question)):
        gap, end = question[end : match.start()], match.end()
        word = _POSSESSIVE.sub("", _ELISION.sub("", match.group())).rstrip(".")
        if not word:
            continue
        if run and gap.strip(" -"):  # a comma, a quote, a bracket ends a name
            close()
        lower = word.lower()
        acronym = len(word) > 1 and word.isupper()  # "EU", "AI": French stopwords in lower case
        capital = word[0].isupper() and (acronym or lower not in _not_names())
        if i == 0 and lower in _COMMON and not acronym:
            capital = False  # "What", "Qui": the question's first word
        if capital:
            run.extend(pending)
            pending.clear()
            run.append(word)
        elif run and lower in PARTICLES and word == lower:
            pending.append(word)
        else:
            close()
    close()
    return names


# The languages whose names of countries and regions `spellings` knows (Babel's CLDR data).
LANGUAGES = ("en", "fr")


# Names the press still uses beside CLDR's ("Türkiye" since 2022) and short forms.
_ALSO = {"TR": ("Turkey",), "US": ("USA", "US"), "GB": ("UK", "Britain", "Great Britain")}


def spellings(name: str) -> list[str]:
    """`name` and its other spellings: a country's or region's name in the other languages
    ("Mexico": also "Mexique"; "Royaume-Uni": also "United Kingdom")."""
    others = _territories().get(fold(name), ())
    return [name, *(other for other in others if fold(other) != fold(name))]


@functools.cache
def _territories() -> dict[str, tuple[str, ...]]:
    """Each country's or region's name, folded, to its names in LANGUAGES."""
    from babel import Locale

    names: dict[str, set[str]] = {}
    tables = [Locale(language).territories for language in LANGUAGES]
    for code in tables[0]:
        group = {table[code] for table in tables if code in table} | set(_ALSO.get(str(code), ()))
        for spelling in group:
            names.setdefault(fold(spelling), set()).update(group)
    return {key: tuple(sorted(group)) for key, group in names.items()}


# "Who is Brad Smith?", "Qui est Brad Smith ?", "What is Mistral AI?", "Qu'est-ce que l'OMS ?"
_DEFINITION = re.compile(
    r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+(?P<en>.+?)\s*\?*\s*$"
    r"|^\s*(?:qui|qu['’]est-ce\s+qu[e'’]|que)\s*(?:est|était|sont|étaient|)\s*(?P<fr>.+?)\s*\?*\s*$",
    re.IGNORECASE,
)


def defined_name(question: str) -> str | None:
    """The name a question asks to be told about, when that is all it asks ("Who is Brad Smith?",
    "Qui est Brad Smith ?"); None for any other question."""
    match = _DEFINITION.match(question)
    if not match:
        return None
    rest = match.group("en") or match.group("fr") or ""
    rest = re.sub(r"^(?:the|le|la|les|l['’])\s*", "", rest, flags=re.IGNORECASE)
    names = question_names(rest)
    return names[0] if len(names) == 1 and fold(names[0]) == fold(rest.strip(" ?")) else None


def apposition(sentence: str, name: str) -> tuple[int, int] | None:
    """Where `sentence` says who or what `name` is, in an apposition: "Brad Smith, président
    de Microsoft," or "Brad Smith (Microsoft's president)"; offsets of the description into
    `sentence`, or None."""
    pattern = re.compile(
        re.escape(name)
        + r"\s*(?:,\s*(?P<comma>[^\W\d][^,.;:!?«»\"()]{2,80}?)\s*(?=[,.;:!?»\"]|$)|\((?P<paren>[^)]{3,80})\))",
        re.IGNORECASE,
    )
    for match in pattern.finditer(sentence):
        group = "comma" if match.group("comma") else "paren"
        text = match.group(group)
        first = text.split()[0]
        # a description opens with a lower-case word ("président", "the head of"), not with
        # the next item of a list ("Brad Smith, Satya Nadella and...") or a verb's subject
        if first[0].islower() or first.lower() in {"the", "a", "an", "le", "la", "les", "l'", "un", "une"}:
            return match.start(group), match.end(group)
    return None
