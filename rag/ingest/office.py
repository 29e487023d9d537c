"""PDF and Word files: their text, title and creation date."""

from __future__ import annotations

import re

from rag.errors import DocumentError


def read_pdf(data: bytes) -> tuple[str, str, str]:
    """A PDF's text, title and creation date (pypdf)."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("the PDF is encrypted: save a copy without a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocumentError(f"the PDF is damaged or not a PDF ({type(exc).__name__}): re-export it") from exc
    title = str(info.title) if info and info.title else ""
    date = ""
    if info and info.get("/CreationDate"):
        raw = str(info.get("/CreationDate"))
        found = re.search(r"(\d{4})(\d{2})(\d{2})", raw)
        date = f"{found.group(1)}-{found.group(2)}-{found.group(3)}" if found else ""
    return "\n\n".join(pages), title, date


def read_docx(data: bytes) -> tuple[str, str, str]:
    """A Word file's text, title and creation date (python-docx)."""
    import io
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError("the Word file is damaged or not a .docx file: re-save it from Word") from exc
    except MemoryError:
        raise  # the worker names the memory limit (rag/ingest/worker.py)
    except Exception as exc:  # python-docx raises lxml errors on malformed XML
        raise DocumentError(f"the Word file could not be parsed ({type(exc).__name__}): re-save it") from exc
    paragraphs = [p.text for p in document.paragraphs]
    props = document.core_properties
    date = props.created.date().isoformat() if props.created else ""
    return "\n\n".join(paragraphs), props.title or "", date
