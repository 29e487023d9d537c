"""The trained weights that ship with the package, in rag/weights/."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def weight_path(name: str) -> Path:
    """The shipped file or folder `name` in rag/weights/."""
    return WEIGHTS_DIR / name


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
