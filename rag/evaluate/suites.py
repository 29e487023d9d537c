"""Evaluation suites: run questions through the pipeline and score answers, citations, retrieval.

A suite is a JSONL file. Its first line names the corpus it runs against (a folder, relative to
the suite file) and says where its data comes from; every other line is a case:

    {"suite": "demo", "corpus": "../../corpus", "description": "...", "licence": "..."}
    {"id": "mistral-en", "question": "why is the EU looking at Mistral?", "language": "en",
     "answerable": true, "sources": ["000_99cf57f4aa2db4ae.txt"],
     "facts": [["Commission"], ["enquête", "inquiry"]]}

`sources` (file names of the documents that answer) and `facts` (each a list of alternative
spellings, one of which the answer must contain) are optional; `article_language` (the language
of the source documents) splits the summary by question and article language ("en->fr").
A case is *answered* right when the answer holds every fact and cites one of its sources. The
corpus is ingested into a temporary index, so a suite never touches the user's own.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluate.metrics import percentile
from rag.judge.embedded import Judge, JudgeCase
from rag.pipeline import Pipeline, build_pipeline, make_judge
from rag.settings import Settings
from rag.text.words import fold
from rag.types import Answer

METRICS = (
    "answered",
    "faithfulness",
    "citation_precision",
    "citation_recall",
    "correctness",
    "abstention_accuracy",
    "recall_at_k",
    "mrr",
)


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    language: str
    answerable: bool
    sources: tuple[str, ...] = ()
    facts: tuple[tuple[str, ...], ...] = ()
    article_language: str = ""

    @property
    def languages(self) -> str:
        """ "en->fr" for an English question about a French article; "" when not given."""
        return f"{self.language}->{self.article_language}" if self.language and self.article_language else ""


@dataclass
class Suite:
    name: str
    path: Path
    corpus: Path
    cases: list[Case] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    """Everything measured on one case; a metric is None when it does not apply."""

    suite: str
    id: str
    question: str
    answerable: bool
    answer: str
    abstained: bool
    citations: list[dict[str, Any]]
    latency_s: float
    languages: str = ""  # "en->fr": question -> article language, when the suite says
    answered: float | None = None  # 1 when every fact is in the answer and a source is cited
    faithfulness: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    correctness: float | None = None
    abstention_accuracy: float | None = None
    recall_at_k: float | None = None
    mrr: float | None = None
    judge_reasons: list[str] = field(default_factory=list)
    backend: str = "extractive"  # what wrote the answer shown (a fallback shows "extractive")
    notice: str = ""
    fallback: str = ""  # why the extractive answer replaced the model's (Answer.fallback)
    generated_sentences: int = 0  # what an LLM wrote, shown or not, and how much of it held
    generated_supported: int = 0
    outcome: str = ""  # "answer", "hedged" or "abstained" (Answer.outcome)
    confidence: float | None = None  # the answer's calibrated confidence, when it has one

    @property
    def right(self) -> bool | None:
        """Whether the answer shown is right: every fact and a source, or no answer to an
        unanswerable question; None when the case cannot tell (no facts)."""
        if not self.answerable:
            return self.abstained
        return None if self.answered is None else self.answered == 1.0

    @property
    def failed(self) -> bool:
        values = [getattr(self, m) for m in METRICS]
        return any(v is not None and v < 1.0 for v in values)


def load_suite(path: Path) -> Suite:
    """Read a suite; malformed case lines are named with their line number and skipped."""
    if not path.is_file():
        raise RagError(f"{path}: no such suite file")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or "corpus" not in header:
        raise RagError(f'{path}:1: the first line must name the corpus, like {{"suite": "x", "corpus": "docs/"}}')
    corpus = (path.parent / str(header["corpus"])).resolve()
    suite = Suite(str(header.get("suite") or path.stem), path, corpus)
    seen: set[str] = set()
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("expected an object")
            question = str(row["question"]).strip()
            if not question:
                raise ValueError("the question is empty")
            case_id = str(row.get("id") or f"line-{number}")
            if case_id in seen:
                raise ValueError(f"duplicate id {case_id!r}")
            facts = tuple(tuple([f] if isinstance(f, str) else [str(x) for x in f]) for f in row.get("facts", []))
            suite.cases.append(
                Case(
                    id=case_id,
                    question=question,
                    language=str(row.get("language", "")),
                    answerable=bool(row.get("answerable", True)),
                    sources=tuple(str(s) for s in row.get("sources", [])),
                    facts=facts,
                    article_language=str(row.get("article_language", "")),
                )
            )
            seen.add(case_id)
        except json.JSONDecodeError as exc:
            suite.skipped.append(f"{where}: not JSON ({exc.msg})")
        except KeyError as exc:
            suite.skipped.append(f"{where}: missing {exc.args[0]}")
        except (TypeError, ValueError) as exc:
            suite.skipped.append(f"{where}: {exc}")
    return suite


def score_case(suite: str, case: Case, answer: Answer, latency: float, judge: Judge, k: int) -> CaseResult:
    """Every metric of one answered case."""
    result = CaseResult(
        suite=suite,
        id=case.id,
        question=case.question,
        answerable=case.answerable,
        answer=answer.text,
        abstained=answer.abstained,
        citations=[c.to_json() for c in answer.citations],
        latency_s=round(latency, 4),
        abstention_accuracy=float(answer.abstained != case.answerable),
        languages=case.languages,
        backend=answer.backend,
        notice=answer.notice,
        fallback=answer.fallback,
        outcome=answer.outcome,
        confidence=answer.confidence,
    )
    written = answer.rejected or (answer.sentences if answer.backend != "extractive" else ())
    result.generated_sentences = len(written)
    result.generated_supported = sum(s.supported for s in written)
    if case.sources:
        names = [Path(h.source).name for h in answer.hits[:k]]
        ranks = [names.index(s) + 1 for s in case.sources if s in names]
        result.recall_at_k = float(bool(ranks))
        result.mrr = 1.0 / min(ranks) if ranks else 0.0
    if case.answerable and case.facts and case.sources:
        result.answered = 0.0
    if answer.abstained:
        return result
    if case.facts:
        result.correctness = fact_share(case, answer.text)
        if result.answered is not None:
            result.answered = float(answers_case(case, answer.text, [c.source for c in answer.citations]))
    _score_support(result, case.question, answer, judge)
    return result


def _score_support(result: CaseResult, question: str, answer: Answer, judge: Judge) -> None:
    """Faithfulness: each sentence (claim) against all the passages the answer cites; citation
    precision: each citation against the sentence it is attached to; recall: each sentence has
    at least one supporting citation."""
    passages = {c.n: c.passage for c in answer.citations}
    claims = _claims(answer)
    if not claims:
        result.faithfulness = 0.0
        result.judge_reasons.append("the answer has no sentence to check")
        return
    all_passages = tuple(passages.values())
    jobs = [JudgeCase(question, all_passages, text) for text, _ in claims]
    jobs += [JudgeCase(question, (passages[n],), text) for text, ns in claims for n in ns if n in passages]
    verdicts = judge.judge_many(jobs)
    whole, per_citation = verdicts[: len(claims)], verdicts[len(claims) :]
    result.faithfulness = sum(v.supported for v in whole) / len(whole)
    for (text, _), verdict in zip(claims, whole, strict=True):
        if not verdict.supported:
            result.judge_reasons.append(f"unsupported: {text[:80]!r} ({'; '.join(verdict.reasons) or 'low score'})")
    cursor, supported_sentences, good_citations, n_citations = 0, 0, 0, 0
    for _text, ns in claims:
        mine = per_citation[cursor : cursor + len([n for n in ns if n in passages])]
        cursor += len(mine)
        n_citations += len(ns)
        good_citations += sum(v.supported for v in mine)
        supported_sentences += any(v.supported for v in mine)
    result.citation_precision = good_citations / n_citations if n_citations else 0.0
    result.citation_recall = supported_sentences / len(claims)


def fact_share(case: Case, text: str) -> float:
    """The share of the case's key facts that `text` holds (any spelling of each)."""
    folded = fold(text)
    return sum(any(fold(alt) in folded for alt in fact) for fact in case.facts) / len(case.facts)


def answers_case(case: Case, text: str, cited_sources: Iterable[str]) -> bool:
    """*Answered* right: `text` holds every key fact and one of the cited sources is expected."""
    cited = {Path(source).name for source in cited_sources}
    return fact_share(case, text) == 1.0 and bool(cited & set(case.sources))


def _claims(answer: Answer) -> list[tuple[str, list[int]]]:
    """The sentences the answer shows (dropped ones are not shown), with the citations of each."""
    return [(s.text, list(s.citations)) for s in answer.sentences if not s.dropped]


def summarize(results: Sequence[CaseResult], skipped: Sequence[str]) -> dict[str, Any]:
    """Aggregates: the mean of each metric over the cases it applies to, latency percentiles."""
    summary: dict[str, Any] = {"cases": len(results), "skipped": list(skipped)}
    for metric in METRICS:
        values = [getattr(r, metric) for r in results if getattr(r, metric) is not None]
        summary[metric] = round(sum(values) / len(values), 4) if values else None
        summary[f"{metric}_cases"] = len(values)
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    summary["false_abstentions"] = _share(r.abstained for r in answerable)
    summary["unanswerable_abstained"] = _share(r.abstained for r in unanswerable)
    pairs = sorted({r.languages for r in results if r.languages})
    if pairs:
        summary["answered_by_languages"] = {
            pair: round(sum(values) / len(values), 4)
            for pair in pairs
            if (values := [r.answered for r in results if r.languages == pair and r.answered is not None])
        }
    summary.update(confidence_figures(results))
    latencies = [r.latency_s for r in results]
    for name, q in (("latency_p50_s", 0.5), ("latency_p95_s", 0.95)):
        value = percentile(latencies, q)
        summary[name] = None if value is None else round(value, 4)
    return summary


def confidence_figures(results: Sequence[CaseResult]) -> dict[str, Any]:
    """How far the answers' confidence can be trusted: the share of questions hedged, of
    questions given a wrong answer unhedged ("confidently wrong"), of answerable questions
    answered right unhedged, and the risk-coverage curve: the answers given, most confident
    first, with the accuracy of the first k against the share of questions they cover, and the
    area under its risk (the mean share of wrong answers over the curve; lower is better)."""
    judged = [r for r in results if r.right is not None]
    answerable = [r for r in judged if r.answerable]
    figures: dict[str, Any] = {
        "hedged": _share(r.outcome == "hedged" for r in results),
        "confidently_wrong": _share(r.outcome == "answer" and not r.right for r in judged),
        "right_unhedged": _share(r.outcome == "answer" and bool(r.right) for r in answerable),
    }
    given = sorted(
        (r for r in judged if not r.abstained and r.confidence is not None), key=lambda r: -(r.confidence or 0.0)
    )
    if given and judged:
        curve, right = [], 0
        for k, r in enumerate(given, 1):
            right += r.answerable and bool(r.right)
            curve.append((round(k / len(judged), 4), round(right / k, 4)))
        figures["risk_coverage"] = curve
        figures["risk_coverage_area"] = round(sum(1.0 - accuracy for _, accuracy in curve) / len(curve), 4)
    return figures


def _share(flags: Iterable[bool]) -> float | None:
    """The share of true flags, rounded; None when there are none."""
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else None


def compare(summary: dict[str, Any], baseline: dict[str, Any], tolerance: float) -> list[str]:
    """The metrics that dropped by more than `tolerance` against a baseline summary."""
    drops = []
    for metric in METRICS:
        new, old = summary.get(metric), baseline.get(metric)
        if isinstance(new, (int, float)) and isinstance(old, (int, float)) and old - new > tolerance + 1e-9:
            drops.append(f"{metric}: {old:.3f} -> {new:.3f}")
    return drops


def run_suites(
    paths: Sequence[Path],
    settings: Settings,
    pipeline_factory: Callable[..., Pipeline] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[CaseResult], dict[str, Any]]:
    """Run each suite against its corpus in a temporary index; a broken suite is skipped, named."""
    results: list[CaseResult] = []
    skipped: list[str] = []
    pipelines: dict[Path, Pipeline] = {}
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        embedder = None
        for number, path in enumerate(paths):
            try:
                suite = load_suite(path)
            except RagError as exc:
                skipped.append(str(exc))
                continue
            skipped.extend(suite.skipped)
            if not suite.corpus.is_dir():
                skipped.append(f"{path}: corpus folder {suite.corpus} not found; suite skipped")
                continue
            factory = pipeline_factory or build_pipeline
            # One model for every suite: the first pipeline loads it, the next ones reuse it;
            # suites over the same corpus (demo and crowd) share its index, ingested once.
            if suite.corpus not in pipelines:
                index = Path(tmp) / f"{number}-{suite.name}"
                pipelines[suite.corpus] = factory(settings.with_(index=index, chroma_url=""), embedder)
                report = pipelines[suite.corpus].ingest([suite.corpus])
                skipped.extend(f"{suite.name}: corpus file {f.source}: {f.error}" for f in report.failed)
            pipeline = pipelines[suite.corpus]
            embedder = pipeline.embedder
            judge = make_judge(settings, embedder)
            for done, case in enumerate(suite.cases, 1):
                started = time.perf_counter()
                try:
                    answer = pipeline.ask(case.question)
                except RagError as exc:
                    skipped.append(f"{suite.name}/{case.id}: {exc}")
                    continue
                latency = time.perf_counter() - started
                results.append(score_case(suite.name, case, answer, latency, judge, settings.top_k))
                if progress:
                    progress(suite.name, done, len(suite.cases))
    summary = summarize(results, skipped)
    summary["answerer"] = settings.llm
    summary["judge"] = settings.judge
    if settings.llm != "extractive":
        summary["fallbacks"] = sum(1 for r in results if r.backend != settings.llm)
        summary["backend_failures"] = sum(1 for r in results if r.fallback == "failed")
        summary["generated_sentences"] = sum(r.generated_sentences for r in results)
        summary["generated_supported"] = sum(r.generated_supported for r in results)
    return results, summary


def shipped_suites(folder: Path) -> list[Path]:
    """The suites in `folder` (settings.suites_dir), or a RagError saying where to find them."""
    suites = sorted(folder.glob("*.jsonl"))
    if not suites:
        raise RagError(
            f"No evaluation suites (*.jsonl) in {folder}: run `rag eval` from the repository's folder, "
            "name suite files, or set RAG_SUITES_DIR"
        )
    return suites
