"""Storing a file the browser sent: under a safe name, whole, inside the upload folder."""

from __future__ import annotations

import os
import shutil
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from rag.pipeline import SUPPORTED_SUFFIXES

MAX_UPLOAD_MB = 20.0
MAX_NAME_CHARS = 120


def store_upload(item: Any, folder: Path, max_mb: float) -> tuple[str, Path | str]:
    """Copy one uploaded file into `folder`: (the name to show the user, the stored file or why
    it was refused).

    A file is stored only as `<folder>/<safe name>`; it is copied in whole, then renamed into
    place, so two uploads of one name never mix."""
    temp = Path(getattr(item, "name", None) or str(item))
    sent = str(getattr(item, "orig_name", None) or temp.name)
    name = safe_upload_name(sent)
    shown = name if len(sent) > 200 else sent
    if Path(name).suffix not in SUPPORTED_SUFFIXES:
        return shown, f"unsupported type; allowed: {', '.join(SUPPORTED_SUFFIXES)}"
    try:
        size_mb = temp.stat().st_size / 1e6
        if size_mb > max_mb:
            return shown, f"too large ({size_mb:.1f} MB, limit {max_mb:.0f} MB)"
        target = folder / name
        partial = folder / f".{uuid.uuid4().hex}.part"
        try:
            shutil.copyfile(temp, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)  # (gone once renamed)
    except OSError as exc:
        return shown, f"could not be stored ({exc.strerror or exc}); try again"
    return shown, target


def safe_upload_name(sent: str) -> str:
    """The name an upload is stored under: the last part of what the browser sent (no folder,
    whichever separator it uses), printable characters only, no leading dot, at most
    MAX_NAME_CHARS characters with its extension (lower-cased) kept."""
    base = unicodedata.normalize("NFC", sent.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch if ch.isprintable() else "_" for ch in base).strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(base)
    if len(suffix) > 12 or not suffix[1:].isalnum():  # not an extension: part of the name
        stem, suffix = base, ""
    stem = stem[: MAX_NAME_CHARS - len(suffix)].strip() or "upload"
    return stem + suffix.lower()
