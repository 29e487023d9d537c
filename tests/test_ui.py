"""The chat page's logic, driven with the fake embedder: no server, no browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ARTICLE_FR
from ui.app import ChatUI


@pytest.fixture
def ui(fake_pipeline, tmp_path):
    (tmp_path / "voitures.txt").write_text(ARTICLE_FR)
    fake_pipeline.ingest([tmp_path / "voitures.txt"])
    return ChatUI(fake_pipeline, upload_dir=tmp_path / "uploads", max_upload_mb=0.01)


QUESTION = "Combien de personnes le secteur emploie-t-il en Europe ?"


def test_chat_streams_an_answer_with_clickable_citations_and_highlighted_sources(ui):
    steps = list(ui.chat(QUESTION, [], 5))
    assert len(steps) > 1, "the answer streams in"
    history, sources, box = steps[-1]
    assert box == ""
    assert history[0] == {"role": "user", "content": QUESTION}
    answer = history[1]["content"]
    numbers = re.findall(r'<a class="cite" href="#src-(\d+)">\[\1\]</a>', answer)
    assert numbers and all(f'id="src-{n}"' in sources for n in numbers)
    assert "<mark" in sources and "13 millions" in sources
    # the short answer the reader found in the quote is picked out inside the highlight
    assert '<strong class="answer-span" title="the likely answer">près de 13 millions de personnes</strong>' in sources
    assert "2024-03-05" in sources
    assert all(len(step[0][-1]["content"]) <= len(answer) for step in steps[:-1])


def test_sources_escape_html_from_documents(ui, tmp_path):
    evil = tmp_path / "evil.txt"
    evil.write_text("Le secteur emploie <script>alert(1)</script> des millions de personnes en Europe.")
    ui.pipeline.ingest([evil])
    _, sources, _ = list(ui.chat("Le secteur emploie combien de personnes en Europe ?", [], 5))[-1]
    assert "<script>" not in sources


def test_abstention_is_shown_as_such_with_the_closest_passages(ui):
    history, sources, _ = list(ui.chat("Quel temps fera-t-il à Tokyo demain matin ?", [], 5))[-1]
    assert 'class="abstained"' in history[-1]["content"]
    assert "closest passage" in sources and "<mark" not in sources


def test_follow_up_uses_the_conversation(ui):
    history, _, _ = list(ui.chat(QUESTION, [], 5))[-1]
    seen = []
    ask_stream = ui.pipeline.ask_stream
    ui.pipeline.ask_stream = lambda q, k=None, h=(), b=None: seen.append(h) or ask_stream(q, k, h, b)
    list(ui.chat("Et en France ?", history, 5))
    assert seen == [[QUESTION]]


def test_empty_and_huge_questions(ui):
    assert list(ui.chat("   ", [], 5)) == [([], "", "")]
    history, _, _ = list(ui.chat("voitures " * 2000, [], 5))[-1]
    assert len(history[0]["content"]) <= 2000
    assert "cut to its first 2000 characters" in history[-1]["content"]


def test_errors_become_messages_in_the_chat(fake_pipeline, tmp_path):
    empty = ChatUI(fake_pipeline, upload_dir=tmp_path / "u")
    history, _, _ = list(empty.chat("Une question ?", [], 5))[-1]
    assert "rag ingest" in history[-1]["content"]


def test_api_returns_the_same_object_as_rag_ask_json(ui):
    data = ui.ask_api(QUESTION)
    assert data == ui.pipeline.ask(QUESTION).to_json()
    import gradio as gr

    with pytest.raises(gr.Error, match="Type a question"):
        ui.ask_api("  ")


class Upload:
    def __init__(self, path: Path, orig_name: str):
        self.name, self.orig_name = str(path), orig_name


def test_upload_goes_through_ingest_with_limits(ui, tmp_path):
    good = tmp_path / "tmp1.txt"
    good.write_text("Les éleveurs normands manifestent contre le prix du lait.")
    big = tmp_path / "tmp2.txt"
    big.write_text("x " * 20_000)
    bad = tmp_path / "tmp3.exe"
    bad.write_bytes(b"MZ")
    empty = tmp_path / "tmp4.txt"
    empty.write_text("")
    rows, documents, _ = ui.upload(
        [Upload(good, "lait.txt"), Upload(big, "big.txt"), Upload(bad, "virus.exe"), Upload(empty, "vide.txt")]
    )
    result = {row[0]: (row[1], row[2]) for row in rows}
    assert result["lait.txt"] == ("added", "")
    assert result["big.txt"][0] == "failed" and "too large" in result["big.txt"][1]
    assert result["virus.exe"][0] == "failed" and "unsupported" in result["virus.exe"][1]
    assert result["vide.txt"] == ("failed", "the file is empty")
    assert any(row[5].endswith("uploads/lait.txt") for row in documents)
    # the same file again is recognised, and its text is searchable
    rows, _, _ = ui.upload([Upload(good, "lait.txt")])
    assert rows == [["lait.txt", "unchanged", ""]]
    assert "lait" in ui.pipeline.search("prix du lait")[0].text


def test_remove_from_the_document_list(ui):
    doc_id = ui.document_rows()[0][0]
    message, rows, _ = ui.remove(doc_id)
    assert "Removed" in message and rows == []
    message, _, _ = ui.remove("nope")
    assert "No document" in message


def test_page_builds_with_an_ask_endpoint(ui):
    page = ui.build()
    names = {dep.get("api_name") for dep in page.config["dependencies"]}
    assert "ask" in names


def test_upload_reports_progress(ui, tmp_path):
    good = tmp_path / "tmp5.txt"
    good.write_text("Les vendanges commencent tôt en Bourgogne cette année.")
    seen = []
    ui.upload([Upload(good, "vendanges.txt")], lambda fraction, desc: seen.append((round(fraction, 2), desc)))
    assert seen[-1] == (1.0, "Embedding passages")
    assert "Reading files" in {d for _, d in seen}


def test_generated_sentences_stream_in_and_unsupported_ones_are_shown_as_such(ui, scripted):
    scripted("Le secteur emploie près de 13 millions de personnes en Europe [1]. Tesla a licencié 42 ingénieurs [1].")
    steps = list(ui.chat(QUESTION, [], 5, "scripted"))
    partial = [step[0][-1]["content"] for step in steps[:-1]]
    assert any("13 millions" in p and "Tesla" not in p for p in partial), "sentences appear one by one"
    history, sources, _ = steps[-1]
    answer = history[-1]["content"]
    supported, unsupported = answer.split('<span class="unsupported"')
    assert "13 millions" in supported and '<a class="cite" href="#src-1">[1]</a>' in supported
    assert "⚠ Tesla" in unsupported and "Not supported by the cited passage" in unsupported
    assert 'id="src-1"' in sources


def test_backend_failure_shows_the_notice_and_the_extractive_answer(ui, scripted):
    scripted(ConnectionError("refused"))
    history, sources, _ = list(ui.chat(QUESTION, [], 5, "scripted"))[-1]
    answer = history[-1]["content"]
    assert '<div class="notice">' in answer and "cannot reach the server" in answer
    assert "<details" not in answer  # the model wrote nothing
    assert "13 millions" in answer and "<mark" in sources


def test_backend_choices_are_extractive_and_the_configured_llm(fake_pipeline, tmp_path):
    assert ChatUI(fake_pipeline).backends() == ["extractive"]
    from rag.pipeline import Pipeline

    configured = Pipeline(fake_pipeline.settings.with_(llm="ollama"), fake_pipeline.embedder)
    assert ChatUI(configured).backends() == ["extractive", "ollama"]


def test_rejected_generated_answer_is_kept_behind_a_fold(ui, scripted):
    scripted("Tesla a licencié 42 ingénieurs à Munich [1].")
    history, _, _ = list(ui.chat(QUESTION, [], 5, "scripted"))[-1]
    answer = history[-1]["content"]
    shown, folded = answer.split("<details")
    assert "13 millions" in shown and "Tesla" not in shown
    assert "What the model wrote" in folded and "⚠ Tesla" in folded
