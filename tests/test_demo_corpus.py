"""The demo corpus holds news articles only (eval/news/demo_corpus.py's rule)."""

from __future__ import annotations

from eval.news.demo_corpus import is_article
from tests.conftest import CORPUS


def test_the_rule_tells_wiki_pages_from_articles() -> None:
    assert not is_article("TEST PAGE:Self-publish today", "This is a test page! It should not be reviewed.")
    assert not is_article("Wikinews:Style guide", "How to write an article.")
    assert not is_article("Brexit talks resume", "This is a test page, please ignore.")
    for title in ("Algérie : blocage des réseaux sociaux", "Paris: talks resume", "Barcelona beat Madrid 3:0"):
        assert is_article(title, "Le gouvernement a décidé...")


def test_every_page_of_the_demo_corpus_is_an_article() -> None:
    pages = sorted((CORPUS / "wikinews").rglob("*.md"))
    assert len(pages) == 1141
    for page in pages:
        front, _, body = page.read_text(encoding="utf-8").partition("\n---\n")
        title = next(line for line in front.splitlines() if line.startswith("title: "))[len("title: ") :].strip('"')
        assert is_article(title, body), page
