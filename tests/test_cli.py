import json

import pytest
from click.testing import CliRunner

from rag import cli
from rag.cli import common
from rag.pipeline import build_pipeline
from tests.conftest import ARTICLE_FR, FakeEmbedder, write_samples


def test_ingest_json_contract_and_exit_status(runner, tmp_path, settings):
    write_samples(tmp_path / "docs")
    result = runner.invoke(cli.main, ["ingest", str(tmp_path / "docs"), "--json"])
    assert result.exit_code == 1  # some files failed
    data = json.loads(result.stdout)
    assert set(data) == {"added", "updated", "unchanged", "failed", "chunks_embedded", "seconds"}
    assert data["added"] == 6 and data["updated"] == 0 and data["chunks_embedded"] >= 6
    assert {"reading", "embedding passages", "storing", "total"} <= set(data["seconds"])
    assert {"source", "error"} <= set(data["failed"][0])
    assert "Traceback" not in result.output

    good = tmp_path / "good"
    good.mkdir()
    (good / "a.txt").write_text("Un article neuf sur les élections municipales à Lyon.")
    result = runner.invoke(cli.main, ["ingest", str(good), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == 1


def test_ingest_summary_names_failures(runner, tmp_path):
    files = write_samples(tmp_path / "docs")
    result = runner.invoke(cli.main, ["ingest", str(files["corrupt_pdf"]), str(files["txt"])])
    assert result.exit_code == 1
    assert "1 added" in result.stderr and "1 failed" in result.stderr
    assert "corrupt.pdf" in result.stderr and "damaged" in result.stderr


@pytest.fixture
def indexed(runner, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE_FR)
    (tmp_path / "b.txt").write_text("Les pêcheurs bretons protestent contre les quotas de thon.")
    assert runner.invoke(cli.main, ["ingest", str(tmp_path)]).exit_code == 0
    return runner


def test_search_json_contract(indexed):
    result = indexed.invoke(cli.main, ["search", "quotas de thon", "--json", "-k", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "quotas de thon"
    [hit] = data["hits"]
    assert set(hit) == {"doc_id", "chunk_id", "title", "source", "date", "text", "score"}
    assert "thon" in hit["text"]


def test_ask_json_contract(indexed):
    result = indexed.invoke(cli.main, ["ask", "Combien de personnes le secteur emploie-t-il ?", "--json"])
    data = json.loads(result.stdout)
    assert set(data) >= {"question", "answer", "abstained", "citations"}
    assert data["abstained"] is False
    assert {"n", "doc_id", "chunk_id", "title", "source", "quote"} <= set(data["citations"][0])


def test_questions_file_gives_json_lines_in_order(indexed, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("quotas de thon\n\nvoitures électriques\n")
    result = indexed.invoke(cli.main, ["search", "--questions", str(questions), "-k", "1"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["quotas de thon", "voitures électriques"]
    result = indexed.invoke(cli.main, ["ask", "--questions", "-"], input="quotas de thon ?\nTokyo météo demain ?\n")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == ["quotas de thon ?", "Tokyo météo demain ?"]
    assert answers[1]["abstained"] is True and answers[1]["closest"]


def test_docs_list_and_remove(indexed):
    docs = json.loads(indexed.invoke(cli.main, ["docs", "list", "--json"]).stdout)
    assert len(docs) == 2
    assert set(docs[0]) >= {"doc_id", "title", "source", "date", "chunks"}
    result = indexed.invoke(cli.main, ["docs", "remove", docs[0]["doc_id"]])
    assert result.exit_code == 0
    assert len(json.loads(indexed.invoke(cli.main, ["docs", "list", "--json"]).stdout)) == 1
    result = indexed.invoke(cli.main, ["docs", "remove", "no-such-id"])
    assert result.exit_code == 2 and "rag docs list" in result.stderr and "Traceback" not in result.output


def test_errors_are_one_line_messages(runner):
    result = runner.invoke(cli.main, ["ask", "anything"])
    assert result.exit_code == 2
    assert "rag ingest" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(cli.main, ["search", "--questions", "/no/such/file"])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_help_teaches_with_examples():
    result = CliRunner().invoke(cli.main, ["ingest", "--help"])
    assert "Examples:" in result.output and "--index" in result.output


def test_unexpected_errors_are_one_line_too(runner, monkeypatch):
    from rag.pipeline import Pipeline

    def broken(self, question, top_k=None, history=(), backend=None, dates=None):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Pipeline, "ask_stream", broken)
    result = runner.invoke(cli.main, ["ask", "anything"])
    assert result.exit_code == 3
    assert "Unexpected error: ZeroDivisionError" in result.stderr and "Traceback" not in result.output


def test_ask_with_an_llm_prints_checked_sentences_and_marks_unsupported_ones(runner, scripted, settings, monkeypatch):
    pipeline = build_pipeline(settings.with_(llm="scripted"), embedder=FakeEmbedder())
    monkeypatch.setattr(common, "pipeline_from_env", lambda index, **overrides: pipeline)
    (settings.index.parent / "voitures.txt").write_text(ARTICLE_FR)
    pipeline.ingest([settings.index.parent / "voitures.txt"])
    scripted("Le secteur emploie près de 13 millions de personnes en Europe [1]. Tesla a licencié 42 ingénieurs [7].")
    result = runner.invoke(cli.main, ["ask", "Combien de personnes le secteur emploie-t-il ?"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Le secteur emploie près de 13 millions de personnes en Europe. [1]"
    assert lines[1].startswith("⚠ Tesla a licencié 42 ingénieurs.") and "not supported by its citation" in lines[1]
    assert "[7]" not in result.stdout
    json_result = runner.invoke(cli.main, ["ask", "Combien de personnes le secteur emploie-t-il ?", "--json"])
    data = json.loads(json_result.stdout)
    assert data["backend"] == "scripted" and data["removed_citations"] == 1
    assert [s["supported"] for s in data["sentences"]] == [True, False]


def test_ask_help_teaches_the_llm_options(runner):
    result = runner.invoke(cli.main, ["ask", "--help"])
    backends = "--llm [extractive|llamacpp|openai-like|ollama|mistral|replay]"
    for text in (backends, "--llm-base-url", "RAG_UNSUPPORTED=drop"):
        assert text in result.output


def _long_article(folder, name="long.txt"):
    path = folder / name
    path.write_text(
        "date 2024-05-01 "
        + " ".join(
            f"Le port numéro {i} de la côte atlantique a accueilli {i * 7} chalutiers cette saison." for i in range(300)
        )
    )
    return path


def test_docs_check_finds_a_document_with_missing_chunks_and_repairs_it_from_its_file(runner, tmp_path, settings):
    from rag.index.store import ChunkStore

    article = _long_article(tmp_path)
    assert runner.invoke(cli.main, ["ingest", str(article)]).exit_code == 0
    ok = runner.invoke(cli.main, ["docs", "check"])
    assert ok.exit_code == 0 and "whole" in ok.stderr and "Lexical (BM25) index" in ok.stderr

    store = ChunkStore(settings)
    ids = store.collection.get(include=[])["ids"]
    assert len(ids) > 3
    store.collection.delete(ids=[sorted(ids)[1]])  # a write cut short
    (doc,) = store.documents()

    found = runner.invoke(cli.main, ["docs", "check"])
    assert found.exit_code == 1
    assert f"Damaged: {doc.doc_id}" in found.stderr and f"1 of its {doc.chunks} chunks missing" in found.stderr
    assert "rag docs check --repair" in found.stderr and "Traceback" not in found.output

    repaired = runner.invoke(cli.main, ["docs", "check", "--repair"])
    assert repaired.exit_code == 0 and "Repaired" in repaired.stderr
    after = json.loads(runner.invoke(cli.main, ["docs", "check", "--json"]).stdout)
    assert after["damaged"] == [] and len(ChunkStore(settings).collection.get(include=[])["ids"]) == len(ids)


def test_docs_check_repair_says_when_the_file_is_gone(runner, tmp_path, settings):
    from rag.index.store import ChunkStore

    article = _long_article(tmp_path)
    runner.invoke(cli.main, ["ingest", str(article)])
    store = ChunkStore(settings)
    store.collection.delete(ids=[sorted(store.collection.get(include=[])["ids"])[0]])
    article.unlink()
    result = runner.invoke(cli.main, ["docs", "check", "--repair"])
    assert result.exit_code == 1 and "is gone" in result.stderr and str(article) in result.stderr


def test_docs_check_without_an_index_says_what_to_do(runner, tmp_path):
    result = runner.invoke(cli.main, ["docs", "check", "--index", str(tmp_path / "none")])
    assert result.exit_code == 2 and "rag ingest" in result.stderr and not (tmp_path / "none").exists()


def test_reindex_rebuilds_the_lexical_index(runner, settings, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE_FR)
    assert runner.invoke(cli.main, ["ingest", str(article)]).exit_code == 0
    result = runner.invoke(cli.main, ["reindex"])
    assert result.exit_code == 0 and "Lexical index rebuilt: 1 chunks." in result.stderr
    checked = runner.invoke(cli.main, ["docs", "check"])
    assert "Lexical (BM25) index: holds the current chunks" in checked.stderr


def test_the_rag_command_ends_without_a_last_walk_of_every_object(monkeypatch):
    """`rag` (the console script) freezes the garbage collector when its command is done, and
    keeps the command's exit code."""
    import gc

    from rag import cli

    def command():
        raise SystemExit(3)

    monkeypatch.setattr(cli, "main", command)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.entry()
        assert exit_.value.code == 3 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_ingest_timings_say_where_the_time_went(runner, tmp_path):
    (tmp_path / "a.txt").write_text("Un article neuf sur les élections municipales à Lyon.", encoding="utf-8")
    result = runner.invoke(cli.main, ["ingest", str(tmp_path / "a.txt"), "--timings"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.strip().startswith("time:"))
    assert "reading" in line and "embedding passages" in line and "storing" in line and "total" in line
    plain = runner.invoke(cli.main, ["ingest", str(tmp_path / "a.txt")])
    assert "time:" not in plain.stderr
