"""`rag serve` options: binding, login, and what reaches Gradio's launch()."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rag import cli
from rag.cli import common
from rag.pipeline import build_pipeline
from tests.conftest import FakeEmbedder
from ui.app import ChatUI


@pytest.fixture
def launched(monkeypatch, settings):
    calls = []
    monkeypatch.setattr(
        common, "pipeline_from_env", lambda index, **o: build_pipeline(settings, embedder=FakeEmbedder())
    )
    monkeypatch.setattr(ChatUI, "launch", lambda self, **kwargs: calls.append(kwargs))
    return calls


def test_defaults_bind_to_localhost_without_login(launched):
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 0, result.output
    assert launched == [{"host": "127.0.0.1", "port": 7860, "auth": None, "quiet": True}]
    assert "index is empty" in result.stderr


def test_auth_from_environment_and_warning_without_it(launched):
    CliRunner().invoke(cli.main, ["serve", "--host", "0.0.0.0", "--port", "8080"], env={"RAG_AUTH": "alice:s3cret"})
    assert launched[-1]["auth"] == ("alice", "s3cret") and launched[-1]["host"] == "0.0.0.0"
    result = CliRunner().invoke(cli.main, ["serve", "--host", "0.0.0.0"])
    assert "without a login" in result.stderr


def test_malformed_auth_is_refused(launched):
    result = CliRunner().invoke(cli.main, ["serve", "--auth", "alice"])
    assert result.exit_code == 2 and "user:password" in result.stderr and launched == []
