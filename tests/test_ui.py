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


def test_sources_escape_html_from_documents(ui, tmp_path):
    evil = tmp_path / "evil.txt"
    evil.write_text("Le secteur emploie <script>alert(1)</script> des millions de personnes en Europe.")
    ui.pipeline.ingest([evil])
    _, sources, _, _ = list(ui.chat("Le secteur emploie combien de personnes en Europe ?", [], 5))[-1]
    assert "<script>" not in sources


def test_abstention_is_shown_as_such_with_the_closest_passages(ui):
    history, sources, _, _ = list(ui.chat("Quel temps fera-t-il à Tokyo demain matin ?", [], 5))[-1]
    assert 'class="abstained"' in history[-1]["content"]
    assert "closest passage" in sources and "<mark" not in sources


def test_follow_up_uses_the_conversation(ui):
    history, _, _, _ = list(ui.chat(QUESTION, [], 5))[-1]
    seen = []
    ask_stream = ui.pipeline.ask_stream
    ui.pipeline.ask_stream = lambda q, k=None, h=(), b=None, d=None: seen.append(h) or ask_stream(q, k, h, b, d)
    list(ui.chat("Et en France ?", history, 5))
    assert seen == [[QUESTION]]


def test_empty_and_huge_questions(ui):
    assert list(ui.chat("   ", [], 5)) == [([], "", "", "")]
    history, _, _, _ = list(ui.chat("voitures " * 2000, [], 5))[-1]
    assert len(history[0]["content"]) <= 2000
    assert "cut to its first 2000 characters" in history[-1]["content"]


def test_errors_become_messages_in_the_chat(fake_pipeline, tmp_path):
    empty = ChatUI(fake_pipeline, upload_dir=tmp_path / "u")
    history, _, _, _ = list(empty.chat("Une question ?", [], 5))[-1]
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
    assert any(row[2].endswith("uploads/lait.txt") for row in documents)
    # the same file again is recognised, and its text is searchable
    rows, _, _ = ui.upload([Upload(good, "lait.txt")])
    assert rows == [["lait.txt", "unchanged", ""]]
    assert "lait" in ui.pipeline.search("prix du lait")[0].text


def test_remove_from_the_document_list(ui):
    doc_id = ui.document_rows()[0][5]
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
    history, sources, _, _ = steps[-1]
    answer = history[-1]["content"]
    supported, unsupported = answer.split('<span class="unsupported"')
    assert "13 millions" in supported and '<a class="cite" href="#src-1">[1]</a>' in supported
    assert "⚠ Tesla" in unsupported and "Not supported by the cited passage" in unsupported
    assert 'id="src-1"' in sources


def test_backend_failure_shows_the_notice_and_the_extractive_answer(ui, scripted):
    scripted(ConnectionError("refused"))
    history, sources, _, _ = list(ui.chat(QUESTION, [], 5, "scripted"))[-1]
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
    history, _, _, _ = list(ui.chat(QUESTION, [], 5, "scripted"))[-1]
    answer = history[-1]["content"]
    shown, folded = answer.split("<details")
    assert "13 millions" in shown and "Tesla" not in shown
    assert "What the model wrote" in folded and "⚠ Tesla" in folded


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("lait.txt", "lait.txt"),
        ("../../etc/cron.d/evil.txt", "evil.txt"),
        ("/home/alice/notes.md", "notes.md"),
        ("C:\\Users\\bob\\rapport.PDF", "rapport.pdf"),
        ("..", "upload"),
        (".hidden.txt", "hidden.txt"),
        ("a\x00b\nc\x1b[31m.txt", "a_b_c_[31m.txt"),
        ("é" * 5000 + ".html", "é" * 115 + ".html"),
        ("", "upload"),
    ],
)
def test_upload_names_are_made_safe(sent, stored):
    from ui.app import safe_upload_name

    assert safe_upload_name(sent) == stored


def test_hostile_uploads_stay_in_the_upload_folder_and_are_named_in_the_results(ui, tmp_path):
    def sent(name: str, content: bytes) -> Upload:
        temp = tmp_path / f"gradio-{len(content)}-{abs(hash(name))}.bin"
        temp.write_bytes(content)
        return Upload(temp, name)

    text = b"Les boulangers de Lyon augmentent le prix de la baguette."
    rows, documents, _ = ui.upload(
        [
            sent("../../escape.txt", text),
            sent("/etc/absolute.txt", text + b" Encore."),
            sent("x" * 3000 + ".txt", text + b" Et plus."),
            sent("..", text),
            sent("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
            sent("notes.txt", b"%PDF-1.4\n" + b"\x00\x01" * 100),
        ]
    )
    stored = {p.name for p in (tmp_path / "uploads").iterdir()}
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
    assert {"escape.txt", "absolute.txt", "x" * 116 + ".txt"} <= stored
    assert not any(name.startswith(".") for name in stored)  # no partial copy left behind
    result = {row[0][:40]: (row[1], row[2]) for row in rows}
    assert result["../../escape.txt"] == ("added", "stored as escape.txt")
    assert result["x" * 40][0] == "added"
    assert result[".."][0] == "failed" and "unsupported" in result[".."][1]
    assert result["photo.pdf"] == ("failed", "the file is named .pdf but it is a PNG image: rename it, or re-export it")
    assert result["notes.txt"][0] == "failed" and "it is a PDF: rename it" in result["notes.txt"][1]
    assert all(str(tmp_path / "uploads") in row[2] for row in documents if "voitures" not in row[2])


def test_the_same_file_uploaded_twice_at_once_is_stored_once(ui, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    versions = []
    for i in range(6):
        temp = tmp_path / f"tmp-same-{i}.txt"
        temp.write_text(f"Les cheminots de Rennes votent la grève, version {i}.")
        versions.append(Upload(temp, "greve.txt"))
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda upload: ui.upload([upload])[0], versions))
    assert all(rows[0][1] in ("added", "updated", "unchanged") for rows in results)
    docs = [row for row in ui.document_rows() if row[2].endswith("greve.txt")]
    assert len(docs) == 1  # one document, whole: its single chunk is one of the versions
    text = ui.pipeline.search("cheminots Rennes grève")[0].text
    assert text in {f"Les cheminots de Rennes votent la grève, version {i}." for i in range(6)}
    assert ui.pipeline.check().damaged == []
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["greve.txt"]


def test_questions_are_answered_while_an_upload_is_being_embedded(ui, tmp_path):
    import threading

    embedder = ui.pipeline.embedder
    release, started = threading.Event(), threading.Event()
    plain = embedder.embed_passages

    def slow(texts):  # the upload's passages wait; the reader's sentences don't
        if any("viticulteurs" in t for t in texts):
            started.set()
            assert release.wait(30)
        return plain(texts)

    embedder.embed_passages = slow
    temp = tmp_path / "tmp-slow.txt"
    temp.write_text("Les viticulteurs bordelais arrachent leurs vignes.")
    uploading = threading.Thread(target=ui.upload, args=([Upload(temp, "vignes.txt")],))
    uploading.start()
    try:
        assert started.wait(30)
        answer = ui.ask_api(QUESTION)  # would wait for the upload behind one global lock
        assert not answer["abstained"] and answer["citations"]
        assert uploading.is_alive()
    finally:
        release.set()
        uploading.join(30)
    assert any(row[2].endswith("vignes.txt") for row in ui.document_rows())


def test_adding_a_url_on_a_private_address_is_refused_by_default(ui, web_site):
    """The app may be exposed on a network: it must not fetch the network's own machines."""
    rows, documents, _ = ui.add_url(f"{web_site}/second_page.html")
    [(link, result, detail)] = rows
    assert result == "failed" and "private, loopback or link-local address (127.0.0.1)" in detail
    assert "RAG_ALLOW_PRIVATE_URLS=1" in detail
    assert not any("second_page" in row[2] for row in documents)
    rows, _, _ = ui.add_url("file:///etc/passwd")
    assert rows[0][1] == "failed" and "http://" in rows[0][2]


def test_pages_and_feeds_are_added_when_private_addresses_are_allowed(fake_pipeline, tmp_path, web_site):
    fake_pipeline.settings = fake_pipeline.settings.with_(allow_private_urls=True)
    ui = ChatUI(fake_pipeline, upload_dir=tmp_path / "uploads")
    rows, documents, _ = ui.add_url(f"{web_site}/second_page.html")
    assert rows == [[f"{web_site}/second_page.html", "added", ""]]
    [row] = documents
    assert row[:2] == ["2021-03-02", "Harbour city opens its first tidal power plant"]
    assert row[2] == f"[{web_site}/second_page.html]({web_site}/second_page.html)"  # a link
    rows, documents, _ = ui.add_url(f"{web_site}/feed.xml", feed=True)
    assert sorted(r[1] for r in rows) == ["added", "failed", "unchanged"]  # new, 404, already there
    assert [d[0] for d in documents] == ["2021-03-02", "2019-11-18"]  # newest first
    # the list's date filter
    shown, note = ui.filter_documents("2020", "")
    assert [d[0] for d in shown] == ["2021-03-02"] and note == "1 documents dated since 2020"
    shown, note = ui.filter_documents("soon", "")
    assert len(shown) == 2 and "not a date" in note
    # a cited page links to itself
    _, sources, _, markdown = list(ui.chat("How much power will the tidal plant produce?", [], 5))[-1]
    assert f'href="{web_site}/second_page.html" target="_blank" rel="noopener noreferrer"' in sources
    assert f"<{web_site}/second_page.html>" in markdown


def test_the_copied_answer_is_markdown_with_its_citations(ui):
    history, _, _, markdown = list(ui.chat(QUESTION, [], 5))[-1]
    answer = ui.pipeline.ask(QUESTION)
    first, *rest = markdown.split("\n")
    assert first == " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.citations)}" for s in answer.sentences)
    cited = [line for line in rest if line]
    assert len(cited) == len(answer.citations)
    assert cited[0].startswith(f"[1] {answer.citations[0].title} (2024-03-05), ")
    assert cited[0].endswith(f"« {answer.citations[0].quote} »")


def test_the_chat_date_range_keeps_the_documents_dated_then(ui, tmp_path):
    old = tmp_path / "ancien.txt"
    old.write_text("date 2015-06-01\nLe secteur automobile emploie des millions de personnes en Europe depuis 1950.")
    ui.pipeline.ingest([old])
    _, sources, _, _ = list(ui.chat(QUESTION, [], 5, None, "", "2015-12-31"))[-1]
    assert "2015-06-01" in sources and "2024-03-05" not in sources
    history, sources, _, _ = list(ui.chat(QUESTION, [], 5, None, "2024", ""))[-1]
    assert "2024-03-05" in sources and "2015-06-01" not in sources
    assert "Documents dated since 2024." in history[-1]["content"]
    history, _, _, _ = list(ui.chat(QUESTION, [], 5, None, "june", ""))[-1]
    assert "⚠️" in history[-1]["content"] and "not a date" in history[-1]["content"]
    data = ui.ask_api(QUESTION, since="", until="2015")
    assert data["dates"]["until"] == "2015" and all(c["date"] == "2015-06-01" for c in data["citations"])


def test_source_links_are_only_http(ui):
    from ui.app import _safe_link, _title_html

    assert _safe_link("javascript:alert(1)") == "" and _safe_link("data:text/html,x") == ""
    assert _title_html("<b>t</b>", "javascript:alert(1)") == "&lt;b&gt;t&lt;/b&gt;"
