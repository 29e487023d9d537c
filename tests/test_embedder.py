import os

import pytest

from rag.errors import SettingsError
from rag.models.embedder import SentenceTransformersEmbedder, make_embedder
from rag.settings import Settings


class CountingModel:
    def __init__(self):
        self.calls = 0

    def get_query_embedding(self, text):
        self.calls += 1
        return [float(len(text)), 1.0]


def test_a_repeated_question_is_embedded_once():
    embedder = object.__new__(SentenceTransformersEmbedder)  # no model load: a stand-in model
    embedder._model = CountingModel()
    first = embedder.embed_query("why is the EU looking at Mistral?")
    first.append(99.0)  # callers get their own list, the cached vector stays intact
    assert embedder.embed_query("why is the EU looking at Mistral?") == [33.0, 1.0]
    assert embedder._model.calls == 1
    embedder.embed_query("another question")
    assert embedder._model.calls == 2


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(SettingsError, match="valid: sentence-transformers"):
        make_embedder(Settings.from_env({}, embed_backend="magic"))


def test_the_embedders_callback_manager_does_not_grow_with_each_event():
    import threading

    from llama_index.core.callbacks import CBEventType

    from rag.models.embedder import untraced_callback_manager

    manager = untraced_callback_manager()

    def events() -> None:
        for _ in range(500):
            with manager.event(CBEventType.EMBEDDING):
                pass

    worker = threading.Thread(target=events)
    worker.start()
    worker.join()
    events()
    assert sum(len(ids) for ids in manager._trace_map.values()) <= 1  # the stock one holds 1,000 ids here


def test_passages_are_embedded_shortest_first_and_returned_in_their_order():
    """Sorting by length keeps each batch's padding small; the caller still gets its order."""
    from rag.models.embedder import SentenceTransformersEmbedder

    seen: list[list[str]] = []

    class Model:
        def get_text_embedding_batch(self, texts):
            seen.append(list(texts))
            return [[float(len(t))] for t in texts]

    embedder = object.__new__(SentenceTransformersEmbedder)
    embedder._model, embedder.bfloat16 = Model(), False
    texts = ["a long passage of text", "short", "a middling one"]
    assert embedder.embed_passages(texts) == [[22.0], [5.0], [14.0]]
    assert seen == [["short", "a middling one", "a long passage of text"]]


def test_passages_are_ordered_by_the_model_s_tokens_not_characters():
    """A passage of few long words is short for the model: sorted by its tokenizer's count."""
    seen: list[list[str]] = []

    class Tokenizer:  # one token a word
        def __call__(self, texts, add_special_tokens=True):
            return {"input_ids": [text.split() for text in texts]}

    class Model:
        _model = type("SentenceTransformer", (), {"tokenizer": Tokenizer()})()

        def get_text_embedding_batch(self, texts):
            seen.append(list(texts))
            return [[float(len(t.split()))] for t in texts]

    embedder = object.__new__(SentenceTransformersEmbedder)
    embedder._model, embedder.bfloat16 = Model(), False
    texts = ["a b c d e", "anticonstitutionnellement", "x y"]
    assert embedder.embed_passages(texts) == [[5.0], [1.0], [2.0]]
    assert seen == [["anticonstitutionnellement", "x y", "a b c d e"]]


def test_bf16_is_used_only_where_the_cpu_does_it_natively(monkeypatch):
    from rag.models import embedder

    embedder.cpu_has_bf16.cache_clear()
    flags = open("/proc/cpuinfo").read()
    assert embedder.cpu_has_bf16() == ("amx_bf16" in flags or "avx512_bf16" in flags)
    embedder.cpu_has_bf16.cache_clear()


def test_model_loads_bound_the_cpu_kernel_cache_unless_the_user_set_it(monkeypatch):
    """oneDNN's kernel cache grew `rag ingest corpus/` from 1.6 to 2.6 GB (README "Speed")."""
    from rag.models.bundled import KERNEL_CACHE_CAPACITY, model_environment

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    model_environment()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == KERNEL_CACHE_CAPACITY
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "100")
    model_environment()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "100"
