"""The guards of generated answers, driven by a scripted fake LLM (deterministic, no model)."""

import re

import pytest

from rag.answer.extractive import final_answer
from rag.answer.generative import parse_citations, split_generated
from rag.types import Answer, AnswerSentence

QUESTION = "Combien de personnes le secteur automobile emploie-t-il en Europe ?"
SUPPORTED = "Le secteur emploie près de 13 millions de personnes en Europe"
INVENTED = "Tesla a licencié 42 ingénieurs à Munich"


def _passage_of(answer, needle):
    return next(n for n, h in enumerate(answer.hits, 1) if needle in h.text)


def test_parse_citations_keeps_valid_numbers_and_counts_the_others():
    assert parse_citations("Mistral est française [1].", 3) == ("Mistral est française.", (1,), 0)
    assert parse_citations("A [2][1] et [2].", 3) == ("A et.", (2, 1), 0)
    assert parse_citations("A [1, 3] B [passage 2]", 3) == ("A B", (1, 3, 2), 0)
    assert parse_citations("A [1-3].", 5) == ("A.", (1, 2, 3), 0)
    assert parse_citations("A [7] [0] [2].", 3) == ("A.", (2,), 2)
    assert parse_citations("No citation here.", 3) == ("No citation here.", (), 0)
    assert parse_citations("Rouge \x1b[31m vif [1].", 3) == ("Rouge [31m vif.", (1,), 0)


def test_split_generated_keeps_citations_with_their_sentence():
    text = "Mistral est une start-up. [1] Microsoft y investit 15 millions [2]. Bruxelles enquête.[3][1]"
    assert split_generated(text) == [
        "Mistral est une start-up [1].",
        "Microsoft y investit 15 millions [2].",
        "Bruxelles enquête[3][1].",
    ]


def test_invalid_citations_are_removed_and_unsupported_sentences_marked(indexed, scripted):
    scripted(f"{SUPPORTED} [1]. {INVENTED} [1]. La Chine subventionne ses constructeurs [9].")
    answer = indexed.ask(QUESTION, backend="scripted")
    assert answer.backend == "scripted" and not answer.abstained and not answer.notice
    assert answer.removed_citations == 1
    first, invented, uncited = answer.sentences
    assert first.supported and first.citations == (1,)
    assert not invented.supported and invented.score < first.score
    assert any("Tesla" in r or "42" in r for r in invented.reasons)
    assert not uncited.supported and uncited.citations == () and "no passage that was given" in uncited.reasons[0]
    # Every [n] in the text is a real citation to a passage that was given.
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert numbers == {c.n for c in answer.citations} == {1}
    assert "[9]" not in answer.text
    assert f"⚠ {INVENTED}. [1]" in answer.text and not answer.text.startswith("⚠")
    # Each citation quotes a span of a retrieved passage.
    for c in answer.citations:
        assert c.chunk_id in {h.chunk_id for h in answer.hits}
        assert c.passage[c.quote_start : c.quote_end] == c.quote
    data = answer.to_json()
    assert data["backend"] == "scripted" and data["removed_citations"] == 1
    assert [s["supported"] for s in data["sentences"]] == [True, False, False]
    assert set(data["sentences"][0]) >= {"text", "citations", "supported", "score"}


def test_citations_are_renumbered_in_order_and_point_to_the_cited_passage(indexed, scripted):
    probe = indexed.ask(QUESTION)
    cars, fish = _passage_of(probe, "13 millions"), _passage_of(probe, "thon")
    scripted(
        f"Les pêcheurs bretons protestent contre les quotas de thon [{fish}]. {SUPPORTED} [{cars}]. "
        f"Ils sont près de 13 millions [{cars}]."
    )
    answer = indexed.ask(QUESTION, backend="scripted")
    assert [s.citations for s in answer.sentences] == [(1,), (2,), (2,)]
    first, second = answer.citations
    assert "thon" in first.quote and "13 millions" in second.quote


def test_drop_mode_removes_unsupported_sentences_with_a_notice(indexed, scripted):
    scripted(f"{SUPPORTED} [1]. {INVENTED} [1].")
    pipeline = type(indexed)(indexed.settings.with_(unsupported="drop"), indexed.embedder)
    answer = pipeline.ask(QUESTION, backend="scripted")
    assert "Tesla" not in answer.text and "⚠" not in answer.text
    assert [s.dropped for s in answer.sentences] == [False, True]
    assert "1 generated sentence not supported" in answer.notice


def test_nothing_supported_falls_back_to_the_extractive_answer(indexed, scripted):
    scripted(f"{INVENTED} [1]. Elon Musk a acheté Renault en 1999 [2].")
    answer = indexed.ask(QUESTION, backend="scripted")
    assert answer.backend == "extractive"
    assert "no sentence of its answer is supported" in answer.notice
    assert "scripted" in answer.notice
    assert "Tesla" not in answer.text and "13 millions" in answer.text


def test_no_answer_from_the_model_is_an_abstention(indexed, scripted):
    scripted("NO_ANSWER")
    answer = indexed.ask(QUESTION, backend="scripted")
    assert answer.abstained and answer.backend == "scripted" and not answer.citations
    assert "ne contiennent pas" in answer.text
    assert answer.to_json()["closest"]


def test_the_reader_abstains_before_the_model_is_asked(indexed, scripted):
    llm = scripted(f"{INVENTED} [1].")
    answer = indexed.ask("Quel temps fera-t-il à Tokyo demain ?", backend="scripted")
    assert answer.abstained and not answer.citations and "ne contiennent pas" in answer.text
    assert llm.prompts == []  # no passage answers: the model is not asked to write from them
    assert "scripted" in answer.notice and "was not asked" in answer.notice


def test_the_model_reads_the_answering_passage_first(indexed, scripted):
    llm = scripted(f"{SUPPORTED} [1].")
    answer = indexed.ask(QUESTION, backend="scripted")
    assert "13 millions" in answer.hits[0].text  # the reader's best sentence is in passage [1]
    assert llm.prompts and llm.prompts[0].index("13 millions") < min(
        llm.prompts[0].find(h.text[:40]) for h in answer.hits[1:]
    )
    assert answer.sentences[0].supported and answer.backend == "scripted"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("", "returned an empty answer"),
        ("   ", "returned an empty answer"),
        (ConnectionError("[Errno 111] Connection refused"), "cannot reach the server"),
        (TimeoutError("timed out"), "no answer within"),
        (RuntimeError("model 'llama9' not found"), "does not know this model"),
    ],
)
def test_backend_failures_become_a_notice_and_the_extractive_answer(indexed, scripted, reply, expected):
    scripted(reply)
    answer = indexed.ask(QUESTION, backend="scripted")
    assert expected in answer.notice and answer.notice.startswith("scripted")
    assert "\n" not in answer.notice
    assert answer.backend == "extractive" and "13 millions" in answer.text


def test_a_slow_stream_stops_at_the_timeout(indexed, scripted):
    scripted(" ".join(["mot"] * 200), delay=0.05)
    pipeline = type(indexed)(indexed.settings.with_(llm_timeout=0.5), indexed.embedder)
    import time

    start = time.monotonic()
    answer = pipeline.ask(QUESTION, backend="scripted")
    assert time.monotonic() - start < 5
    assert "no answer within 0.5 s" in answer.notice and answer.backend == "extractive"


def test_stream_yields_checked_sentences_before_the_answer(indexed, scripted):
    scripted(f"{SUPPORTED} [1]. {INVENTED} [1].")
    events = list(indexed.ask_stream(QUESTION, backend="scripted"))
    *sentences, answer = events
    assert isinstance(answer, Answer) and all(isinstance(s, AnswerSentence) for s in sentences)
    assert tuple(sentences) == answer.sentences
    assert final_answer(iter(events)) is answer


def test_follow_up_sends_the_earlier_question_to_the_model(indexed, scripted):
    fake = scripted(f"{SUPPORTED} [1].")
    indexed.ask("Et en Europe ?", history=["Combien de personnes emploie le secteur automobile ?"], backend="scripted")
    prompt = fake.prompts[-1]
    assert "Earlier question in this conversation: Combien de personnes emploie" in prompt
    assert "Question: Et en Europe ?" in prompt and "[1] " in prompt and "NO_ANSWER" in prompt
    assert "in French" in prompt


def test_missing_extra_names_the_install_command(indexed, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def no_ollama(name, *args, **kwargs):
        return None if name.startswith("llama_index.llms.ollama") else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_ollama)
    pipeline = type(indexed)(indexed.settings.with_(llm="ollama", llm_model="llama3.2"), indexed.embedder)
    answer = pipeline.ask(QUESTION)
    assert 'pip install -e ".[ollama]"' in answer.notice and "13 millions" in answer.text


def test_unknown_backend_is_a_settings_error(indexed):
    from rag.errors import SettingsError

    with pytest.raises(SettingsError, match="valid: extractive, llamacpp, openai-like, ollama, mistral"):
        indexed.ask(QUESTION, backend="gpt5")


def test_the_cli_lists_the_backends_the_registry_has():
    """The CLI's --llm choices (rag.settings, so that --help needs no pipeline) are the registry's."""
    from rag.models.llm import backend_names
    from rag.settings import LLM_BACKENDS

    assert list(LLM_BACKENDS) == backend_names()


def test_extractive_answers_list_their_sentences(indexed):
    answer = indexed.ask(QUESTION)
    data = answer.to_json()
    assert data["backend"] == "extractive" and "notice" not in data
    assert [s["text"] for s in data["sentences"]] == [c.quote for c in answer.citations]
    assert all(s["supported"] for s in data["sentences"])


def test_the_guards_judge_reads_word_vectors_remembered_for_the_answer():
    """The judge reads word vectors across languages through the guards' memo: the memo must give
    them where the embedder does (without them the judge across languages is blind to words),
    and compute each passage's once for the whole answer."""
    from rag.answer.generative import _MemoEmbedder
    from tests.conftest import FakeEmbedder

    class WordsEmbedder(FakeEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.word_calls: list[list[str]] = []

        def word_vectors(self, texts, layer):
            self.word_calls.append(list(texts))
            return [(t.split(), [layer]) for t in texts]

    inner = WordsEmbedder()
    memo = _MemoEmbedder(inner)
    assert memo.word_vectors(["a b", "c"], 8) == [(["a", "b"], [8]), (["c"], [8])]
    assert memo.word_vectors(["c", "d e"], 8)[1] == (["d", "e"], [8])
    assert inner.word_calls == [["a b", "c"], ["d e"]]  # "c" was remembered
    memo.clear()
    memo.word_vectors(["c"], 8)
    assert inner.word_calls[-1] == ["c"]
    assert not hasattr(_MemoEmbedder(FakeEmbedder()), "word_vectors")  # the judge then reads none
