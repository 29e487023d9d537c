"""`rag eval`: the evaluation suites (`rag eval [SUITE...]`) and the faithfulness judge (`rag eval judge FILE`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rag.cli import common
from rag.cli.common import friendly_errors, judge_option, llm_options, llm_overrides, print_json, stderr
from rag.errors import RagError
from rag.settings import Settings


class _SuitesByDefault(click.Group):
    """`rag eval [SUITE...]` runs suites; `rag eval judge FILE` scores the judge."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("eval", cls=_SuitesByDefault)
def evaluate() -> None:
    """Evaluate answers, citations and retrieval on suites, or the faithfulness judge.

    \b
    Examples:
      rag eval                                   # every shipped suite (eval/suites/)
      rag eval eval/suites/demo.jsonl --report out/
      rag eval --baseline eval/baselines/demo.json eval/suites/demo.jsonl
      rag eval judge eval/judge/halueval_val.jsonl
    """


@evaluate.command("run")
@click.argument("suites", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write results.jsonl, summary.json and report.html here.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A summary.json to compare with: exit 1 when a metric drops by more than --tolerance.",
)
@click.option("--tolerance", type=float, default=0.02, show_default=True, help="Allowed drop per metric.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@judge_option
@llm_options
@friendly_errors
def eval_run(
    suites: tuple[Path, ...],
    report_dir: Path | None,
    baseline: Path | None,
    tolerance: float,
    as_json: bool,
    judge_name: str | None,
    **llm: Any,
) -> None:
    """Run evaluation suites (all shipped ones when none is named) and print a summary.

    Each suite's corpus is ingested into a temporary index; every case is asked through the same
    pipeline as `rag ask`, then scored: faithfulness (the share of the answer's sentences that the
    judge finds supported by the cited passages), citation precision and recall, correctness
    against the key facts, abstention accuracy, retrieval recall@k and MRR, latency.
    With --llm, the answers are a language model's, after the guards (`rag ask --help`); with
    --judge llm, that model also judges faithfulness (claims, then a verdict each, as RAGAS does).
    """
    from rag.evaluate.report import write_report
    from rag.evaluate.suites import shipped_suites

    settings = Settings.from_env(judge=judge_name, **llm_overrides(llm))
    paths = list(suites) or shipped_suites(settings.suites_dir)
    baseline_summary = _read_baseline(baseline) if baseline else None
    results, summary = _run_suites(paths, settings)
    if report_dir:
        write_report(results, summary, report_dir)
    console = stderr()
    for line in summary["skipped"]:
        console.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)
    if report_dir:
        console.print(f"Report: {report_dir / 'report.html'}", highlight=False)
    if not summary["cases"]:
        raise RagError("No case could be run: see the skipped lines above")
    if baseline_summary is not None:
        _compare_with_baseline(summary, baseline_summary, tolerance)


def _read_baseline(baseline: Path) -> Any:
    try:
        return json.loads(baseline.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RagError(f"--baseline {baseline}: not a readable summary.json ({exc})") from exc


def _run_suites(paths: list[Path], settings: Settings) -> tuple[list[Any], dict[str, Any]]:
    """Run the suites with a bar per suite on stderr; the per-case results and the summary."""
    from rich.progress import Progress

    from rag.cli.progress import BarPerStage
    from rag.evaluate.suites import run_suites

    with Progress(console=stderr(), transient=True) as bar:
        return run_suites(paths, settings, progress=BarPerStage(bar, lambda suite: f"Suite {suite}"))


def _print_summary(summary: dict[str, Any]) -> None:
    """The metrics as a table on stdout, then, for generated answers, how many held and how many fell back."""
    from rich.console import Console
    from rich.table import Table

    from rag.evaluate.suites import METRICS

    table = Table("metric", "value", "cases", title=f"{summary['cases']} cases")
    for metric in METRICS:
        value = summary[metric]
        table.add_row(metric, "n/a" if value is None else f"{value:.3f}", str(summary[f"{metric}_cases"]))
    for name in ("false_abstentions", "unanswerable_abstained", "hedged", "confidently_wrong", "right_unhedged"):
        if summary.get(name) is not None:
            table.add_row(name.replace("_", " "), f"{summary[name]:.3f}", "")
    for pair, value in summary.get("answered_by_languages", {}).items():
        table.add_row(f"answered, {pair}", f"{value:.3f}", "")
    if summary.get("risk_coverage_area") is not None:
        table.add_row("risk-coverage area (lower is better)", f"{summary['risk_coverage_area']:.3f}", "")
    table.add_row("latency p50 / p95 (s)", f"{summary['latency_p50_s']} / {summary['latency_p95_s']}", "")
    Console().print(table)
    if "fallbacks" in summary:
        click.echo(
            f"{summary['answerer']}: {summary['generated_supported']} of {summary['generated_sentences']} "
            f"generated sentences supported; {summary['fallbacks']} of {summary['cases']} answers fell back "
            f"to the extractive answerer ({summary['backend_failures']} because the backend failed to answer)"
        )


def _compare_with_baseline(summary: dict[str, Any], baseline: dict[str, Any], tolerance: float) -> None:
    """Exit 1, naming the metrics, when any dropped by more than the tolerance."""
    from rag.evaluate.suites import compare

    drops = compare(summary, baseline, tolerance)
    if drops:
        stderr().print("[red]Regression against the baseline:[/red] " + "; ".join(drops), highlight=False)
        sys.exit(1)
    stderr().print("No metric dropped against the baseline.", highlight=False)


@evaluate.command("judge")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--scores-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one {score, supported} line per input line.",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Judge only the first N valid lines.")
@judge_option
@llm_options
@friendly_errors
def eval_judge(
    file: Path, as_json: bool, scores_out: Path | None, limit: int | None, judge_name: str | None, **llm: Any
) -> None:
    """Score a faithfulness judge (the embedded one by default) on FILE, a JSONL of labelled answers.

    Each line: {"question", "contexts": [...], "answer", "label"}, label 1 when the answer is
    supported by the contexts, 0 when not. Prints accuracy, balanced accuracy, AUROC, the share
    of (supported, unsupported) pairs about the same question ranked right, and the decision
    threshold; then, as hallucination detection is scored (an unsupported answer is the positive
    class), the precision, recall and F1 of "unsupported" and the share of supported answers
    accepted; the same per language (a line's "language", else the answer's, detected). When
    lines give "spans" ([start, end] character offsets of the unsupported parts of the answer)
    and the judge marks spans, also the precision, recall and F1 of unsupported characters.
    Malformed lines are named with their line number and skipped.

    \b
    Examples:
      rag eval judge eval/judge/halueval_val.jsonl
      rag eval judge mine.jsonl --json --scores-out scores.jsonl
      rag eval judge eval/judge/halueval_val.jsonl --judge llm --llm ollama --llm-model llama3.2 --limit 200
    """
    from rich.progress import Progress

    from rag.evaluate.judging import judge_file
    from rag.pipeline import make_judge

    pipeline = common.pipeline_from_env(None, judge=judge_name, **llm_overrides(llm))
    judge = make_judge(pipeline.settings, pipeline.embedder)
    with Progress(console=stderr(), transient=True) as bar:
        task = bar.add_task(f"Judging ({judge.name})", total=None)
        verdicts, summary = judge_file(
            file, judge, lambda done, total: bar.update(task, completed=done, total=total), limit=limit
        )
    if scores_out:
        with scores_out.open("w", encoding="utf-8") as out:
            for verdict in verdicts:
                out.write(json.dumps({"score": round(verdict.score, 6), "supported": verdict.supported}) + "\n")
    if as_json:
        print_json(summary)
    else:
        _print_judge_summary(summary)
    if not summary["cases"]:
        raise RagError(f"{file}: no valid line to judge")


def _print_judge_summary(summary: dict[str, Any]) -> None:
    for line in summary["skipped"]:
        stderr().print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    cross_language = (
        f" (across languages {summary['threshold_cross_language']:.3f})"
        if "threshold_cross_language" in summary
        else ""
    )
    click.echo(
        f"{summary['cases']} answers ({len(summary['skipped'])} lines skipped)\n"
        f"accuracy           {summary['accuracy']:.3f}\n"
        f"balanced accuracy  {summary['balanced_accuracy']:.3f}\n"
        f"AUROC              {summary['auroc']:.3f}\n"
        f"pairs ranked right {summary['pairs_ranked_right']:.3f} of {summary['pairs']}\n"
        f"threshold          {summary['threshold']:.3f}" + cross_language
    )
    click.echo(
        f"unsupported P/R/F1 {_prf(summary, 'unsupported')} ({summary['unsupported_cases']} unsupported answers)\n"
        f"accept rate        {summary['accept_rate']:.3f} of {summary['supported_cases']} supported answers"
    )
    if "span_cases" in summary:
        spans = f"{summary['span_cases']} answers with spans"
        click.echo(f"characters P/R/F1  {_prf(summary, 'unsupported_char')} ({spans})")
    _print_languages(summary["by_language"], summary["cases"])


def _prf(figures: dict[str, Any], prefix: str) -> str:
    return " / ".join(f"{figures[f'{prefix}_{name}']:.3f}" for name in ("precision", "recall", "f1"))


def _print_languages(languages: dict[str, dict[str, Any]], cases: int) -> None:
    """One line per language that holds at least 5% of the lines (all of them are in --json)."""
    if len(languages) == 1:
        click.echo(f"language           {next(iter(languages))} (every answer)")
        return
    shown = {name: figures for name, figures in languages.items() if figures["cases"] >= 0.05 * cases}
    click.echo("by language        unsupported P/R/F1, accept rate, AUROC, balanced accuracy")
    for name, figures in shown.items():
        click.echo(
            f"  {name:<6} {figures['cases']:>5} answers  {_prf(figures, 'unsupported')}, {figures['accept_rate']:.3f}, "
            f"{figures['auroc']:.3f}, {figures['balanced_accuracy']:.3f}"
        )
    rest = [figures["cases"] for name, figures in languages.items() if name not in shown]
    if rest:
        click.echo(f"  and {sum(rest)} answers in {len(rest)} other languages (see --json)")
