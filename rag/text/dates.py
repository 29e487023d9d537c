"""Publication dates: the range a search is narrowed to, and the range a question names.

A document's date may be a day (2024-02-27), a month (2024-02) or a year (2024). Each chunk
stores the first and the last day its date covers as numbers (`date_from`, `date_to`: 20240201
and 20240231 for "2024-02"), so Chroma's `$gte`/`$lte` and SQLite can filter on them; a range
keeps every document whose dates overlap it. An undated document has 0 for both: any range
leaves it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rag.errors import RagError

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_PARTIAL = re.compile(r"\b(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\b")

MONTHS = {
    **{
        name: i
        for i, names in enumerate(
            [
                ("january", "jan", "janvier", "janv"),
                ("february", "feb", "février", "fevrier", "févr", "fevr"),
                ("march", "mar", "mars"),
                ("april", "apr", "avril", "avr"),
                ("may", "mai"),
                ("june", "jun", "juin"),
                ("july", "jul", "juillet", "juil"),
                ("august", "aug", "août", "aout"),
                ("september", "sep", "sept", "septembre"),
                ("october", "oct", "octobre"),
                ("november", "nov", "novembre"),
                ("december", "dec", "décembre", "decembre", "déc"),
            ],
            1,
        )
        for name in names
    }
}
_MONTH_NAMES = "|".join(
    sorted((re.escape(m) for m in MONTHS if len(m) > 3 or m in ("may", "mai")), key=len, reverse=True)
)
# "in 2016", "en 2016", "during 2016", "in March 2016", "en mars 2016"; "au printemps 2016" is not
# a month: only a year or a named month followed by its year narrows the search. After "of",
# "de", "du" a number is more often a count ("plus de 2000 manifestants", "a crowd of 2000
# people"): there the year must end the clause ("le budget de 2016 ?").
_YEAR = r"(?:19|20)\d\d"
_IN_QUESTION = re.compile(
    rf"\b(?:in|en|during|from|since|depuis|durant|pendant|année|year)\s+"
    rf"(?:(?:the\s+)?(?:month\s+of\s+|mois\s+de\s+)?(?P<month>{_MONTH_NAMES})\s+)?(?P<year>{_YEAR})\b"
    rf"|\b(?:of|de|du|d')\s*(?P<year3>{_YEAR})(?=\s*(?:[?.!,;:»)]|$))"
    rf"|\b(?P<month2>{_MONTH_NAMES})\s+(?P<year2>{_YEAR})\b",
    re.IGNORECASE,
)


def bounds(date: str) -> tuple[int, int]:
    """The first and last day a stored date covers, as YYYYMMDD numbers ((0, 0) when undated)."""
    found = _PARTIAL.search(date or "")
    if not found:
        return 0, 0
    year, month, day = found.group(1), found.group(2), found.group(3)
    if day:
        value = int(f"{year}{month}{day}")
        return value, value
    if month:
        return int(f"{year}{month}01"), int(f"{year}{month}31")
    return int(f"{year}0101"), int(f"{year}1231")


@dataclass(frozen=True)
class DateRange:
    """Keep documents dated from `since` to `until` (either may be open). `from_question` says
    the range was read from the question rather than given."""

    since: str = ""
    until: str = ""
    from_question: bool = False

    @classmethod
    def parse(cls, since: str | None = None, until: str | None = None) -> DateRange | None:
        """A range from user input (YYYY, YYYY-MM or YYYY-MM-DD each), or None when both are
        empty; a RagError naming the field when one is not a date."""
        since, until = _check("since", since), _check("until", until)
        if not since and not until:
            return None
        if since and until and bounds(since)[0] > bounds(until)[1]:
            raise RagError(f"The date range is empty: since {since} is after until {until}")
        return cls(since, until)

    @property
    def low(self) -> int:
        return bounds(self.since)[0] if self.since else 0

    @property
    def high(self) -> int:
        return bounds(self.until)[1] if self.until else 99991231

    def chroma_where(self) -> dict[str, Any]:
        """Chroma's filter: documents whose dates overlap the range."""
        return {"$and": [{"date_to": {"$gte": max(self.low, 1)}}, {"date_from": {"$lte": self.high}}]}

    def covers(self, date: str) -> bool:
        """Whether a document with this date overlaps the range (an undated one never does)."""
        low, high = bounds(date)
        return high >= max(self.low, 1) and low <= self.high

    def note(self) -> str:
        """What an answer says of the range its passages were narrowed to."""
        why = " (named in the question; plus the best passage of any date)" if self.from_question else ""
        return f"Documents dated {self.describe()}{why}"

    def describe(self) -> str:
        if self.since and self.until:
            return self.since if self.since == self.until else f"{self.since} to {self.until}"
        return f"since {self.since}" if self.since else f"until {self.until}"

    def to_json(self) -> dict[str, object]:
        return {"since": self.since, "until": self.until, "from_question": self.from_question}


def _check(name: str, value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    found = _DATE.match(value)
    if found:
        year, month, day = found.group(1), found.group(2), found.group(3)
        month_ok = month is None or 1 <= int(month) <= 12
        day_ok = day is None or 1 <= int(day) <= 31
        if month_ok and day_ok:
            return "-".join(part.zfill(2) for part in (year, month, day) if part)
    raise RagError(f"--{name} {value!r} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2018-01-01)")


def range_in_question(question: str) -> DateRange | None:
    """The year or month a question names ("what happened in Burundi in 2016?", "en mars 2018",
    "in March 2018"), as a range; None when it names none, or several different ones (then it
    compares periods, and narrowing to one would hide the other)."""
    found = set()
    for match in _IN_QUESTION.finditer(question):
        year = match.group("year") or match.group("year2") or match.group("year3")
        month = match.group("month") or match.group("month2")
        found.add(f"{year}-{MONTHS[month.lower()]:02d}" if month else year)
    if len(found) != 1:
        return None
    (period,) = found
    return DateRange(period, period, from_question=True)


_RECENT = re.compile(
    r"\b(?:latest|most recent|recently|newest|dernier|dernière|derniers|dernières|récemment|récent|récente)\b",
    re.IGNORECASE,
)


def wants_recent(question: str) -> bool:
    """Whether the question asks for the latest news ("the latest on the Brexit vote", "les
    dernières nouvelles"): then newer passages win ties."""
    return bool(_RECENT.search(question))
