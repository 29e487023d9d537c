"""Build eval/news/corpus/: the Wikinews articles the news suite asks about, plus distractors.

The corpus holds every article that eval/suites/news.jsonl names (in "sources" or "about") and a
fixed random sample of other articles of the same collection (seed 11: DISTRACTORS_FR French and
DISTRACTORS_EN English), so that retrieval and the reader face many articles on neighbouring
topics (other days of the same protests, other races of the same series). Files are copied as
the shared data set ships them (line 1 `date YYYY-MM-DD`, line 2 the title, then the body).

    .venv/bin/python -m eval.news.build [path/to/shared/datasets/wikinews]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent / "suites" / "news.jsonl"
DISTRACTORS_FR = 120
DISTRACTORS_EN = 40
NOTICE = """# Attribution

The articles in eval/news/corpus/ are Wikinews articles, licensed under the Creative Commons
Attribution 2.5 licence (https://creativecommons.org/licenses/by/2.5/):

- French: Wikinews contributors, https://fr.wikinews.org, CC BY 2.5 (via YoannDupont/WiNER-fr)
- English: Wikinews contributors, https://en.wikinews.org, CC BY 2.5 (via vanatteveldt/wikinews)

Changes made: converted to plain text; markup, captions, share and navigation boxes, "Sur le
même sujet" link lists and the leading dateline removed; the tokenisation spacing of WiNER-fr
undone. Each file's first line gives its publication date and its second its title; the text is
otherwise unedited. Provenance: eval/news/README.md.
"""


def main(source: Path) -> None:
    cases = [json.loads(line) for line in SUITE.read_text(encoding="utf-8").splitlines()[1:]]
    wanted = {name for case in cases for name in [*case.get("sources", []), case.get("about", "")] if name}
    by_language = {lang: sorted(p.name for p in (source / lang).glob("*.txt")) for lang in ("fr", "en")}
    rng = random.Random(11)
    chosen: dict[str, str] = {}  # file name -> language folder
    for lang, names in by_language.items():
        for name in names:
            if name in wanted:
                chosen[name] = lang
        others = [n for n in names if n not in wanted]
        for name in rng.sample(others, DISTRACTORS_FR if lang == "fr" else DISTRACTORS_EN):
            chosen[name] = lang
    missing = wanted - set(chosen)
    if missing:
        raise SystemExit(f"articles named by the suite but not in {source}: {sorted(missing)}")
    corpus = HERE / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir()
    for name, lang in sorted(chosen.items()):
        shutil.copyfile(source / lang / name, corpus / name)
    (HERE / "NOTICE.md").write_text(NOTICE, encoding="utf-8")  # beside the corpus: not an article to index
    print(f"{len(chosen)} articles ({len(wanted)} asked about) in {corpus}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = HERE.parents[2] / "shared" / "datasets" / "wikinews"
    parser.add_argument(
        "source", type=Path, nargs="?", default=default, help="the shared Wikinews folder (default: %(default)s)"
    )
    main(parser.parse_args().source)
