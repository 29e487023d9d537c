"""The embedded judge: its word evidence, its verdicts, and `rag eval judge`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from eval.judge.fitting import best_threshold
from rag import cli
from rag.cli import common
from rag.evaluate.judging import read_labelled
from rag.judge.embedded import WEIGHTS_FILE, EmbeddedJudge, JudgeCase
from rag.text.words import fold
from tests.conftest import FakeEmbedder

PASSAGE = (
    "La firme de Redmond a investi près de 13 milliards de dollars dans OpenAI. "
    "La Commission européenne examine l'accord entre Microsoft et Mistral AI."
)


class ConstantEmbedder(FakeEmbedder):
    """Every text gets the same vector: the dense evidence is neutral, the word evidence decides."""

    def embed_passages(self, texts):
        return [[1.0, 0.0] for _ in texts]


@pytest.fixture
def judge():
    return EmbeddedJudge(ConstantEmbedder())


def test_supported_claim_beats_invented_names_and_numbers(judge):
    question = "Combien Microsoft a-t-il investi dans OpenAI ?"
    good, bad = judge.judge_many(
        [
            JudgeCase(question, (PASSAGE,), "La firme de Redmond a investi 13 milliards de dollars dans OpenAI. [1]"),
            JudgeCase(question, (PASSAGE,), "Google a investi 40 milliards de dollars dans Anthropic."),
        ]
    )
    assert good.score > bad.score
    assert good.supported and not bad.supported
    assert any("Anthropic" in r for r in bad.reasons)  # "Google" opens the sentence: not taken as a name
    assert any("40" in r for r in bad.reasons)


def test_the_weakest_claim_decides(judge):
    question = "Que fait la Commission ?"
    one = judge.judge(question, [PASSAGE], "La Commission européenne examine l'accord entre Microsoft et Mistral AI.")
    two = judge.judge(
        question,
        [PASSAGE],
        "La Commission européenne examine l'accord entre Microsoft et Mistral AI. "
        "Elle a infligé 9 milliards d'amende à Amazon.",
    )
    assert two.score < one.score and len(two.claims) == 2


def test_an_answer_is_supported_as_much_as_all_its_claims_together(judge):
    answer = (
        "La Commission examine l'accord entre Microsoft et Mistral AI. "
        "La firme de Redmond a investi 13 milliards de dollars dans OpenAI."
    )
    verdict = judge.judge("Que se passe-t-il ?", [PASSAGE], answer)
    (_, first), (_, second) = verdict.claims
    assert 0 < second < 1 and 0 < first < 1  # neither sentence is a verbatim quote
    assert verdict.score == pytest.approx(first * second, rel=1e-3)


def test_an_unsupported_answer_points_at_its_weakest_sentence_at_least(judge):
    weights = json.loads(WEIGHTS_FILE.read_text())
    weights["sentence_threshold"] = 0.0  # no sentence is below
    strict = EmbeddedJudge(ConstantEmbedder(), weights)
    good, bad = "La Commission européenne examine l'accord.", "Google a investi 40 milliards dans Anthropic."
    answer = f"{good} {bad}"
    verdict = strict.judge("Que se passe-t-il ?", [PASSAGE], answer)
    assert not verdict.supported
    assert [answer[a:b] for a, b in verdict.spans] == [bad]


def test_the_guards_judge_a_sentence_at_the_sentence_cut_not_the_answers(judge):
    sentence = "La firme de Redmond a investi 13 milliards de dollars dans OpenAI."
    verdict = judge.judge("Combien ?", [PASSAGE], sentence)
    assert verdict.supported and verdict.score < 1.0
    weights = json.loads(WEIGHTS_FILE.read_text())
    weights["sentence_threshold"] = verdict.score + 1e-6
    strict = EmbeddedJudge(ConstantEmbedder(), weights)
    assert strict.judge("Combien ?", [PASSAGE], sentence).supported  # the answer's cut is unchanged
    alone = strict.judge_sentence("Combien ?", [PASSAGE], sentence)
    assert not alone.supported and alone.spans == ((0, len(sentence)),)


def test_word_pairs_tell_a_reworded_sentence_from_a_composed_one(judge):
    copied, composed = judge.evidence(
        [
            JudgeCase("Q ?", (PASSAGE,), "La Commission européenne examine l'accord."),
            JudgeCase("Q ?", (PASSAGE,), "L'accord examine la Commission européenne de Mistral."),
        ]
    )
    assert copied.values["bigram"] == 1.0
    assert composed.values["bigram"] == pytest.approx(3 / 7)


def test_empty_answer_and_missing_passages(judge):
    assert judge.judge("Q ?", [PASSAGE], "").supported is False
    verdict = judge.judge("Q ?", [], "Microsoft a investi 13 milliards.")
    assert not verdict.supported and "no passage was given" in verdict.reasons


def test_names_compare_across_accents_and_languages(judge):
    claims = judge.evidence(
        [
            JudgeCase(
                "What?", (PASSAGE,), "The deal between Microsoft and Mistral is examined by the European Commission."
            )
        ]
    )
    assert claims[0].values["names_missing"] == 0.0
    assert fold("Européenne")[:6] == fold("European")[:6]


def test_best_threshold_separates():
    assert 0.3 < best_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) < 0.8


def test_bad_lines_are_named_and_skipped(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(
        '{"question": "q", "contexts": ["c"], "answer": "a", "label": 1}\n'
        "not json\n"
        '{"question": "q", "contexts": "c", "answer": "a", "label": 1}\n'
        '{"question": "q", "answer": "a", "label": 1}\n'
        '{"question": "q", "contexts": ["c"], "answer": "a", "label": 7}\n'
    )
    data = read_labelled(path)
    assert len(data.cases) == 1
    assert [s.split(": ", 1)[0] for s in data.skipped] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    assert "missing contexts" in data.skipped[2]


def test_eval_judge_command(monkeypatch, settings, tmp_path):
    from rag.pipeline import build_pipeline

    monkeypatch.setattr(
        common, "pipeline_from_env", lambda index, **o: build_pipeline(settings, embedder=ConstantEmbedder())
    )
    question = "Combien Microsoft a-t-il investi dans OpenAI ?"
    lines = [
        {
            "question": question,
            "contexts": [PASSAGE],
            "answer": "Microsoft a investi 13 milliards de dollars.",
            "label": 1,
        },
        {
            "question": question,
            "contexts": [PASSAGE],
            "answer": "Google a investi 40 milliards dans Anthropic.",
            "label": 0,
        },
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nbroken\n")
    out = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(cli.main, ["eval", "judge", str(path), "--json", "--scores-out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["cases"] == 2 and summary["pairs"] == 1 and summary["pairs_ranked_right"] == 1.0
    assert summary["accuracy"] == 1.0 and summary["auroc"] == 1.0
    assert len(summary["skipped"]) == 1 and ":3:" in summary["skipped"][0]
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["supported"] for s in scores] == [True, False]
    assert set(scores[0]) == {"score", "supported"}


def test_a_sentence_quoted_from_the_passage_is_supported(judge):
    quote = "La Commission européenne examine l'accord entre Microsoft et Mistral AI."
    verdict = judge.judge("Que fait la Commission ?", [PASSAGE], f"« {quote} » [2]")
    assert verdict.score == 1.0 and verdict.supported
    short = judge.judge("Qui examine ?", [PASSAGE], "Mistral AI")  # a bare span is left to the model
    assert short.score < 1.0


def test_a_bare_yes_or_no_is_judged_as_the_statement_of_the_question():
    judge = EmbeddedJudge(ConstantEmbedder())
    question = "Are both Tim McIlrath and Spike Slawson American punk rock musicians?"
    passages = ["Tim McIlrath is an American punk rock musician. Spike Slawson is an American punk rock musician."]
    verdict = judge.judge(question, passages, "Yes.")
    assert verdict.claims[0][0] == question
    elsewhere = judge.judge(question, ["The weather in Tokyo is mild in spring, says the agency."], "yes")
    assert verdict.score > elsewhere.score
    assert judge.judge(question, passages, "Oui").claims[0][0] == question


def test_unsupported_claims_are_given_as_spans_of_the_answer_as_written(judge):
    good = "Microsoft a investi 13 milliards de dollars dans OpenAI."
    bad = "Google a investi 40 milliards dans Anthropic."
    answer = f"  {good} [1] {bad} [2]"
    verdict = judge.judge("Combien Microsoft a-t-il investi ?", [PASSAGE], answer)
    assert not verdict.supported
    assert [answer[start:end] for start, end in verdict.spans] == [bad]
    assert judge.judge("Combien ?", [PASSAGE], f"{good} [1]").spans == ()  # supported: no span
    assert judge.judge("Combien ?", [PASSAGE], " [1] ").spans == ()  # empty: nothing to point at


@pytest.mark.parametrize("answer", ["a [1] b", " [2]x. [3] ", "plain", "", "[1]", "  end. [12]\n", "a\u00a0[1]\u00a0b"])
def test_claim_offsets_map_the_stripped_answer_back(answer):
    from rag.judge.embedded import offsets_in_original, strip_citations

    where = offsets_in_original(answer)
    assert "".join(answer[i] for i in where) == strip_citations(answer)


def test_eval_judge_prints_detection_figures_per_language_and_characters(monkeypatch, settings, tmp_path):
    from rag.pipeline import build_pipeline

    monkeypatch.setattr(
        common, "pipeline_from_env", lambda index, **o: build_pipeline(settings, embedder=ConstantEmbedder())
    )
    question = "Combien Microsoft a-t-il investi dans OpenAI ?"
    bad = "Google a investi 40 milliards dans Anthropic."
    lines = [
        {"answer": "Microsoft a investi 13 milliards de dollars.", "label": 1, "spans": [], "language": "fr"},
        {"answer": bad, "label": 0, "spans": [[0, len(bad)]], "language": "fr"},
        {"answer": "Microsoft invested 13 billion dollars in OpenAI.", "label": 1, "spans": [], "language": "en"},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps({"question": question, "contexts": [PASSAGE], **line}) for line in lines))
    result = CliRunner().invoke(cli.main, ["eval", "judge", str(path)])
    assert result.exit_code == 0, result.output
    for line in ("balanced accuracy", "AUROC", "pairs ranked right", "threshold"):  # today's lines stay
        assert line in result.stdout
    assert "unsupported P/R/F1 " in result.stdout and "(1 unsupported answers)" in result.stdout
    assert "accept rate" in result.stdout and "of 2 supported answers" in result.stdout
    assert "characters P/R/F1  " in result.stdout and "(3 answers with spans)" in result.stdout
    assert "by language" in result.stdout
    assert any(row.split()[:2] == ["fr", "2"] for row in result.stdout.splitlines())
    summary = json.loads(CliRunner().invoke(cli.main, ["eval", "judge", str(path), "--json"]).stdout)
    assert summary["unsupported_recall"] == 1.0 and summary["unsupported_char_recall"] == 1.0
    assert list(summary["by_language"]) == ["fr", "en"] and summary["by_language"]["en"]["cases"] == 1
