"""Build eval/suites/piaf.jsonl: a sample of the PIAF retrieval suite as an answering suite.

60 French questions (every 35th of questions_fr.jsonl) and 30 English ones (every 4th of
questions_en.jsonl), over the 419 PIAF paragraphs; the key fact of each is PIAF's answer span
(French: the extractive answer quotes the paragraph). Provenance: eval/piaf/README.md.

    .venv/bin/python -m eval.suites.build_piaf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIAF = HERE.parent / "piaf"


def main() -> None:
    french = [json.loads(line) for line in (PIAF / "questions_fr.jsonl").read_text(encoding="utf-8").splitlines()]
    english = [json.loads(line) for line in (PIAF / "questions_en.jsonl").read_text(encoding="utf-8").splitlines()]
    answers = {(q["doc"]): q["answer"] for q in reversed(french)}  # the first question's answer per paragraph
    header: dict[str, object] = {
        "suite": "piaf",
        "corpus": "../piaf/corpus",
        "description": "A sample of PIAF v1.0 (French Wikipedia QA) with English questions of ours: "
        "see eval/piaf/README.md",
        "licence": "MIT (c) 2020 DINUM/Etalab for the annotations, CC BY-SA for the Wikipedia paragraphs",
    }
    lines = [header]
    for i, q in enumerate(french[::35][:60]):
        lines.append({"id": f"fr-{i:02d}", "question": q["question"], "language": "fr", "answerable": True,
                      "sources": [q["doc"]], "facts": [[q["answer"]]]})  # fmt: skip
    for i, q in enumerate(english[::4][:30]):
        lines.append({"id": f"en-{i:02d}", "question": q["question"], "language": "en", "answerable": True,
                      "sources": [q["doc"]], "facts": [[answers[q["doc"]]]]})  # fmt: skip
    with (HERE / "piaf.jsonl").open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
