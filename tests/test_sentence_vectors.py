"""The reader's sentence vectors kept beside the index (rag/index/sentence_vectors.py): the file on its
own, and with the real reader, embedded at ingest, used when asked, gone with their document."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rag.index.sentence_vectors import FILE_NAME, SentenceVectors, forget_documents, keep_only


def unit(seed: int, dimensions: int = 8) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_vectors_come_back_by_sentence_in_fp16_precision(tmp_path):
    kept = SentenceVectors(tmp_path / FILE_NAME, "adapter-a", 8)
    kept.put([("Une phrase.", "doc1", unit(1)), ("Another one.", "doc2", unit(2))])
    found = kept.get(["Une phrase.", "Another one.", "Never stored."])
    assert set(found) == {"Une phrase.", "Another one."}
    assert found["Une phrase."].dtype == np.float32
    np.testing.assert_allclose(found["Une phrase."], unit(1), atol=1e-3)
    assert kept.documents() == {"doc1", "doc2"}


def test_another_model_never_reads_these_vectors(tmp_path):
    SentenceVectors(tmp_path / FILE_NAME, "adapter-a", 8).put([("Une phrase.", "doc1", unit(1))])
    assert SentenceVectors(tmp_path / FILE_NAME, "adapter-b", 8).get(["Une phrase."]) == {}
    assert SentenceVectors(tmp_path / FILE_NAME, "adapter-a", 16).get(["Une phrase."]) == {}  # other size


def test_rows_belong_to_their_document(tmp_path):
    kept = SentenceVectors(tmp_path / FILE_NAME, "a", 8)
    kept.put([("Shared sentence.", "doc1", unit(1)), ("Shared sentence.", "doc2", unit(1)), ("Own.", "doc1", unit(3))])
    forget_documents(tmp_path, ["doc1"])
    assert set(kept.get(["Shared sentence.", "Own."])) == {"Shared sentence."}  # doc2 still has it
    assert kept.documents() == {"doc2"}
    kept.forget(["doc2"])
    assert kept.count() == 0


def test_forgetting_in_an_index_without_the_file_creates_nothing(tmp_path):
    forget_documents(tmp_path, ["doc1"])
    assert keep_only(tmp_path, []) == 0
    assert not (tmp_path / FILE_NAME).exists()


def test_rows_of_documents_the_store_no_longer_holds_are_dropped(tmp_path):
    kept = SentenceVectors(tmp_path / FILE_NAME, "a", 8)
    kept.put([("One.", "doc1", unit(1)), ("Two.", "doc2", unit(2)), ("Asked about.", "", unit(3))])
    assert keep_only(tmp_path, ["doc2", "doc3"]) == 2
    assert set(kept.get(["One.", "Two.", "Asked about."])) == {"Two."}


def test_a_damaged_file_is_left_aside_with_one_warning(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"this is not a database" * 100)
    kept = SentenceVectors(path, "a", 8)
    with caplog.at_level(logging.WARNING, logger="rag.index.sentence_vectors"):
        assert kept.get(["Une phrase."]) == {}
        kept.put([("Une phrase.", "doc1", unit(1))])
        kept.forget(["doc1"])
        assert kept.get(["Une phrase."]) == {}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(path) in warnings[0] and "delete the file" in warnings[0]


def test_a_file_of_an_older_layout_starts_again(tmp_path):
    kept = SentenceVectors(tmp_path / FILE_NAME, "a", 8)
    kept.put([("Une phrase.", "doc1", unit(1))])
    kept._db().execute("UPDATE state SET value = '0' WHERE key = 'version'")
    assert SentenceVectors(tmp_path / FILE_NAME, "a", 8).get(["Une phrase."]) == {}


# --- with the real reader -----------------------------------------------------------------------

ARTICLE = (
    "Mistral AI lève des fonds\n\n"
    "La start-up parisienne Mistral AI a levé 385 millions d'euros en décembre 2023. "
    "Elle a été fondée en avril 2023 par Arthur Mensch, Guillaume Lample et Timothée Lacroix. "
    "Microsoft a annoncé un investissement de 15 millions d'euros dans l'entreprise.\n"
)
OTHER = (
    "Les pêcheurs protestent\n\n"
    "Les pêcheurs bretons protestent contre les quotas de thon fixés par Bruxelles. "
    "Ils bloquent le port de Lorient depuis lundi matin. Jusqu'à quand tiendront-ils ?\n"
)


def _sentences(pipeline, folder: Path) -> dict[str, set[str]]:
    """Each document's candidate sentences, as the reader reads them (a question is none)."""
    from rag.text.sentences import asks, candidate_sentences

    found: dict[str, set[str]] = {}
    for doc in pipeline.documents():
        for _, meta, node in pipeline.store.nodes_of([doc.doc_id]):
            sentences = candidate_sentences(node.get_content(), str(meta.get("title", "")))
            found.setdefault(doc.doc_id, set()).update(s.text for s in sentences if not asks(s.text))
    return found


@pytest.mark.slow
def test_ingest_embeds_each_sentence_once_and_a_question_embeds_only_itself(real_settings, tmp_path):
    from rag.pipeline import build_pipeline

    (tmp_path / "mistral.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "peche.txt").write_text(OTHER, encoding="utf-8")
    settings = real_settings.with_(index=tmp_path / "index", reader="evidence")
    pipeline = build_pipeline(settings)
    assert pipeline.ingest([tmp_path]).ok
    scorer = pipeline.scorer
    expected = _sentences(pipeline, tmp_path)
    assert sum(map(len, expected.values())) >= 5
    assert scorer.kept.documents() == set(expected)
    assert scorer.kept.count() == sum(map(len, expected.values()))

    embedded: list[tuple[str, bool]] = []
    reader = scorer.reader_embedder
    original = reader.vectors
    reader.vectors = lambda texts, queries: embedded.extend((t, queries) for t in texts) or original(texts, queries)
    try:
        answer = pipeline.ask("Combien d'argent Mistral AI a-t-elle levé ?")
    finally:
        reader.vectors = original
    assert not answer.abstained and "385 millions" in answer.text
    assert embedded == [("Combien d'argent Mistral AI a-t-elle levé ?", True)]  # the sentences were kept at ingest

    # Without the file, the same answer (vectors computed now are rounded as kept ones are),
    # and the sentences asked about are kept again.
    (settings.index / FILE_NAME).unlink()
    again = build_pipeline(settings)
    assert again.ask("Combien d'argent Mistral AI a-t-elle levé ?").text == answer.text
    assert again.scorer.kept.count() > 0


@pytest.mark.slow
def test_a_changed_or_removed_document_takes_its_sentence_vectors_with_it(real_settings, tmp_path):
    from rag.pipeline import build_pipeline

    article = tmp_path / "docs" / "mistral.txt"
    article.parent.mkdir()
    article.write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "docs" / "peche.txt").write_text(OTHER, encoding="utf-8")
    settings = real_settings.with_(index=tmp_path / "index", reader="evidence")
    pipeline = build_pipeline(settings)
    pipeline.ingest([tmp_path / "docs"])
    kept = pipeline.scorer.kept
    old = "Microsoft a annoncé un investissement de 15 millions d'euros dans l'entreprise."
    assert old in kept.get([old])

    article.write_text(ARTICLE.replace(old, "Le siège de l'entreprise est à Paris."), encoding="utf-8")
    assert len(pipeline.ingest([tmp_path / "docs"]).updated) == 1
    assert kept.get([old]) == {}
    assert kept.count() == sum(map(len, _sentences(pipeline, tmp_path).values()))

    mistral = next(d.doc_id for d in pipeline.documents() if d.source.endswith("mistral.txt"))
    pipeline.remove(mistral)
    assert kept.documents() == {d.doc_id for d in pipeline.documents()}
    assert kept.count() == sum(map(len, _sentences(pipeline, tmp_path).values()))


@pytest.mark.slow
def test_an_ingest_that_defers_the_reader_is_answerable_then_prepared_the_same(real_settings, tmp_path):
    """`rag serve --ingest`: passages first, the reader's vectors after (Pipeline.prepare_reader);
    the same sentences kept and the same answer as an ingest that embeds them at once."""
    from rag.pipeline import build_pipeline

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "mistral.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "docs" / "peche.txt").write_text(OTHER, encoding="utf-8")
    question = "Combien d'argent Mistral AI a-t-elle levé ?"
    at_once = build_pipeline(real_settings.with_(index=tmp_path / "at-once", reader="evidence"))
    assert at_once.ingest([tmp_path / "docs"]).ok
    deferred = build_pipeline(real_settings.with_(index=tmp_path / "deferred", reader="evidence"))
    report = deferred.ingest([tmp_path / "docs"], defer_reader=True)
    assert report.ok and "reader's sentence vectors" not in report.seconds
    assert deferred.scorer.kept.count() == 0
    progress: list[tuple[str, int, int]] = []
    assert deferred.prepare_reader(lambda *step: progress.append(step), documents_per_batch=1) == 2
    assert progress == [("reader", 0, 2), ("reader", 1, 2), ("reader", 2, 2)]
    expected = _sentences(deferred, tmp_path)
    assert deferred.scorer.kept.documents() == set(expected)
    assert deferred.scorer.kept.count() == at_once.scorer.kept.count() == sum(map(len, expected.values()))
    assert deferred.prepare_reader() == 0  # nothing left to do
    assert deferred.ask(question).text == at_once.ask(question).text
