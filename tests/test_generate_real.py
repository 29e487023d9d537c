"""The guards with the real e5 judge: a faithful paraphrase passes, across languages; an invented
fact does not. The model is scripted, so what is tested is the guard, not the model."""

import pytest

from rag.pipeline import Pipeline

pytestmark = pytest.mark.slow

CASES = [
    (
        "why is the EU looking at Mistral?",
        "The European Commission is examining the Microsoft–Mistral AI deal as part of its inquiry into "
        "Microsoft's ties with OpenAI [1].",
        True,
    ),
    (
        "Pourquoi la Commission européenne s'intéresse-t-elle à Mistral AI ?",
        "La Commission va examiner l'accord entre Microsoft et Mistral AI dans le cadre de son enquête sur les "
        "liens de Microsoft avec OpenAI [1].",
        True,
    ),
    ("How much has Microsoft invested in OpenAI?", "Microsoft has invested 40 billion dollars in OpenAI [1].", False),
    ("why is the EU looking at Mistral?", "The EU wants to ban Mistral because it is Chinese [1].", False),
]


def test_a_question_the_articles_do_not_answer_is_not_handed_to_the_model(real_pipeline, scripted):
    llm = scripted("Argentina won the 2022 World Cup [1].")
    answer = Pipeline(real_pipeline.settings.with_(llm="scripted"), real_pipeline.embedder).ask(
        "Who won the 2022 World Cup?"
    )
    assert answer.abstained and not answer.citations and "Argentina" not in answer.text
    assert llm.prompts == [] and "was not asked" in answer.notice


@pytest.mark.parametrize(("question", "reply", "supported"), CASES)
def test_real_judge_guards_generated_sentences(real_pipeline, scripted, question, reply, supported):
    scripted(reply)
    answer = Pipeline(real_pipeline.settings.with_(llm="scripted"), real_pipeline.embedder).ask(question)
    if supported:
        assert answer.backend == "scripted" and answer.sentences[0].supported, answer.sentences
        assert "⚠" not in answer.text
    else:
        assert answer.backend == "extractive" and "no sentence of its answer is supported" in answer.notice
        assert not answer.rejected[0].supported
