"""The lexical index (BM25 over SQLite FTS5) follows the store: add, update, remove, and the
writes of other processes, without rebuilding."""

from __future__ import annotations

from rag.index.lexical import tokens
from rag.pipeline import build_pipeline
from tests.conftest import FakeEmbedder


def test_tokens_are_lowercased_stemmed_words_without_stopwords_or_accents():
    assert tokens("Les élections présidentielles et le Président") == ["elect", "presidentiel", "president"]
    assert tokens("François") == tokens("Francois")
    assert tokens("a I à l' de") == []


def test_each_write_brings_the_lexical_index_along_add_update_and_remove(indexed, tmp_path):
    lexical = indexed.index.lexical
    indexed.search("voitures")
    assert lexical.count() == indexed.store.count() and lexical.is_current()

    (tmp_path / "ski.txt").write_text("Les stations de ski des Pyrénées manquent de neige.")
    indexed.ingest([tmp_path / "ski.txt"])
    assert lexical.is_current()  # the write itself updated it: nothing to catch up
    assert lexical.sync() == (0, 0)
    assert [n.metadata["source"] for n, _ in lexical.search("neige Pyrénées", 3)][0].endswith("ski.txt")

    (tmp_path / "ski.txt").write_text("Les stations de ski des Alpes ouvrent avec de la neige fraîche.")
    indexed.ingest([tmp_path / "ski.txt"])
    assert lexical.is_current()
    assert lexical.search("Pyrénées", 3) == []  # its old chunks out, its new ones in
    assert "Alpes" in lexical.search("Alpes", 3)[0][0].get_content()

    doc_id = next(d.doc_id for d in indexed.documents() if d.source.endswith("ski.txt"))
    indexed.remove(doc_id)
    assert lexical.is_current() and lexical.search("Alpes neige", 3) == []
    assert lexical.count() == indexed.store.count()


def test_an_index_left_behind_catches_up_by_comparing_documents(indexed, tmp_path):
    lexical = indexed.index.lexical
    indexed.search("voitures")
    lexical._db().execute("UPDATE state SET value = 'stale' WHERE key = 'fingerprint'")  # a writer that skipped it
    (tmp_path / "ski.txt").write_text("Les stations de ski des Pyrénées manquent de neige.")
    indexed.ingest([tmp_path / "ski.txt"])
    assert not lexical.is_current()  # it was not in step before the write: left for the next search
    assert lexical.sync() == (0, 1)  # one document added, nothing rebuilt
    assert lexical.is_current() and lexical.count() == indexed.store.count()


def _elsewhere(indexed, tmp_path):
    """A pipeline on the same Chroma with its own lexical file (another process, or machine with
    a Chroma server), in step."""
    other = build_pipeline(indexed.settings, embedder=FakeEmbedder())
    other.index.lexical.path = tmp_path / "elsewhere.sqlite"
    assert other.search("voitures électriques", 1)
    return other


def test_a_second_process_catches_up_with_writes_made_elsewhere(indexed, tmp_path):
    other = _elsewhere(indexed, tmp_path)
    (tmp_path / "ble.txt").write_text("La récolte de blé en Beauce est la plus faible depuis dix ans.")
    indexed.ingest([tmp_path / "ble.txt"])  # written by the first
    assert other.search("récolte blé Beauce", 1)[0].source.endswith("ble.txt")
    assert other.index.lexical.count() == indexed.store.count()


def test_another_machine_catches_up_from_the_log_of_recent_writes(indexed, tmp_path, monkeypatch):
    """Adds, updates and removes made elsewhere are replayed from the collection's log of
    recent writes, without comparing every document."""
    other = _elsewhere(indexed, tmp_path)

    def compare_all():
        raise AssertionError("compared every document")

    monkeypatch.setattr(other.store, "document_signatures", compare_all)
    (tmp_path / "ble.txt").write_text("La récolte de blé en Beauce est la plus faible depuis dix ans.")
    (tmp_path / "ski.txt").write_text("Les stations de ski des Pyrénées manquent de neige.")
    indexed.ingest([tmp_path / "ble.txt"])
    indexed.ingest([tmp_path / "ski.txt"])  # two writes since the other looked
    assert other.index.lexical.sync() == (0, 2)
    assert other.search("récolte blé Beauce", 1)[0].source.endswith("ble.txt")
    (tmp_path / "ski.txt").write_text("Les stations de ski des Alpes ouvrent avec de la neige fraîche.")
    indexed.ingest([tmp_path / "ski.txt"])
    doc_id = next(d.doc_id for d in indexed.documents() if d.source.endswith("ble.txt"))
    indexed.remove(doc_id)
    assert other.index.lexical.sync() == (1, 1)  # one removed, one updated
    lexical = other.index.lexical
    assert lexical.search("Pyrénées", 3) == [] and lexical.search("Beauce", 3) == []
    assert "Alpes" in lexical.search("Alpes", 3)[0][0].get_content()
    assert lexical.is_current() and lexical.count() == indexed.store.count()


def test_a_machine_further_behind_than_the_log_compares(indexed, tmp_path, monkeypatch):
    from rag.index.revisions import WRITES_KEPT

    other = _elsewhere(indexed, tmp_path)
    for i in range(WRITES_KEPT + 1):
        (tmp_path / f"{i}.txt").write_text(f"Article {i} : le conseil municipal de la ville {i} vote son budget.")
        indexed.ingest([tmp_path / f"{i}.txt"])
    compared = []
    signatures = other.store.document_signatures
    monkeypatch.setattr(other.store, "document_signatures", lambda: compared.append(1) or signatures())
    assert other.index.lexical.sync() == (0, WRITES_KEPT + 1) and compared
    assert other.index.lexical.is_current() and other.index.lexical.count() == indexed.store.count()


def test_two_writes_after_the_same_revision_make_the_index_compare(indexed, tmp_path, monkeypatch):
    """Two machines writing at once both follow one revision; the revision stamped last hides
    the other's, but both records stay in the log: a catching-up index sees the fork."""
    other = _elsewhere(indexed, tmp_path)
    base = indexed.store.fingerprint().rsplit("-", 1)[0]
    indexed.store.log.collection.add(  # the other machine's write, its revision overwritten by ours
        ids=["elsewhere"], embeddings=[[0.0]], metadatas=[{"before": base, "docs": "[]", "at": 0.0}]
    )
    (tmp_path / "ble.txt").write_text("La récolte de blé en Beauce est la plus faible depuis dix ans.")
    indexed.ingest([tmp_path / "ble.txt"])
    assert indexed.store.written_since(base) is None
    compared = []
    signatures = other.store.document_signatures
    monkeypatch.setattr(other.store, "document_signatures", lambda: compared.append(1) or signatures())
    assert other.index.lexical.sync() == (0, 1) and compared
    assert other.index.lexical.is_current() and other.index.lexical.count() == indexed.store.count()


def test_a_change_that_cannot_be_replayed_is_caught_up_by_comparison(indexed, tmp_path):
    """A write the log cannot describe (chunks added without naming their documents, or a lexical
    file whose chunk count disagrees) is never taken for replayable: the index compares."""
    other = _elsewhere(indexed, tmp_path)
    (tmp_path / "ble.txt").write_text("La récolte de blé en Beauce est la plus faible depuis dix ans.")
    indexed.ingest([tmp_path / "ble.txt"])
    from rag.index.lexical import _delete_document

    db = other.index.lexical._db()
    _delete_document(db, db.execute("SELECT min(doc_id) FROM docs").fetchone()[0])  # a document lost
    other.index.lexical.sync()  # the replay would leave one document short: it compares instead
    assert other.index.lexical.count() == indexed.store.count()
    indexed.store.mark_changed()  # a change of unknown documents empties the log
    assert indexed.store.written_since("anything") is None


def test_rebuild_starts_again_from_the_store(indexed):
    lexical = indexed.index.lexical
    indexed.search("voitures")
    lexical._db().execute("DELETE FROM chunks")  # damage it
    assert lexical.rebuild() == indexed.store.count()
    assert lexical.search("thon", 1)[0][0].metadata["source"].endswith("peche.txt")


def test_a_query_of_stopwords_or_punctuation_finds_nothing_and_does_not_fail(indexed):
    indexed.search("voitures")
    lexical = indexed.index.lexical
    assert lexical.search("le la les de", 5) == []
    assert lexical.search('"* OR NEAR( ) AND -', 5) == []
    assert indexed.search('"voitures" OR *', 2)  # dense results still come back


def test_named_finds_the_chunks_holding_a_name_in_any_of_its_spellings_and_skips_common_ones(fake_pipeline, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "smith.txt").write_text("Brad Smith, président de Microsoft, défend le partenariat.")
    (docs / "mexique.txt").write_text("Porfirio Díaz devient président du Mexique en 1876.")
    for i in range(4):
        (docs / f"tour{i}.txt").write_text(f"Étape {i} du Tour de France : un coureur de France gagne.")
    fake_pipeline.ingest([docs])
    lexical = fake_pipeline.index.lexical
    lexical.sync()  # as the BM25 search before it does in HybridRetriever.search

    def sources(names, most=3):
        return [node.metadata["source"].rsplit("/", 1)[-1] for node, _ in lexical.named(names, most)]

    assert sources([["Brad Smith"]]) == ["smith.txt"]
    assert sources([["Smith Brad"]]) == []  # a phrase, not two words anywhere
    assert sources([["Mexico", "Mexique"]]) == ["mexique.txt"]
    assert sources([["Diaz"]]) == ["mexique.txt"]  # without its accent
    assert sources([["France"]]) == []  # in 4 chunks: more than `most`, it tells none apart
    assert sorted(sources([["France"]], most=10)) == [f"tour{i}.txt" for i in range(4)]
