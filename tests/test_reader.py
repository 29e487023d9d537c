"""Readers: the cross-encoder's training data and the hash check of its weights, and the answers
the extractive answerer composes from a reader's scores (one to three quoted sentences, or an
abstention below the threshold)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from eval.reader import data
from rag.answer.extractive import ExtractiveAnswerer, reader_inputs
from rag.errors import ModelError
from rag.models.weights import file_sha256
from rag.read.cross_encoder import CONFIG_FILE, WEIGHTS_FILE, Reader
from rag.read.scorer import ReaderInput
from rag.text.sentences import split_sentences
from rag.types import Hit
from tests.conftest import REPO, FakeEmbedder


def _hit(text: str, chunk: str = "c1", title: str = "Titre", language: str = "fr", start: int = 0) -> Hit:
    return Hit(
        chunk, f"doc-{chunk}", title, f"{chunk}.txt", "2024-02-27", language, text, start, start + len(text), 1.0
    )


# --- training data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def groups() -> tuple[list[data.Group], list[data.Group]]:
    if not data.PIAF_SOURCE.exists():
        pytest.skip(f"the shared data sets are not beside the repository ({data.SHARED})")
    return data.build(halueval_rows=300)


def test_each_training_question_has_one_answer_sentence_that_holds_its_answer(groups):
    train, _ = groups
    assert {g.source for g in train} == {"piaf", "piaf-en", "wikinews", "halueval"}
    for group in train:
        assert sum(group.labels) == (1 if group.answerable else 0) and len(group.candidates) >= 2
    unanswerable = [g for g in train if not g.answerable]
    assert unanswerable and {g.source for g in unanswerable} == {"wikinews"}  # on-topic: ours
    for group in [g for g in train if g.source == "wikinews" and g.answerable]:
        assert group.answer in data.norm(group.candidates[group.labels.index(1)].sentence)
    piaf = json.loads(data.PIAF_SOURCE.read_text(encoding="utf-8"))["data"]
    answers = {
        qa["question"].strip(): qa["answers"][0]["text"] for a in piaf for p in a["paragraphs"] for qa in p["qas"]
    }
    for group in [g for g in train if g.source == "piaf"][:200]:
        positive = group.candidates[group.labels.index(1)]
        negatives = [c for c, label in zip(group.candidates, group.labels, strict=True) if not label]
        assert data.norm(answers[group.question]) in data.norm(positive.sentence)
        assert all(data.norm(answers[group.question]) not in data.norm(c.sentence) for c in negatives)


def test_evaluation_paragraphs_and_questions_are_never_trained_on(groups):
    train, calibration = groups
    trained = {g.question for g in train}
    suite = [json.loads(line) for line in (REPO / "eval/suites/piaf.jsonl").read_text().splitlines()[1:]]
    assert not trained & {case["question"] for case in suite}
    news = [json.loads(line) for line in (REPO / "eval/suites/news.jsonl").read_text().splitlines()[1:]]
    assert not trained & {case["question"] for case in news}
    held = data.held_out_piaf_docs()
    piaf = json.loads(data.PIAF_SOURCE.read_text(encoding="utf-8"))["data"]
    held_sentences = {
        c.sentence
        for a, article in enumerate(piaf)
        for p, paragraph in enumerate(article["paragraphs"])
        if f"{a:03d}_{p:02d}.md" in held
        for _, _, c in data.sentences_of(paragraph["context"])
    }
    french = [g for g in train if g.source == "piaf"]
    assert not {g.candidates[g.labels.index(1)].sentence for g in french} & held_sentences
    assert not trained & {g.question for g in calibration if g.source != "halueval"}


def test_hard_negatives_come_from_other_documents_and_never_hold_the_answer():
    import numpy as np

    group = data.Group("Qui dirige Mistral ?", "piaf", "fr", [ReaderInput("Arthur Mensch dirige Mistral.")], [1])
    group.doc, group.answer = "d1", "arthur mensch"
    pool = [
        ("d1", ReaderInput("Mistral est à Paris.")),  # its own document: not a hard negative
        ("d2", ReaderInput("Arthur Mensch dirige Mistral depuis 2023.")),  # holds the answer
        ("d3", ReaderInput("Mistral lève des fonds.")),
        ("d4", ReaderInput("La pluie tombe.")),
    ]
    closeness = {"Mistral est à Paris.": 0.9, "Arthur Mensch dirige Mistral depuis 2023.": 0.8}

    def embed(texts, queries):
        if queries:
            return np.ones((len(texts), 1), dtype=np.float32)
        return np.asarray([[closeness.get(t, 0.5 if "Mistral" in t else 0.1)] for t in texts], dtype=np.float32)

    data.add_hard_negatives([group], pool, embed, k=2)
    assert [c.sentence for c in group.candidates[1:]] == ["Mistral lève des fonds.", "La pluie tombe."]
    assert group.labels == [1, 0, 0]


def test_calibration_holds_on_topic_unanswerable_questions(groups):
    _, calibration = groups
    away = [g for g in calibration if not g.answerable and g.source == "piaf"]
    assert len(away) > 100
    asked = {g.question for g in calibration if g.answerable}
    assert all(g.question in asked for g in away)  # the same questions, their paragraph taken away


def test_training_can_hold_on_topic_unanswerable_questions_that_never_hold_the_answer():
    """`unanswerable_train` (eval.reader.train_biencoder --null-bar): PIAF questions asked of their
    article's other paragraphs, HaluEval ones of their knowledge without the answer sentence."""
    if not data.PIAF_SOURCE.exists():
        pytest.skip(f"the shared data sets are not beside the repository ({data.SHARED})")
    train, _ = data.build(halueval_rows=300, unanswerable_train=True)
    away = [g for g in train if not g.answerable]
    assert {g.source for g in away} == {"piaf", "piaf-en", "halueval", "wikinews"}
    asked = {(g.source, g.question) for g in train if g.answerable}
    for group in away:
        assert (group.source, group.question) in asked or group.source == "wikinews"
        assert all(group.answer not in data.norm(c.sentence) for c in group.candidates if group.answer)


def test_the_null_loss_prefers_no_answer_when_nothing_answers():
    import torch

    from eval.reader.train_biencoder import null_loss

    class Fixed(torch.nn.Module):  # a "model" whose embeddings are given
        def forward(self, features):
            return {"sentence_embedding": features["v"]}

    question, near, far = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.9, 0.44]]), torch.tensor([[0.0, 1.0]])
    loss = null_loss(Fixed(), bar=0.8)
    features = [{"v": question}, {"v": near}, {"v": far}]
    answerable, unanswerable = loss(features, torch.tensor([1])), loss(features, torch.tensor([0]))
    assert answerable < unanswerable  # the near sentence (cosine 0.9) is above the bar: an answer
    features[1] = {"v": torch.tensor([[0.5, 0.87]])}  # cosine 0.5, below the bar
    assert loss(features, torch.tensor([0])) < loss(features, torch.tensor([1]))


def test_an_answer_sentence_without_its_answer_is_a_near_miss_that_answers_nothing():
    """eval.reader.train_biencoder --ablate: the answer taken out with the word that led to it, the rest kept."""
    from eval.reader.train_biencoder import without_answer

    assert without_answer("Il est né à Bizerte, en Tunisie, en 1950.", "bizerte") == "Il est né, en Tunisie, en 1950."
    assert without_answer("The band was formed in 1990 by John Smith.", "john  smith") == "The band was formed in 1990."
    assert without_answer("Mistral AI a levé 385 millions d'euros.", "385 millions d'euros") is None  # too little left
    assert without_answer("The band was formed in 1990.", "john smith") is None  # not there


def test_candidates_are_read_with_title_and_previous_sentence_and_the_title_line_is_none():
    text = "Mistral lève des fonds\nMistral AI lève des fonds. La start-up emploie vingt personnes à Paris."
    hit = _hit(text, title="Mistral lève des fonds")
    units = reader_inputs([hit, hit])  # a repeated passage gives its sentences once
    assert [u.sentence for *_, u in units] == [
        "Mistral AI lève des fonds.",
        "Mistral AI lève des fonds. La start-up emploie vingt personnes à Paris.",
        "La start-up emploie vingt personnes à Paris.",
    ]
    hit_, spans, unit = units[2]
    assert unit == ReaderInput(
        "La start-up emploie vingt personnes à Paris.",
        "Mistral lève des fonds",
        "Mistral AI lève des fonds.",
        doc_id=hit.doc_id,  # its sentence vector is kept under its document
    )
    assert (
        unit.text()
        == "La start-up emploie vingt personnes à Paris. | Mistral lève des fonds Mistral AI lève des fonds."
    )
    assert [hit_.text[a:b] for a, b in spans] == ["La start-up emploie vingt personnes à Paris."]
    assert len(reader_inputs([hit], pairs=False)) == 2


def test_a_question_in_the_passage_is_no_candidate_but_stays_the_next_ones_context():
    text = "((WN)) Why Melbourne? ((Wayne Tseng)) Melbourne was the capital until 1927. It is large."
    units = reader_inputs([_hit(text, language="en")])
    assert [u.sentence for *_, u in units] == [
        "((Wayne Tseng)) Melbourne was the capital until 1927.",
        "((Wayne Tseng)) Melbourne was the capital until 1927. It is large.",
        "It is large.",
    ]
    assert units[0][2].before == "((WN)) Why Melbourne?"
    assert [u.sentence for *_, u in reader_inputs([_hit("Il est parti. Pourquoi est-il parti ?")])] == [
        "Il est parti."
    ]  # nor a pair that ends with one


# --- answers from scores ---------------------------------------------------------------------


class TableScorer:
    """Deterministic scores: each sentence containing a key gets its value, the rest 0.01; a pair
    of sentences gets the mean of its two."""

    name = "table"
    threshold = 0.5
    extra_threshold = 0.7
    pairs = True

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def one(self, sentence: str) -> float:
        return next((v for k, v in self.table.items() if k in sentence), 0.01)

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        scores = []
        for candidate, _ in candidates:
            parts = [self.one(s.text) for s in split_sentences(candidate.sentence)]
            scores.append(sum(parts) / len(parts))
        return scores


HITS = [
    _hit(
        "Bruxelles examine l'accord entre Microsoft et Mistral. La Commission veut savoir s'il fausse la concurrence."
    ),
    _hit("Le Royaume-Uni et les États-Unis s'intéressent aussi à Microsoft. Mistral a été fondée en 2023.", "c2"),
]


def _answer(table: dict[str, float], settings, max_sentences: int = 3):
    answerer = ExtractiveAnswerer(
        settings.with_(max_answer_sentences=max_sentences), FakeEmbedder(), TableScorer(table)
    )
    return answerer.answer("Pourquoi Bruxelles regarde-t-elle Mistral ?", HITS)


def test_the_best_unit_and_those_above_the_second_threshold_are_quoted(settings):
    answer = _answer({"fausse la concurrence": 0.95, "Bruxelles examine": 0.8, "Royaume-Uni": 0.6}, settings)
    assert [c.quote for c in answer.citations] == [
        "La Commission veut savoir s'il fausse la concurrence.",
        "Bruxelles examine l'accord entre Microsoft et Mistral.",
    ]  # best first, the pair of the two scores less than either; "Royaume-Uni" (0.6) is below 0.7
    assert answer.text == " ".join(f"{c.quote} [{c.n}]" for c in answer.citations)
    assert all(s.supported and s.citations == (n,) for n, s in enumerate(answer.sentences, 1))


def test_sentences_from_different_passages_each_cite_their_own(settings):
    answer = _answer({"fausse la concurrence": 0.9, "Royaume-Uni": 0.85}, settings)
    assert [c.chunk_id for c in answer.citations] == ["c1", "c2"]
    for c in answer.citations:
        assert c.passage[c.quote_start : c.quote_end] == c.quote


def test_answers_have_at_most_max_answer_sentences(settings):
    table = {"fausse la concurrence": 0.99, "Bruxelles examine": 0.9, "Royaume-Uni": 0.9, "fondée": 0.9}
    assert len(_answer(table, settings).citations) == 3
    assert len(_answer(table, settings, max_sentences=1).citations) == 1


def test_a_pair_is_quoted_as_two_cited_sentences(settings):
    answer = _answer({"Bruxelles examine": 0.9, "fausse la concurrence": 0.9, "Royaume-Uni": 0.3}, settings, 2)
    assert [c.quote for c in answer.citations] == [
        "Bruxelles examine l'accord entre Microsoft et Mistral.",
        "La Commission veut savoir s'il fausse la concurrence.",
    ]
    assert answer.text.endswith("[1] La Commission veut savoir s'il fausse la concurrence. [2]")


def test_abstains_below_the_threshold_and_still_shows_the_passages(settings):
    answer = _answer({"fausse la concurrence": 0.45}, settings)
    assert answer.abstained and not answer.citations and answer.hits


# --- weights -----------------------------------------------------------------------------------


def _reader_folder(folder, weights: bytes, sha256: str | None = None):
    import hashlib

    folder.mkdir()
    (folder / WEIGHTS_FILE).write_bytes(weights)
    digest = sha256 or hashlib.sha256(weights).hexdigest()
    config = {"sha256": digest, "threshold": 0.5, "extra_threshold": 0.7}
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    return folder


def test_weights_are_checked_by_hash_before_they_are_loaded(tmp_path):
    folder = _reader_folder(tmp_path / "reader", b"not the weights we trained", sha256="0" * 64)
    assert file_sha256(folder / WEIGHTS_FILE) != "0" * 64
    with pytest.raises(ModelError, match=r"reader.safetensors do not match their hash"):
        Reader(tmp_path / "unused-base", folder)


def test_damaged_missing_or_unreadable_reader_files_are_refused_with_a_message(tmp_path):
    folder = _reader_folder(tmp_path / "reader", b"weights")
    (folder / WEIGHTS_FILE).write_bytes(b"weights, damaged")
    with pytest.raises(ModelError, match="do not match their hash"):
        Reader(tmp_path / "unused-base", folder)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="are missing: retrain them"):
        Reader(tmp_path / "unused-base", folder)
    (folder / CONFIG_FILE).write_text("{")
    with pytest.raises(ModelError, match="cannot be read"):
        Reader(tmp_path / "unused-base", folder)
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(ModelError, match="No trained reader in .*RAG_READER=evidence"):
        Reader(tmp_path / "unused-base", folder)


def test_the_cross_encoder_reader_without_weights_says_how_to_get_them(settings, tmp_path):
    from rag.read.registry import make_scorer
    from tests.conftest import FakeEmbedder

    chosen = settings.with_(reader="cross-encoder", reader_dir=tmp_path / "nowhere")
    with pytest.raises(ModelError, match="No trained reader|not prepared"):
        make_scorer(chosen, FakeEmbedder())


def test_an_unknown_reader_or_no_answer_sentence_is_a_settings_error(settings):
    from rag.errors import SettingsError
    from rag.settings import Settings

    with pytest.raises(SettingsError, match="reader must be"):
        Settings.from_env(index=settings.index, reader="bert")
    with pytest.raises(SettingsError, match="max_answer_sentences must be at least 1"):
        Settings.from_env({"RAG_MAX_ANSWER_SENTENCES": "0"}, index=settings.index)
