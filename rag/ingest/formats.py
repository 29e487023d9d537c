"""Turn a file into a Document: text extraction per format, encoding, title, date and language.

Every failure is a DocumentError whose message says, in words a person understands, what is
wrong with the file and what to do about it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.errors import DocumentError
from rag.ingest.fetch import is_url
from rag.ingest.office import read_docx, read_pdf
from rag.text.language import detect_language
from rag.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
_DATE_HEADER = re.compile(r"\A\s*date\s*[:=]?\s*(\d{4}-\d{2}(?:-\d{2})?)\b[ \t]*", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_DATE_ANYWHERE = re.compile(r"(\d{4}-\d{2}(?:-\d{2})?)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")
_BLOCK_TAGS = (
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
    "aside", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "dd", "dt",
)  # fmt: skip
_WESTERN = {"cp1252", "cp1250", "latin_1", "iso8859_15", "iso8859_2", "mac_roman", "cp850", "ascii"}
_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object", "head")


def doc_id_for(path: Path) -> str:
    """Stable id of a document: derived from its absolute path, so re-ingesting updates it."""
    return hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:16]


def check_readable(path: Path, max_bytes: int) -> bytes:
    """Read a file's bytes, or say why it can't be read."""
    if path.is_symlink() and not path.exists():
        raise DocumentError(f"broken link: it points to {path.readlink()}, which does not exist")
    if not path.exists():
        raise DocumentError("no such file")
    if not path.is_file():
        raise DocumentError("not a regular file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(f"unsupported file type '{path.suffix or '(none)'}': convert it to one of {kinds}")
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"file is too large ({size / 1e6:.1f} MB, limit {max_bytes / 1e6:.0f} MB): "
            "split it, or raise RAG_MAX_FILE_MB"
        )
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise DocumentError("permission denied: the file can't be read by this user") from exc
    except OSError as exc:
        raise DocumentError(f"could not be read ({exc.strerror or exc})") from exc


# What a file's first bytes say it is, whatever its name says.
_SIGNATURES = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (a .docx is one)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc, .xls)"),
    (b"\x7fELF", "a program"),
)


def sniff(data: bytes) -> str:
    """What the bytes are, by their signature ("" when none matches: text, HTML...)."""
    head = data[:1024].lstrip()
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return ""


def _check_content_matches(suffix: str, data: bytes) -> None:
    """Refuse a file whose extension lies about its content (a PDF named .txt, an image named
    .pdf), naming what it really is."""
    kind = sniff(data)
    expected = {".pdf": "a PDF", ".docx": "a ZIP archive (a .docx is one)"}.get(suffix, "")
    if kind == expected:
        return
    if expected == "a PDF" and b"%PDF-" in data[:1024]:  # the format allows a little before it
        return
    if expected:
        what = kind or "text, not a binary document"
        raise DocumentError(f"the file is named {suffix} but it is {what}: rename it, or re-export it")
    if kind:
        raise DocumentError(f"the file is named {suffix} but it is {kind}: rename it to its real type")


@dataclass(frozen=True)
class Origin:
    """Where a document came from when it is not a file of its own: a fetched page (its URL),
    with what a feed said of it (title, date) to fall back on."""

    url: str
    title: str = ""
    date: str = ""


@dataclass(frozen=True)
class _Meta:
    """What a format's reader found besides the text."""

    title: str = ""
    date: str = ""
    url: str = ""
    author: str = ""
    site: str = ""


def read_document(path: Path, data: bytes, doc_id: str, content_hash: str, origin: Origin | None = None) -> Document:
    """Extract text and metadata from the bytes of a supported file (or of a fetched page,
    whose `origin` gives its URL: then `path` only names its format)."""
    suffix = path.suffix.lower()
    if not data.strip():
        raise DocumentError("the page is empty" if origin else "the file is empty")
    _check_content_matches(suffix, data)
    if suffix in (".html", ".htm"):
        text, meta = _read_html(data)
    elif suffix == ".pdf":
        text, title, date = read_pdf(data)
        meta = _Meta(title, date)
    elif suffix == ".docx":
        text, title, date = read_docx(data)
        meta = _Meta(title, date)
    else:
        text, meta = _read_text(data, markdown=suffix in (".md", ".markdown"))
    text = _normalize_whitespace(text)
    if not text:
        raise DocumentError("no text found in the file (it is blank, or holds only images or markup)")
    if origin is not None:
        meta = replace(meta, url=origin.url, title=meta.title or origin.title, date=meta.date or origin.date)
    date = meta.date or ("" if origin else _file_date(path))
    return Document(
        doc_id=doc_id,
        source=origin.url if origin else str(path.absolute()),
        title=(meta.title or _first_sentence(text) or path.stem).strip(),
        date=date,
        language=detect_language(text),
        text=text,
        content_hash=content_hash,
        url=meta.url,
        author=meta.author,
        site=meta.site,
    )


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or, failing that, the legacy encoding it most looks like."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError("this looks like binary data, not text: save it as a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    guess = best.encoding if best is not None else ""
    try:
        # Short Western texts look alike in several code pages; prefer cp1252 (a superset of
        # Latin-1, and what Windows writes for French and English) unless the guess is not Western.
        text = data.decode("cp1252") if guess in _WESTERN or not guess else str(best)
    except UnicodeDecodeError:
        text = str(best) if best is not None else data.decode("cp1252", errors="replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise DocumentError("this looks like binary data, not text: save it as a text file")
    return text


def _read_text(data: bytes, markdown: bool) -> tuple[str, _Meta]:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    title = date = ""
    fields: dict[str, str] = {}
    front = _FRONT_MATTER.match(text)
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = _unquote(value)
        title = fields.get("title", "")
        found = _DATE_ANYWHERE.search(fields.get("date", ""))
        date = found.group(1) if found else ""
        text = text[front.end() :]
    header = _DATE_HEADER.match(text)
    if header:
        date = date or header.group(1)
        text = text[header.end() :]
    if markdown:
        first = text.lstrip().split("\n", 1)[0]
        if first.startswith("#") and not title:
            title = first.lstrip("#").strip()
    url = fields.get("url", "")
    return text, _Meta(
        title,
        date,
        url if is_url(url) else "",
        fields.get("author", ""),
        fields.get("site", ""),
    )


def _unquote(value: str) -> str:
    """A front-matter value without its YAML quotes ("..." with escapes, or '...')."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def _read_html(data: bytes) -> tuple[str, _Meta]:
    """A news page's article: its main text without menus, cookie banners or "read also" lists
    (trafilatura), or the page's whole visible text when trafilatura finds no article in it (a
    short page, a list, an index); its title and publication date from the page's metadata
    (og:title, <title>, <h1>; article:published_time, datePublished, <time>), else trafilatura's."""
    from bs4 import BeautifulSoup

    html_text = decode_text(data)
    soup = BeautifulSoup(html_text, "html.parser")
    meta = _html_metadata(soup)
    article = _trafilatura_article(html_text)
    if article is None:
        return _visible_text(soup), meta
    text, found = article
    return text, _Meta(
        meta.title or found.title,
        meta.date or found.date,
        meta.url,
        meta.author or found.author,
        meta.site or found.site,
    )


def _trafilatura_article(html_text: str) -> tuple[str, _Meta] | None:
    import logging

    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # its own warnings are not the user's
    logging.getLogger("htmldate").setLevel(logging.CRITICAL)
    try:
        found = trafilatura.bare_extraction(
            html_text,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            # not deduplicate=True: its cache of seen paragraphs lives across calls, so a page read
            # a second time in one process (an update, a re-fetched feed item) lost its paragraphs
            deduplicate=False,
            favor_precision=True,
        )
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001  (a page it chokes on is read the plain way)
        return None
    text = str(getattr(found, "text", "") or "") if found is not None else ""
    if not text.strip():
        return None
    # Paragraphs stay apart (the chunker and the sentence splitter use blank lines).
    text = "\n\n".join(line for line in text.splitlines() if line.strip())
    date_found = _DATE_ANYWHERE.search(str(getattr(found, "date", "") or ""))
    return text, _Meta(
        title=str(getattr(found, "title", "") or ""),
        date=date_found.group(1) if date_found else "",
        author=str(getattr(found, "author", "") or ""),
        site=str(getattr(found, "sitename", "") or ""),
    )


def _html_metadata(soup: Any) -> _Meta:
    """The page's title, publication date, canonical URL, author and site name, from its
    metadata (Open Graph, article:*, schema.org, <link rel=canonical>)."""
    title = ""
    og = soup.find("meta", attrs={"property": "og:title"})
    if og and og.get("content"):
        title = str(og["content"])
    elif soup.title and soup.title.string:
        title = soup.title.string
    elif soup.h1:
        title = soup.h1.get_text(" ", strip=True)
    date = ""
    date_metas: list[dict[str, Any]] = [
        {"property": "article:published_time"},
        {"name": "date"},
        {"itemprop": "datePublished"},
    ]
    for attrs in date_metas:
        meta = soup.find("meta", attrs=attrs)
        if meta and meta.get("content"):
            found = _DATE_ANYWHERE.search(str(meta["content"]))
            if found:
                date = found.group(1)
                break
    time_tag = soup.find("time", attrs={"datetime": True})
    if not date and time_tag is not None:
        found = _DATE_ANYWHERE.search(str(time_tag.get("datetime", "")))
        date = found.group(1) if found else ""
    url = _meta_content(soup, {"property": "og:url"})
    canonical = soup.find("link", attrs={"rel": "canonical", "href": True})
    url = str(canonical["href"]) if canonical is not None else url
    author = _meta_content(soup, {"name": "author"}) or _meta_content(soup, {"property": "article:author"})
    site = _meta_content(soup, {"property": "og:site_name"})
    return _Meta(str(title).strip(), date, url if is_url(url) else "", author, site)


def _meta_content(soup: Any, attrs: dict[str, str]) -> str:
    meta = soup.find("meta", attrs=attrs)
    return str(meta["content"]).strip() if meta is not None and meta.get("content") else ""


def _visible_text(soup: Any) -> str:
    """Every visible piece of text of the page, blocks kept apart. One pass over the page's
    elements in document order, so a page nested 100,000 levels deep reads in linear time
    (inserting break strings around each block tag, as this did, never finished on one)."""
    from bs4 import CData, NavigableString, Tag

    for tag in soup.find_all(_INVISIBLE_TAGS):
        tag.decompose()
    parts: list[str] = []
    after_block: set[int] = set()  # what follows a block's end starts on a new line
    for element in soup.descendants:
        if id(element) in after_block:
            parts.append("\n\n")
        if isinstance(element, Tag):
            if element.name in _BLOCK_TAGS:
                parts.append("\n\n")
                if element.next_sibling is not None:
                    after_block.add(id(element.next_sibling))
        elif type(element) in (NavigableString, CData):  # not comments, doctypes or declarations
            parts.append(str(element))
    return "".join(parts)


def _normalize_whitespace(text: str) -> str:
    lines = [re.sub(r"[ \t\f\v\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _first_sentence(text: str, limit: int = 100) -> str:
    first = _SENTENCE_END.split(text.strip().split("\n", 1)[0], maxsplit=1)[0].strip()
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + "…"


def _file_date(path: Path) -> str:
    try:
        return dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    except OSError:
        return ""
