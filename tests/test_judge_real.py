"""The embedded judge with the real e5 model: across languages, and on held-apart HaluEval."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.evaluate.judging import judge_file
from rag.judge.embedded import EmbeddedJudge
from rag.models.embedder import make_embedder

pytestmark = pytest.mark.slow

PASSAGE_FR = (
    "La firme de Redmond a investi près de 13 milliards de dollars dans OpenAI. "
    "La Commission européenne examine l'accord entre Microsoft et Mistral AI."
)
VAL = Path(__file__).resolve().parent.parent / "eval" / "judge" / "halueval_val.jsonl"
DEV = VAL.with_name("ragtruth_qa_dev.jsonl")


@pytest.fixture(scope="module")
def judge(real_settings):
    return EmbeddedJudge(make_embedder(real_settings))


SUPPORTED = [
    "Microsoft has invested nearly 13 billion dollars in OpenAI.",
    "The European Commission is examining the deal between Microsoft and Mistral AI.",
]
INVENTED = [
    "Microsoft has invested 40 billion dollars in Anthropic.",
    "The European Commission fined Microsoft 2 billion euros.",
]


def test_english_answers_over_french_passages(judge):
    """Across languages the judge ranks supported claims above invented ones, rejects the invented
    ones, and names their invented names, numbers and words."""
    question = "What is happening between Microsoft, OpenAI and the EU?"
    good = [judge.judge(question, [PASSAGE_FR], a) for a in SUPPORTED]
    bad = [judge.judge(question, [PASSAGE_FR], a) for a in INVENTED]
    assert min(v.score for v in good) > max(v.score for v in bad) + 0.2
    assert not any(v.supported for v in bad)
    assert any("Anthropic" in r for r in bad[0].reasons) and any("2" in r for r in bad[1].reasons)
    # the words that meet nothing in the French passage, found by their vectors (no shared spelling)
    assert any(r.startswith("words with no counterpart") and "fined" in r for r in bad[1].reasons)


def test_figures_on_held_apart_halueval(judge, tmp_path):
    """The first 300 validation lines (150 pairs): floors well under the full-split figures
    (pairs 0.977, AUROC 0.976), to catch a broken judge, not noise. (Its threshold is set on what
    real LLMs write, so on HaluEval's short answers it accepts nearly everything: README.)"""
    sample = tmp_path / "val.jsonl"
    sample.write_text("\n".join(VAL.read_text(encoding="utf-8").splitlines()[:300]) + "\n", encoding="utf-8")
    _, summary = judge_file(sample, judge)
    assert summary["pairs"] == 150
    assert summary["pairs_ranked_right"] >= 0.9
    assert summary["auroc"] >= 0.9


def test_figures_on_real_llm_answers_never_fitted_on(judge, tmp_path):
    """The first 120 answers of the RAGTruth QA dev split (GPT-4, GPT-3.5, Llama-2 and Mistral
    answers about sources held apart from the fit): floors under the full split's figures (F1 of
    unsupported 0.644, accept rate 0.715, AUROC 0.779), to catch a broken judge. The judge fitted
    on HaluEval accepted 0.021 of the faithful answers there."""
    sample = tmp_path / "dev.jsonl"
    sample.write_text("\n".join(DEV.read_text(encoding="utf-8").splitlines()[:120]) + "\n", encoding="utf-8")
    _, summary = judge_file(sample, judge)
    assert summary["unsupported_f1"] >= 0.55, summary
    assert summary["accept_rate"] >= 0.6, summary
    assert summary["auroc"] >= 0.7, summary
