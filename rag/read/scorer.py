"""The read stage's interface: what a reader reads (ReaderInput, Passage), what it gives
(SentenceScorer), and the simplest reader, the cosine of question and sentence.

The other readers, and the one picked by name (RAG_READER), are in rag/read/registry.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rag.errors import ModelError

if TYPE_CHECKING:
    from rag.models.embedder import Embedder
    from rag.read.features import Unit
    from rag.settings import Settings


@dataclass(frozen=True)
class ReaderInput:
    """A candidate sentence and the context it is read with."""

    sentence: str
    title: str = ""
    before: str = ""  # the sentence before it in its passage, if any
    parts: tuple[str, ...] = ()  # for two adjacent sentences read as one: the two
    doc_id: str = ""  # the document it comes from, if known (its vectors are kept under it)

    @property
    def pieces(self) -> tuple[str, ...]:
        """The sentences it is made of: its parts, or the sentence itself."""
        return self.parts or (self.sentence,)

    def unit(self, cosine: dict[str, float], cross_lingual: bool) -> Unit:
        """What the evidence features read of it, given each sentence's cosine to the question:
        a pair is as close as the closer of its sentences (nothing more to embed)."""
        from rag.read.features import Unit

        closest = max(cosine[piece] for piece in self.pieces)
        return Unit(
            self.sentence, f"{self.title} {self.before}", closest, cross_lingual, not self.before, len(self.parts) > 1
        )

    def text(self) -> str:
        """The reader's second segment: the sentence first, so truncation cuts the context."""
        context = " ".join(part for part in (self.title.strip(), self.before.strip()) if part)
        return f"{self.sentence} | {context}" if context else self.sentence


@dataclass(frozen=True)
class Passage:
    """A stored chunk as the reader reads it."""

    doc_id: str
    title: str
    text: str


class SentenceScorer(Protocol):
    """Scores candidate sentences for a question; the answerer quotes the best ones.

    `threshold`: the best candidate must score at least this, or the answerer abstains;
    `extra_threshold`: further sentences join the answer at or above this.
    """

    name: str
    threshold: float
    extra_threshold: float
    pairs: bool  # whether two adjacent sentences are also read together, as one candidate

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        """A score for each (candidate, language of its document)."""
        ...

    def prepare(self, passages: Sequence[Passage]) -> None:
        """Do now, at ingest, what reading these newly stored passages will need (their
        documents' earlier versions are gone): nothing, or embed their sentences. A removed
        document's part is dropped by rag.index.sentence_vectors.forget_documents."""
        ...


class NothingToPrepare:
    """For the readers that compute everything when asked."""

    def prepare(self, passages: Sequence[Passage]) -> None:
        return None


def bundled_base(settings: Settings) -> Path:
    """The bundled e5's folder, which the trained readers load on top of."""
    from rag.models.bundled import bundled_model_dir, is_prepared

    if not is_prepared(settings.model_cache):
        raise ModelError(
            f"The reader needs the bundled model, which is not prepared in {settings.model_cache}: "
            "run `rag models prepare` (the set-up script does it)"
        )
    return bundled_model_dir(settings.model_cache)


class CosineScorer(NothingToPrepare):
    """The embedding cosine between question and sentence: no trained weights, any embedding
    model, but it measures topic rather than answerhood (README "The reader"). Cross-lingual
    similarities run lower than same-language ones, so they get `cross_lingual_margin` back."""

    name = "cosine"
    pairs = True  # a sentence, or two adjacent ones when together they match better

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.embedder = embedder
        self.margin = settings.cross_lingual_margin
        self.threshold = settings.min_sentence_score
        self.extra_threshold = float("inf")  # one unit: a sentence, or two adjacent ones

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        if not candidates:
            return []
        import numpy as np

        from rag.text.language import detect_language

        language = detect_language(question)
        scores = np.asarray(cosine_scores(self.embedder, question, [c.sentence for c, _ in candidates]))
        bonus = np.asarray([0.0 if lang == language else self.margin for _, lang in candidates], dtype=np.float32)
        return [float(s) for s in scores + bonus]


def cosine_scores(embedder: Embedder, question: str, sentences: Sequence[str]) -> list[float]:
    """The e5 cosine between the question and each sentence."""
    import numpy as np

    query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    vectors = np.asarray(embedder.embed_passages(list(sentences)), dtype=np.float32).reshape(len(sentences), -1)
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
    return [float(s) for s in vectors @ query / np.where(norms == 0, 1.0, norms)]
