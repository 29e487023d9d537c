"""The replay backend (rag/models/replay.py): recorded answers come back cited by the passages of
the prompt, through the generative path and its guards; and the report of eval/judge/replay.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.judge import replay as report
from rag.answer.generative import parse_citations, split_generated
from rag.errors import LLMError
from rag.models.llm import make_llm
from rag.models.replay import ReplayLLM, normalise, parse_prompt, with_citations
from rag.prompts import answer_prompt
from rag.settings import Settings
from rag.types import Hit
from tests.conftest import REPO, FakeEmbedder

QUESTION = "Combien de personnes le secteur automobile emploie-t-il en Europe ?"
SUPPORTED = "Le secteur emploie près de 13 millions de personnes en Europe."
INVENTED = "Tesla a licencié 42 ingénieurs à Munich."
FISH = "Les pêcheurs bretons protestent contre les quotas de thon."
CARS = (
    "Les constructeurs européens craignent une concurrence déloyale. Le secteur emploie près de "
    "13 millions de personnes en Europe."
)
DEV = REPO / "eval" / "judge" / "ragtruth_qa_dev.jsonl"


def _hit(n: int, text: str) -> Hit:
    return Hit(f"c{n}", f"d{n}", f"Article {n}", f"{n}.txt", "2024-03-05", "fr", text, 0, len(text), 1.0)


def _record_file(folder: Path, *rows: dict) -> Path:
    path = folder / "answers.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def _replay_llm(path: Path) -> ReplayLLM:
    llm = make_llm(Settings(llm="replay", llm_model=str(path)))
    assert isinstance(llm, ReplayLLM)
    return llm


def _reply(llm: ReplayLLM, question: str, hits: list[Hit], history: tuple[str, ...] = ()) -> str:
    from llama_index.core.llms import ChatMessage

    system, user = answer_prompt(question, hits, "fr", history)
    messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
    return "".join(chunk.delta or "" for chunk in llm.stream_chat(messages))


def _dev_record() -> dict:
    return json.loads(DEV.read_text(encoding="utf-8").splitlines()[0])


def test_the_prompt_gives_back_its_question_and_passages():
    hits = [_hit(1, FISH), _hit(2, "Une  phrase\nsur deux lignes.")]
    for history in ((), ("Et avant ?",)):
        _, user = answer_prompt(QUESTION, hits, "fr", history)
        assert parse_prompt(user) == (QUESTION, [FISH, "Une phrase sur deux lignes."])
    assert (
        normalise("  Combien de PERSONNES, le secteur   émploie-t-il ?")
        == "combien de personnes le secteur emploie t il"
    )


def test_each_sentence_cites_the_passage_of_the_prompt_that_shares_most_words(tmp_path):
    path = _record_file(tmp_path, {"question": QUESTION, "answer": f"{SUPPORTED} {FISH}\nSans rapport aucun."})
    llm = _replay_llm(path)
    for hits, cars, fish in (([_hit(1, CARS), _hit(2, FISH)], 1, 2), ([_hit(1, FISH), _hit(2, CARS)], 2, 1)):
        text = _reply(llm, QUESTION, hits)
        assert text == f"{SUPPORTED} [{cars}] {FISH} [{fish}]\nSans rapport aucun. [1]"  # ties: the lowest n
        sentences = split_generated(text)
        parsed = [parse_citations(s, len(hits)) for s in sentences]
        assert [p[0] for p in parsed] == [SUPPORTED, FISH, "Sans rapport aucun."]
        assert [p[1] for p in parsed] == [(cars,), (fish,), (1,)] and all(p[2] == 0 for p in parsed)


def test_a_recorded_ragtruth_answer_comes_back_whole_with_a_valid_citation_on_each_sentence(tmp_path):
    record = _dev_record()
    llm = _replay_llm(_record_file(tmp_path, record))
    hits = [_hit(n, text) for n, text in enumerate(record["contexts"], 1)]
    text = _reply(llm, record["question"].upper() + " ?", hits)  # looked up normalised
    sentences = split_generated(text)
    assert len(sentences) >= 3
    for sentence in sentences:
        bare, cited, invalid = parse_citations(sentence, len(hits))
        assert len(cited) == 1 and invalid == 0 and bare
    assert re.sub(r" \[\d\]", "", text) == record["answer"]
    assert llm.complete(llm.prompts[-1]).text == text  # complete and stream agree


def test_the_stream_is_word_by_word(tmp_path):
    llm = _replay_llm(_record_file(tmp_path, {"question": QUESTION, "answer": SUPPORTED}))
    from llama_index.core.llms import ChatMessage

    _, user = answer_prompt(QUESTION, [_hit(1, CARS)], "fr")
    deltas = [chunk.delta for chunk in llm.stream_chat([ChatMessage(role="user", content=user)])]
    assert "".join(d or "" for d in deltas) == f"{SUPPORTED} [1]"
    assert len(deltas) == len(SUPPORTED.split()) + 1 and all(len((d or "").split()) == 1 for d in deltas)


def test_the_first_recording_of_a_question_is_the_answer(tmp_path):
    rows = [{"question": QUESTION, "answer": SUPPORTED}, {"question": QUESTION.lower(), "answer": FISH}]
    assert _reply(_replay_llm(_record_file(tmp_path, *rows)), QUESTION, [_hit(1, CARS)]) == f"{SUPPORTED} [1]"
    assert with_citations("Texte sans passage.", []) == "Texte sans passage."


def test_a_question_without_recording_is_a_clear_error_naming_the_file(tmp_path):
    path = _record_file(tmp_path, {"question": "Autre chose ?", "answer": FISH})
    with pytest.raises(LLMError, match=rf"replay: {re.escape(str(path))} has no recorded answer to the question"):
        _reply(_replay_llm(path), QUESTION, [_hit(1, CARS)])
    with pytest.raises(LLMError, match="no 'Question:' line"):
        _replay_llm(path).complete("Bonjour")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no file of recorded answers at {path}: set RAG_LLM_MODEL to a JSONL file"),
        (b"\xff\xfe not utf-8", "cannot read {path}"),
        (b'{"question": "q"}\n', 'line 1 of {path} is not a JSON object with "question" and "answer"'),
        (b"\n\n", "{path} holds no recorded answers"),
    ],
)
def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "answers.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LLMError, match=re.escape(expected.format(path=path))):
        _replay_llm(path)


def test_the_backend_needs_a_file():
    with pytest.raises(LLMError, match=r"replay backend needs RAG_LLM_MODEL \(--llm-model\)"):
        make_llm(Settings(llm="replay"))


# --- through the generative path ---------------------------------------------------------------


def test_the_guards_check_a_replayed_answer_and_keep_its_citations(indexed, tmp_path):
    path = _record_file(tmp_path, {"question": QUESTION, "answer": f"{SUPPORTED} {INVENTED}"})
    pipeline = type(indexed)(indexed.settings.with_(llm_model=str(path)), indexed.embedder)
    answer = pipeline.ask(QUESTION, backend="replay")
    assert answer.backend == "replay" and not answer.notice and not answer.fallback
    first, invented = answer.sentences
    assert first.text == SUPPORTED and first.citations == (1,) and first.supported
    assert invented.text == INVENTED and not invented.supported
    assert all(c.passage[c.quote_start : c.quote_end] == c.quote for c in answer.citations)
    assert "13 millions" in answer.citations[0].quote


def test_an_unsupported_replay_falls_back_and_an_unknown_question_is_a_notice(indexed, tmp_path):
    path = _record_file(tmp_path, {"question": QUESTION, "answer": f"{INVENTED} Elon Musk a acheté Renault en 1999."})
    pipeline = type(indexed)(indexed.settings.with_(llm_model=str(path)), indexed.embedder)
    answer = pipeline.ask(QUESTION, backend="replay")
    assert answer.fallback == "unsupported" and answer.backend == "extractive" and "13 millions" in answer.text
    assert [s.text for s in answer.rejected] == [INVENTED, "Elon Musk a acheté Renault en 1999."]
    unknown = pipeline.ask("Combien de personnes emploie le secteur en Europe ?", backend="replay")
    assert unknown.fallback == "failed" and f"replay: {path} has no recorded answer" in unknown.notice


# --- the report ---------------------------------------------------------------------------------


def test_locate_finds_checked_sentences_in_the_recorded_answer():
    answer = "First claim here.\n* Second: a list item\nThird one [sic] again. First claim here."
    checked = ["First claim here.", "* Second: a list item", "Third one again.", "First claim here.", "Absent."]
    assert report.locate(answer, checked) == [(0, 16), (20, 39), None, (63, 79), None]


def test_the_report_counts_guard_decisions_and_reader_abstentions_apart(settings, tmp_path):
    faithful = {"question": QUESTION, "contexts": [CARS, FISH], "answer": SUPPORTED, "label": 1, "spans": []}
    span = [len(SUPPORTED) + 1, len(SUPPORTED) + 1 + len(INVENTED)]
    hallucinated = faithful | {"answer": f"{SUPPORTED} {INVENTED}", "label": 0, "spans": [span], "id": "h"}
    unanswered = faithful | {"question": "Quel temps fera-t-il à Tokyo demain ?", "id": "u"}
    outcomes = [report.replay_one(r, settings, FakeEmbedder(), tmp_path) for r in (faithful, hallucinated, unanswered)]
    assert [o["asked"] for o in outcomes] == [True, True, False]
    assert [s["in_span"] for s in outcomes[1]["sentences"]] == [False, True]
    summary = report.summarise(outcomes)
    assert summary["reader_abstained"] == {"faithful": 1, "hallucinated": 0}
    assert summary["asked"] == {"faithful": 1, "hallucinated": 1}
    assert summary["faithful_sentences_kept"] == {"share": 1.0, "of": 1, "count": 1}
    assert summary["span_sentences_rejected"] == {"share": 1.0, "of": 1, "count": 1}
    assert summary["faithful_answers_fully_accepted"]["share"] == 1.0 and summary["backend_failed"] == 0


def test_the_report_explains_itself():
    with pytest.raises(SystemExit):
        report.main(["--help"])
    assert "faithful_answers_fully_accepted" in (report.__doc__ or "")


@pytest.mark.slow
def test_recorded_answers_through_the_real_reader_and_judge(real_settings, tmp_path):
    """Two RAGTruth answers through the bundled e5 reader and the guards: every checked sentence is
    located in its recorded answer, and the report adds up (its figures are measured, not asserted)."""
    from rag.models.embedder import make_embedder

    settings = real_settings.with_(index=tmp_path / "index")
    embedder = make_embedder(settings)
    records = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()[:2]]
    outcomes = [report.replay_one(record, settings, embedder, tmp_path) for record in records]
    for outcome in outcomes:
        assert outcome["asked"] or not outcome["sentences"]
        assert all(s["in_span"] is not None for s in outcome["sentences"])
        assert all(0.0 <= s["score"] <= 1.0 for s in outcome["sentences"])
    summary = report.summarise(outcomes)
    assert summary["answers"] == 2 and summary["backend_failed"] == 0
    asked = summary["asked"]["faithful"] + summary["asked"]["hallucinated"]
    assert asked + sum(summary["reader_abstained"].values()) == 2


@pytest.mark.slow
def test_the_guards_keep_faithful_recorded_sentences_and_reject_marked_ones(real_settings, tmp_path):
    """The first 40 RAGTruth QA dev answers (GPT-4, GPT-3.5, Llama-2, Mistral; sources never fitted
    on), replayed through the generative path with the shipped judge. Measured: 59 of 66 checked
    sentences of faithful answers kept, 18 of 23 faithful answers fully accepted, 3 of 7 sentences
    people marked rejected, no fallback. The judge fitted on HaluEval kept 12 of 66 and accepted
    none; these floors fail with it."""
    from rag.models.embedder import make_embedder

    settings = real_settings.with_(index=tmp_path / "index")
    embedder = make_embedder(settings)
    records = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()[:40]]
    summary = report.summarise([report.replay_one(record, settings, embedder, tmp_path) for record in records])
    assert summary["faithful_sentences_kept"]["share"] >= 0.8, summary
    assert summary["faithful_answers_fully_accepted"]["share"] >= 0.6, summary
    assert summary["span_sentences_rejected"]["count"] >= 2, summary
    assert summary["backend_failed"] == 0
