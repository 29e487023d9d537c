"""The "evidence" reader, the default: a logistic regression over the features of
rag/read/features.py (the cosine of the reader adapter, word and name overlap, the kind of answer
asked for), with its weights in rag/weights/evidence.json, checked by hash.

It answers only when the decider adapter (rag/read/adapter.py) puts one of the most probable
candidates close enough to the question; that bar is calibrated on news questions. The reader
adapter's sentence vectors are embedded at ingest and kept beside the index
(rag/index/sentence_vectors.py), so a question embeds only itself and those few candidates.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError
from rag.models.weights import REINSTALL, verified, weight_path
from rag.read.adapter import (
    ADAPTER_DIR,
    ADAPTER_INFO,
    DECIDER_DIR,
    MAX_SENTENCE_TOKENS,
    ReaderEmbedder,
    adapter_sha256,
    load_reader_embedder,
)
from rag.read.scorer import Passage, ReaderInput, bundled_base, cosine_scores

if TYPE_CHECKING:
    from rag.index.sentence_vectors import SentenceVectors
    from rag.models.embedder import Embedder
    from rag.models.logistic import LogisticModel
    from rag.settings import Settings

EVIDENCE_FILE = weight_path("evidence.json")


@dataclass(frozen=True)
class EvidenceModel:
    """The evidence reader's weights, as `python -m eval.reader.train_evidence` saves them."""

    logistic: LogisticModel  # over rag.read.features.FEATURES (its own threshold is not used)
    answer_cosine: float  # answer only when the closest candidate's cosine reaches this
    extra_threshold: float  # a further sentence joins the answer at this probability
    adapter_sha256: str = ""  # the reader adapter whose cosines it was trained on ("": the base e5's)
    cross_lingual_margin: float = 0.0  # added to the cosine of a sentence in another language
    decider_sha256: str = ""  # the adapter whose cosine `answer_cosine` bars ("": the reader adapter's)
    decider_candidates: int = 0  # the best candidates, by probability, the decider reads (0: all)

    @classmethod
    def from_json(cls, model: dict[str, Any]) -> EvidenceModel:
        from rag.models.logistic import LogisticModel

        return cls(
            LogisticModel(
                tuple(model["features"]),
                tuple(float(x) for x in model["mean"]),
                tuple(float(x) for x in model["scale"]),
                tuple(float(x) for x in model["coef"]),
                float(model["intercept"]),
            ),
            answer_cosine=float(model["answer_cosine"]),
            extra_threshold=float(model["extra_threshold"]),
            adapter_sha256=str(model.get("adapter_sha256", "")),
            cross_lingual_margin=float(model.get("cross_lingual_margin", 0.0)),
            decider_sha256=str(model.get("decider_sha256", "")),
            decider_candidates=int(model.get("decider_candidates", 0)),
        )

    @classmethod
    def read(cls, path: Path) -> EvidenceModel:
        try:
            data = json.loads(verified(path).read_text(encoding="utf-8"))
            model = data["model"]
            digest = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()
            loaded = cls.from_json(model)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"The evidence reader's weights {path} cannot be read ({exc}): {REINSTALL}") from exc
        if digest != data.get("sha256"):
            raise ModelError(
                f"The evidence reader's weights {path} do not match their hash: the file is damaged or was "
                f"edited; {REINSTALL} (developers: python -m eval.reader.train_evidence)"
            )
        from rag.read.features import FEATURES

        logistic = loaded.logistic
        if logistic.features != FEATURES or not len(logistic.mean) == len(logistic.scale) == len(
            logistic.weights
        ) == len(FEATURES):
            raise ModelError(
                f"The evidence reader's weights {path} were trained on other features than this version "
                f"computes: {REINSTALL} (developers: python -m eval.reader.train_evidence)"
            )
        return loaded


@functools.lru_cache(maxsize=2)
def load_evidence(path: Path = EVIDENCE_FILE) -> EvidenceModel:
    return EvidenceModel.read(path)


class EvidenceScorer:
    """The probability that a sentence answers, from a logistic regression over the cosine of
    the reader adapter, word and name overlap and the kind of answer the question wants
    (rag/read/features.py); its weights ship in rag/weights/evidence.json, checked by hash.

    Whether the question is answered at all is not decided by that probability, which ranks the
    candidates against each other well but says little about whether any of them answers: the
    reader answers when the decider's cosine (a second adapter, trained to keep an unanswered
    question away from every sentence) of the closest of the most probable candidates reaches
    `answer_cosine` (calibrated on retrieved passages for our Wikinews questions, README "The
    reader"); weights without a decider bar the reader adapter's closest cosine instead. When
    it does not, every score is its probability minus one, below the threshold of 0: the
    answerer abstains and the ranking is kept.
    """

    name = "evidence"
    pairs = True
    threshold = 0.0
    kept: SentenceVectors  # the reader adapter's sentence vectors (only with a reader adapter)

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        model: EvidenceModel | None = None,
        adapter: Path = ADAPTER_DIR,
        decider: Path = DECIDER_DIR,
    ) -> None:
        self.embedder = embedder
        self.model = model or load_evidence()
        self.extra_threshold = self.model.extra_threshold
        self.reader_embedder = self._reader_embedder(settings, adapter)
        if self.reader_embedder is not None:
            self.kept = self._kept_vectors(settings, self.reader_embedder)
        # The decider loads when first asked (ingest never needs it); its hash is checked now.
        self.settings, self.decider_dir = settings, decider
        self._decider: ReaderEmbedder | None = None
        self._decider_lock = threading.Lock()  # a served chat's first questions come at once
        self._check_decider(decider)

    def _reader_embedder(self, settings: Settings, adapter: Path) -> ReaderEmbedder | None:
        """The reader adapter the weights were trained on, sharing the retrieval model's token
        embeddings (None for weights trained on the retrieval e5's cosines)."""
        if not self.model.adapter_sha256:
            return None
        reader_embedder = load_reader_embedder(bundled_base(settings), adapter)
        reader_embedder.share_token_embeddings(self.embedder)
        if reader_embedder.sha256 != self.model.adapter_sha256:
            raise ModelError(
                f"The evidence reader {EVIDENCE_FILE} was trained on another adapter than {adapter}: "
                f"{REINSTALL} (developers: python -m eval.reader.train_evidence)"
            )
        return reader_embedder

    @staticmethod
    def _kept_vectors(settings: Settings, reader_embedder: ReaderEmbedder) -> SentenceVectors:
        """The sentence vectors kept beside the index, for this adapter and sentence length."""
        from rag.index.sentence_vectors import FILE_NAME, SentenceVectors

        tag = f"{reader_embedder.sha256}:{MAX_SENTENCE_TOKENS}"
        dimensions = int(reader_embedder.model.get_embedding_dimension() or 0)
        return SentenceVectors(settings.index / FILE_NAME, tag, dimensions)

    def _check_decider(self, decider: Path) -> None:
        """The decider folder declares the weights the bar was calibrated on (or there is none)."""
        declared = adapter_sha256(decider) if self.model.decider_sha256 else ""
        if self.model.decider_sha256 and not declared:
            raise ModelError(f"The decider {decider / ADAPTER_INFO} is missing or unreadable: {REINSTALL}")
        if declared != self.model.decider_sha256:
            raise ModelError(
                f"The evidence reader {EVIDENCE_FILE} was calibrated on another decider than {decider}: "
                f"{REINSTALL} (developers: python -m eval.reader.train_evidence --decider)"
            )

    @property
    def decider(self) -> ReaderEmbedder | None:
        """The decider adapter's copy of e5, loaded on first use (None without one)."""
        if self._decider is None and self.model.decider_sha256:
            with self._decider_lock:
                if self._decider is None:
                    decider = load_reader_embedder(bundled_base(self.settings), self.decider_dir)
                    if decider.sha256 != self.model.decider_sha256:  # changed since the check at start
                        raise ModelError(f"The decider {self.decider_dir} changed since the reader started: restart")
                    decider.share_token_embeddings(self.embedder)
                    self._decider = decider
        return self._decider

    @decider.setter
    def decider(self, decider: ReaderEmbedder | None) -> None:
        self._decider = decider

    def cosines(self, question: str, texts: Sequence[str], owners: dict[str, str] | None = None) -> list[float]:
        """The cosines the model was trained on: the reader adapter's (sentence vectors kept
        from ingest where they were; `owners` names the document of each text, to keep those
        computed now), or the retrieval e5's."""
        if self.reader_embedder is None:
            return cosine_scores(self.embedder, question, texts)
        if not texts:
            return []
        vectors = self.sentence_vectors(texts, owners or {})
        return [float(c) for c in vectors @ self.reader_embedder.vectors([question], True)[0]]

    def sentence_vectors(self, texts: Sequence[str], owners: dict[str, str]) -> Any:
        """The adapter's unit vector of each text (a numpy row each): kept ones are read, the
        others computed and kept under their owner's document id."""
        import numpy as np

        found, computed = self._kept_or_embedded(texts)
        self.kept.put((t, owners.get(t, ""), found[t]) for t in computed)
        return np.stack([found[t] for t in texts])

    def _kept_or_embedded(self, texts: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        """Each text's vector, read from the kept ones or computed now, and the texts computed.
        Computed vectors are rounded to fp16 as kept ones are: an answer does not depend on
        whether its sentences were embedded at ingest or when asked."""
        import numpy as np

        assert self.reader_embedder is not None
        found = self.kept.get(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.reader_embedder.vectors(missing, False).astype(np.float16).astype(np.float32)
            found.update(zip(missing, vectors, strict=True))
        return found, missing

    def prepare(self, passages: Sequence[Passage]) -> None:
        """Embed and keep the sentences of these passages: the question-time reader's work
        done at ingest (rag/index/sentence_vectors.py). A document's earlier rows are dropped first;
        a sentence another document already has is not embedded again. A question in a passage
        is never a candidate (rag/answer/extractive.py's reader_inputs), so it is not embedded."""
        if self.reader_embedder is None or not passages:
            return
        from rag.text.sentences import asks, candidate_sentences

        self.kept.forget([p.doc_id for p in passages])
        rows = dict.fromkeys(
            (s.text, p.doc_id) for p in passages for s in candidate_sentences(p.text, p.title) if not asks(s.text)
        )
        found, _ = self._kept_or_embedded([text for text, _ in rows])
        self.kept.put((text, doc_id, found[text]) for text, doc_id in rows)

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        probabilities, closest = self.read(question, candidates)
        if closest >= self.model.answer_cosine:
            return probabilities
        return [p - 1.0 for p in probabilities]

    def read(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> tuple[list[float], float]:
        """Each candidate's probability of answering, and the question's answerability (the
        cosine `answer_cosine` bars)."""
        if not candidates:
            return [], -1.0
        from rag.read.features import features
        from rag.text.language import detect_language

        language = detect_language(question)
        owners = {piece: c.doc_id for c, _ in candidates for piece in c.pieces}
        texts = list(owners)
        cosine = dict(zip(texts, self.cosines(question, texts, owners), strict=True))
        units = [c.unit(cosine, lang != language) for c, lang in candidates]
        probabilities = self.model.logistic.probabilities(features(question, units, self.model.cross_lingual_margin))
        return probabilities, self.answerability(question, [c for c, _ in candidates], probabilities, cosine)

    def answerability(
        self, question: str, candidates: Sequence[ReaderInput], probabilities: Sequence[float], cosine: dict[str, float]
    ) -> float:
        """The cosine `answer_cosine` bars: the decider's closest to the question among the
        `decider_candidates` most probable candidates (a handful of sentences embedded now), or
        without a decider the reader adapter's closest among all (`cosine`, each piece's)."""
        if self.decider is None:
            return max(cosine.values())
        best = sorted(range(len(candidates)), key=lambda i: -probabilities[i])[: self.model.decider_candidates or None]
        pieces = list(dict.fromkeys(piece for i in best for piece in candidates[i].pieces))
        return max(self.decider.cosines(question, pieces))
