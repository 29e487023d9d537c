"""The LLM judge (claims, then verdicts) driven by a scripted LLM: parsing, guards, fallbacks."""

import json

import pytest
from click.testing import CliRunner

from rag import cli
from rag.cli import common
from rag.errors import SettingsError
from rag.judge.embedded import EmbeddedJudge
from rag.judge.llm import LLMJudge
from rag.pipeline import build_pipeline, make_judge
from tests.conftest import FakeEmbedder, ScriptedLLM

QUESTION = "Combien de personnes le secteur emploie-t-il ?"
CONTEXT = "Le secteur emploie près de 13 millions de personnes en Europe. Bruxelles soupçonne des aides."
ANSWER = "Le secteur emploie 13 millions de personnes [1]. Tesla a licencié 42 ingénieurs [1]."


def _judge(settings, claims: str, verdicts: str) -> tuple[LLMJudge, object]:
    llm = ScriptedLLM(lambda prompt: claims if "self-contained factual claims" in prompt else verdicts)
    return LLMJudge(llm, settings, EmbeddedJudge(FakeEmbedder())), llm


def test_claims_then_verdicts(settings):
    judge, llm = _judge(
        settings,
        "- Le secteur emploie 13 millions de personnes.\n- Tesla a licencié 42 ingénieurs.",
        "1. yes\n2. no",
    )
    verdict = judge.judge(QUESTION, [CONTEXT], ANSWER)
    assert verdict.score == 0.5 and not verdict.supported
    assert verdict.reasons == ("not supported: Tesla a licencié 42 ingénieurs.",)
    claims_prompt, verdicts_prompt = llm.prompts
    assert "[1]" not in claims_prompt  # citations are not part of the claims
    assert CONTEXT in verdicts_prompt and "1. Le secteur emploie 13 millions" in verdicts_prompt


def test_all_claims_supported(settings):
    judge, _ = _judge(settings, "1. Le secteur emploie 13 millions de personnes.", "Claim 1: Yes, the context says so.")
    verdict = judge.judge(QUESTION, [CONTEXT], "Le secteur emploie 13 millions de personnes.")
    assert verdict.score == 1.0 and verdict.supported and judge.thresholds() == {"threshold": 1.0}


def test_invented_claims_are_replaced_by_the_answer_sentences(settings):
    judge, llm = _judge(settings, "- Paris est la capitale de la France.\n- La Loire est longue.", "1. yes\n2. no")
    verdict = judge.judge(QUESTION, [CONTEXT], ANSWER)
    assert "1. Le secteur emploie 13 millions de personnes." in llm.prompts[-1]
    assert "Paris" not in llm.prompts[-1]
    assert verdict.claims[1][0] == "Tesla a licencié 42 ingénieurs." and verdict.score == 0.5


def test_a_skipped_verdict_counts_as_unsupported_and_a_bare_yes_is_read(settings):
    judge, _ = _judge(settings, "- Le secteur emploie 13 millions.\n- Tesla a licencié 42 ingénieurs.", "1. yes")
    assert judge.judge(QUESTION, [CONTEXT], ANSWER).score == 0.5
    judge, _ = _judge(settings, "", "Yes.")
    assert judge.judge(QUESTION, [CONTEXT], "Le secteur emploie 13 millions de personnes.").supported


def test_unreadable_verdicts_fall_back_to_the_embedded_judge(settings):
    judge, _ = _judge(settings, "- Le secteur emploie 13 millions.", "I think the context is about cars.")
    verdict = judge.judge(QUESTION, [CONTEXT], "Le secteur emploie près de 13 millions de personnes en Europe.")
    assert verdict.supported  # a verbatim quote, for the embedded judge
    assert "unreadable: embedded judge used" in verdict.reasons[-1]


def test_empty_answer_and_missing_contexts(settings):
    judge, llm = _judge(settings, "", "")
    assert judge.judge(QUESTION, [CONTEXT], " [1] ").reasons == ("the answer is empty",)
    assert judge.judge(QUESTION, [], ANSWER).reasons == ("no passage was given",)
    assert llm.prompts == []  # nothing to ask the model


def test_backend_failure_is_one_line(settings):
    fallback = EmbeddedJudge(FakeEmbedder())
    judge = LLMJudge(ScriptedLLM(ConnectionError("refused")), settings.with_(llm="ollama"), fallback)
    with pytest.raises(Exception, match="LLM judge: ollama: cannot reach the server"):
        judge.judge(QUESTION, [CONTEXT], ANSWER)


def test_make_judge_by_name(settings):
    assert make_judge(settings, FakeEmbedder()).name == "embedded"
    with pytest.raises(SettingsError, match="needs an LLM backend"):
        make_judge(settings.with_(judge="llm"), FakeEmbedder())
    with pytest.raises(SettingsError, match="valid: embedded, cross-encoder, llm"):
        make_judge(settings.with_(judge="gpt"), FakeEmbedder())


def test_eval_judge_command_with_the_llm_judge(settings, scripted, tmp_path, monkeypatch):
    scripted(lambda prompt: "- claim" if "self-contained factual claims" in prompt else "1. yes")
    monkeypatch.setattr(
        common,
        "pipeline_from_env",
        lambda index, **o: build_pipeline(settings.with_(**{**o, "llm": "scripted"}), FakeEmbedder()),
    )
    data = tmp_path / "labelled.jsonl"
    rows = [
        {"question": QUESTION, "contexts": [CONTEXT], "answer": "Le secteur emploie 13 millions.", "label": 1},
        {"question": QUESTION, "contexts": [CONTEXT], "answer": "Tesla a licencié 42 ingénieurs.", "label": 0},
        {"question": QUESTION, "contexts": [CONTEXT], "answer": "Encore une.", "label": 1},
    ]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    result = CliRunner().invoke(cli.main, ["eval", "judge", str(data), "--judge", "llm", "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["judge"] == "llm" and summary["cases"] == 2 and summary["threshold"] == 1.0
    assert summary["unreadable"] == 0
