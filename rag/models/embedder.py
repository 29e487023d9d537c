"""Embedding backends behind one small interface, picked by name."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ModelError, SettingsError
from rag.models.bundled import bundled_model_dir, is_prepared, model_environment
from rag.settings import BUNDLED_MODEL, Settings


class Embedder(Protocol):
    """Turns passages and queries into vectors of one fixed dimension."""

    name: str

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class SentenceTransformersEmbedder:
    """Any sentence-transformers model, through llama-index's HuggingFaceEmbedding."""

    bfloat16 = False

    def __init__(self, settings: Settings) -> None:
        model_environment()
        self.name = settings.embed_model
        # bf16 matrix products where the CPU does them natively (AMX or AVX-512 BF16): 2.4x faster
        # embedding, vectors at cosine > 0.9999 of float32's (README "Speed"); float32 elsewhere.
        self.bfloat16 = settings.embed_dtype == "bfloat16" or (settings.embed_dtype == "auto" and cpu_has_bf16())
        model = settings.embed_model
        if model == BUNDLED_MODEL:
            if not is_prepared(settings.model_cache):
                raise ModelError(
                    f"The bundled embedding model is not prepared in {settings.model_cache}: "
                    "run `rag models prepare` (the set-up script does it)"
                )
            model = str(bundled_model_dir(settings.model_cache))
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars are noise for users
        transformers_logging.set_verbosity_error()

        try:
            self._model = HuggingFaceEmbedding(
                callback_manager=untraced_callback_manager(),
                model_name=model,
                query_instruction=settings.query_prefix,
                text_instruction=settings.passage_prefix,
                embed_batch_size=settings.embed_batch_size,
                device="cpu" if not _has_accelerator() else None,
            )
        except OSError as exc:
            raise ModelError(
                f"Could not load the embedding model {settings.embed_model!r}: {exc}. "
                "Give a local folder or a model that is in the Hugging Face cache (RAG_EMBED_MODEL)."
            ) from exc

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        if not self.bfloat16:
            yield
            return
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of the passages, in their order. They are embedded fewest tokens first, so each
        batch of `embed_batch_size` holds passages of about one length: less padding to compute
        (sorted by tokens, PIAF's batches hold 6% padding; by characters, 15%)."""
        lengths = self._token_counts(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        with self._precision():
            vectors = self._model.get_text_embedding_batch([texts[i] for i in order])
        out: list[list[float]] = [[] for _ in texts]
        for position, vector in zip(order, vectors, strict=True):
            out[position] = vector
        return out

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in the model's tokens (its fast tokenizer: 0.1 s for 400 passages);
        in characters where the tokenizer cannot be reached."""
        try:
            tokenizer: Any = self._model._model.tokenizer
            return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
        except (AttributeError, IndexError, KeyError, TypeError):
            return [len(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return list(self._query_vector(text))

    def word_vectors(self, texts: Sequence[str], layer: int) -> list[tuple[list[str], Any]]:
        """Each text's words (as written) and their vectors at one of the model's layers: the
        mean of the word's pieces, unit length; texts read as passages (with their prefix),
        truncated to the model's length. Middle layers align a word with its translation
        (multilingual models learn that): the judge reads them to find a claim's words in the
        passages across languages."""
        import torch

        st: Any = self._model._model
        tokenizer, model = st.tokenizer, st[0].auto_model
        prefix = self._model.text_instruction or ""
        words: list[tuple[list[str], Any]] = [([], None) for _ in texts]
        lengths = self._token_counts(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        for start in range(0, len(order), self._model.embed_batch_size):
            batch = order[start : start + self._model.embed_batch_size]
            encoded = tokenizer(
                [prefix + texts[i] for i in batch],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=st.max_seq_length,
                return_offsets_mapping=True,
            )
            offsets = encoded.pop("offset_mapping").tolist()
            with torch.inference_mode(), self._precision():
                hidden = model(**encoded, output_hidden_states=True).hidden_states[layer]
            states = torch.nn.functional.normalize(hidden.float(), dim=-1).numpy()
            for row, i in enumerate(batch):
                words[i] = _words_of(texts[i], len(prefix), offsets[row], states[row])
        return words

    def token_embeddings(self) -> Any:
        """The model's token embedding layer (a torch module), for a reader built on the same
        base model to share (rag/read/adapter.py); None when it cannot be found."""
        try:
            model: Any = self._model._model[0].auto_model
            return model.embeddings.word_embeddings
        except (AttributeError, IndexError, KeyError, TypeError):
            return None

    @functools.lru_cache(maxsize=256)  # noqa: B019 - embedders live as long as the process
    def _query_vector(self, text: str) -> tuple[float, ...]:
        # `rag ask` needs the question's vector twice (dense search, then sentence scoring).
        with self._precision():
            return tuple(self._model.get_query_embedding(text))


def _words_of(text: str, skip: int, offsets: list[list[int]], states: Any) -> tuple[list[str], Any]:
    """Group a text's pieces into words (pieces that touch), past the first `skip` characters
    (the prefix); each word's vector is the mean of its pieces', unit length."""
    import numpy as np

    spans: list[list[int]] = []  # [start, end, first piece, last piece + 1]
    for k, (a, b) in enumerate(offsets):
        if b <= a or a < skip:
            continue  # special tokens, padding, the prefix
        a, b = a - skip, b - skip
        while a < b and text[a].isspace():
            a += 1  # sentencepiece's pieces may carry the space before them
        if spans and a <= spans[-1][1]:
            spans[-1][1], spans[-1][3] = b, k + 1
        else:
            spans.append([a, b, k, k + 1])
    if not spans:
        return [], np.zeros((0, states.shape[-1]), dtype=np.float32)
    vectors = np.stack([states[first:last].mean(axis=0) for _, _, first, last in spans])
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    return [text[a:b] for a, b, _, _ in spans], vectors


def untraced_callback_manager() -> Any:
    """A llama-index CallbackManager that forgets its events. The stock one appends every event's
    id to a trace map that nothing empties while no trace is running, so a model that lives as
    long as the server (the embedder: two events a question) grows without end (seen with
    tracemalloc in a soak run; tests/test_embedder.py)."""
    from llama_index.core.callbacks import CallbackManager

    class UntracedCallbackManager(CallbackManager):
        def on_event_start(self, *args: Any, **kwargs: Any) -> str:
            event_id = super().on_event_start(*args, **kwargs)
            if not self.handlers:  # nobody will ask for the trace
                self._trace_map.clear()
            return event_id

    return UntracedCallbackManager([])


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (Intel AMX, AVX-512 BF16). Without it
    torch emulates bf16, slower than float32. Machines of one kind differ (some Xeons have AMX,
    some don't), so this is read at run time, never assumed."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _has_accelerator() -> bool:
    import torch

    return bool(torch.cuda.is_available())


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "sentence-transformers": SentenceTransformersEmbedder,
}


def make_embedder(settings: Settings) -> Embedder:
    """The embedding backend named by `settings.embed_backend`."""
    try:
        factory = EMBEDDERS[settings.embed_backend]
    except KeyError:
        valid = ", ".join(sorted(EMBEDDERS))
        raise SettingsError(f"Unknown embedding backend {settings.embed_backend!r}; valid: {valid}") from None
    return factory(settings)
