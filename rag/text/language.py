"""Which language a text is in."""

from __future__ import annotations


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language (py3langid ships its model)."""
    import py3langid

    lang, _score = py3langid.classify(text[:3000])
    return str(lang)
