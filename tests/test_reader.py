"""The trained reader: its training data, its weights' checksum, and how the answerer uses it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag.answer import ExtractiveAnswerer
from rag.errors import ModelError
from rag.reader import CHECKSUM_FILE, FEATURES, MODEL_FILE, Reader, ReaderConfig, ReaderInput, features, sha256_of
from tests.conftest import REPO


class FakeReader:
    """Scores a sentence by the share of the question's words it holds: deterministic, and a
    sentence that shares no word with the question scores 0."""

    def __init__(self, threshold: float = 0.5, pair_margin: float = 0.5) -> None:
        self.config = ReaderConfig(threshold=threshold, pair_margin=pair_margin)
        self.calls: list[tuple[str, str, list[ReaderInput]]] = []

    def score(self, question: str, question_language: str, items: Sequence[ReaderInput]) -> list[float]:
        self.calls.append((question, question_language, list(items)))
        words = {w.strip("?,.").lower() for w in question.split() if len(w) > 3}
        return [sum(w in item.sentence.lower() for w in words) / max(1, len(words)) for item in items]


@pytest.fixture
def reading(indexed):
    """The indexed fake pipeline, answering with a FakeReader."""
    reader = FakeReader()
    pipeline = type(indexed)(indexed.settings.with_(reader="trained"), indexed.embedder)
    pipeline.__dict__["reader"] = reader
    return pipeline, reader


def test_reader_sees_every_sentence_once_with_its_language_and_place(reading):
    pipeline, reader = reading
    pipeline.ask("Combien de personnes le secteur emploie-t-il en Europe ?")
    _, language, items = reader.calls[-1]
    assert language == "fr"
    sentences = [i.sentence for i in items]
    assert len(sentences) == len(set(sentences)) and all(i.language == "fr" for i in items)
    leads = [i.sentence for i in items if i.lead]
    assert any(s.startswith("date 2024-03-05 La Commission") or s.startswith("La Commission") for s in leads)
    assert not any(i.lead for i in items if i.sentence.startswith("Bruxelles"))


def test_features_see_the_answer_type():
    ask = "How many people does the sector employ?"
    with_number = features(ask, "en", ReaderInput("It employs 13 million people.", "en", False), 0.8, 0.8)
    without = features(ask, "en", ReaderInput("The sector employs people in Europe.", "en", False), 0.8, 0.8)
    assert with_number["want_number"] == 1.0 and without["want_number"] == -1.0
    who = features("Qui dirige OpenAI ?", "fr", ReaderInput("OpenAI est dirigé par Sam Altman.", "en", True), 0.7, 0.9)
    assert who["want_person"] == 1.0 and who["cross_lingual"] == 1.0 and who["lead"] == 1.0
    assert who["cos_gap"] == pytest.approx(-0.2) and set(who) == set(FEATURES)


def test_calibrated_abstention_follows_the_reader_threshold(reading):
    pipeline, reader = reading
    question = "Combien de personnes le secteur emploie-t-il en Europe ?"
    assert not pipeline.ask(question).abstained
    reader.config = ReaderConfig(threshold=0.99, pair_margin=0.99)
    answer = pipeline.ask(question)
    assert answer.abstained and not answer.citations and answer.hits


def test_multi_sentence_answer_quotes_each_sentence_with_its_citation(reading):
    pipeline, reader = reading
    reader.config = ReaderConfig(threshold=0.3, pair_margin=0.3)
    answer = pipeline.ask("Pourquoi les constructeurs européens craignent la Commission européenne ?")
    assert len(answer.citations) == 2 and [s.citations for s in answer.sentences] == [(1,), (2,)]
    for c in answer.citations:
        assert f"{c.quote} [{c.n}]" in answer.text and c.passage[c.quote_start : c.quote_end] == c.quote
    single = type(pipeline)(pipeline.settings.with_(max_answer_sentences=1), pipeline.embedder)
    single.__dict__["reader"] = reader
    assert len(single.ask("Pourquoi les constructeurs européens craignent la Commission européenne ?").citations) == 1


def test_unknown_reader_name_lists_the_valid_ones(settings):
    from rag.errors import SettingsError

    with pytest.raises(SettingsError, match="valid: trained, cosine"):
        ExtractiveAnswerer(settings.with_(reader="bert"), embedder=None)  # type: ignore[arg-type]


def test_shipped_model_matches_its_checksum():
    assert CHECKSUM_FILE.read_text().split()[0] == sha256_of(MODEL_FILE)
    data = __import__("json").loads(MODEL_FILE.read_text())
    assert tuple(data["model"]["features"]) == FEATURES and 0.0 < data["threshold"] < 1.0


def test_tampered_or_missing_model_is_refused(tmp_path):
    model = tmp_path / "reader.json"
    model.write_text(MODEL_FILE.read_text().replace('"threshold"', '"threshold" ', 1))
    with pytest.raises(ModelError, match="does not match its checksum"):
        Reader(embedder=None, model_file=model, checksum_file=CHECKSUM_FILE)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="missing or unreadable"):
        Reader(embedder=None, model_file=tmp_path / "nope.json", checksum_file=CHECKSUM_FILE)  # type: ignore[arg-type]
    assert Reader(embedder=None, model_file=MODEL_FILE, checksum_file=CHECKSUM_FILE).config.threshold > 0  # type: ignore[arg-type]


# --- the training data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    import sys

    sys.path.insert(0, str(REPO))
    from eval.reader import data

    return data


def test_training_data_never_holds_the_evaluation_paragraphs(data):
    import json

    held = data.held_out_piaf_docs()
    suite = [json.loads(line) for line in (REPO / "eval/suites/piaf.jsonl").read_text().splitlines()[1:]]
    assert {s for case in suite for s in case["sources"]} <= held
    train, calibration = data.piaf_groups(__import__("random").Random(1))
    questions = {case["question"] for case in suite}
    assert not questions & {g.question for g in train + calibration}
    assert not {g.question for g in train} & {g.question for g in calibration}  # calibration is held apart


def test_piaf_groups_have_one_positive_holding_the_answer_and_on_topic_unanswerables(data):
    train, _ = data.piaf_groups(__import__("random").Random(1))
    answerable = [g for g in train if g.answerable]
    unanswerable = [g for g in train if not g.answerable]
    assert len(answerable) > 1000 and len(unanswerable) > 500
    for group in answerable:
        assert sum(group.labels) == 1 and len(group.candidates) >= 2
        assert all(c.language == "fr" for c in group.candidates)
        assert group.language == ("en" if group.source == "piaf-en" else "fr")
    english = [g for g in train if g.source == "piaf-en"]
    assert english and all(g.language == "en" for g in english)  # English questions, French sentences


def test_halueval_glued_snippets_are_split_into_sentences(data):
    rows = [
        {
            "knowledge": "Other musicians include Jim Keltner.James Lee Keltner (born 1942) is an American drummer.",
            "question": "What nationality is the drummer?",
            "right_answer": "American",
        }
    ] * 4
    groups = data.halueval_groups(rows, __import__("random").Random(1))
    first = groups[0]
    assert first.labels[:2] == [0, 1] and first.candidates[1].sentence.startswith("James Lee Keltner")


# --- the generative path reads with the reader too ---------------------------------------------------------


def test_llm_is_not_asked_when_the_reader_finds_no_answer(reading, scripted):
    pipeline, reader = reading
    llm = scripted("Il fera beau à Tokyo [1].")
    answer = pipeline.ask("Quel temps fera-t-il à Tokyo demain matin ?", backend="scripted")
    assert answer.abstained and answer.backend == "scripted" and not answer.citations
    assert llm.prompts == []  # the model was never given the chance to guess


def test_llm_reads_the_passage_with_the_best_answer_first(reading, scripted):
    pipeline, reader = reading
    llm = scripted("Les pêcheurs protestent contre les quotas de thon [1].")
    question = "Contre quoi les pêcheurs bretons protestent-ils ?"
    answer = pipeline.ask(question, backend="scripted")
    assert "pêcheurs" in answer.hits[0].text  # the answering passage is [1]
    prompt = llm.prompts[-1]
    assert prompt.index("quotas de thon") < prompt.index("voitures électriques")
    assert not answer.abstained and answer.sentences[0].supported
