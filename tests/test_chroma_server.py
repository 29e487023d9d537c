"""The same pipeline against a real Chroma server (`chroma run`), as when scaling out."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.pipeline import build_pipeline
from tests.conftest import ARTICLE_FR, FakeEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory):
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen(
        [str(exe), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("chroma run did not start within 60 s")
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def test_ingest_search_update_remove_through_a_chroma_server(settings, tmp_path, chroma_url):
    remote = settings.with_(chroma_url=chroma_url)
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE_FR)
    pipeline = build_pipeline(remote, embedder=FakeEmbedder())
    assert pipeline.ingest([article]).added == [str(article)]
    assert "voitures électriques" in pipeline.search("voitures électriques subventions")[0].text

    # a second client (another machine, say) sees the same documents and skips the unchanged file
    other = build_pipeline(remote.with_(index=tmp_path / "elsewhere"), embedder=FakeEmbedder())
    assert other.ingest([article]).unchanged == [str(article)]
    article.write_text("La pêche au thon rouge reprend en Méditerranée.")
    assert other.ingest([article]).updated == [str(article)]
    assert "thon" in pipeline.search("thon rouge")[0].text
    assert all("voitures" not in h.text for h in pipeline.search("voitures électriques"))

    other.remove(pipeline.documents()[0].doc_id)
    assert pipeline.documents() == []


def test_two_servers_see_what_a_third_process_ingested_lexical_side_included(real_settings, tmp_path, chroma_url):
    """Two `rag serve` (two machines, say: each its own index folder) on one Chroma server; a
    `rag ingest` elsewhere adds an article; both answer from it, and both lexical indexes hold it."""
    import sqlite3

    from gradio_client import Client

    from tests.conftest import RAG, SEED, serving

    base = {**os.environ, "RAG_CHROMA_URL": chroma_url, "RAG_MODEL_CACHE": str(real_settings.model_cache)}
    base["RAG_COLLECTION"] = "scale_out"
    first, second, writer = (tmp_path / name for name in ("first", "second", "writer"))
    subprocess.run([RAG, "ingest", str(SEED)], env={**base, "RAG_INDEX": str(writer)}, check=True)
    with (
        serving(first, {**base, "RAG_INDEX": str(first)}) as url_1,
        serving(second, {**base, "RAG_INDEX": str(second)}) as url_2,
    ):
        clients = [Client(url, verbose=False) for url in (url_1, url_2)]
        for client in clients:
            assert not client.predict("why is the EU looking at Mistral?", api_name="/ask")["abstained"]
        article = tmp_path / "ostreiculture.txt"
        article.write_text(
            "Date: 2024-03-02\n\nLes ostréiculteurs du bassin d'Arcachon ont perdu 40 % de leur production "
            "à cause d'un norovirus détecté en janvier. La préfecture a levé l'interdiction de vente le 1er mars.",
            encoding="utf-8",
        )
        subprocess.run([RAG, "ingest", str(article)], env={**base, "RAG_INDEX": str(writer)}, check=True)
        for client in clients:
            answer = client.predict(
                "Quand l'interdiction de vente des huîtres d'Arcachon a-t-elle été levée ?", api_name="/ask"
            )
            assert not answer["abstained"]
            assert answer["citations"][0]["source"].endswith("ostreiculture.txt")
    for folder in (first, second):
        with sqlite3.connect(folder / "lexical.sqlite") as db:
            sources = [row[0] for row in db.execute("SELECT meta FROM chunks")]
        assert any("ostreiculture.txt" in meta for meta in sources)
