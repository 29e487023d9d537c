"""Readers: they score each candidate sentence of the retrieved passages for a question, and the
extractive answerer quotes the best (rag/answer.py). Picked by name (RAG_READER):

- "cosine" (the default): the e5 similarity of question and sentence.
- "cross-encoder": reads the question and the sentence together and gives the probability that
  the sentence answers. It is the first six layers of the bundled multilingual-e5-small,
  fine-tuned for answer-sentence selection by eval/reader/train.py, with a mean-pooling head.
  Only the trained weights are saved (fp16 safetensors, about 21 MB, checked against the sha256
  in `reader.json` at load time); they load on top of the bundled base model, whose embeddings
  were frozen during training. Trained on 2 cores it measured worse than the cosine on the news
  suite (README "The reader"), so no weights ship; RAG_READER_DIR points at a trained one. A
  candidate is read with its context: its document's title and the sentence before it, which
  often carries the subject the sentence itself leaves out.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ModelError, SettingsError

if TYPE_CHECKING:
    from rag.embedder import Embedder
    from rag.settings import Settings

WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"
LAYERS = 6  # of the base model's 12: twice as fast
MAX_LENGTH = 128  # tokens for question + candidate + context


@dataclass(frozen=True)
class ReaderInput:
    """A candidate sentence and the context it is read with."""

    sentence: str
    title: str = ""
    before: str = ""  # the sentence before it in its passage, if any

    def text(self) -> str:
        """The reader's second segment: the sentence first, so truncation cuts the context."""
        context = " ".join(part for part in (self.title.strip(), self.before.strip()) if part)
        return f"{self.sentence} | {context}" if context else self.sentence


@dataclass(frozen=True)
class ReaderConfig:
    """What `reader.json` holds: the weights' hash and the calibrated thresholds."""

    sha256: str
    threshold: float  # answerability: abstain when the best candidate's probability is below
    extra_threshold: float  # a second or third sentence joins the answer at or above this
    layers: int = LAYERS
    max_length: int = MAX_LENGTH

    @classmethod
    def read(cls, folder: Path) -> ReaderConfig:
        data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(
            sha256=str(data["sha256"]),
            threshold=float(data["threshold"]),
            extra_threshold=float(data["extra_threshold"]),
            layers=int(data.get("layers", LAYERS)),
            max_length=int(data.get("max_length", MAX_LENGTH)),
        )


def build_cross_encoder(base_dir: Path, layers: int = LAYERS, max_length: int = MAX_LENGTH) -> Any:
    """The reader's architecture over the base model's folder: its first `layers` layers, mean
    pooling, one linear score. Used untrained by the training script, then with weights loaded."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from torch import nn
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()  # the dropped layers 7-12 are "unused weights"
    encoder = Transformer(
        str(base_dir),
        transformer_task="feature-extraction",
        config_kwargs={"num_hidden_layers": layers},
        max_seq_length=max_length,
    )
    hidden = encoder.get_embedding_dimension()
    pooling = Pooling(hidden, pooling_mode="mean")
    head = Dense(hidden, 1, activation_function=nn.Identity(), module_output_name="scores")
    model = CrossEncoder(modules=[encoder, pooling, head], device="cpu", activation_fn=nn.Sigmoid())
    model.max_seq_length = max_length
    return model


def trained_state(model: Any) -> dict[str, Any]:
    """The weights the training changes (everything but the frozen embeddings), in fp16."""
    return {
        name: tensor.detach().to("cpu").half().contiguous()
        for name, tensor in model.state_dict().items()
        if ".embeddings." not in name and ".pooler." not in name  # the pooler is unused
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Reader:
    """Scores candidates for a question with the trained cross-encoder."""

    def __init__(self, base_dir: Path, folder: Path, batch_size: int = 32) -> None:
        weights = folder / WEIGHTS_FILE
        if not (folder / CONFIG_FILE).exists():
            raise ModelError(
                f"No trained reader in {folder}: train one with `python eval/reader/train.py --out DIR` "
                "and point RAG_READER_DIR at DIR, or answer with RAG_READER=cosine (the default)"
            )
        try:
            self.config = ReaderConfig.read(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"The reader's settings {folder / CONFIG_FILE} cannot be read: {exc}") from exc
        if not weights.exists():
            raise ModelError(
                f"The reader's weights {weights} are missing: retrain them with eval/reader/train.py "
                "or answer with RAG_READER=cosine (the default)"
            )
        actual = file_sha256(weights)
        if actual != self.config.sha256:
            raise ModelError(
                f"The reader's weights {weights} do not match their hash (sha256 {actual[:12]}..., "
                f"expected {self.config.sha256[:12]}...): the file is damaged or was replaced; "
                "retrain them with eval/reader/train.py"
            )
        from safetensors.torch import load_file

        self.base_dir = base_dir
        self.batch_size = batch_size
        self.model = build_cross_encoder(base_dir, self.config.layers, self.config.max_length)
        state = {name: tensor.float() for name, tensor in load_file(str(weights)).items()}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or [name for name in missing if ".embeddings." not in name and ".pooler." not in name]:
            raise ModelError(f"The reader's weights {weights} do not fit the reader: retrain them")
        self.model.eval()

    def score(self, question: str, candidates: Sequence[ReaderInput]) -> list[float]:
        """The probability that each candidate answers the question."""
        if not candidates:
            return []
        return predict(self.model, [(question, candidate.text()) for candidate in candidates], self.batch_size)


def predict(model: Any, pairs: list[tuple[str, str]], batch_size: int, progress: bool = False) -> list[float]:
    """The cross-encoder's probabilities for (question, candidate text) pairs, in bf16 where the
    CPU computes it natively (about 3x faster here than fp32)."""
    import torch

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=has_bf16()):
        scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True)
    return [float(s) for s in scores]


@functools.lru_cache(maxsize=1)
def has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX-512 BF16 or AMX); elsewhere fp32 is faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


@functools.lru_cache(maxsize=2)
def load_reader(base_dir: Path, folder: Path) -> Reader:
    """The reader, loaded once per process (it is shared by every answerer)."""
    return Reader(base_dir, folder)


class SentenceScorer(Protocol):
    """Scores candidate sentences for a question; the answerer quotes the best ones.

    `threshold`: the best candidate must score at least this, or the answerer abstains;
    `extra_threshold`: further sentences join the answer at or above this.
    """

    name: str
    threshold: float
    extra_threshold: float

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        """A score for each (candidate, language of its document)."""
        ...


class CrossEncoderScorer:
    """The trained reader: calibrated probabilities that a sentence answers the question."""

    name = "cross-encoder"

    def __init__(self, settings: Settings) -> None:
        from rag.models import bundled_model_dir, is_prepared

        if not is_prepared(settings.model_cache):
            raise ModelError(
                f"The reader needs the bundled model, which is not prepared in {settings.model_cache}: "
                "run `rag models prepare` (the set-up script does it)"
            )
        self.reader = load_reader(bundled_model_dir(settings.model_cache), settings.reader_dir)
        self.threshold = self.reader.config.threshold
        self.extra_threshold = self.reader.config.extra_threshold

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        return self.reader.score(question, [candidate for candidate, _ in candidates])


class CosineScorer:
    """The embedding cosine between question and sentence: no trained weights, any embedding
    model, but it measures topic rather than answerhood (README "The reader"). Cross-lingual
    similarities run lower than same-language ones, so they get `cross_lingual_margin` back."""

    name = "cosine"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.embedder = embedder
        self.margin = settings.cross_lingual_margin
        self.threshold = settings.min_sentence_score
        self.extra_threshold = float("inf")  # one unit: a sentence, or two adjacent ones

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        if not candidates:
            return []
        import numpy as np

        from rag.readers import detect_language

        language = detect_language(question)
        query = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        vectors = np.asarray(self.embedder.embed_passages([c.sentence for c, _ in candidates]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = vectors @ query / np.where(norms == 0, 1.0, norms)
        bonus = np.asarray([0.0 if lang == language else self.margin for _, lang in candidates], dtype=np.float32)
        return [float(s) for s in scores + bonus]


SCORERS = ("cross-encoder", "cosine")


def make_scorer(settings: Settings, embedder: Embedder) -> SentenceScorer:
    """The scorer named by settings.reader."""
    if settings.reader == "cross-encoder":
        return CrossEncoderScorer(settings)
    if settings.reader == "cosine":
        return CosineScorer(settings, embedder)
    raise SettingsError(f"reader must be one of {', '.join(SCORERS)} (got {settings.reader!r})")
