"""Build the demo corpus's Wikinews part: corpus/wikinews/{fr,en}/*.md and corpus/NOTICE.md.

Every article of the shared Wikinews set (891 French, 2016-2018; 250 English, 2019-2021) as a
Markdown file whose front matter gives its title, publication date, Wikinews URL and licence,
then its text as the shared set ships it. Pages that are not articles are left out, by rule
(`is_article`): a title in a wiki namespace ("TEST PAGE:Self-publish today", "Wikinews:...": a
colon not followed by a space) or a body that says it is a test page. In the shared set that is
one English page, "TEST PAGE:Self-publish today". The seed article (corpus/000_99cf57f4aa2db4ae.txt)
stays where it is. `corpus/.ragignore` keeps NOTICE.md out of the index.

    .venv/bin/python -m eval.news.demo_corpus [path/to/shared/datasets/wikinews]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "corpus" / "wikinews"
NOTICE = """# The demo corpus: sources and licences

- `000_99cf57f4aa2db4ae.txt`: the project's seed article (French, February 2024, on the European
  Commission examining the Microsoft-Mistral AI deal).
- `wikinews/fr/` (891 articles, 2016-2018) and `wikinews/en/` (250 articles, 2019-2021):
  Wikinews articles, licensed under the Creative Commons Attribution 2.5 licence
  (https://creativecommons.org/licenses/by/2.5/):
  - French: Wikinews contributors, https://fr.wikinews.org, CC BY 2.5 (via YoannDupont/WiNER-fr,
    commit 0fe35f0d687f27f230b550a09fed1d641a4b1601)
  - English: Wikinews contributors, https://en.wikinews.org, CC BY 2.5 (via vanatteveldt/wikinews,
    commit 347254178bf343f3801aac1d03c41cc09c35decb)

  Each file's front matter gives the article's title, publication date and Wikinews URL.
  Changes made: converted to plain text; markup, captions, share and navigation boxes, "Sur le
  même sujet" link lists and the leading dateline removed; the tokenisation spacing of WiNER-fr
  undone; articles with under 400 characters of body dropped, and pages that are not articles
  (a wiki test page); the title and date moved into the
  front matter. The text is otherwise unedited.

Built by `eval/news/demo_corpus.py` from `../shared/datasets/wikinews`.
"""


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A wiki namespace: words, then a colon with no space ("TEST PAGE:Self-publish", "Wikinews:Style");
# not "Paris: talks resume" nor "Barcelona beat Madrid 3:0".
NAMESPACE = re.compile(r"^[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)*:\S")
TEST_PAGE = re.compile(r"\bthis is a test page\b|\bceci est une page de test\b", re.IGNORECASE)


def is_article(title: str, body: str) -> bool:
    """Whether a Wikinews page is a news article rather than a wiki page (a namespace title, a
    test page)."""
    return not NAMESPACE.match(title) and not TEST_PAGE.search(body[:500])


def main(source: Path) -> None:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    count = 0
    for language in ("fr", "en"):
        folder = TARGET / language
        folder.mkdir(parents=True)
        for line in (source / f"index_{language}.jsonl").read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            raw = (source / language / entry["file"]).read_text(encoding="utf-8")
            date_line, title, body = raw.split("\n", 2)
            assert date_line == f"date {entry['date']}" and title == entry["title"], entry["file"]
            if not is_article(title, body):
                print(f"left out, not an article: {language}/{entry['file']} ({title})")
                continue
            front = [
                "---",
                f"title: {_quoted(entry['title'])}",
                f"date: {entry['date']}",
                f"url: {entry['url']}" if entry.get("url") else "",
                f"licence: CC BY 2.5, Wikinews contributors ({language}.wikinews.org)",
                "---",
            ]
            text = "\n".join(line for line in front if line) + "\n" + body.lstrip("\n")
            (folder / entry["file"]).with_suffix(".md").write_text(text, encoding="utf-8")
            count += 1
    (REPO / "corpus" / "NOTICE.md").write_text(NOTICE, encoding="utf-8")
    (REPO / "corpus" / ".ragignore").write_text("# not articles: kept out of the index\nNOTICE.md\n")
    print(f"{count} articles in {TARGET}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = REPO.parent / "shared" / "datasets" / "wikinews"
    parser.add_argument(
        "source", type=Path, nargs="?", default=default, help="the shared Wikinews folder (default: %(default)s)"
    )
    main(parser.parse_args().source)
