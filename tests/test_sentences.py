from rag.text.sentences import asks, split_sentences


def test_offsets_round_trip_and_abbreviations():
    text = "Le régulateur va examiner l’opération. M. Smith a parlé!\n\nL’UE s’intéresse à OpenAI\nFin."
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "Le régulateur va examiner l’opération.",
        "M. Smith a parlé!",
        "L’UE s’intéresse à OpenAI",
        "Fin.",
    ]
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_quotes_stay_inside_their_sentence():
    text = "« Nous avons forgé un partenariat. » Brad Smith l’a dit. Puis il est parti."
    assert [s.text for s in split_sentences(text)] == [
        "« Nous avons forgé un partenariat. » Brad Smith l’a dit.",
        "Puis il est parti.",
    ]


def test_fragments_without_letters_are_dropped():
    assert split_sentences("12. 34.\n--\nTexte réel ici.")[-1].text == "Texte réel ici."
    assert len(split_sentences("12. 34.\n--\nTexte réel ici.")) == 1


def test_a_question_is_told_from_a_sentence_that_quotes_one():
    assert asks("((WN)) Why do you plan to make Melbourne Australia's capital?")
    assert asks("Qui paiera la facture ? »")  # French spacing, a closing quote
    assert not asks("Il a demandé « pourquoi ? » puis il est parti.")
    assert not asks("Melbourne was Australia's capital until 1927.")
