"""The evidence reader's features (rag/read/features.py) and its shipped weights (rag/weights/evidence.json)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rag.answer.extractive import ExtractiveAnswerer
from rag.errors import ModelError
from rag.read.adapter import ADAPTER_DIR, DECIDER_DIR, ReaderEmbedder
from rag.read.evidence import EVIDENCE_FILE, EvidenceModel, EvidenceScorer
from rag.read.features import FEATURES, Unit, answer_span, features, question_type, sentence_kinds
from rag.read.scorer import ReaderInput
from rag.text.words import reader_stems
from rag.types import Hit
from tests.conftest import FakeEmbedder


def _row(question: str, units: list[Unit], i: int) -> dict[str, float]:
    return dict(zip(FEATURES, features(question, units)[i], strict=True))


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who became Greece's finance minister?", "who"),
        ("Qui a remporté l'élection ?", "who"),
        ("How many employees does Mistral AI have?", "number"),
        ("Combien de personnes sont mortes ?", "number"),
        ("How old was John Sulston when he died?", "number"),
        ("When did the fighting start?", "when"),
        ("En quelle année le traité a-t-il été signé ?", "when"),
        ("Where did the avalanche happen?", "where"),
        ("Dans quelle ville le match a-t-il eu lieu ?", "where"),
        ("Why is the EU looking at Mistral?", "why"),
        ("Pourquoi la Commission enquête-t-elle ?", "why"),
        ("Did the minister resign?", "yesno"),
        ("What did the Commission announce?", "what"),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert question_type(question) == kind


def test_what_a_sentence_holds():
    kinds = sentence_kinds("Le 12 avril 2014, 300 soldats sont arrivés à Donetsk parce que Kiev l'a demandé.", set())
    assert kinds == {"names": 2 / 3, "year": 1.0, "date": 1.0, "number": 1.0, "amount": 0.0, "cause": 1.0, "place": 1.0}
    plain = sentence_kinds("the talks went on without any result.", set())
    assert set(plain.values()) == {0.0}
    # a name the question already gives is not a new one
    assert sentence_kinds("The report was written by Smith.", set(reader_stems("What did Smith write?")))["names"] == 0


def test_words_every_candidate_shares_weigh_less_than_those_that_single_one_out():
    question = "Which countries besides the Commission are looking at Microsoft and OpenAI?"
    units = [
        Unit("The Commission is looking at Microsoft and OpenAI.", "", 0.86, False, True),
        Unit("Microsoft invested in OpenAI, and other countries are looking too.", "", 0.84, False, False),
        Unit("Microsoft also invested in Mistral.", "", 0.83, False, False),
    ]
    first, second = _row(question, units, 0), _row(question, units, 1)
    assert second["overlap"] > first["overlap"] - 0.35  # "countries" is rare: it weighs
    assert first["cosine_gap"] == 0 and second["cosine_gap"] == pytest.approx(0.02)
    assert first["cosine_rank"] == 1 and second["cosine_rank"] == 0.5


def test_names_match_across_languages_and_in_the_context():
    question = "How many employees does Mistral AI have?"
    units = [
        Unit("La start-up emploie 25 personnes.", "Mistral AI lève des fonds", 0.8, True, False),
        Unit("Microsoft investit 15 millions d'euros.", "", 0.8, True, True),
    ]
    startup, other = _row(question, units, 0), _row(question, units, 1)
    assert startup["names"] == 0 and startup["names_context"] == 1.0 and other["names_context"] == 0
    assert startup["number*number"] == 1.0 and startup["who*names"] == 0
    assert startup["no_before"] == 0 and other["no_before"] == 1


def test_word_overlap_is_measured_within_each_language():
    """An English distractor that shares the question's words does not outscore the French
    answer to an English question on overlap: each is measured against its own language's best."""
    question = "Which town did the Syrian Democratic Forces capture?"
    units = [
        Unit("The Syrian Democratic Forces are a coalition.", "", 0.8, False, True),
        Unit("Les combattants ont pris la ville d'Al-Chaddadeh.", "", 0.8, True, True),
        Unit("La coalition est soutenue par les États-Unis.", "", 0.8, True, False),
    ]
    english, french, other = (_row(question, units, i) for i in range(3))
    assert english["overlap"] == 1.0 and french["overlap"] == 0.0 and other["overlap"] == 0.0
    assert _row("Which town did les combattants capture?", units, 1)["overlap"] == 1.0


def test_the_shipped_weights_load_with_their_hash_and_match_the_features():
    model = EvidenceModel.read(EVIDENCE_FILE)
    assert model.logistic.features == FEATURES and len(model.logistic.weights) == len(FEATURES)
    assert 0 < model.answer_cosine < 1 and 0 < model.extra_threshold <= 1
    assert model.adapter_sha256 == json.loads((ADAPTER_DIR / "adapter.json").read_text())["sha256"]
    assert model.decider_sha256 == json.loads((DECIDER_DIR / "adapter.json").read_text())["sha256"]
    assert model.decider_candidates > 0


def test_edited_or_stale_weights_are_refused_with_a_message(tmp_path):
    data = json.loads(EVIDENCE_FILE.read_text(encoding="utf-8"))
    data["model"]["coef"][0] += 1.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="do not match their hash"):
        EvidenceModel.read(edited)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        EvidenceModel.read(broken)


def test_a_damaged_adapter_is_refused_before_loading(tmp_path):
    for name in ("adapter.json", "adapter.safetensors"):
        (tmp_path / name).write_bytes((ADAPTER_DIR / name).read_bytes())
    damaged = bytearray((tmp_path / "adapter.safetensors").read_bytes())
    damaged[-100] ^= 0xFF
    (tmp_path / "adapter.safetensors").write_bytes(bytes(damaged))
    with pytest.raises(ModelError, match="does not match its hash"):
        ReaderEmbedder(tmp_path / "no-base-needed", tmp_path)
    (tmp_path / "adapter.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        ReaderEmbedder(tmp_path / "no-base-needed", tmp_path)


def _model(answer_cosine: float) -> EvidenceModel:
    """The shipped weights read on the retrieval e5's cosines (here a fake one's)."""
    shipped = EvidenceModel.read(EVIDENCE_FILE)
    return dataclasses.replace(shipped, adapter_sha256="", decider_sha256="", answer_cosine=answer_cosine)


QUESTION = "How many people died in the avalanche?"
CANDIDATES = [
    (ReaderInput("Nine people died in the avalanche on Mont Maudit.", "Avalanche"), "en"),
    (ReaderInput("The mountain is popular with climbers.", "Avalanche", "Nine people died."), "en"),
    (ReaderInput("The mountain is popular with climbers. Nine people died.", "Avalanche", "", ("a", "b")), "en"),
]


def test_evidence_ranks_the_answer_first_and_answers_above_the_bar(settings):
    scorer = EvidenceScorer(settings, FakeEmbedder(), _model(answer_cosine=-1.0))
    scores = scorer.score(QUESTION, CANDIDATES[:2])
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores) and scores[0] > scores[1]
    assert scorer.threshold == 0 and scorer.pairs and scorer.score(QUESTION, []) == []


def test_below_the_bar_every_score_falls_under_the_threshold_and_the_ranking_is_kept(settings):
    above = EvidenceScorer(settings, FakeEmbedder(), _model(answer_cosine=-1.0)).score(QUESTION, CANDIDATES[:2])
    below = EvidenceScorer(settings, FakeEmbedder(), _model(answer_cosine=1.5)).score(QUESTION, CANDIDATES[:2])
    assert all(s < 0 for s in below) and below == pytest.approx([s - 1 for s in above])
    hit = Hit("c1", "doc-1", "Avalanche", "a.txt", "2024-02-27", "en", "Nine people died in the avalanche.", 0, 34, 1.0)
    answerer = ExtractiveAnswerer(
        settings.with_(reader="evidence"), FakeEmbedder(), EvidenceScorer(settings, FakeEmbedder(), _model(1.5))
    )
    assert answerer.answer(QUESTION, [hit]).abstained
    answerer = ExtractiveAnswerer(
        settings.with_(reader="evidence"), FakeEmbedder(), EvidenceScorer(settings, FakeEmbedder(), _model(-1.0))
    )
    assert not answerer.answer(QUESTION, [hit]).abstained


class FakeDecider:
    """A decider whose cosine to the question is set per sentence; it records what it reads."""

    def __init__(self, closeness: dict[str, float]) -> None:
        self.closeness, self.read = closeness, []

    def cosines(self, question: str, sentences: list[str]) -> list[float]:
        self.read.append(list(sentences))
        return [self.closeness.get(s, 0.0) for s in sentences]


def _decided(settings, closeness: dict[str, float], candidates: int) -> tuple[list[float], FakeDecider]:
    scorer = EvidenceScorer(settings, FakeEmbedder(), _model(answer_cosine=0.5))
    scorer.model = dataclasses.replace(scorer.model, decider_candidates=candidates)
    scorer.decider = decider = FakeDecider(closeness)  # type: ignore[assignment]
    return scorer.score(QUESTION, CANDIDATES[:2]), decider


def test_with_a_decider_its_cosine_over_the_most_probable_candidates_decides_to_answer(settings):
    answer, other = CANDIDATES[0][0].sentence, CANDIDATES[1][0].sentence
    scores, decider = _decided(settings, {answer: 0.9}, candidates=1)
    assert decider.read == [[answer]] and scores[0] > scores[1] >= 0  # only the best candidate read; answered
    scores, _ = _decided(settings, {other: 0.9}, candidates=1)
    assert all(s < 0 for s in scores) and scores[0] > scores[1]  # the less probable one is not read: abstains
    for candidates in (2, 0):  # 0: all of them
        scores, decider = _decided(settings, {other: 0.9}, candidates=candidates)
        assert decider.read == [[answer, other]] and all(s >= 0 for s in scores)


def test_a_pair_is_as_close_as_its_closer_sentence(settings):
    """A pair's cosine comes from its two sentences' vectors: the pair itself is not embedded."""
    embedder = FakeEmbedder()
    scorer = EvidenceScorer(settings, embedder, _model(answer_cosine=-1.0))
    pair = ReaderInput(
        "Nine people died in the avalanche. The mountain is popular.",
        "Avalanche",
        "",
        ("Nine people died in the avalanche.", "The mountain is popular."),
    )
    seen: list[str] = []
    original = embedder.embed_passages
    embedder.embed_passages = lambda texts: seen.extend(texts) or original(texts)  # type: ignore[method-assign]
    scorer.score(QUESTION, [(pair, "en")])
    assert seen == list(pair.parts)


@pytest.mark.parametrize(
    ("question", "sentence", "span"),
    [
        (
            "How much has Microsoft invested in OpenAI?",
            "La firme de Redmond a investi près de 13 milliards de dollars dans la start-up.",
            "près de 13 milliards de dollars",
        ),
        ("How old was Edgard Pisani when he died?", "Edgard Pisani s'est éteint à l'âge de 97 ans.", "97 ans"),
        (
            "Combien de personnes ont été évacuées en 2018 ?",
            "En 2018, plus de 1 000 personnes ont été évacuées.",
            "plus de 1 000 personnes",
        ),
        ("When did Edgard Pisani die?", "Edgard Pisani s'est éteint le 20 juin 2016, à 97 ans.", "20 juin 2016"),
        (
            "Who is the CEO of OpenAI?",
            "Les suspicions ont été exacerbées par l’éviction du PDG d’OpenAI, Sam Altman.",
            "Sam Altman",
        ),
        (
            "Who won the 2019 Chicago Marathon?",
            "Brigid Kosgei of Kenya won the 2019 Chicago Marathon.",
            "Brigid Kosgei",
        ),
        (
            "Where did the train collision happen?",
            "La collision s'est produite à Dudelange, au Luxembourg.",
            "Dudelange",
        ),
    ],
)
def test_the_short_answer_is_found_in_the_sentence(question, sentence, span):
    found = answer_span(question, sentence)
    assert found is not None and sentence[found[0] : found[1]] == span


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("Why is the EU looking at Mistral?", "Le régulateur va examiner l'opération."),  # not a short answer
        ("How many people did Siemens employ in 2018?", "Siemens had a good year in 2018."),  # only the question's
        ("Who founded Siemens?", "The company makes trains and turbines in Siemens plants."),  # no new name
    ],
)
def test_no_span_when_the_question_asks_for_no_short_thing_or_the_sentence_has_none(question, sentence):
    assert answer_span(question, sentence) is None
