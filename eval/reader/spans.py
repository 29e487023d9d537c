"""How often the short answer the answerer marks inside its quotes holds the key facts.

    .venv/bin/python -m eval.reader.spans news demo piaf

For each suite (eval/suites/<name>.jsonl; its corpus indexed once in ~/.cache/rag/sweep/), every
answerable question that asks for a short thing (a number, a date, a name, a place: the question
types of rag.read.features) and that the default answerer answers right is asked again, and the spans
of its citations (rag.read.features.answer_span) are checked against the case's key facts. Prints,
per suite: such answers, those with a span, and those whose spans hold every key fact (a fact
spelt with more words than the span, "à Bizerte" for "Bizerte", counts as a miss), then each miss.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.reader.sweep import suite_pipeline
from rag.evaluate.suites import answers_case, fact_share, load_suite
from rag.read.features import question_type
from rag.settings import Settings

REPO = Path(__file__).resolve().parents[2]

SHORT = ("number", "when", "who", "where")


def main(names: list[str]) -> None:
    base = Settings.from_env()
    for name in names:
        suite = load_suite(REPO / "eval" / "suites" / f"{name}.jsonl")
        pipeline = suite_pipeline(suite, base)
        right = with_span = holds = 0
        misses = []
        for case in suite.cases:
            if not (case.answerable and case.facts and case.sources) or question_type(case.question) not in SHORT:
                continue
            answer = pipeline.ask(case.question)
            if answer.abstained or not answers_case(case, answer.text, [c.source for c in answer.citations]):
                continue
            right += 1
            spans = [c.passage[c.span_start : c.span_end] for c in answer.citations if c.span_start >= 0]
            if spans:
                with_span += 1
                if fact_share(case, " ".join(spans)) == 1.0:
                    holds += 1
                else:
                    misses.append(f"  {case.question[:70]} | spans {spans} | facts {[f[0] for f in case.facts]}")
        print(
            f"{name}: {right} right answers to short-answer questions, {with_span} with a span, "
            f"{holds} whose spans hold every key fact"
        )
        print("\n".join(misses))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="*", default=["news"], help="suite names in eval/suites/ (default: news)")
    main(parser.parse_args().suites)
