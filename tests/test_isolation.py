"""Hostile files: each is ingested or refused with a one-line reason, within a time and memory
limit per file, and nothing already in the index is lost (rag/ingest/worker.py)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from rag.errors import DocumentError
from rag.ingest.worker import Limits, read_isolated

LIMITS = Limits(seconds=20, memory_mb=1536)


def _read(path: Path, limits: Limits = LIMITS):
    return read_isolated(limits, path, path.read_bytes(), "id", "hash", 384, 64)


def docx_bomb(path: Path, megabytes: int) -> Path:
    """A .docx of a few hundred kB whose document.xml inflates to `megabytes` MB."""
    ns = "http://schemas.openxmlformats.org/"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{ns}package/2006/content-types"><Default Extension="rels" '
            f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Override '
            'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{ns}package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{ns}officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
        )
        run = "<w:p><w:r><w:t>" + "Lorem ipsum dolor sit amet. " * 36_000 + "</w:t></w:r></w:p>"  # ~1 MB
        with z.open("word/document.xml", "w") as part:
            part.write(f'<w:document xmlns:w="{ns}wordprocessingml/2006/main"><w:body>'.encode())
            for _ in range(megabytes):
                part.write(run.encode())
            part.write(b"</w:body></w:document>")
    path.write_bytes(buffer.getvalue())
    return path


def test_a_good_file_is_read_in_the_worker(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_text("Les maraîchers de Nantes récoltent les premières mâches de la saison.")
    document, chunks = _read(path)
    assert document.source == str(path.absolute()) and "mâches" in chunks[0].text


def test_the_workers_start_up_does_not_count_against_the_files_time(tmp_path, monkeypatch):
    """A worker started on a slow or busy machine (here: 3 s of start-up) still gives the file
    its whole time limit: the first file after a hostile one used to time out while the new
    worker was still importing the readers."""
    from rag.ingest import worker as isolation

    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.setenv("PYTHONPATH", str(slow))
    memory_mb = 1537  # a worker of its own, started with the slow start-up
    path = tmp_path / "ok.txt"
    path.write_text("Les conchyliculteurs de Marennes attendent la levée de l'interdiction.")
    try:
        started = time.monotonic()
        document, chunks = _read(path, Limits(seconds=2, memory_mb=memory_mb))
        assert time.monotonic() - started > 3  # the slow start-up did happen
        assert "conchyliculteurs" in chunks[0].text
    finally:
        isolation._worker(memory_mb).stop()


def test_a_worker_that_cannot_start_is_a_clear_message(tmp_path, monkeypatch):
    from rag.ingest import worker as isolation

    broken = tmp_path / "broken-start"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    path = tmp_path / "ok.txt"
    path.write_text("Texte.")
    try:
        with pytest.raises(DocumentError, match="did not start"):
            _read(path, Limits(seconds=2, memory_mb=1538))
    finally:
        isolation._worker(1538).stop()


def test_a_file_is_read_when_the_process_holds_over_a_thousand_descriptors(tmp_path):
    """A long-running server holds many files and sockets; select() fails on descriptors past
    1,023 ("filedescriptor out of range"), which stopped every read once there were that many."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200 and (hard == resource.RLIM_INFINITY or hard >= 1200):
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    elif soft < 1200:
        pytest.skip("this machine allows fewer than 1,200 open files")
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        path = tmp_path / "article.txt"
        path.write_text("Un article lu par un processus qui tient mille fichiers ouverts.", encoding="utf-8")
        limits = Limits(seconds=30, memory_mb=513)  # a worker of its own, started now: its pipes past 1,100
        document, chunks = read_isolated(limits, path, path.read_bytes(), "d1", "h1", 384, 64)
        assert "mille fichiers" in document.text and chunks
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_file_that_takes_too_long_is_stopped_and_the_next_one_is_read(tmp_path):
    slow = tmp_path / "long.txt"
    slow.write_text("mot " * 1_500_000)  # one 6 MB line: chunking it takes several seconds
    started = time.monotonic()
    with pytest.raises(DocumentError, match=r"took longer than 1 s, so it was stopped.*RAG_READ_TIMEOUT"):
        _read(slow, Limits(seconds=1, memory_mb=1536))
    assert time.monotonic() - started < 5
    good = tmp_path / "next.txt"
    good.write_text("Le port du Havre reprend son activité après la grève.")
    assert "Havre" in _read(good)[0].text  # a fresh worker took over


def test_a_zip_bomb_inside_a_docx_is_stopped_by_the_memory_cap(tmp_path):
    bomb = docx_bomb(tmp_path / "bomb.docx", 600)
    assert bomb.stat().st_size < 5_000_000
    with pytest.raises(DocumentError) as caught:
        _read(bomb, Limits(seconds=60, memory_mb=1200))
    message = str(caught.value)
    assert "\n" not in message
    assert "more than 1200 MB of memory" in message or "reader process died" in message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep.html", "<html><body>" + "<div>" * 100_000 + "texte profond" + "</div>" * 100_000, "texte profond"),
        ("deep.md", "> " * 50_000 + "citation profonde", "citation profonde"),
        ("controls.txt", "Un texte\u202e inversé\u200b et des \ufeff marques. " * 50, "inversé"),
    ],
)
def test_pathological_but_readable_files_are_read(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    assert expected in _read(path)[0].text


@pytest.mark.slow
def test_a_pdf_with_thousands_of_pages_and_one_with_a_broken_xref(tmp_path):
    from reportlab.pdfgen import canvas

    many = tmp_path / "many.pdf"
    pdf = canvas.Canvas(str(many))
    for page in range(3000):
        pdf.drawString(72, 720, f"Page {page} du rapport annuel.")
        pdf.showPage()
    pdf.save()
    document, chunks = _read(many)
    assert "Page 2999 du rapport" in document.text and len(chunks) > 10
    data = many.read_bytes()
    xref = data.rfind(b"xref")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data[:xref] + b"xref\n0 99999999\nnot a table\n" + data[xref + 300 :])
    with pytest.raises(DocumentError, match="PDF is damaged"):
        _read(broken)


@pytest.mark.slow
def test_ingest_carries_on_past_hostile_files_and_loses_nothing_stored(indexed, tmp_path):
    before = {d.doc_id: d.content_hash for d in indexed.documents()}
    folder = tmp_path / "hostile"
    folder.mkdir()
    docx_bomb(folder / "bomb.docx", 600)
    (folder / "long.txt").write_text("mot " * 1_500_000)
    (folder / "fine.txt").write_text("Les ostréiculteurs d'Arcachon attendent la levée de l'interdiction.")
    pipeline = indexed
    pipeline.settings = pipeline.settings.with_(read_timeout=2.0, read_memory_mb=1200)
    report = pipeline.ingest([folder])
    assert [Path(p).name for p in report.added] == ["fine.txt"]
    failed = {Path(f.source).name: f.error for f in report.failed}
    assert set(failed) == {"bomb.docx", "long.txt"}
    assert "took longer than 2 s" in failed["long.txt"]
    after = {d.doc_id: d.content_hash for d in pipeline.documents()}
    assert before.items() <= after.items() and len(after) == len(before) + 1
    assert pipeline.check().damaged == []
