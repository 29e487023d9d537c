"""Follow-up or new subject (rag/text/followup.py)."""

from __future__ import annotations

import pytest

from rag.text.followup import follows

EASTMED = "What is the EastMed pipeline?"


@pytest.mark.parametrize(
    "question",
    [
        "And what about Google?",
        "How long is it?",
        "Why?",
        "When will it be finished?",
        "What did Brad Smith say about it?",  # a name, and "it" pointing back
        "How much will the pipeline cost?",  # no subject of its own
        "Et que promet-il ?",
        "Qu'en est-il de la Grèce ?",
        "Quel pays soutient le projet ?",
        "Combien coûtera-t-il ?",
    ],
)
def test_follow_ups(question):
    assert follows(question, EASTMED)


@pytest.mark.parametrize(
    "question",
    [
        "Combien d'argent Mistral AI a-t-elle levé ?",  # "a-t-elle" repeats its own subject
        "Who is Brad Smith?",
        "How much did Microsoft invest in Mistral AI?",
        "Pourquoi la Commission européenne examine-t-elle l'accord ?",
    ],
)
def test_new_subjects(question):
    assert not follows(question, EASTMED)


def test_the_first_question_follows_nothing():
    assert not follows("How long is it?", "")
