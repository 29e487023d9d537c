import pytest

from rag.errors import RagError
from tests.conftest import ARTICLE_FR


def test_answer_quotes_passages_and_every_citation_is_real(indexed):
    answer = indexed.ask("Combien de personnes le secteur automobile emploie-t-il en Europe ?")
    assert not answer.abstained
    assert "13 millions" in answer.text
    numbers = [int(n) for n in __import__("re").findall(r"\[(\d+)\]", answer.text)]
    assert numbers == [c.n for c in answer.citations]
    for c in answer.citations:
        assert c.quote in answer.text
        assert c.passage[c.quote_start : c.quote_end] == c.quote
        assert c.chunk_id in {h.chunk_id for h in answer.hits}
        assert c.date == "2024-03-05"


def test_citation_offsets_point_into_the_document(indexed, tmp_path):
    answer = indexed.ask("Combien de personnes le secteur emploie-t-il ?")
    document_text = ARTICLE_FR[len("date 2024-03-05 ") :].strip()
    for c in answer.to_json()["citations"]:
        assert document_text[c["start"] : c["end"]] == c["quote"]


def test_the_short_answer_inside_the_quote_is_given_with_its_offsets(indexed):
    answer = indexed.ask("Combien de personnes le secteur emploie-t-il ?")
    document_text = ARTICLE_FR[len("date 2024-03-05 ") :].strip()
    spans = [c["answer_span"] for c in answer.to_json()["citations"] if "answer_span" in c]
    assert [s["text"] for s in spans] == ["près de 13 millions de personnes"]
    assert all(document_text[s["start"] : s["end"]] == s["text"] for s in spans)
    # a question that asks for no short thing (why, what) gets none
    why = indexed.ask("Pourquoi la Commission européenne a-t-elle ouvert une enquête ?")
    assert not any("answer_span" in c for c in why.to_json()["citations"])


def test_abstains_when_nothing_is_close(indexed):
    answer = indexed.ask("Quel temps fera-t-il à Tokyo demain matin ?")
    assert answer.abstained and not answer.citations
    assert "ne contiennent pas" in answer.text
    assert answer.hits  # the closest passages are still shown


def test_abstention_message_follows_the_question_language(indexed):
    assert "don't contain" in indexed.ask("What will the weather be like in Tokyo tomorrow morning?").text


def test_empty_question_is_refused(indexed):
    with pytest.raises(RagError, match="empty"):
        indexed.ask("   ")


def test_follow_up_is_condensed_with_the_previous_question(indexed, tmp_path):
    (tmp_path / "brad.txt").write_text(
        "Le président de Microsoft défend la concurrence. Il promet des principes d'ouverture pour l'IA."
    )
    indexed.ingest([tmp_path / "brad.txt"])
    queries = []
    search = indexed.retriever.search
    indexed.retriever.search = lambda query, top_k=None, *rest: queries.append(query) or search(query, top_k, *rest)
    answer = indexed.ask("Et que promet-il ?", history=["Les pêcheurs ?", "Que défend le président de Microsoft ?"])
    assert queries == ["Que défend le président de Microsoft ? Et que promet-il ?"]
    assert answer.question == "Et que promet-il ?"
    assert not answer.abstained and "principes d'ouverture" in answer.text


def test_who_is_a_name_is_answered_by_the_sentence_that_defines_it(settings, tmp_path):
    """A reader that scores every sentence under its bar would abstain; a sentence that says who
    the name is, in an apposition, answers "Who is Brad Smith?" by its form, alone, with the
    description as the short answer."""
    from rag.pipeline import build_pipeline
    from tests.conftest import FakeEmbedder

    (tmp_path / "ms.txt").write_text(
        "Microsoft défend son partenariat avec OpenAI. Il a favorisé la concurrence, assure Brad Smith, "
        "président de Microsoft. Le groupe investit aussi dans Mistral AI."
    )
    strict = build_pipeline(settings.with_(min_sentence_score=0.99), embedder=FakeEmbedder())
    strict.ingest([tmp_path])
    answer = strict.ask("Who is Brad Smith?")
    assert not answer.abstained
    assert answer.citations[0].quote == "Il a favorisé la concurrence, assure Brad Smith, président de Microsoft."
    assert answer.to_json()["citations"][0]["answer_span"]["text"] == "président de Microsoft"
    assert strict.ask("Who was Brad Smith speaking to?").abstained  # not a "who is" question


def test_a_question_on_a_new_subject_is_not_searched_with_the_previous_one(indexed, tmp_path):
    """After a question on fishing, "Combien de personnes le secteur automobile emploie-t-il en
    Europe ?" names its own subject: it is searched alone, and "Et que promet-il ?" after a
    question on Microsoft's president still reads on it."""
    queries = []
    search = indexed.retriever.search
    indexed.retriever.search = lambda query, top_k=None, *rest: queries.append(query) or search(query, top_k, *rest)
    indexed.ask(
        "Combien de personnes l'industrie automobile emploie-t-elle en Europe ?",
        history=["Que veulent les pêcheurs bretons ?"],
    )
    indexed.ask(
        "Et combien de voitures ?", history=["Combien de personnes l'industrie automobile emploie-t-elle en Europe ?"]
    )
    assert queries == [
        "Combien de personnes l'industrie automobile emploie-t-elle en Europe ?",
        "Combien de personnes l'industrie automobile emploie-t-elle en Europe ? Et combien de voitures ?",
    ]
