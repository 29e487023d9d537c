"""The small typed objects that cross module boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.text.dates import DateRange


@dataclass(frozen=True)
class Document:
    """One source file turned into text, with what we know about it."""

    doc_id: str
    source: str
    title: str
    date: str
    language: str
    text: str
    content_hash: str
    url: str = ""  # the web address it was fetched from or links to ("" for a plain file)
    author: str = ""
    site: str = ""  # the site's name (a page's og:site_name), when known


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; `start`/`end` are character offsets into the document text."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with the metadata of its document and a fused relevance score."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    date: str
    language: str
    text: str
    start: int
    end: int
    score: float
    url: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "source": self.source,
            "date": self.date,
            "text": self.text,
            "score": round(self.score, 6),
        } | ({"url": self.url} if self.url else {})


@dataclass(frozen=True)
class Citation:
    """What [n] in an answer points to: a quoted span of a retrieved chunk.

    `quote_start`/`quote_end` are offsets into `passage` (the chunk's text), so a reader can
    highlight the span; `doc_start` is where the passage starts in the document. `span_start`/
    `span_end` (into `passage` too, -1 when none) mark the short answer inside the quote when
    the reader finds one (a number, a date, a name: rag.read.features.answer_span).
    """

    n: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    date: str
    quote: str
    passage: str
    quote_start: int
    quote_end: int
    doc_start: int
    span_start: int = -1
    span_end: int = -1
    url: str = ""

    @classmethod
    def of(cls, n: int, hit: Hit, start: int, end: int, span: tuple[int, int] | None = None) -> Citation:
        """Citation n: the span hit.text[start:end] of a retrieved passage; `span`, the answer
        inside it (offsets into the quote)."""
        return cls(
            n=n,
            doc_id=hit.doc_id,
            chunk_id=hit.chunk_id,
            title=hit.title,
            source=hit.source,
            date=hit.date,
            quote=hit.text[start:end],
            passage=hit.text,
            quote_start=start,
            quote_end=end,
            doc_start=hit.start,
            span_start=-1 if span is None else start + span[0],
            span_end=-1 if span is None else start + span[1],
            url=hit.url,
        )

    def to_json(self) -> dict[str, object]:
        return (
            {
                "n": self.n,
                "doc_id": self.doc_id,
                "chunk_id": self.chunk_id,
                "title": self.title,
                "source": self.source,
                "date": self.date,
                "quote": self.quote,
                "start": self.doc_start + self.quote_start,
                "end": self.doc_start + self.quote_end,
            }
            | ({"url": self.url} if self.url else {})
            | (
                {
                    "answer_span": {
                        "text": self.passage[self.span_start : self.span_end],
                        "start": self.doc_start + self.span_start,
                        "end": self.doc_start + self.span_end,
                    }
                }
                if self.span_start >= 0
                else {}
            )
        )


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer, the citations after it, and whether its cited passages
    support it (`score` is the judge's probability; a verbatim quote scores 1)."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    score: float
    reasons: tuple[str, ...] = ()
    dropped: bool = False

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "text": self.text,
            "citations": list(self.citations),
            "supported": self.supported,
            "score": round(self.score, 4),
        }
        if self.reasons:
            data["reasons"] = list(self.reasons)
        if self.dropped:
            data["dropped"] = True
        return data


@dataclass(frozen=True)
class Answer:
    """A short answer whose every sentence carries a citation, or an abstention.

    `backend` names what wrote it ("extractive" or an LLM backend); `notice` says, in one line,
    what went wrong when a generated answer could not be used as is; `removed_citations` counts
    the citations to passages that were not given, which the guards removed; `rejected` keeps
    the generated sentences an extractive fallback replaced, so the user can see why, and
    `fallback` says why it replaced them.
    """

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    backend: str = "extractive"
    sentences: tuple[AnswerSentence, ...] = ()
    notice: str = ""
    removed_citations: int = 0
    rejected: tuple[AnswerSentence, ...] = ()  # what a model wrote, when the fallback replaced it
    # Why the extractive answer replaced a generated one: "failed" (the backend failed to run:
    # unreachable, crashed, timed out...), "empty" (it wrote nothing) or "unsupported" (nothing
    # it wrote held); empty when no fallback happened.
    fallback: str = ""
    dates: DateRange | None = None  # the publication dates the passages were narrowed to
    # The probability that the answer is right (rag/answer/confidence.py); None when the reader
    # has no calibrated confidence, or for an abstention. `hedge`, when the confidence is under
    # the model's bar, is what is shown before the quotes ("The articles may not answer this
    # directly; the closest sentence says:"), in the question's language.
    confidence: float | None = None
    hedge: str = ""

    @property
    def outcome(self) -> str:
        """ "answer", "hedged" or "abstained"."""
        return "abstained" if self.abstained else "hedged" if self.hedge else "answer"

    def to_json(self) -> dict[str, object]:
        """The `rag ask --json` object; an abstention adds the closest passages."""
        data: dict[str, object] = {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "outcome": self.outcome,
            "citations": [c.to_json() for c in self.citations],
            "backend": self.backend,
            "sentences": [s.to_json() for s in self.sentences],
        }
        if self.confidence is not None:
            data["confidence"] = round(self.confidence, 4)
        if self.hedge:
            data["hedge"] = self.hedge
        if self.removed_citations:
            data["removed_citations"] = self.removed_citations
        if self.notice:
            data["notice"] = self.notice
        if self.fallback:
            data["fallback"] = self.fallback
        if self.rejected:
            data["rejected_sentences"] = [s.to_json() for s in self.rejected]
        if self.dates is not None:
            data["dates"] = self.dates.to_json()
        if self.abstained:
            data["closest"] = [h.to_json() for h in self.hits[:3]]
        return data


@dataclass(frozen=True)
class DocumentInfo:
    """A document as the index knows it (for `rag docs list`)."""

    doc_id: str
    title: str
    source: str
    date: str
    language: str
    chunks: int
    content_hash: str
    url: str = ""
    author: str = ""
    site: str = ""

    def to_json(self) -> dict[str, object]:
        extra = {"url": self.url, "author": self.author, "site": self.site}
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "date": self.date,
            "language": self.language,
            "chunks": self.chunks,
        } | {key: value for key, value in extra.items() if value}


@dataclass(frozen=True)
class IngestFailure:
    source: str
    error: str


@dataclass
class IngestReport:
    """What one ingest run did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[IngestFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    """Where the time went, by stage: reading, waiting for the model, embedding passages,
    storing, the reader's sentence vectors (rag/ingest/run.py)."""

    @property
    def ok(self) -> bool:
        return not self.failed

    def timed(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def to_json(self) -> dict[str, object]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "failed": [{"source": f.source, "error": f.error} for f in self.failed],
            "chunks_embedded": self.chunks_embedded,
            "seconds": {stage: round(s, 2) for stage, s in self.seconds.items()},
        }
