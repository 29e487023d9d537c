"""The "cross-encoder" reader: it reads the question and the sentence together and gives the
probability that the sentence answers.

It is the first six layers of the bundled multilingual-e5-small, fine-tuned for answer-sentence
selection (`python -m eval.reader.train`), with a mean-pooling head. Only the trained weights are
saved (fp16 safetensors, about 21 MB, checked against the sha256 in `reader.json` at load time);
they load on top of the bundled base model, whose embeddings stay frozen in training. No weights
ship (README "The reader" says why): RAG_READER_DIR points at a trained one. A candidate is read
with its context: its document's title and the sentence before it, which often carries the
subject the sentence itself leaves out.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError
from rag.models.bundled import model_environment
from rag.models.embedder import cpu_has_bf16
from rag.models.weights import file_sha256
from rag.read.scorer import NothingToPrepare, ReaderInput, bundled_base

if TYPE_CHECKING:
    from rag.settings import Settings

WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"
LAYERS = 6  # of the base model's 12: twice as fast
MAX_LENGTH = 128  # tokens for question + candidate + context


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
    model_environment()
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


def checked_config(folder: Path) -> ReaderConfig:
    """The settings of the trained reader in `folder`, once its weights are there and match the
    hash they declare."""
    weights = folder / WEIGHTS_FILE
    if not (folder / CONFIG_FILE).exists():
        raise ModelError(
            f"No trained reader in {folder}: train one from a checkout with `python -m eval.reader.train --out DIR` "
            "and point RAG_READER_DIR at DIR, or answer with RAG_READER=evidence (the default)"
        )
    try:
        config = ReaderConfig.read(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"The reader's settings {folder / CONFIG_FILE} cannot be read: {exc}") from exc
    if not weights.exists():
        raise ModelError(
            f"The reader's weights {weights} are missing: retrain them from a checkout (python -m eval.reader.train) "
            "or answer with RAG_READER=evidence (the default)"
        )
    actual = file_sha256(weights)
    if actual != config.sha256:
        raise ModelError(
            f"The reader's weights {weights} do not match their hash (sha256 {actual[:12]}..., "
            f"expected {config.sha256[:12]}...): the file is damaged or was replaced; "
            "retrain them from a checkout (python -m eval.reader.train)"
        )
    return config


class Reader:
    """Scores candidates for a question with the trained cross-encoder."""

    def __init__(self, base_dir: Path, folder: Path, batch_size: int = 32) -> None:
        self.config = checked_config(folder)
        from safetensors.torch import load_file

        weights = folder / WEIGHTS_FILE
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

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_has_bf16()):
        scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True)
    return [float(s) for s in scores]


@functools.lru_cache(maxsize=2)
def load_reader(base_dir: Path, folder: Path) -> Reader:
    """The reader, loaded once per process (it is shared by every answerer)."""
    return Reader(base_dir, folder)


class CrossEncoderScorer(NothingToPrepare):
    """The trained reader: calibrated probabilities that a sentence answers the question."""

    name = "cross-encoder"
    pairs = True

    def __init__(self, settings: Settings) -> None:
        self.reader = load_reader(bundled_base(settings), settings.reader_dir)
        self.threshold = self.reader.config.threshold
        self.extra_threshold = self.reader.config.extra_threshold

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        return self.reader.score(question, [candidate for candidate, _ in candidates])
