"""rag/ingest/background.py: an ingest behind the serving chat, and where it is."""

from __future__ import annotations

import threading
from pathlib import Path

from click.testing import CliRunner

from rag import cli
from rag.cli import common
from rag.ingest.background import BackgroundIngest, IngestState, duration
from rag.pipeline import build_pipeline
from rag.types import IngestFailure, IngestReport
from tests.conftest import FakeEmbedder
from ui.app import ChatUI


def test_state_counts_files_and_guesses_the_time_left():
    starting = IngestState("corpus/", 0, 1000, 3.0).describe()
    assert starting == "Indexing corpus/: 0 of 1,000 files, starting. What is indexed can be asked about already."
    state = IngestState("corpus/", 250, 1000, 30.0)
    assert state.seconds_left() == 90.0
    assert "250 of 1,000 files, about 2 min left" in state.describe()
    report = IngestReport(added=["a", "b"], unchanged=["c"], failed=[IngestFailure("d", "binary")])
    stored = IngestState("corpus/", 1, 4, 100.0, report, phase_started=90.0)
    assert stored.running and stored.seconds_left() == 30.0  # 10 s for the first of four documents
    assert stored.describe() == (
        "Indexed corpus/: 2 added, 0 updated, 1 unchanged, 1 failed (`rag ingest corpus/` lists why). Now embedding "
        "their sentences for the reader (1 of 4 documents, about 30 s left); until then an answer about them takes "
        "a second longer."
    )
    done = IngestState("corpus/", 4, 4, 161.0, report, finished=True)
    assert not done.running
    expected = "Indexed corpus/: 2 added, 0 updated, 1 unchanged, 1 failed (`rag ingest corpus/` lists why), in 3 min."
    assert done.describe() == expected
    assert "stopped: OSError: disk full" in IngestState("corpus/", 3, 4, 5.0, error="OSError: disk full").describe()
    assert [duration(s) for s in (4.4, 59, 61, 3600 + 300)] == ["4 s", "59 s", "1 min", "1 h 05 min"]


def test_runs_in_a_thread_holding_the_write_lock_and_reports():
    lock = threading.Lock()
    release = threading.Event()
    seen: list[bool] = []

    def ingest(paths, progress):
        seen.append(lock.locked())
        for i in range(1, len(paths) + 1):
            progress("reading", i, len(paths))
            progress("embedding", 5, 10)  # only files count
        release.wait(5)
        return IngestReport(added=[str(p) for p in paths])

    def prepare(progress):
        seen.append(lock.locked())
        progress("reader", 3, 3)
        return 3

    background = BackgroundIngest(ingest, [Path("a"), Path("b")], lock, "two files", prepare).start()
    state = background.wait(0.2)
    assert state.running and (state.done, state.total) == (2, 2) and seen == [True]
    release.set()
    state = background.wait(5)
    assert not state.running and not lock.locked() and seen == [True, True]
    assert state.report is not None and state.report.added == ["a", "b"] and (state.done, state.total) == (3, 3)
    assert state.describe().startswith("Indexed two files: 2 added, 0 updated, 0 unchanged, in ")


def test_an_ingest_that_raises_is_reported_not_raised():
    def ingest(paths, progress):
        progress("reading", 1, 3)
        raise OSError("disk full")

    state = BackgroundIngest(ingest, [Path("x")], label="x").start().wait(5)
    assert state.error == "OSError: disk full" and (state.done, state.total) == (1, 3)
    assert state.describe() == "Indexing x stopped: OSError: disk full"


def test_serve_ingest_indexes_behind_the_chat_and_the_page_says_how_far(monkeypatch, settings, tmp_path):
    pipeline = build_pipeline(settings, embedder=FakeEmbedder())
    monkeypatch.setattr(common, "pipeline_from_env", lambda index, **o: pipeline)
    pages: list[ChatUI] = []

    def launch(self, **kwargs):
        pages.append(self)
        assert self.indexing_line().startswith("*Index")

    monkeypatch.setattr(ChatUI, "launch", launch)
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Le budget militaire augmente de 7 % en 2025.", encoding="utf-8")
    (folder / "b.txt").write_text("La tempête Ciaran a privé d'électricité 1,2 million de foyers.", encoding="utf-8")
    (folder / "c.bin").write_bytes(b"\x00\x01\x02binary")
    result = CliRunner().invoke(cli.main, ["serve", "--ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert "index is empty" not in result.stderr
    state = pages[0].background.wait(60)  # type: ignore[union-attr]
    assert state.report is not None and not state.running
    assert sorted(Path(p).name for p in state.report.added) == ["a.txt", "b.txt"]
    assert [Path(f.source).name for f in state.report.failed] == ["c.bin"]
    assert len(pipeline.documents()) == 2
    assert pages[0].indexing_line().startswith(f"*Indexed {folder}: 2 added, 0 updated, 0 unchanged, 1 failed")


def test_serve_ingest_names_a_missing_folder(monkeypatch, settings):
    pipeline = build_pipeline(settings, embedder=FakeEmbedder())
    monkeypatch.setattr(common, "pipeline_from_env", lambda index, **o: pipeline)
    monkeypatch.setattr(ChatUI, "launch", lambda self, **kwargs: None)
    result = CliRunner().invoke(cli.main, ["serve", "--ingest", "no/such/folder"])
    assert result.exit_code == 2 and "no/such/folder" in result.stderr
