"""Words compared loosely: case and accents folded."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without accents, so that "Européenne" and "europeenne" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
