"""Words compared loosely: folding, stopwords, content words and names, one copy each.

The reader (rag/read/features.py) and the judge (rag/judge/embedded.py) each cut words to a
crude stem of their first letters, but they split text, drop stopwords and pick names in
different ways: each logistic model's weights were fitted on the features its own way gives,
so both ways are kept, side by side here, under the name of the model that needs them.
"""

from __future__ import annotations

import functools
import re
import unicodedata


def fold(text: str) -> str:
    """Lower case without accents, so that "Européenne" and "europeenne" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# --- stopwords ---------------------------------------------------------------------------------


@functools.cache
def bm25_stopwords() -> frozenset[str]:
    """bm25s's English and French stopwords, as written: what the lexical index leaves out."""
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    return frozenset(STOPWORDS_EN) | frozenset(STOPWORDS_FRENCH)


@functools.cache
def folded_stopwords() -> frozenset[str]:
    """The same words folded, as the judge compares words."""
    return frozenset(fold(w) for w in bm25_stopwords())


# The evidence reader's own list (compared lower-cased, not folded): its weights were fitted on
# features computed with exactly these words left out.
READER_STOPWORDS = frozenset(
    """
    a an the of to in on at by for from with without about into over under after before between
    and or but nor so yet if then than that this these those there here it its is are was were be
    been being has have had do does did done can could will would shall should may might must not
    no yes as also which who whom whose what when where why how many much more most other such
    some any each all both few very just only own same too again further once his her their our
    your my he she they we you i me him them us one two first last new said says say
    le la les l un une des du de d au aux et ou mais donc or ni car que qu qui quoi dont où ce
    cet cette ces son sa ses leur leurs notre nos votre vos mon ma mes il elle ils elles on nous
    vous je tu se s en y ne pas plus est sont été être était étaient a ont avait avaient fait
    par pour sur sous dans avec sans entre vers chez depuis pendant après avant comme aussi très
    quel quelle quels quelles combien quand comment pourquoi lequel laquelle lesquels lesquelles
    """.split()
)

# --- the judge's words: folded first, then split into ASCII letters and digits ----------------

_JUDGE_WORD = re.compile(r"[a-z0-9]+")
_JUDGE_NAME = re.compile(r"(?<![\w'’])[A-ZÀ-ÖØ-Þ][\w'’-]+")


def judge_words(text: str, stopwords: frozenset[str] | None = None) -> list[str]:
    """Content words cut to 5 letters: a crude stemmer that serves French and English alike.
    `stopwords`: folded ones (default: `folded_stopwords()`)."""
    stop = folded_stopwords() if stopwords is None else stopwords
    return [w[:5] for w in _JUDGE_WORD.findall(fold(text)) if w not in stop and len(w) > 1]


def judge_names(text: str) -> dict[str, str]:
    """Capitalised words (not opening a sentence) keyed by their first 6 folded letters."""
    names = {}
    for match in _JUDGE_NAME.finditer(text):
        before = text[: match.start()].rstrip()
        if not before or before[-1] in '.!?:«"“':
            continue
        names[fold(match.group())[:6]] = match.group()
    return names


# --- the reader's words: split as written (any letters), then folded -------------------------

_READER_WORD = re.compile(r"\w+", re.UNICODE)
_READER_TOKEN = re.compile(r"[\w'-]+", re.UNICODE)


def reader_stem(word: str) -> str:
    """The word's stem: folded, cut to five letters."""
    return fold(word)[:5]


def reader_stems(text: str) -> list[str]:
    """The stems of the text's words that are not READER_STOPWORDS."""
    return [reader_stem(w) for w in _READER_WORD.findall(text) if w.lower() not in READER_STOPWORDS and len(w) > 1]


def reader_names(text: str) -> set[str]:
    """Stems of capitalised words (not the first of the text) and numbers."""
    text = text.strip()
    found = {m for m in _READER_WORD.findall(text) if m.isdigit()}
    for match in _READER_TOKEN.finditer(text):
        word = match.group()
        if match.start() == 0 or not word[0].isupper() or word.lower() in READER_STOPWORDS:
            continue
        if text[: match.start()].rstrip().endswith((".", "!", "?", ":")):
            continue  # a sentence's first word
        found.add(reader_stem(word))
    return found
