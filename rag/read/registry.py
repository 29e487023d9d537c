"""The readers, picked by name (RAG_READER). A reader scores each candidate sentence of the
retrieved passages for a question, and the extractive answerer quotes the best
(rag/answer/extractive.py):

- "evidence" (the default, rag/read/evidence.py): a logistic regression over the cosine of e5
  with a LoRA adapter trained to put a question near its answer sentence, word and name overlap
  and the kind of answer asked for; a second adapter, the decider, decides whether to answer.
- "cosine" (rag/read/scorer.py): the retrieval model's similarity of question and sentence (any
  embedding model).
- "cross-encoder" (rag/read/cross_encoder.py): a trained cross-encoder reads the question and the
  sentence together; no weights ship, RAG_READER_DIR points at a trained one.

README "The reader" compares them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.errors import SettingsError
from rag.read.cross_encoder import CrossEncoderScorer
from rag.read.evidence import EvidenceScorer
from rag.read.scorer import CosineScorer, SentenceScorer

if TYPE_CHECKING:
    from rag.models.embedder import Embedder
    from rag.settings import Settings

SCORERS = ("cosine", "evidence", "cross-encoder")


def make_scorer(settings: Settings, embedder: Embedder) -> SentenceScorer:
    """The scorer named by settings.reader."""
    if settings.reader == "cross-encoder":
        return CrossEncoderScorer(settings)
    if settings.reader == "cosine":
        return CosineScorer(settings, embedder)
    if settings.reader == "evidence":
        return EvidenceScorer(settings, embedder)
    raise SettingsError(f"reader must be one of {', '.join(SCORERS)} (got {settings.reader!r})")
