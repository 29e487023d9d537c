"""How the reader's two thresholds move the suites' answer figures, without re-running `rag eval`.

    .venv/bin/python -m eval.reader.sweep eval/suites/news.jsonl eval/suites/demo.jsonl

Each suite's corpus is indexed once (kept in ~/.cache/rag/sweep/, updated incrementally), every
question is retrieved and its candidate sentences scored by the reader once; then each pair of
thresholds composes the answers as `rag ask` would and is scored as `rag eval` scores
`answered` (every key fact in the answer and an expected article cited), false abstentions
and unanswerable questions abstained. First it prints "top-1 / 2 / 3 right" for each reader (cosine,
evidence, and with `--reader FOLDER` a trained cross-encoder and its sum with the cosine): the
share of answerable questions whose best single sentence holds every key fact and comes from an
expected article, and the same for the best two and three sentences together. `--grid` names
the reader whose thresholds are swept (evidence by default).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from rag.answer.extractive import Candidate, ExtractiveAnswerer, reader_inputs
from rag.evaluate.suites import Case, Suite, answers_case, load_suite
from rag.pipeline import Pipeline, build_pipeline
from rag.read.registry import SCORERS, make_scorer
from rag.read.scorer import SentenceScorer
from rag.settings import Settings


@dataclass
class Scored:
    case: Case
    ranked: list[Candidate]  # by the reader the threshold grid is for
    by_reader: dict[str, list[Candidate]]  # the three best single sentences by each reader


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def score_case(case: Case, pipeline, scorers: dict[str, SentenceScorer], grid: str) -> Scored:  # type: ignore[no-untyped-def]
    """The `grid` reader's ranking (sentences, and pairs if it reads them), and the best single
    sentence by each reader (and, with a cross-encoder, by the sum of its logit and the cosine's
    z-score, (cos - 0.845) / 0.03)."""
    units = reader_inputs(pipeline.search(case.question), pairs=scorers[grid].pairs)
    pairs = [(unit, hit.language) for hit, _, unit in units]
    values = {name: scorer.score(case.question, pairs) for name, scorer in scorers.items()}
    if "cross-encoder" in values:
        values["sum"] = [
            _logit(e) + (c - 0.845) / 0.03 for e, c in zip(values["cross-encoder"], values["cosine"], strict=True)
        ]
    ranked = sorted(
        (Candidate(h, spans, s) for (h, spans, _), s in zip(units, values[grid], strict=True)), key=lambda c: -c.score
    )
    singles = [i for i, (_, spans, _) in enumerate(units) if len(spans) == 1]
    best: dict[str, list[Candidate]] = {}
    for name, scores in values.items():
        top = sorted(singles, key=lambda j: -scores[j])[:3]
        best[name] = [Candidate(units[i][0], units[i][1], scores[i]) for i in top]
    return Scored(case, ranked, best)


def suite_pipeline(suite: Suite, settings: Settings) -> Pipeline:
    """The pipeline over the suite's corpus, indexed once in ~/.cache/rag/sweep/<suite>."""
    pipeline = build_pipeline(settings.with_(index=settings.model_cache / "sweep" / suite.name))
    pipeline.ingest([suite.corpus])
    return pipeline


class Fixed:
    """A scorer whose thresholds the sweep sets."""

    name = "sweep"
    pairs = True

    def __init__(self, threshold: float, extra: float) -> None:
        self.threshold, self.extra_threshold = threshold, extra


def answered(case: Case, chosen: list[Candidate]) -> bool:
    return answers_case(case, " ".join(c.text for c in chosen), [c.hit.source for c in chosen])


def figures(scored: list[Scored], settings: Settings, threshold: float, extra: float) -> dict[str, float]:
    answerer = ExtractiveAnswerer(settings, None, Fixed(threshold, extra))  # type: ignore[arg-type]
    right = abstained_wrongly = abstained_rightly = n_answerable = n_unanswerable = 0
    by_lang: dict[str, list[int]] = {}
    for item in scored:
        chosen = answerer.select(item.ranked)
        if item.case.answerable and item.case.facts and item.case.sources:
            n_answerable += 1
            ok = bool(chosen) and answered(item.case, chosen)
            right += ok
            abstained_wrongly += not chosen
            by_lang.setdefault(item.case.languages or "?", []).append(int(ok))
        elif not item.case.answerable:
            n_unanswerable += 1
            abstained_rightly += not chosen
    out = {
        "answered": right / max(1, n_answerable),
        "false_abstentions": abstained_wrongly / max(1, n_answerable),
        "unanswerable_abstained": abstained_rightly / max(1, n_unanswerable),
    }
    out.update({k: sum(v) / len(v) for k, v in sorted(by_lang.items())})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--reader", type=Path, default=None, help="a trained cross-encoder folder, to compare")
    parser.add_argument("--grid", choices=SCORERS, default="evidence", help="the reader whose thresholds are swept")
    args = parser.parse_args()
    base = Settings.from_env()
    for path in args.suites:
        suite = load_suite(path)
        settings = base if args.reader is None else base.with_(reader_dir=args.reader)
        pipeline = suite_pipeline(suite, settings)
        settings = pipeline.settings
        names = [n for n in SCORERS if n != "cross-encoder" or args.reader is not None]
        scorers = {n: make_scorer(settings.with_(reader=n), pipeline.embedder) for n in names}
        scored = [score_case(case, pipeline, scorers, args.grid) for case in suite.cases]
        print(
            f"\n{suite.name}: {len(scored)} questions; grid for {args.grid} (calibrated {scorers[args.grid].threshold})"
        )
        answerable = [x for x in scored if x.case.answerable and x.case.facts and x.case.sources]
        for name in scored[0].by_reader:
            shares = [
                sum(1 for x in answerable if x.by_reader[name][:k] and answered(x.case, x.by_reader[name][:k]))
                / max(1, len(answerable))
                for k in (1, 2, 3)
            ]
            print(f"top-1 / 2 / 3 right, {name}: {' / '.join(f'{v:.3f}' for v in shares)} of {len(answerable)}")
        rows = []
        low, high = (0.70, 0.95) if args.grid == "cosine" else (0.05, 0.95)
        for threshold in [round(low + i * (high - low) / 20, 4) for i in range(21)]:
            for extra in (0.5, 0.7, 0.9, 1.01):
                rows.append((threshold, extra, figures(scored, settings, threshold, max(threshold, extra))))
        keys = list(rows[0][2])
        print("threshold extra " + " ".join(f"{k[:12]:>12}" for k in keys))
        for threshold, extra, row in rows:
            print(f"{threshold:9.2f} {extra:5.2f} " + " ".join(f"{row[k]:12.3f}" for k in keys))


if __name__ == "__main__":
    main()
