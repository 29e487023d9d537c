import threading
from pathlib import Path

import pytest

from rag.pipeline import build_pipeline
from rag.settings import Settings
from tests.conftest import ARTICLE_FR, FakeEmbedder, write_samples


def test_every_good_file_goes_in_and_every_bad_one_is_named(fake_pipeline, tmp_path):
    files = write_samples(tmp_path / "docs")
    report = fake_pipeline.ingest([tmp_path / "docs"])
    assert len(report.added) == 6
    failed = {Path(f.source).name: f.error for f in report.failed}
    assert set(failed) == {
        "empty.txt",
        "blank.md",
        "binary.txt",
        "corrupt.pdf",
        "corrupt.docx",
        "photo.jpg",
        "dangling.txt",
    }
    assert all(failed.values())
    assert not report.ok
    assert {d.source for d in fake_pipeline.documents()} == {
        str(files[k]) for k in ("txt", "latin1", "md", "html", "pdf", "docx")
    }


def test_missing_path_is_reported(fake_pipeline, tmp_path):
    report = fake_pipeline.ingest([tmp_path / "nope"])
    assert report.failed[0].error == "no such file or folder"


def test_reingest_unchanged_embeds_nothing_and_never_builds_the_embedder(settings, tmp_path):
    write_samples(tmp_path / "docs")
    build_pipeline(settings, embedder=FakeEmbedder()).ingest([tmp_path / "docs"])

    def no_model():
        raise AssertionError("the embedding model must not be loaded for an unchanged corpus")

    again = build_pipeline(settings)
    again.__dict__["embedder"] = property(no_model)  # any access would be a bug
    calls = []
    from rag.ingest import run as ingest_module

    report = ingest_module.ingest([tmp_path / "docs"], settings, again.index, lambda: calls.append(1) or no_model())
    assert calls == []
    assert len(report.unchanged) == 6 and not report.added and not report.updated


def test_changed_file_replaces_all_its_chunks(fake_pipeline, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE_FR * 6)
    fake_pipeline.ingest([article])
    [doc] = fake_pipeline.documents()
    old_ids = set(fake_pipeline.store.chunk_ids(doc.doc_id))
    assert len(old_ids) > 1

    article.write_text("Un tout autre article sur la pêche en Bretagne et les quotas de thon.")
    report = fake_pipeline.ingest([article])
    assert len(report.updated) == 1
    [doc2] = fake_pipeline.documents()
    new_ids = set(fake_pipeline.store.chunk_ids(doc2.doc_id))
    assert doc2.doc_id == doc.doc_id and doc2.chunks == 1
    assert not (old_ids & new_ids) and len(new_ids) == 1
    texts = [h.text for h in fake_pipeline.search("voitures électriques subventions", top_k=5)]
    assert all("voitures" not in t for t in texts), "a stale chunk survived the update"


def test_same_content_under_two_names_is_stored_once(fake_pipeline, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE_FR)
    (tmp_path / "copy.txt").write_text(ARTICLE_FR)
    report = fake_pipeline.ingest([tmp_path])
    assert len(report.added) == 1 and len(report.unchanged) == 1
    assert "same content" in report.notes[0]
    assert len(fake_pipeline.documents()) == 1


def test_remove_document(fake_pipeline, tmp_path):
    write_samples(tmp_path / "docs")
    fake_pipeline.ingest([tmp_path / "docs"])
    doc = fake_pipeline.documents()[0]
    assert fake_pipeline.remove(doc.doc_id) == doc.chunks
    assert doc.doc_id not in {d.doc_id for d in fake_pipeline.documents()}
    assert fake_pipeline.store.chunk_ids(doc.doc_id) == []


class FailingEmbedder(FakeEmbedder):
    def embed_passages(self, texts):
        raise RuntimeError("out of memory")


def test_failure_while_embedding_an_update_keeps_the_old_version(settings, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE_FR)
    build_pipeline(settings, embedder=FakeEmbedder()).ingest([article])
    article.write_text("Nouvelle version de l'article sur la pêche.")
    report = build_pipeline(settings, embedder=FailingEmbedder()).ingest([article])
    assert not report.updated and "could not be embedded (RuntimeError: out of memory)" in report.failed[0].error
    survivor = build_pipeline(settings, embedder=FakeEmbedder())
    [doc] = survivor.documents()
    assert "voitures électriques" in survivor.search("voitures électriques")[0].text
    # and the next ingest finishes the update
    assert len(survivor.ingest([article]).updated) == 1
    assert "pêche" in survivor.search("pêche")[0].text


def test_changing_chunk_settings_reprocesses(settings, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE_FR)
    build_pipeline(settings, embedder=FakeEmbedder()).ingest([tmp_path])
    other = Settings.from_env(index=settings.index, embed_model="fake", chunk_size=64, chunk_overlap=8)
    report = build_pipeline(other, embedder=FakeEmbedder()).ingest([tmp_path])
    assert len(report.updated) == 1


def test_index_built_with_another_model_is_refused(settings, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE_FR)
    build_pipeline(settings, embedder=FakeEmbedder()).ingest([tmp_path])
    other = Settings.from_env(index=settings.index, embed_model="another-model")
    from rag.errors import SettingsError

    with pytest.raises(SettingsError, match="built with the embedding model 'fake'"):
        build_pipeline(other, embedder=FakeEmbedder()).ingest([tmp_path])


def test_ingest_streams_documents_are_stored_while_files_are_still_being_read(fake_pipeline, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(600):
        (folder / f"{i:03}.txt").write_text(f"Article {i} : le conseil municipal de la ville {i} vote son budget.")
    events = []
    stored_when = []

    def progress(stage, done, total):
        events.append((stage, done, total))
        if stage == "reading" and done == 400:
            stored_when.append(fake_pipeline.store.count())

    report = fake_pipeline.ingest([folder], progress)
    assert len(report.added) == 600 and report.ok
    assert stored_when[0] >= 256  # a batch was embedded and stored before the 400th file was read
    embedding = [e for e in events if e[0] == "embedding"]
    assert embedding[-1][1] == embedding[-1][2] == 600  # the bar ends full
    first_embed = events.index(embedding[0])
    assert any(stage == "reading" for stage, _, _ in events[first_embed:])  # reading went on after


def test_reading_goes_on_while_the_model_loads(settings, tmp_path):
    """Files are read ahead while the model loads, then embedded together once it is loaded:
    reading is not left to be done between batches."""
    from rag.index.index import Index
    from rag.ingest.run import ingest

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(400):
        (folder / f"{i:03}.txt").write_text(f"Article {i} : le conseil municipal de la ville {i} vote son budget.")
    loaded = threading.Event()
    batches: list[int] = []

    class Recording(FakeEmbedder):
        def embed_passages(self, texts):
            batches.append(len(texts))
            return super().embed_passages(texts)

    model = Recording()

    def load():  # loading ends once 350 files are read (a flush before then would wait here)
        loaded.wait(timeout=60)
        return model

    def progress(stage, done, total):
        if stage == "reading" and done == 350:
            loaded.set()

    report = ingest([folder], settings, Index(settings), load, progress)
    assert report.ok and len(report.added) == 400
    assert batches[0] >= 350 and sum(batches) == 400


def test_a_folder_s_ragignore_keeps_files_out(fake_pipeline, tmp_path):
    docs = tmp_path / "docs"
    (docs / "drafts").mkdir(parents=True)
    (docs / "article.txt").write_text("Un article sur les quotas de pêche en Méditerranée.")
    (docs / "NOTICE.md").write_text("# Licences\nNot an article.")
    (docs / "drafts" / "draft.txt").write_text("Un brouillon à ne pas indexer.")
    (docs / ".ragignore").write_text("# not articles\nNOTICE.md\ndrafts/*\n")
    report = fake_pipeline.ingest([docs])
    assert report.added == [str(docs / "article.txt")] and not report.failed
    # a file named on the command line is read whatever the folder's .ragignore says
    assert fake_pipeline.ingest([docs / "NOTICE.md"]).added == [str(docs / "NOTICE.md")]


def test_each_stored_batch_is_handed_to_prepare_and_a_failing_prepare_loses_nothing(settings, tmp_path):
    """`prepare` (the reader embedding the new sentences) sees every stored document with its
    chunks; when it fails, the documents are still stored and a note says why."""
    from rag.index.index import Index
    from rag.ingest.run import ingest

    write_samples(tmp_path / "docs")
    seen: dict[str, int] = {}

    def prepare(batch):
        for document, chunks in batch:
            seen[document.doc_id] = len(chunks)

    index = Index(settings)
    report = ingest([tmp_path / "docs"], settings, index, FakeEmbedder, prepare=prepare)
    stored = {doc.doc_id: doc.chunks for doc in index.store.documents()}
    assert seen == stored and stored

    def broken(batch):
        raise OSError("disk full")

    (tmp_path / "docs" / "new.txt").write_text("Le port de Lorient est bloqué par les pêcheurs depuis lundi.")
    report = ingest([tmp_path / "docs"], settings, index, FakeEmbedder, prepare=broken)
    assert len(report.added) == 1 and not any(f.source.endswith("new.txt") for f in report.failed)
    assert len(index.store.documents()) == len(stored) + 1
    assert any("disk full" in note and "slower" in note for note in report.notes)
