import pytest

from rag.errors import NoIndexError, SettingsError
from rag.pipeline import build_pipeline
from rag.settings import Settings
from tests.conftest import FakeEmbedder

ARTICLES = {
    "peche.txt": "Les pêcheurs bretons protestent contre les quotas de thon fixés par Bruxelles.",
    "budget.txt": "Le gouvernement présente un budget de la défense en hausse pour 2025.",
    "mistral.txt": "La Commission européenne examine l'accord entre Microsoft et Mistral AI.",
}


@pytest.fixture
def indexed(fake_pipeline, tmp_path):
    for name, text in ARTICLES.items():
        (tmp_path / name).write_text(text)
    fake_pipeline.ingest([tmp_path])
    return fake_pipeline


def test_hybrid_search_finds_the_right_document(indexed):
    hits = indexed.search("accord Microsoft Mistral", top_k=2)
    assert hits[0].source.endswith("mistral.txt")
    assert hits[0].title.startswith("La Commission")
    assert len(hits) == 2 and hits[0].score >= hits[1].score


@pytest.mark.parametrize("fusion", ["relative", "rrf"])
def test_both_fusion_modes(settings, tmp_path, fusion):
    pipeline = build_pipeline(settings.with_(fusion=fusion), embedder=FakeEmbedder())
    for name, text in ARTICLES.items():
        (tmp_path / name).write_text(text)
    pipeline.ingest([tmp_path])
    assert pipeline.search("quotas de thon")[0].source.endswith("peche.txt")


def test_lexical_index_follows_changes(indexed, tmp_path):
    indexed.search("thon")  # builds and caches the BM25 index
    (tmp_path / "peche.txt").write_text("Article sur les vendanges en Bourgogne.")
    indexed.ingest([tmp_path])
    hits = indexed.search("vendanges Bourgogne")
    assert hits[0].source.endswith("peche.txt") and "vendanges" in hits[0].text
    assert all("thon" not in h.text for h in hits)


def test_search_without_documents_says_what_to_do(settings):
    pipeline = build_pipeline(settings, embedder=FakeEmbedder())
    with pytest.raises(NoIndexError, match="rag ingest"):
        pipeline.search("anything")
    assert not settings.index.exists(), "a search must not create an index"


def test_unknown_fusion_mode_lists_valid_ones(indexed):
    with pytest.raises(SettingsError, match="relative, rrf"):
        build_pipeline(indexed.settings.with_(fusion="magic"), embedder=FakeEmbedder()).search("x")


def test_settings_from_environment():
    s = Settings.from_env({"RAG_TOP_K": "7", "RAG_LEXICAL_WEIGHT": "0.5", "RAG_INDEX": "/tmp/i"})
    assert (s.top_k, s.lexical_weight, str(s.index)) == (7, 0.5, "/tmp/i")
    with pytest.raises(SettingsError, match="RAG_TOP_K"):
        Settings.from_env({"RAG_TOP_K": "many"})


def test_concurrent_searches_share_one_lexical_sync_and_see_the_change(indexed, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from rag.index.lexical import LexicalIndex

    indexed.search("voitures")
    (tmp_path / "ski.txt").write_text("Les stations de ski des Pyrénées manquent de neige cet hiver.")
    indexed.ingest([tmp_path / "ski.txt"])
    applied = []
    plain = LexicalIndex.sync

    def counted(self):
        result = plain(self)
        if result != (0, 0):
            applied.append(result)
        return result

    monkeypatch.setattr(LexicalIndex, "sync", counted)
    with ThreadPoolExecutor(max_workers=8) as pool:
        tops = list(pool.map(lambda _: indexed.search("neige Pyrénées", 1)[0].text, range(16)))
    assert applied == []  # the ingest brought the lexical index along: nothing left to sync
    assert all("neige" in text for text in tops)
    assert indexed.index.lexical.count() == indexed.store.count()
    assert indexed.index.lexical.is_current()


def test_a_passage_only_bm25_found_is_given_its_dense_score_too(indexed):
    """An English question naming a French article's rare word: when the dense side's candidates
    miss that article, it must not count as the dense side's worst; its own cosine is used."""
    import numpy as np

    from rag.search.retrievers import DenseRetriever

    store, embedder = indexed.store, indexed.embedder
    lexical = indexed.retriever.lexical().retrieve("Mistral")
    assert lexical and lexical[0].node.metadata["source"].endswith("mistral.txt")
    dense = DenseRetriever(store, embedder, 1, None, lexical)  # one dense candidate only
    found = {n.node.node_id: n.score for n in dense.retrieve("Bruxelles thon quotas")}
    mistral = lexical[0].node.node_id
    assert mistral in found and len(found) == 2
    stored = store.collection.get(ids=[mistral], include=["embeddings"])["embeddings"][0]
    expected = float(np.dot(stored, embedder.embed_query("Bruxelles thon quotas")))
    assert found[mistral] == pytest.approx(expected, abs=1e-5)


def test_a_name_found_in_an_article_in_another_language_is_not_outvoted(settings, tmp_path):
    """ "Who is Brad Smith?" over a French article naming him once and an English one about
    another Smith, who is named again and again: the dense side and BM25 prefer the English
    one; the name side (the passages in another language that hold the whole name) does not."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "microsoft.txt").write_text(
        "Le partenariat avec OpenAI a favorisé la concurrence, assure Brad Smith, président de Microsoft."
    )
    (docs / "ship.txt").write_text("Who is Smith? Smith is the researcher who is tracking the ship.")
    for name, text in ARTICLES.items():  # other subjects, as a real index has
        (docs / name).write_text(text)
    # The fake embedder's vectors are bags of words: the English article's cosine is far above the
    # French one's, more than e5's; the name weighs as much as the other two sides here (the
    # default, on e5: tests/test_real_model.py).
    on = build_pipeline(settings.with_(name_weight=1.0), embedder=FakeEmbedder())
    on.ingest([docs])
    off = build_pipeline(settings.with_(name_weight=0.0), embedder=FakeEmbedder())
    assert off.search("Who is Brad Smith?", top_k=1)[0].source.endswith("ship.txt")
    assert on.search("Who is Brad Smith?", top_k=1)[0].source.endswith("microsoft.txt")
    # In the question's own language BM25 counts the name already: nothing is added there.
    assert [h.source for h in on.search("Qui est Brad Smith ?")] == [
        h.source for h in off.search("Qui est Brad Smith ?")
    ]
