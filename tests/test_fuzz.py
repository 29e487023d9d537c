"""Fuzzing every reader (Hypothesis): truncated and mutated real files, generated HTML, raw
bytes. Each input is read the way ingest reads it (in the worker, under its limits) and must
either give a document or be refused with a one-line reason: no other exception, no hang.

The examples are derandomized, so CI sees the same ones on every run; HYPOTHESIS_PROFILE=explore
runs many more, with fresh randomness, to look for new cases (each one found becomes an
@example here).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.errors import DocumentError
from rag.ingest.worker import Limits, read_isolated
from tests.conftest import REPO, write_samples

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

LIMITS = Limits(seconds=20, memory_mb=1536)
KINDS = ("txt", "md", "html", "news", "pdf", "docx")


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    samples = write_samples(tmp_path_factory.mktemp("fuzz-samples"))
    found = {kind: samples[kind].read_bytes() for kind in ("txt", "md", "html", "pdf", "docx")}
    found["news"] = (REPO / "tests" / "data" / "web" / "news_page.html").read_bytes()
    return found


SUFFIX = {"txt": ".txt", "md": ".md", "html": ".html", "news": ".html", "pdf": ".pdf", "docx": ".docx"}


def read_or_refuse(tmp_path: Path, suffix: str, data: bytes) -> None:
    """Read `data` as ingest would; pass if it is read or refused with a one-line reason."""
    path = tmp_path / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        document, chunks = read_isolated(LIMITS, path, data, "id", "hash", 384, 64)
    except DocumentError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        assert "took longer" not in message, f"a {suffix} file of {len(data)} bytes hung the reader"
        return
    assert document.text.strip() and chunks
    assert all(document.text[c.start : c.end] == c.text for c in chunks)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """The original cut short, with bytes overwritten, inserted, or a slice repeated."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["truncate", "overwrite", "insert", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "truncate":
            del data[at:]
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            size = draw(st.integers(1, 64))
            data[at:at] = bytes(data[at : at + size]) * draw(st.integers(2, 2000))
    return bytes(data)


@pytest.mark.parametrize("kind", KINDS)
def test_mutated_real_files_are_read_or_refused(originals, tmp_path_factory, kind):
    folder = tmp_path_factory.mktemp(f"fuzz-{kind}")

    @given(data=mutated(originals[kind]))
    def check(data: bytes) -> None:
        read_or_refuse(folder, SUFFIX[kind], data)

    check()


_TAGS = st.sampled_from(["div", "p", "span", "table", "tr", "td", "ul", "li", "script", "style", "title", "meta", "a"])
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def html_pages(draw: st.DrawFn) -> bytes:
    """Pages of random structure: unbalanced and deeply nested tags, attributes, entities."""
    parts = ["<html><head>"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 60))):
        tag = draw(_TAGS)
        choice = draw(st.integers(0, 5))
        if choice == 0:
            parts.append(f"<{tag}>" * draw(st.integers(1, 3000)))
        elif choice == 1:
            parts.append(f"</{tag}>")
        elif choice == 2:
            parts.append(f'<{tag} content="{draw(_TEXT)}" property="og:title">')
        elif choice == 3:
            parts.append(draw(st.sampled_from(["&amp;", "&#0;", "&#xD800;", "&nbsp;", "<!--", "-->", "<![CDATA["])))
        else:
            parts.append(draw(_TEXT))
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]))
    return "".join(parts).encode(encoding, errors="replace")


@given(page=html_pages())
@example(page=b"<html><body>" + b"<div>" * 100_000 + b"texte" + b"</div>" * 100_000)  # hung: _visible_text
def test_generated_html_is_read_or_refused(tmp_path_factory, page):
    read_or_refuse(tmp_path_factory.mktemp("fuzz-html-gen", numbered=True), ".html", page)


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html"])
@given(data=st.binary(max_size=4096))
@example(data=b"\xff\xfe\x00")  # a UTF-16 byte-order mark and nothing after it
@example(data=b"Le caf\xe9 " * 500 + b"\xc3\x28\xa0\xa1" * 200)  # invalid UTF-8 after valid text
@example(data=b"mot " * 200_000)  # one long line
def test_raw_bytes_as_text_are_read_or_refused(tmp_path_factory, suffix, data):
    read_or_refuse(tmp_path_factory.mktemp("fuzz-bytes", numbered=True), suffix, data)
