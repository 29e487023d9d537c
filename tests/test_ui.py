"""The chat page assembled: its tabs and its API, built without a server."""

from __future__ import annotations

import pytest

from ui.app import ChatUI


@pytest.fixture
def ui(fake_pipeline, tmp_path):
    return ChatUI(fake_pipeline, upload_dir=tmp_path / "uploads")


def test_page_builds_with_an_ask_endpoint(ui):
    page = ui.build()
    names = {dep.get("api_name") for dep in page.config["dependencies"]}
    assert {"ask", "upload", "add_page", "add_feed"} <= names  # the API of both tabs
