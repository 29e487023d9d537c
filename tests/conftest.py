"""Shared fixtures: a deterministic fake embedder, isolated settings, sample files of every kind."""

from __future__ import annotations

import http.server
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rag.pipeline import Pipeline, build_pipeline
from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SEED = CORPUS / "000_99cf57f4aa2db4ae.txt"  # the seed article: what the tests index (corpus/ is 1,142 articles)
RAG = str(Path(sys.executable).with_name("rag"))
CHROMIUM = "/usr/bin/chromium"  # Debian's, which the browser tests drive (setup.sh installs it)
EXTRAS_RUNNING = REPO / ".venv" / "extras.running"  # setup.sh's background install, while it runs


def _background_install() -> int | None:
    """The PID of setup.sh's background install of the test tools, if one is still running."""
    try:
        pid = int(EXTRAS_RUNNING.read_text().strip())
        running = b"setup.sh" in Path(f"/proc/{pid}/cmdline").read_bytes()  # not a reused PID
    except (OSError, ValueError):
        return None
    return pid if running else None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Run too early (./setup.sh still installing Chromium and the llama.cpp build behind the
    chat), the tests would fail for want of them: say so instead, and what to do."""
    pid = _background_install()
    if pid is not None:
        pytest.exit(
            f"./setup.sh is still installing what the tests need (Chromium, the llama.cpp build, the LLM "
            f"backends) in the background (process {pid}; progress in .venv/logs/background.log). Run the "
            "tests again when it has finished, or run ./setup.sh --install-only, which waits for it.",
            returncode=4,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What the slow tests need and this machine lacks, named before they fail on it."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium ({CHROMIUM}; the browser tests)")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        missing.append("the llama.cpp backend (the LLM tests)")
    if not missing:
        return []
    return [f"missing: {'; '.join(missing)}. ./setup.sh --install-only installs them."]


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...; utime and stime at
    11 and 12), or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [w for w in re.findall(r"[a-z0-9]+", folded) if len(w) > 2]


class FakeEmbedder:
    """Bag of words hashed into 256 dimensions: deterministic, and similar texts get close vectors."""

    name = "fake"
    dim = 256

    def __init__(self) -> None:
        self.passage_calls = 0

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for word in _words(text):
            vec[zlib.crc32(word.encode()) % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        self.passage_calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's RAG_* settings (the model cache excepted)."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_MODEL_CACHE":
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The fake embedder's cosine picks the sentences: deterministic and instant. The evidence
    # reader (the default) reads with the real e5: tests/test_evidence.py, test_real_model.py.
    return Settings.from_env(index=tmp_path / "index", embed_model="fake", min_sentence_score=0.3, reader="cosine")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Any:
    """The CLI over a fake embedder: every command gets the same kind of pipeline as in production."""
    from click.testing import CliRunner

    from rag.cli import common

    def fake_pipeline(index: Path | None, **overrides: Any) -> Pipeline:
        return build_pipeline(settings.with_(index=index or settings.index, **overrides), embedder=FakeEmbedder())

    monkeypatch.setattr(common, "pipeline_from_env", fake_pipeline)
    return CliRunner()


@pytest.fixture
def fake_pipeline(settings: Settings) -> Pipeline:
    return build_pipeline(settings, embedder=FakeEmbedder())


@pytest.fixture
def indexed(fake_pipeline: Pipeline, tmp_path: Path) -> Pipeline:
    """The fake pipeline over two short French articles (cars, and fishing)."""
    (tmp_path / "voitures.txt").write_text(ARTICLE_FR)
    (tmp_path / "peche.txt").write_text("Les pêcheurs bretons protestent contre les quotas de thon.")
    fake_pipeline.ingest([tmp_path])
    return fake_pipeline


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the real bundled model, over a fresh persistent index of the demo corpus."""
    from rag.models.bundled import prepare_bundled_model

    base = Settings.from_env(index=tmp_path_factory.mktemp("real") / "index")
    prepare_bundled_model(base.model_cache)
    return base


@pytest.fixture(scope="session")
def real_pipeline(real_settings: Settings) -> Pipeline:
    pipeline = build_pipeline(real_settings)
    report = pipeline.ingest([SEED])
    assert report.ok, report.failed
    return pipeline


ARTICLE_FR = (
    "date 2024-03-05 La Commission européenne a ouvert une enquête sur les subventions accordées "
    "aux fabricants de voitures électriques. Bruxelles soupçonne des aides publiques massives.\n\n"
    "Les constructeurs européens craignent une concurrence déloyale. Le secteur emploie près de "
    "13 millions de personnes en Europe.\n"
)


def write_samples(folder: Path) -> dict[str, Path]:
    """One good file of every supported kind, and one bad file of every kind we reject."""
    import docx
    from reportlab.pdfgen import canvas

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    files["txt"] = folder / "voitures.txt"
    files["txt"].write_text(ARTICLE_FR, encoding="utf-8")
    files["latin1"] = folder / "ancien.txt"
    files["latin1"].write_bytes("Le député a évoqué la sécurité routière à Noël, déçu.".encode("latin-1"))
    files["md"] = folder / "note.md"
    files["md"].write_text("# Budget de la défense\n\nLe budget militaire augmente de 7 % en 2025.\n", encoding="utf-8")
    files["html"] = folder / "page.html"
    files["html"].write_text(
        "<html><head><title>Tempête sur la Bretagne</title><style>.x{color:red}</style>"
        '<meta property="article:published_time" content="2023-11-02T08:00:00Z"></head>'
        "<body><script>var secret = 'ne pas indexer';</script><h1>Tempête</h1>"
        "<p>La tempête <b>Ciaran</b> a privé d'électricité 1,2 million de foyers.</p></body></html>",
        encoding="utf-8",
    )
    files["pdf"] = folder / "rapport.pdf"
    pdf = canvas.Canvas(str(files["pdf"]))
    pdf.setTitle("Rapport sur les semi-conducteurs")
    pdf.drawString(72, 720, "The chip shortage slowed car production in Germany during 2021.")
    pdf.save()
    files["docx"] = folder / "interview.docx"
    word = docx.Document()
    word.core_properties.title = "Entretien avec une juge"
    word.add_paragraph("La juge explique que la réforme de la justice allonge les délais de procédure.")
    word.save(str(files["docx"]))
    bad = folder / "bad"
    bad.mkdir()
    files["empty"] = bad / "empty.txt"
    files["empty"].write_text("")
    files["blank"] = bad / "blank.md"
    files["blank"].write_text("   \n\n\t\n")
    files["binary"] = bad / "binary.txt"
    files["binary"].write_bytes(bytes(range(256)) * 8)
    files["corrupt_pdf"] = bad / "corrupt.pdf"
    files["corrupt_pdf"].write_bytes(b"%PDF-1.4\n this is not really a pdf \x00\x01\x02")
    files["corrupt_docx"] = bad / "corrupt.docx"
    files["corrupt_docx"].write_bytes(b"PK\x03\x04 not a zip at all")
    files["unsupported"] = bad / "photo.jpg"
    files["unsupported"].write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    files["dangling"] = bad / "dangling.txt"
    files["dangling"].symlink_to(bad / "does-not-exist.txt")
    return files


class ScriptedLLM:
    """Builds a llama-index LLM that streams a fixed reply (deterministic), for the guard tests.

    `reply` is the text, a function of the prompt that returns it, or an exception to raise;
    `delay` sleeps between words (for timeouts). Every prompt it receives is kept in `prompts`.
    """

    def __new__(cls, reply: Any, delay: float = 0.0):  # type: ignore[misc]
        import time

        from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
        from llama_index.core.llms.callbacks import llm_completion_callback

        class _Scripted(CustomLLM):
            prompts: list = []

            @property
            def metadata(self) -> LLMMetadata:
                return LLMMetadata(model_name="scripted", is_chat_model=False)

            @llm_completion_callback()
            def complete(self, prompt: str, formatted: bool = False, **kwargs):
                return CompletionResponse(text="".join(r.delta for r in self.stream_complete(prompt)))

            @llm_completion_callback()
            def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
                self.prompts.append(prompt)
                if isinstance(reply, BaseException):
                    raise reply
                full = reply(prompt) if callable(reply) else reply
                text = ""
                for word in full.split(" "):
                    if delay:
                        time.sleep(delay)
                    delta = word if not text else " " + word
                    text += delta
                    yield CompletionResponse(text=text, delta=delta)

        return _Scripted(prompts=[])


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch):
    """`scripted(reply)` registers a backend named "scripted" that answers `reply`; returns the LLM."""
    from rag.models import llm as llm_module

    def register(reply: Any, delay: float = 0.0):
        fake = ScriptedLLM(reply, delay)
        backend = llm_module.Backend("scripted", "none", ("llama_index.core",), lambda settings: fake)
        monkeypatch.setitem(llm_module.BACKENDS, "scripted", backend)
        return fake

    return register


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(index: Path, env: dict[str, str], pids: list[int] | None = None, args: Sequence[str] = ()) -> Iterator[str]:
    """Run `rag serve [args]` on a free port until the block ends; yields its URL (and appends
    the server's process id to `pids` when given)."""
    port = free_port()
    log_path = index.parent / f"serve-{port}.log"
    with log_path.open("w") as log:
        command = [RAG, "serve", "--port", str(port), *args]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        if pids is not None:
            pids.append(proc.pid)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (a login page counts)
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"rag serve exited: {log_path.read_text()}")
                time.sleep(0.5)
        else:
            proc.kill()
            pytest.fail("rag serve did not answer within 120 s")
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


WEB_DATA = REPO / "tests" / "data" / "web"


class _SiteHandler(http.server.BaseHTTPRequestHandler):
    """Serves tests/data/web (feeds with {BASE} replaced by the server's address), and a few
    misbehaving routes: /image.png, /huge.html, /endless.html, /loop, /slow.html, /moved."""

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        base = f"http://{self.headers['Host']}"
        path = self.path.split("?", 1)[0]
        self.server.user_agents.append(self.headers.get("User-Agent", ""))  # type: ignore[attr-defined]
        if path == "/image.png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png")
        elif path == "/huge.html":  # says how big it is
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(200_000_000))
            self.end_headers()
            self.wfile.write(b"<html>" + b" " * 1000)
        elif path == "/endless.html":  # does not say: the reader must stop counting itself
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(20_000):
                    self.wfile.write(b"<p>" + b"x" * 1021)
            except OSError:
                pass
        elif path == "/loop":
            self._send(302, b"", "text/html", {"Location": "/loop"})
        elif path == "/moved":
            self._send(301, b"", "text/html", {"Location": "/second_page.html"})
        elif path == "/slow.html":
            time.sleep(3)
            self._send(200, b"<html><p>late</p></html>", "text/html")
        elif (WEB_DATA / path.lstrip("/")).is_file() and "/" not in path.lstrip("/"):
            body = (WEB_DATA / path.lstrip("/")).read_bytes()
            if path.endswith(".xml"):
                self._send(200, body.replace(b"{BASE}", base.encode()), "application/rss+xml")
            else:
                self._send(200, body, "text/html; charset=utf-8")
        else:
            self._send(404, b"<html><p>Not found</p></html>", "text/html")


class Site(str):
    """The local site's base URL; `user_agents` lists what each request said it was."""

    user_agents: list[str]


@pytest.fixture
def web_site() -> Iterator[Site]:
    """A local web site serving saved news pages and feeds (there is no internet here)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SiteHandler)
    server.user_agents = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site = Site(f"http://127.0.0.1:{server.server_address[1]}")
    site.user_agents = server.user_agents  # type: ignore[attr-defined]
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
