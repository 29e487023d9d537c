"""The bundled e5 with a LoRA adapter, for the evidence reader's cosines.

Two adapters ship in rag/weights/: the reader's (reader_adapter/), trained to put a question near
the sentence that answers it rather than the one that shares its topic, and the decider's
(decider_adapter/), trained with on-topic unanswerable questions and a "no answer" candidate
(`python -m eval.reader.train_biencoder --null-bar`): its cosine decides whether to answer, not
which sentence. Each folder holds the LoRA matrices (adapter.safetensors, fp16) and adapter.json
(their scale and sha256, checked when they load). Retrieval keeps the base model's vectors.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError
from rag.models.bundled import model_environment
from rag.models.embedder import cpu_has_bf16
from rag.models.weights import REINSTALL, file_sha256, verified, weight_path

if TYPE_CHECKING:
    from rag.models.embedder import Embedder

ADAPTER_DIR = weight_path("reader_adapter")
DECIDER_DIR = weight_path("decider_adapter")
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_INFO = "adapter.json"
MAX_SENTENCE_TOKENS = 64  # a candidate sentence longer than this is read up to here


def merge_adapter(encoder: Any, state: dict[str, Any], scale: float) -> None:
    """Add each LoRA update, scale * B @ A, to the weight of the layer it was trained for."""
    import torch

    layers = dict(encoder.named_modules())
    with torch.no_grad():
        for key in [k for k in state if k.endswith(".lora_A")]:
            layer = key.removesuffix(".lora_A")
            a, b = state[key].float(), state[f"{layer}.lora_B"].float()
            layers[layer].weight += scale * (b @ a)


class ReaderEmbedder:
    """The bundled e5 with an adapter (`python -m eval.reader.train_biencoder`): the reader's
    cosines rank the sentence that answers a question above the one that shares its topic.
    Used only to score candidate sentences; retrieval keeps the base model's vectors."""

    def __init__(self, base_dir: Path, folder: Path = ADAPTER_DIR) -> None:
        weights = verified(folder) / ADAPTER_WEIGHTS
        scale, sha256 = adapter_info(folder)
        if not weights.exists() or file_sha256(weights) != sha256:
            raise ModelError(
                f"The reader's adapter {weights} is missing or does not match its hash: {REINSTALL} "
                "(developers: python -m eval.reader.train_biencoder)"
            )
        model_environment()
        from safetensors.torch import load_file
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
        self.model = SentenceTransformer(str(base_dir), device="cpu")
        self.model.max_seq_length = MAX_SENTENCE_TOKENS
        self.sha256 = sha256
        try:
            merge_adapter(self.model[0].auto_model, load_file(str(weights)), scale)
        except (KeyError, RuntimeError) as exc:
            raise ModelError(f"The reader's adapter {weights} does not fit the base model ({exc}): retrain it") from exc
        self.model.eval()

    def share_token_embeddings(self, embedder: Embedder) -> bool:
        """Use the retrieval model's token embeddings instead of this copy's when they are the
        same (the adapter does not change them): 96 of e5's 118 M parameters, 384 MB saved in a
        served chat. Whether it shared them."""
        return share_token_embeddings(self.model, embedder)

    def vectors(self, texts: Sequence[str], queries: bool) -> Any:
        """Unit vectors (numpy, one row per text), in bf16 where the CPU computes it natively."""
        import torch

        prefix = "query: " if queries else "passage: "
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_has_bf16()):
            return self.model.encode(
                [prefix + t for t in texts], batch_size=64, normalize_embeddings=True, convert_to_numpy=True
            ).astype("float32")

    def cosines(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        return [float(v) for v in self.vectors(sentences, False) @ self.vectors([question], True)[0]]


def share_token_embeddings(model: Any, embedder: Embedder) -> bool:
    """Point a sentence-transformers model built on the bundled e5 at the retrieval model's token
    embeddings (96 of e5's 118 M parameters, 384 MB) when they are the same: the reader's adapters
    and the judge's training leave them frozen. Whether it shared them."""
    import torch

    mine = model[0].auto_model.embeddings
    theirs: Any = getattr(embedder, "token_embeddings", lambda: None)()
    if theirs is None or theirs is mine.word_embeddings:
        return theirs is not None
    if theirs.weight.shape != mine.word_embeddings.weight.shape or not torch.equal(
        theirs.weight, mine.word_embeddings.weight
    ):
        return False
    mine.word_embeddings = theirs
    return True


def adapter_info(folder: Path) -> tuple[float, str]:
    """An adapter folder's settings (adapter.json): the scale of its LoRA updates and the sha256
    its weights are checked against when they load."""
    try:
        info = json.loads((folder / ADAPTER_INFO).read_text(encoding="utf-8"))
        return float(info["scale"]), str(info["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"The reader's adapter settings {folder / ADAPTER_INFO} cannot be read ({exc}): {REINSTALL}"
        ) from exc


def adapter_sha256(folder: Path) -> str:
    """The sha256 an adapter folder declares for its weights ("" when it cannot be read)."""
    try:
        return adapter_info(folder)[1]
    except ModelError:
        return ""


@functools.lru_cache(maxsize=2)
def load_reader_embedder(base_dir: Path, folder: Path = ADAPTER_DIR) -> ReaderEmbedder:
    return ReaderEmbedder(base_dir, folder)
