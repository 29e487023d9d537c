"""The names a question asks about (rag/text/names.py)."""

from __future__ import annotations

import pytest

from rag.text.names import apposition, defined_name, question_names, spellings


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Who is Brad Smith?", ["Brad Smith"]),
        ("Qui est Brad Smith ?", ["Brad Smith"]),
        ("Combien d'argent Mistral AI a-t-elle levé ?", ["Mistral AI"]),  # "AI": a French stopword in lower case
        ("why is the EU looking at Mistral?", ["EU", "Mistral"]),
        ("Microsoft a-t-il investi dans Mistral ?", ["Microsoft", "Mistral"]),  # a name opening the question
        ("What did Charles de Gaulle say about the Banque de France?", ["Charles de Gaulle", "Banque de France"]),
        ("Qu'a dit l'OMS sur Ebola ?", ["OMS", "Ebola"]),  # elided articles
        ("What share of the vote did the yes side get in Turkey's referendum?", ["Turkey"]),
        ("Paris, Lyon or Marseille?", ["Paris", "Lyon", "Marseille"]),  # a comma ends a name
        ("what is the capital of australia?", []),
        ("Quelle est la capitale de l'Australie ?", ["Australie"]),
    ],
)
def test_question_names(question, names):
    assert question_names(question) == names


def test_spellings_of_countries_in_english_and_french():
    assert spellings("Mexico") == ["Mexico", "Mexique"]
    assert "United Kingdom" in spellings("Royaume-Uni") and "Royaume-Uni" in spellings("UK")
    assert "Turquie" in spellings("Turkey")  # CLDR says "Türkiye" since 2022; the press still says Turkey
    assert spellings("Brad Smith") == ["Brad Smith"]


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("Who is Brad Smith?", "Brad Smith"),
        ("Qui est Brad Smith ?", "Brad Smith"),
        ("What is Mistral AI?", "Mistral AI"),
        ("Qu'est-ce que l'OMS ?", "OMS"),
        ("Who is the president of Microsoft?", None),  # asks for a name, not about one
        ("Who was Brad Smith speaking to?", None),
        ("What is the capital of Australia?", None),
    ],
)
def test_defined_name(question, name):
    assert defined_name(question) == name


def test_apposition_finds_the_description_of_a_name():
    sentence = "« Nous avons forgé un partenariat », assure Brad Smith, président de Microsoft."
    start, end = apposition(sentence, "Brad Smith")
    assert sentence[start:end] == "président de Microsoft"
    sentence = "Brad Smith (the president of Microsoft) spoke."
    start, end = apposition(sentence, "brad smith")
    assert sentence[start:end] == "the president of Microsoft"
    assert apposition("Brad Smith, Satya Nadella and Sam Altman met.", "Brad Smith") is None  # a list
    assert apposition("Brad Smith a parlé.", "Brad Smith") is None
