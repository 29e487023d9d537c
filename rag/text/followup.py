"""Whether a question continues the conversation or starts a new subject.

A follow-up ("and what did he promise?", "Et combien a-t-elle levé ?", "Why?") is searched
together with the previous question, so that "he" finds the same articles; a question that names
its own subject and points back at nothing ("Combien d'argent Mistral AI a-t-elle levé ?" after a
question on the EastMed pipeline) is searched alone: the previous subject would steer the search
to the wrong articles. English and French.
"""

from __future__ import annotations

import re

from rag.text.names import question_names
from rag.text.words import fold

# Openings that continue: "and ...", "what about ...", "et pour ...", "qu'en est-il de ...".
_CONTINUES = re.compile(
    r"^\s*(?:and|also|but|so|then|what about|how about|what else|et|mais|donc|alors|aussi|"
    r"et pour|qu['’]en est-il|et si|pourquoi pas)\b",
    re.IGNORECASE,
)
# Words that point back at something said before. French subject pronouns after a hyphen
# ("a-t-elle", "est-il") repeat the question's own subject and are left out first.
_INVERSION = re.compile(r"-(?:t-)?(?:il|elle|ils|elles|on)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(
    r"\b(?:he|she|it|its|they|them|their|theirs|him|his|her|hers|this|that|these|those|there|"
    r"the same|the latter|the former|"
    r"il|elle|ils|elles|lui|leur|leurs|son|sa|ses|celui|celle|ceux|celles|celui-ci|celle-ci|"
    r"cela|ça|ce dernier|cette derni[eè]re|l['’]entreprise|la soci[eé]t[eé]|le groupe)\b",
    re.IGNORECASE,
)
# "that" and "this" also open relative clauses and name things ("the deal that..."): they point
# back only when they are the question's object or subject ("why did that happen?").
_WEAK = {"that", "this", "there", "son", "sa", "ses", "leur", "leurs", "its", "their", "his", "her"}
SHORT = 3  # words: "Why?", "And in France?", "Depuis quand ?"


def follows(question: str, previous: str) -> bool:
    """Whether `question` continues the conversation whose last question was `previous`."""
    if not previous.strip():
        return False
    if _CONTINUES.match(question):
        return True
    text = _INVERSION.sub("", question)
    strong = [m.group().lower() for m in _POINTS_BACK.finditer(text) if m.group().lower() not in _WEAK]
    if strong:
        return True
    names = question_names(question)
    if any(fold(name) not in fold(previous) for name in names):
        return False  # it names its own subject
    if len(re.findall(r"\w+", question)) <= SHORT:
        return True
    # No name of its own: a question about "the company", "the deal", "the victims" reads on
    # the previous subject; one with possessives pointing back too.
    return bool(_POINTS_BACK.search(text)) or not names
