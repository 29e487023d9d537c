"""The Chat tab's logic, driven with the fake embedder: no server, no browser."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ARTICLE_FR
from ui.chat import ChatTab


@pytest.fixture
def tab(fake_pipeline, tmp_path):
    (tmp_path / "voitures.txt").write_text(ARTICLE_FR)
    fake_pipeline.ingest([tmp_path / "voitures.txt"])
    return ChatTab(fake_pipeline)


QUESTION = "Combien de personnes le secteur emploie-t-il en Europe ?"


def test_chat_streams_an_answer_with_clickable_citations_and_highlighted_sources(tab):
    steps = list(tab.chat(QUESTION, [], 5))
    assert len(steps) > 1, "the answer streams in"
    history, sources, box, _ = steps[-1]
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


def test_sources_escape_html_from_documents(tab, tmp_path):
    evil = tmp_path / "evil.txt"
    evil.write_text("Le secteur emploie <script>alert(1)</script> des millions de personnes en Europe.")
    tab.pipeline.ingest([evil])
    _, sources, _, _ = list(tab.chat("Le secteur emploie combien de personnes en Europe ?", [], 5))[-1]
    assert "<script>" not in sources


def test_abstention_is_shown_as_such_with_the_closest_passages(tab):
    history, sources, _, _ = list(tab.chat("Quel temps fera-t-il à Tokyo demain matin ?", [], 5))[-1]
    assert 'class="abstained"' in history[-1]["content"]
    assert "closest passage" in sources and "<mark" not in sources


def test_follow_up_uses_the_conversation(tab):
    history, _, _, _ = list(tab.chat(QUESTION, [], 5))[-1]
    seen = []
    ask_stream = tab.pipeline.ask_stream
    tab.pipeline.ask_stream = lambda q, k=None, h=(), b=None, d=None: seen.append(h) or ask_stream(q, k, h, b, d)
    list(tab.chat("Et en France ?", history, 5))
    assert seen == [[QUESTION]]


def test_empty_and_huge_questions(tab):
    assert list(tab.chat("   ", [], 5)) == [([], "", "", "")]
    history, _, _, _ = list(tab.chat("voitures " * 2000, [], 5))[-1]
    assert len(history[0]["content"]) <= 2000
    assert "cut to its first 2000 characters" in history[-1]["content"]


def test_errors_become_messages_in_the_chat(fake_pipeline):
    empty = ChatTab(fake_pipeline)
    history, _, _, _ = list(empty.chat("Une question ?", [], 5))[-1]
    assert "rag ingest" in history[-1]["content"]


def test_api_returns_the_same_object_as_rag_ask_json(tab):
    data = tab.ask_api(QUESTION)
    assert data == tab.pipeline.ask(QUESTION).to_json()
    import gradio as gr

    with pytest.raises(gr.Error, match="Type a question"):
        tab.ask_api("  ")


def test_generated_sentences_stream_in_and_unsupported_ones_are_shown_as_such(tab, scripted):
    scripted("Le secteur emploie près de 13 millions de personnes en Europe [1]. Tesla a licencié 42 ingénieurs [1].")
    steps = list(tab.chat(QUESTION, [], 5, "scripted"))
    partial = [step[0][-1]["content"] for step in steps[:-1]]
    assert any("13 millions" in p and "Tesla" not in p for p in partial), "sentences appear one by one"
    history, sources, _, _ = steps[-1]
    answer = history[-1]["content"]
    supported, unsupported = answer.split('<span class="unsupported"')
    assert "13 millions" in supported and '<a class="cite" href="#src-1">[1]</a>' in supported
    assert "⚠ Tesla" in unsupported and "Not supported by the cited passage" in unsupported
    assert 'id="src-1"' in sources


def test_backend_failure_shows_the_notice_and_the_extractive_answer(tab, scripted):
    scripted(ConnectionError("refused"))
    history, sources, _, _ = list(tab.chat(QUESTION, [], 5, "scripted"))[-1]
    answer = history[-1]["content"]
    assert '<div class="notice">' in answer and "cannot reach the server" in answer
    assert "<details" not in answer  # the model wrote nothing
    assert "13 millions" in answer and "<mark" in sources


def test_backend_choices_are_extractive_and_the_configured_llm(fake_pipeline):
    assert ChatTab(fake_pipeline).backends() == ["extractive"]
    from rag.pipeline import Pipeline

    configured = Pipeline(fake_pipeline.settings.with_(llm="ollama"), fake_pipeline.embedder)
    assert ChatTab(configured).backends() == ["extractive", "ollama"]


def test_rejected_generated_answer_is_kept_behind_a_fold(tab, scripted):
    scripted("Tesla a licencié 42 ingénieurs à Munich [1].")
    history, _, _, _ = list(tab.chat(QUESTION, [], 5, "scripted"))[-1]
    answer = history[-1]["content"]
    shown, folded = answer.split("<details")
    assert "13 millions" in shown and "Tesla" not in shown
    assert "What the model wrote" in folded and "⚠ Tesla" in folded


def test_the_copied_answer_is_markdown_with_its_citations(tab):
    history, _, _, markdown = list(tab.chat(QUESTION, [], 5))[-1]
    answer = tab.pipeline.ask(QUESTION)
    first, *rest = markdown.split("\n")
    assert first == " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.citations)}" for s in answer.sentences)
    cited = [line for line in rest if line]
    assert len(cited) == len(answer.citations)
    assert cited[0].startswith(f"[1] {answer.citations[0].title} (2024-03-05), ")
    assert cited[0].endswith(f"« {answer.citations[0].quote} »")


def test_the_chat_date_range_keeps_the_documents_dated_then(tab, tmp_path):
    old = tmp_path / "ancien.txt"
    old.write_text("date 2015-06-01\nLe secteur automobile emploie des millions de personnes en Europe depuis 1950.")
    tab.pipeline.ingest([old])
    _, sources, _, _ = list(tab.chat(QUESTION, [], 5, None, "", "2015-12-31"))[-1]
    assert "2015-06-01" in sources and "2024-03-05" not in sources
    history, sources, _, _ = list(tab.chat(QUESTION, [], 5, None, "2024", ""))[-1]
    assert "2024-03-05" in sources and "2015-06-01" not in sources
    assert "Documents dated since 2024." in history[-1]["content"]
    history, _, _, _ = list(tab.chat(QUESTION, [], 5, None, "june", ""))[-1]
    assert "⚠️" in history[-1]["content"] and "not a date" in history[-1]["content"]
    data = tab.ask_api(QUESTION, since="", until="2015")
    assert data["dates"]["until"] == "2015" and all(c["date"] == "2015-06-01" for c in data["citations"])
