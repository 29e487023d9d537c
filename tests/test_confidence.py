"""Answers' confidence and hedging (rag/answer/confidence.py) and how the eval measures them."""

from __future__ import annotations

import json

import pytest

from rag.answer import extractive
from rag.answer.confidence import FEATURES, Calibration, confidence_features, load_calibration
from rag.evaluate.suites import CaseResult, confidence_figures
from rag.models.logistic import LogisticModel


def test_signals_of_an_answer():
    values = confidence_features(
        "Who is Brad Smith?",
        0.9,
        0.5,
        ["assure Brad Smith, président de Microsoft."],
        [("Microsoft et Mistral AI", "« ... », assure Brad Smith, président de Microsoft.")],
    )
    assert values["score"] == 0.9 and values["gap"] == pytest.approx(0.4)
    assert values["names_held"] == 1.0 and values["words_held"] == 1.0
    other = confidence_features(
        "How many employees does Mistral AI have?", 0.95, None, ["We have 650."], [("Railways", "We have 650.")]
    )
    assert other["names_held"] == 0.0 and other["gap"] == pytest.approx(1.95)
    assert confidence_features("Combien coûte le Mexique ?", 0.5, 0.5, ["x"], [("", "Mexico")])["names_held"] == 1.0


def test_the_shipped_calibration_reads_the_default_readers_scores():
    calibration = load_calibration()
    assert calibration is not None and calibration.reader == "evidence"
    assert calibration.model.features == FEATURES and 0.0 < calibration.model.threshold < 1.0
    sure = {"score": 0.99, "gap": 0.8, "names_held": 1.0, "words_held": 0.9}
    unsure = {"score": 0.9, "gap": 0.01, "names_held": 0.0, "words_held": 0.1}
    assert calibration.confidence(sure) > calibration.model.threshold > calibration.confidence(unsure)


@pytest.fixture
def calibrated(monkeypatch):
    """A calibration for the test reader (cosine) whose bar is the middle of its scores."""

    def install(bar: float) -> None:
        model = LogisticModel(FEATURES, (0.0,) * 4, (1.0,) * 4, (0.0, 0.0, 0.0, 0.0), 0.0, bar)  # always 0.5
        monkeypatch.setattr(extractive, "load_calibration", lambda: Calibration(model, "cosine", "test"))

    return install


def test_an_answer_under_the_bar_is_hedged_everywhere_it_is_shown(indexed, calibrated):
    from ui.render import answer_as_markdown, answer_markdown

    calibrated(0.9)
    answer = indexed.ask("Combien de personnes le secteur automobile emploie-t-il en Europe ?")
    assert answer.outcome == "hedged" and answer.confidence == pytest.approx(0.5)
    data = answer.to_json()
    assert data["outcome"] == "hedged" and data["confidence"] == 0.5
    assert data["hedge"].startswith("Les articles ne répondent peut-être pas directement")
    assert not data["abstained"] and data["citations"]  # the closest sentence, still cited
    assert '<span class="hedged">' in answer_markdown(answer) and "Confidence 50%" in answer_markdown(answer)
    assert answer_as_markdown(answer).startswith("_Les articles ne répondent peut-être pas")
    calibrated(0.3)
    sure = indexed.ask("Combien de personnes le secteur automobile emploie-t-il en Europe ?")
    assert sure.outcome == "answer" and "hedge" not in sure.to_json() and "hedged" not in answer_markdown(sure)
    assert sure.text == answer.text  # hedging changes how it is shown, not what is quoted
    assert indexed.ask("Quel temps fera-t-il à Tokyo ?").to_json()["outcome"] == "abstained"


def test_rag_ask_prints_the_hedge_and_the_confidence(runner, tmp_path, calibrated):
    from rag import cli
    from tests.conftest import ARTICLE_FR

    (tmp_path / "voitures.txt").write_text(ARTICLE_FR)
    assert runner.invoke(cli.main, ["ingest", str(tmp_path)]).exit_code == 0
    calibrated(0.9)
    out = runner.invoke(cli.main, ["ask", "Combien de personnes le secteur automobile emploie-t-il en Europe ?"])
    assert out.exit_code == 0, out.output
    assert "la phrase la plus proche dit" in out.output and "Confidence 50%" in out.output
    data = json.loads(runner.invoke(cli.main, ["ask", "--json", "Combien de personnes emploie le secteur ?"]).output)
    assert data["outcome"] == "hedged"


def _result(answerable: bool, outcome: str, confidence: float | None, right: bool) -> CaseResult:
    return CaseResult(
        suite="s", id=f"{outcome}{confidence}", question="q", answerable=answerable, answer="a",
        abstained=outcome == "abstained", citations=[], latency_s=0.1, outcome=outcome, confidence=confidence,
        answered=(1.0 if right else 0.0) if answerable else None,
    )  # fmt: skip


def test_confidence_figures_and_the_risk_coverage_curve():
    results = [
        _result(True, "answer", 0.9, True),
        _result(True, "answer", 0.8, False),  # confidently wrong
        _result(False, "hedged", 0.4, False),  # an answer to an unanswerable question, hedged
        _result(False, "abstained", None, True),
    ]
    figures = confidence_figures(results)
    assert figures["hedged"] == 0.25 and figures["confidently_wrong"] == 0.25 and figures["right_unhedged"] == 0.5
    assert figures["risk_coverage"] == [(0.25, 1.0), (0.5, 0.5), (0.75, 0.3333)]
    assert figures["risk_coverage_area"] == pytest.approx(round((0 + 0.5 + 0.6667) / 3, 4), abs=1e-4)


def test_calibration_sets_the_lowest_bar_that_leaves_few_confident_wrong_answers():
    """eval/reader/calibrate_confidence.py: the bar leaves at most the given share of the
    questions with an unhedged wrong answer, and is the lowest that does."""
    from eval.reader.calibrate_confidence import fit
    from rag.answer.confidence import Calibration

    rows, right = [], []
    for i in range(40):  # right answers have a wider margin, with some overlap
        good = i % 2 == 0
        rows.append(
            {"score": 0.97, "gap": (0.5 if good else 0.1) + (i % 7) * 0.03, "names_held": 1.0, "words_held": 0.5}
        )
        right.append(good)
    model, figures = fit(rows, right, questions=50, most_wrong=0.10)
    calibration = Calibration(model, "evidence", "test")
    confidences = [calibration.confidence(row) for row in rows]
    wrong_unhedged = sum(c >= model.threshold and not r for c, r in zip(confidences, right, strict=True))
    assert wrong_unhedged <= 5 and figures["confidently wrong (share of questions)"] == wrong_unhedged / 50
    lower = [c for c in confidences if c < model.threshold]
    if lower:  # one step lower would leave too many
        bar = max(lower)
        assert sum(c >= bar and not r for c, r in zip(confidences, right, strict=True)) > 5
