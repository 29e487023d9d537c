"""An eval run on disk: results.jsonl, summary.json and report.html, one self-contained page
(inline SVG, no script, no network)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.evaluate.suites import METRICS, CaseResult

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #1f2328; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #d0d7de; padding: 4px 6px; text-align: left; vertical-align: top; }
tr.fail td:first-child { border-left: 3px solid #cf222e; } tr.pass td:first-child { border-left: 3px solid #1a7f37; }
.num { text-align: right; font-variant-numeric: tabular-nums; } .muted { color: #57606a; }
"""


_OUTCOME = {"abstained": "abstained: ", "hedged": "hedged: "}


def _bars(summary: dict[str, Any]) -> str:
    rows = [(m, summary.get(m)) for m in METRICS]
    width, bar, height = 560, 320, 26 * len(rows) + 10
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="metric overview">']
    for i, (name, value) in enumerate(rows):
        y = 8 + i * 26
        parts.append(f'<text x="0" y="{y + 14}" font-size="13">{name.replace("_", " ")}</text>')
        parts.append(f'<rect x="170" y="{y}" width="{bar}" height="18" fill="#eaeef2"/>')
        if isinstance(value, (int, float)):
            color = "#1a7f37" if value >= 0.9 else "#9a6700" if value >= 0.7 else "#cf222e"
            parts.append(f'<rect x="170" y="{y}" width="{bar * value:.1f}" height="18" fill="{color}"/>')
            parts.append(f'<text x="{175 + bar}" y="{y + 14}" font-size="13">{value:.3f}</text>')
        else:
            parts.append(f'<text x="{175 + bar}" y="{y + 14}" font-size="13" fill="#57606a">n/a</text>')
    parts.append("</svg>")
    return "".join(parts)


def _risk_coverage(summary: dict[str, Any]) -> str:
    """Accuracy of the answers given, most confident first, against the share of questions."""
    curve = summary.get("risk_coverage")
    if not curve:
        return "<p class='muted'>No answer carried a confidence (the reader has no calibration).</p>"
    width, height, left, bottom = 560, 220, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - 10

    def point(coverage: float, accuracy: float) -> str:
        return f"{left + coverage * plot_w:.1f},{10 + (1 - accuracy) * plot_h:.1f}"

    line = " ".join(point(c, a) for c, a in curve)
    area = summary.get("risk_coverage_area")
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="risk-coverage curve">'
        f'<rect x="{left}" y="10" width="{plot_w}" height="{plot_h}" fill="#f6f8fa"/>'
        f'<polyline points="{line}" fill="none" stroke="#0969da" stroke-width="2"/>'
        f'<text x="0" y="16" font-size="12">1.0</text><text x="0" y="{10 + plot_h}" font-size="12">0.0</text>'
        f'<text x="{left}" y="{height - 8}" font-size="12">share of questions answered, most confident first</text>'
        f'<text x="{left + plot_w - 40}" y="{height - 8}" font-size="12">1.0</text></svg>'
        f"<p class='muted'>Accuracy of the answers given (vertical) against coverage; area under the risk "
        f"{_cell(area)}. Hedged {_cell(summary.get('hedged'))} of questions, confidently wrong "
        f"{_cell(summary.get('confidently_wrong'))}, right and unhedged {_cell(summary.get('right_unhedged'))} "
        f"of the answerable.</p>"
    )


def _latency_histogram(latencies: Sequence[float]) -> str:
    if not latencies:
        return "<p class='muted'>No latency measured.</p>"
    top = max(latencies) or 1.0
    bins = 12
    counts = [0] * bins
    for value in latencies:
        counts[min(bins - 1, int(value / top * bins))] += 1
    width, height, most = 560, 160, max(counts)
    step = (width - 40) / bins
    parts = [f'<svg width="{width}" height="{height + 30}" role="img" aria-label="latency distribution">']
    for i, count in enumerate(counts):
        h = (height - 10) * count / most
        parts.append(
            f'<rect x="{30 + i * step:.1f}" y="{height - h:.1f}" width="{step - 2:.1f}" height="{h:.1f}"'
            ' fill="#0969da">'
            f"<title>{count} cases, {i * top / bins:.2f}-{(i + 1) * top / bins:.2f} s</title></rect>"
        )
    parts.append(f'<text x="30" y="{height + 20}" font-size="12">0 s</text>')
    parts.append(f'<text x="{width - 60}" y="{height + 20}" font-size="12">{top:.2f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "<span class='muted'>-</span>"


def render_html(results: Sequence[CaseResult], summary: dict[str, Any]) -> str:
    ordered = sorted(results, key=lambda r: (not r.failed, r.suite, r.id))  # failing cases first
    head = "".join(f"<th class='num'>{m.replace('_', ' ')}</th>" for m in METRICS)
    rows = []
    for r in ordered:
        cells = "".join(f"<td class='num'>{_cell(getattr(r, m))}</td>" for m in METRICS)
        reasons = "<br>".join(html.escape(x) for x in r.judge_reasons)
        rows.append(
            f"<tr class='{'fail' if r.failed else 'pass'}'><td>{html.escape(r.suite)}/{html.escape(r.id)}</td>"
            f"<td>{html.escape(r.question)}</td><td>{_OUTCOME.get(r.outcome, '')}{html.escape(r.answer)}"
            f"<div class='muted'>{reasons}</div></td>{cells}<td class='num'>{r.latency_s:.2f}</td></tr>"
        )
    skipped = "".join(f"<li>{html.escape(s)}</li>" for s in summary.get("skipped", []))
    p50, p95 = summary.get("latency_p50_s"), summary.get("latency_p95_s")
    failing = sum(r.failed for r in results)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rag eval report</title><style>{_STYLE}</style></head>
<body>
<h1>Evaluation report</h1>
<p>{summary.get("cases", 0)} cases, {failing} with a metric below 1, {len(summary.get("skipped", []))} skipped.
Latency p50 {_cell(p50)} s, p95 {_cell(p95)} s.</p>
<h2>Metric overview</h2>{_bars(summary)}
<h2>Confidence: risk and coverage</h2>{_risk_coverage(summary)}
<h2>Latency distribution</h2>{_latency_histogram([r.latency_s for r in results])}
<h2>Cases (failing first)</h2>
<table><thead><tr><th>case</th><th>question</th><th>answer</th>{head}<th class='num'>s</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{"<h2>Skipped</h2><ul>" + skipped + "</ul>" if skipped else ""}
</body></html>
"""


def write_report(results: Sequence[CaseResult], summary: dict[str, Any], folder: Path) -> None:
    """results.jsonl, summary.json and a self-contained report.html."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "results.jsonl").open("w", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "report.html").write_text(render_html(results, summary), encoding="utf-8")
