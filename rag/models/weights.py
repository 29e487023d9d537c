"""The trained weights that ship with the package, in rag/weights/."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def weight_path(name: str) -> Path:
    """The shipped file or folder `name` in rag/weights/."""
    return WEIGHTS_DIR / name
