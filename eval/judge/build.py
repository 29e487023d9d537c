"""Build the judge-calibration suite from the HaluEval QA dev file (see README.md beside this file).

Each HaluEval row gives two lines in `rag eval judge` format, its right answer (label 1) and its
hallucinated answer (label 0). Rows are split 70/30 (seed 0) into halueval_train.jsonl, used to
fit the embedded judge, and halueval_val.jsonl, held apart to measure it.

    .venv/bin/python -m eval.judge.build ../shared/datasets/halueval-qa-dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(source: Path) -> None:
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    cut = int(len(rows) * 0.7)
    for name, part in (("halueval_train.jsonl", order[:cut]), ("halueval_val.jsonl", order[cut:])):
        with (HERE / name).open("w", encoding="utf-8") as out:
            for i in sorted(part):
                row = rows[i]
                for answer, label in ((row["right_answer"], 1), (row["hallucinated_answer"], 0)):
                    line = {
                        "question": row["question"],
                        "contexts": [row["knowledge"]],
                        "answer": answer,
                        "label": label,
                    }
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = HERE.parents[2] / "shared" / "datasets" / "halueval-qa-dev.jsonl"
    parser.add_argument(
        "source", type=Path, nargs="?", default=default, help="the HaluEval QA dev file (default: %(default)s)"
    )
    main(parser.parse_args().source)
