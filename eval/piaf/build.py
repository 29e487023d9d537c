"""Build the PIAF retrieval suite from the PIAF v1.0 dev file (see README.md beside this file).

Writes corpus/ (one Markdown file per paragraph, its article title in the front matter) and
questions_fr.jsonl (every French question with the file of its paragraph).

    .venv/bin/python -m eval.piaf.build ../shared/datasets/piaf-v1.0-dev.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def paragraph_file(article: int, paragraph: int) -> str:
    return f"{article:03d}_{paragraph:02d}.md"


def main(source: Path) -> None:
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    corpus = HERE / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir()
    with (HERE / "questions_fr.jsonl").open("w", encoding="utf-8") as out:
        for a, article in enumerate(data):
            for p, paragraph in enumerate(article["paragraphs"]):
                name = paragraph_file(a, p)
                title = article["title"].replace("_", " ")
                (corpus / name).write_text(f"---\ntitle: {title}\n---\n{paragraph['context']}\n", encoding="utf-8")
                for qa in paragraph["qas"]:
                    row = {"question": qa["question"].strip(), "doc": name, "answer": qa["answers"][0]["text"]}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = HERE.parents[2] / "shared" / "datasets" / "piaf-v1.0-dev.json"
    parser.add_argument(
        "source", type=Path, nargs="?", default=default, help="the PIAF v1.0 dev file (default: %(default)s)"
    )
    main(parser.parse_args().source)
