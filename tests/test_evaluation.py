"""Evaluation suites: reading them, scoring cases, comparing with a baseline, the command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import cli
from rag.errors import RagError
from rag.evaluate import suites as evaluation
from rag.evaluate.suites import Case, compare, load_suite, run_suites, score_case, summarize
from rag.judge.embedded import EmbeddedJudge
from rag.pipeline import build_pipeline
from rag.settings import Settings
from rag.types import Answer, AnswerSentence, Citation, Hit
from tests.conftest import ARTICLE_FR, FakeEmbedder
from tests.test_judge import ConstantEmbedder

PASSAGE = "Le secteur emploie près de 13 millions de personnes en Europe. Bruxelles soupçonne des aides."


def _answer(text: str, quotes: list[str], abstained: bool = False) -> Answer:
    hit = Hit("c1", "d1", "t", "/x/voitures.txt", "2024", "fr", PASSAGE, 0, len(PASSAGE), 1.0)
    citations = tuple(
        Citation(
            n, "d1", "c1", "t", "/x/voitures.txt", "2024", q, PASSAGE, PASSAGE.find(q), PASSAGE.find(q) + len(q), 0
        )
        for n, q in enumerate(quotes, 1)
    )
    # The sentences as an answerer would list them: each with the [n] that follow it.
    sentences = tuple(
        AnswerSentence(m.group(1).strip(), tuple(int(n) for n in re.findall(r"\d+", m.group(2))), True, 1.0)
        for m in re.finditer(r"(.+?)((?:\s*\[\d+\])+|$)(?=\s|$)", text.strip())
        if m.group(1).strip() and not abstained
    )
    return Answer("q", text, abstained, citations, (hit,), sentences=sentences)


@pytest.fixture
def judge():
    return EmbeddedJudge(ConstantEmbedder())


def test_score_case_all_metrics(judge):
    case = Case(
        "c",
        "Combien de personnes le secteur emploie-t-il ?",
        "fr",
        True,
        ("voitures.txt",),
        (("13 millions",), ("Allemagne",)),
    )
    quote = "Le secteur emploie près de 13 millions de personnes en Europe."
    result = score_case("s", case, _answer(f"{quote} [1]", [quote]), 0.5, judge, k=5)
    assert result.faithfulness == 1.0 and result.citation_precision == 1.0 and result.citation_recall == 1.0
    assert result.correctness == 0.5
    assert result.abstention_accuracy == 1.0 and result.recall_at_k == 1.0 and result.mrr == 1.0
    assert result.failed  # correctness below 1


def test_invented_sentence_lowers_faithfulness_and_citations(judge):
    case = Case("c", "Combien de personnes le secteur emploie-t-il ?", "fr", True)
    quote = "Le secteur emploie près de 13 millions de personnes en Europe."
    text = f"{quote} [1] Renault a licencié 40 000 salariés à Lyon. [1]"
    result = score_case("s", case, _answer(text, [quote]), 0.5, judge, k=5)
    assert result.faithfulness == 0.5 and result.citation_precision == 0.5 and result.citation_recall == 0.5
    assert any("Renault" in r or "40" in r for r in result.judge_reasons)


def test_abstention_metrics(judge):
    unanswerable = Case("u", "Météo ?", "fr", False)
    result = score_case(
        "s", unanswerable, _answer("Les documents ne contiennent pas...", [], abstained=True), 0.1, judge, 5
    )
    assert result.abstention_accuracy == 1.0 and result.faithfulness is None
    answered = score_case(
        "s",
        unanswerable,
        _answer(
            "Le secteur emploie près de 13 millions de personnes en Europe. [1]",
            ["Le secteur emploie près de 13 millions de personnes en Europe."],
        ),
        0.1,
        judge,
        5,
    )
    assert answered.abstention_accuracy == 0.0


def test_summary_and_baseline_comparison(judge):
    case = Case("c", "Combien ?", "fr", True, (), (("13 millions",),))
    quote = "Le secteur emploie près de 13 millions de personnes en Europe."
    results = [score_case("s", case, _answer(f"{quote} [1]", [quote]), t, judge, 5) for t in (0.1, 0.2, 0.9)]
    summary = summarize(results, ["x:3: bad"])
    assert summary["cases"] == 3 and summary["correctness"] == 1.0 and summary["latency_p50_s"] == 0.2
    assert summary["recall_at_k"] is None  # no expected sources given
    assert compare(summary, {**summary, "correctness": 1.0}, 0.02) == []
    worse = {**summary, "correctness": 0.9}
    assert compare(worse, summary, 0.02) == ["correctness: 1.000 -> 0.900"]
    assert compare({**summary, "correctness": 0.99}, summary, 0.02) == []


def test_suite_lines_are_checked(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"suite": "s", "corpus": "docs"}\n'
        '{"id": "a", "question": "Q1 ?"}\n'
        "oops\n"
        '{"id": "a", "question": "Q2 ?"}\n'
        '{"id": "b"}\n'
        '{"id": "c", "question": "  "}\n'
    )
    suite = load_suite(path)
    assert [c.id for c in suite.cases] == ["a"] and suite.corpus == tmp_path / "docs"
    assert [s.split(": ", 1)[1] for s in suite.skipped] == [
        "not JSON (Expecting value)", "duplicate id 'a'", "missing question", "the question is empty",
    ]  # fmt: skip
    assert suite.skipped[0].startswith(f"{path}:3")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Q ?"}\n')
    with pytest.raises(Exception, match="first line must name the corpus"):
        load_suite(bad)


def _suite(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "voitures.txt").write_text(ARTICLE_FR)
    path = tmp_path / "suite.jsonl"
    rows = [
        {"suite": "mini", "corpus": "docs"},
        {"id": "jobs", "question": "Combien de personnes le secteur emploie-t-il en Europe ?",
         "sources": ["voitures.txt"], "facts": [["13 millions"]]},
        {"id": "tokyo", "question": "Quel temps fera-t-il à Tokyo demain matin ?", "answerable": False},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


@pytest.fixture
def fake_models(monkeypatch, settings):
    monkeypatch.setattr(
        evaluation,
        "build_pipeline",
        lambda s, embedder=None: build_pipeline(s.with_(min_sentence_score=0.3), embedder=embedder or FakeEmbedder()),
    )
    monkeypatch.setattr(evaluation, "make_judge", lambda settings, embedder: EmbeddedJudge(ConstantEmbedder()))
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls, *a, **k: settings))


def test_run_suites_with_a_missing_corpus(fake_models, settings, tmp_path):
    good = _suite(tmp_path)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"suite": "m", "corpus": "nowhere"}\n{"question": "Q ?"}\n')
    (tmp_path / "empty").mkdir()
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"suite": "mini", "corpus": "empty"}\n{"id": "q", "question": "Q ?"}\n')
    results, summary = run_suites([good, missing, tmp_path / "absent.jsonl", empty], settings)
    assert [r.id for r in results] == ["jobs", "tokyo"]
    assert any(s.startswith("mini/q: No documents") for s in summary["skipped"])
    assert summary["abstention_accuracy"] == 1.0 and summary["correctness"] == 1.0
    assert any("nowhere" in s and "not found" in s for s in summary["skipped"])
    assert any("absent.jsonl" in s for s in summary["skipped"])
    assert not settings.index.exists(), "suites run in a temporary index"


def test_eval_command_report_and_baseline(fake_models, tmp_path):
    suite = _suite(tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(cli.main, ["eval", str(suite), "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"results.jsonl", "summary.json", "report.html"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["faithfulness"] is not None
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {"question", "answer", "citations", "faithfulness", "judge_reasons"} <= set(rows[0])
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Cases (failing first)" in html and "<script" not in html

    same = CliRunner().invoke(cli.main, ["eval", str(suite), "--baseline", str(out / "summary.json")])
    assert same.exit_code == 0 and "No metric dropped" in same.stderr
    higher = tmp_path / "higher.json"
    higher.write_text(json.dumps({**summary, "recall_at_k": 2.0}))
    regressed = CliRunner().invoke(cli.main, ["eval", str(suite), "--baseline", str(higher)])
    assert regressed.exit_code == 1 and "recall_at_k" in regressed.stderr


def test_eval_judge_is_still_a_subcommand():
    result = CliRunner().invoke(cli.main, ["eval", "judge", "--help"])
    assert result.exit_code == 0 and "labelled answers" in result.output


@pytest.mark.slow
def test_report_renders_in_headless_chromium(fake_models, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

    out = tmp_path / "report"
    assert CliRunner().invoke(cli.main, ["eval", str(_suite(tmp_path)), "--report", str(out)]).exit_code == 0
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto((out / "report.html").as_uri())
        assert page.locator("h1").inner_text() == "Evaluation report"
        assert page.locator("svg[aria-label='metric overview'] rect").count() >= 7
        assert page.locator("svg[aria-label='latency distribution']").is_visible()
        assert page.locator("tbody tr").count() == 2
        page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
        browser.close()


def test_empty_answer_scores_zero_with_a_reason(judge):
    case = Case("e", "Combien ?", "fr", True)
    result = score_case("s", case, _answer("", []), 0.1, judge, 5)
    assert result.faithfulness == 0.0 and "no sentence to check" in result.judge_reasons[0]


def test_suites_with_an_llm_count_what_it_wrote_and_the_fallbacks(fake_models, settings, tmp_path, scripted):
    scripted("Le secteur emploie près de 13 millions de personnes en Europe [1]. Tesla a licencié 42 ingénieurs [1].")
    results, summary = run_suites([_suite(tmp_path)], settings.with_(llm="scripted"))
    jobs, tokyo = results
    assert jobs.backend == "scripted" and (jobs.generated_sentences, jobs.generated_supported) == (2, 1)
    assert jobs.faithfulness == 0.5  # the marked sentence is shown, so it counts against faithfulness
    assert summary["answerer"] == "scripted" and summary["generated_sentences"] >= 2
    assert summary["fallbacks"] == sum(r.backend != "scripted" for r in results)
    assert tokyo.question.startswith("Quel temps")


def test_answered_needs_every_fact_and_the_source_cited_and_is_split_by_languages(judge):
    quote = "Le secteur emploie près de 13 millions de personnes en Europe."
    right = Case("r", "How many jobs?", "en", True, ("voitures.txt",), (("13 millions",),), "fr")
    wrong_source = Case("w", "How many jobs?", "en", True, ("autre.txt",), (("13 millions",),), "fr")
    missing_fact = Case("m", "Combien ?", "fr", True, ("voitures.txt",), (("13 millions",), ("Bruxelles",)), "fr")
    unanswerable = Case("u", "Météo ?", "fr", False)
    answer = _answer(f"{quote} [1]", [quote])
    results = [score_case("s", c, answer, 0.1, judge, 5) for c in (right, wrong_source, missing_fact)]
    assert [r.answered for r in results] == [1.0, 0.0, 0.0]
    abstained = _answer("Les documents ne contiennent pas...", [], abstained=True)
    results.append(score_case("s", right, abstained, 0.1, judge, 5))  # a false abstention: not answered
    results.append(score_case("s", unanswerable, abstained, 0.1, judge, 5))
    assert results[3].answered == 0.0 and results[4].answered is None
    summary = summarize(results, [])
    assert summary["answered"] == 0.25 and summary["answered_by_languages"] == {"en->fr": 0.3333, "fr->fr": 0.0}
    assert summary["false_abstentions"] == 0.25 and summary["unanswerable_abstained"] == 1.0


def test_news_suite_loads_with_its_languages_and_on_topic_unanswerables():
    suite = load_suite(Settings().suites_dir / "news.jsonl")
    assert not suite.skipped and len(suite.cases) >= 150
    answerable = [c for c in suite.cases if c.answerable]
    assert {c.languages for c in answerable} == {"en->fr", "fr->fr", "en->en", "fr->en"}
    assert all(c.sources and c.facts for c in answerable)
    assert sum(not c.answerable for c in suite.cases) >= 30
    names = {p.name for p in suite.corpus.glob("*.txt")}
    assert all(set(c.sources) <= names for c in answerable)  # every source article is in the corpus


def test_the_suites_are_found_in_the_settings_folder(tmp_path, monkeypatch):
    """`rag eval` with no suite runs those of settings.suites_dir (the repository's eval/suites/
    from its folder); a folder without suites says where they are looked for."""
    assert [p.name for p in evaluation.shipped_suites(Settings().suites_dir)] == [
        "crowd.jsonl",
        "demo.jsonl",
        "news.jsonl",
        "piaf.jsonl",
    ]
    with pytest.raises(RagError, match=f"No evaluation suites .* in {re.escape(str(tmp_path))}: .* RAG_SUITES_DIR"):
        evaluation.shipped_suites(tmp_path)
    monkeypatch.setenv("RAG_SUITES_DIR", str(tmp_path))
    assert Settings.from_env().suites_dir == tmp_path


def test_suites_over_the_same_corpus_share_one_index(fake_models, settings, tmp_path):
    """The demo and crowd suites both ask about corpus/: it is ingested once for both."""
    first = _suite(tmp_path)
    second = tmp_path / "second.jsonl"
    second.write_text(first.read_text().replace('"suite": "mini"', '"suite": "other"'))
    built = []

    def factory(settings, embedder=None):
        built.append(settings.index)
        return build_pipeline(settings, embedder or FakeEmbedder())

    results, _ = run_suites([first, second], settings, pipeline_factory=factory)
    assert len(built) == 1
    assert [(r.suite, r.id) for r in results] == [
        ("mini", "jobs"),
        ("mini", "tokyo"),
        ("other", "jobs"),
        ("other", "tokyo"),
    ]
