"""The Documents tab's logic, driven with the fake embedder: no server, no browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ARTICLE_FR
from ui.chat import ChatTab
from ui.documents import DocumentsTab


@pytest.fixture
def tab(fake_pipeline, tmp_path):
    (tmp_path / "voitures.txt").write_text(ARTICLE_FR)
    fake_pipeline.ingest([tmp_path / "voitures.txt"])
    return DocumentsTab(fake_pipeline, upload_dir=tmp_path / "uploads", max_upload_mb=0.01)


QUESTION = "Combien de personnes le secteur emploie-t-il en Europe ?"


class Upload:
    def __init__(self, path: Path, orig_name: str):
        self.name, self.orig_name = str(path), orig_name


def test_upload_goes_through_ingest_with_limits(tab, tmp_path):
    good = tmp_path / "tmp1.txt"
    good.write_text("Les éleveurs normands manifestent contre le prix du lait.")
    big = tmp_path / "tmp2.txt"
    big.write_text("x " * 20_000)
    bad = tmp_path / "tmp3.exe"
    bad.write_bytes(b"MZ")
    empty = tmp_path / "tmp4.txt"
    empty.write_text("")
    rows, documents, _ = tab.upload(
        [Upload(good, "lait.txt"), Upload(big, "big.txt"), Upload(bad, "virus.exe"), Upload(empty, "vide.txt")]
    )
    result = {row[0]: (row[1], row[2]) for row in rows}
    assert result["lait.txt"] == ("added", "")
    assert result["big.txt"][0] == "failed" and "too large" in result["big.txt"][1]
    assert result["virus.exe"][0] == "failed" and "unsupported" in result["virus.exe"][1]
    assert result["vide.txt"] == ("failed", "the file is empty")
    assert any(row[2].endswith("uploads/lait.txt") for row in documents)
    # the same file again is recognised, and its text is searchable
    rows, _, _ = tab.upload([Upload(good, "lait.txt")])
    assert rows == [["lait.txt", "unchanged", ""]]
    assert "lait" in tab.pipeline.search("prix du lait")[0].text


def test_remove_from_the_document_list(tab):
    doc_id = tab.document_rows()[0][5]
    message, rows, _ = tab.remove(doc_id)
    assert "Removed" in message and rows == []
    message, _, _ = tab.remove("nope")
    assert "No document" in message


def test_upload_reports_progress(tab, tmp_path):
    good = tmp_path / "tmp5.txt"
    good.write_text("Les vendanges commencent tôt en Bourgogne cette année.")
    seen = []
    tab.upload([Upload(good, "vendanges.txt")], lambda fraction, desc: seen.append((round(fraction, 2), desc)))
    assert seen[-1] == (1.0, "Embedding passages")
    assert "Reading files" in {d for _, d in seen}


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
    from ui.uploads import safe_upload_name

    assert safe_upload_name(sent) == stored


def test_hostile_uploads_stay_in_the_upload_folder_and_are_named_in_the_results(tab, tmp_path):
    def sent(name: str, content: bytes) -> Upload:
        temp = tmp_path / f"gradio-{len(content)}-{abs(hash(name))}.bin"
        temp.write_bytes(content)
        return Upload(temp, name)

    text = b"Les boulangers de Lyon augmentent le prix de la baguette."
    rows, documents, _ = tab.upload(
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


def test_the_same_file_uploaded_twice_at_once_is_stored_once(tab, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    versions = []
    for i in range(6):
        temp = tmp_path / f"tmp-same-{i}.txt"
        temp.write_text(f"Les cheminots de Rennes votent la grève, version {i}.")
        versions.append(Upload(temp, "greve.txt"))
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda upload: tab.upload([upload])[0], versions))
    assert all(rows[0][1] in ("added", "updated", "unchanged") for rows in results)
    docs = [row for row in tab.document_rows() if row[2].endswith("greve.txt")]
    assert len(docs) == 1  # one document, whole: its single chunk is one of the versions
    text = tab.pipeline.search("cheminots Rennes grève")[0].text
    assert text in {f"Les cheminots de Rennes votent la grève, version {i}." for i in range(6)}
    assert tab.pipeline.check().damaged == []
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["greve.txt"]


def test_questions_are_answered_while_an_upload_is_being_embedded(tab, tmp_path):
    import threading

    embedder = tab.pipeline.embedder
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
    uploading = threading.Thread(target=tab.upload, args=([Upload(temp, "vignes.txt")],))
    uploading.start()
    try:
        assert started.wait(30)
        answer = ChatTab(tab.pipeline).ask_api(QUESTION)  # would wait for the upload behind one global lock
        assert not answer["abstained"] and answer["citations"]
        assert uploading.is_alive()
    finally:
        release.set()
        uploading.join(30)
    assert any(row[2].endswith("vignes.txt") for row in tab.document_rows())


def test_adding_a_url_on_a_private_address_is_refused_by_default(tab, web_site):
    """The app may be exposed on a network: it must not fetch the network's own machines."""
    rows, documents, _ = tab.add_url(f"{web_site}/second_page.html")
    [(link, result, detail)] = rows
    assert result == "failed" and "private, loopback or link-local address (127.0.0.1)" in detail
    assert "RAG_ALLOW_PRIVATE_URLS=1" in detail
    assert not any("second_page" in row[2] for row in documents)
    rows, _, _ = tab.add_url("file:///etc/passwd")
    assert rows[0][1] == "failed" and "http://" in rows[0][2]


def test_pages_and_feeds_are_added_when_private_addresses_are_allowed(fake_pipeline, tmp_path, web_site):
    fake_pipeline.settings = fake_pipeline.settings.with_(allow_private_urls=True)
    tab = DocumentsTab(fake_pipeline, upload_dir=tmp_path / "uploads")
    rows, documents, _ = tab.add_url(f"{web_site}/second_page.html")
    assert rows == [[f"{web_site}/second_page.html", "added", ""]]
    [row] = documents
    assert row[:2] == ["2021-03-02", "Harbour city opens its first tidal power plant"]
    assert row[2] == f"[{web_site}/second_page.html]({web_site}/second_page.html)"  # a link
    rows, documents, _ = tab.add_url(f"{web_site}/feed.xml", feed=True)
    assert sorted(r[1] for r in rows) == ["added", "failed", "unchanged"]  # new, 404, already there
    assert [d[0] for d in documents] == ["2021-03-02", "2019-11-18"]  # newest first
    # the list's date filter
    shown, note = tab.filter_documents("2020", "")
    assert [d[0] for d in shown] == ["2021-03-02"] and note == "1 documents dated since 2020"
    shown, note = tab.filter_documents("soon", "")
    assert len(shown) == 2 and "not a date" in note
    # a cited page links to itself
    chat = ChatTab(fake_pipeline)
    _, sources, _, markdown = list(chat.chat("How much power will the tidal plant produce?", [], 5))[-1]
    assert f'href="{web_site}/second_page.html" target="_blank" rel="noopener noreferrer"' in sources
    assert f"<{web_site}/second_page.html>" in markdown
