"""The web chat end to end: `rag serve` on the demo corpus, real headless Chromium, real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, REPO, SEED, proc_stat, serving

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "tests" / ".artifacts"
RAG = str(Path(sys.executable).with_name("rag"))


@pytest.fixture(scope="module")
def served_index(real_settings, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh index holding the demo corpus, and the environment that points at it."""
    index = tmp_path_factory.mktemp("served") / "index"
    env = {**os.environ, "RAG_INDEX": str(index), "RAG_MODEL_CACHE": str(real_settings.model_cache)}
    env["RAG_ALLOW_PRIVATE_URLS"] = "1"  # the test site is on 127.0.0.1 (refused by default: test_ui_documents.py)
    env.pop("RAG_AUTH", None)
    subprocess.run([RAG, "ingest", str(SEED)], env=env, check=True, capture_output=True)
    return index, env


@pytest.fixture(scope="module")
def server(served_index):
    with serving(*served_index) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (setup.sh and .ci/run do it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _ask(page, question: str) -> None:
    before = page.locator("#chat .message-row").count() if page.locator("#chat .message-row").count() else 0
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .message-row').length >= n + 2", arg=before, timeout=90_000
    )
    page.wait_for_function("() => !document.querySelector('#chat .pending, #chat .generating')", timeout=90_000)


def test_chat_citation_upload_in_a_real_browser(server, browser, tmp_path):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server)

    _ask(page, "why is the EU looking at Mistral?")
    page.locator("#sources mark").first.wait_for(timeout=90_000)
    answer = page.locator("#chat a.cite")
    assert answer.count() >= 1
    assert "Mistral" in page.locator("#chat").inner_text()

    # clicking [n] brings the highlighted passage into view
    last = answer.nth(answer.count() - 1)
    n = last.inner_text().strip("[]")
    last.click()
    target = page.locator(f"#src-{n}")
    page.wait_for_function(f"() => document.getElementById('src-{n}').classList.contains('active')")
    # ... highlighted (the mark is the sentence the answer quotes with that citation)
    quote = target.inner_text().removesuffix(f"[{n}]").strip()
    assert quote and f"{quote} [{n}]" in page.locator("#chat").inner_text()
    assert target.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "chat.png"))

    # upload a small file through the Documents tab, then ask about it
    article = tmp_path / "ostreiculture.txt"
    article.write_text(
        "date 2024-06-12 Les ostréiculteurs du bassin d'Arcachon ont perdu un tiers de leur production "
        "à cause de la chaleur de l'été. La région promet une aide de deux millions d'euros.\n",
        encoding="utf-8",
    )
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(article))
    expect(page.locator("#upload-results")).to_contain_text("added", timeout=90_000)
    expect(page.locator("#documents")).to_contain_text("ostreiculture.txt")
    page.screenshot(path=str(SCREENSHOTS / "documents.png"))

    page.get_by_role("tab", name="Chat").click()
    _ask(page, "How much aid did the region promise to the oyster farmers?")
    page.locator("#sources mark").first.wait_for(timeout=90_000)
    assert "ostreiculture.txt" in page.locator("#sources").inner_text()
    assert any("deux millions" in text for text in page.locator("#sources mark").all_inner_texts())
    page.close()


def test_serve_ingest_says_what_it_indexed_and_answers_from_it(real_settings, browser, tmp_path):
    """`rag serve --ingest` (what ./setup.sh runs) on an empty index: the page's line ends on
    what was indexed (both phases done), and a question is answered from it."""
    import shutil

    from playwright.sync_api import expect

    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder)
    for article in sorted((REPO / "corpus" / "wikinews" / "fr").glob("*.md"))[:40]:
        shutil.copy(article, folder)
    index = tmp_path / "index"
    env = {**os.environ, "RAG_INDEX": str(index), "RAG_MODEL_CACHE": str(real_settings.model_cache)}
    env.pop("RAG_AUTH", None)
    with serving(index, env, args=["--ingest", str(folder)]) as url:
        page = browser.new_page()
        page.goto(url)
        line = page.locator("#indexing")
        expect(line).to_contain_text(f"Indexed {folder}: 41 added, 0 updated, 0 unchanged, in ", timeout=300_000)
        _ask(page, "why is the EU looking at Mistral?")
        expect(page.locator("#chat a.cite").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "serve-ingest.png"))
        page.close()
    assert len(list(folder.iterdir())) == 41


def test_add_a_web_page_then_copy_a_cited_answer(server, browser, web_site):
    """The Documents tab adds a page by its link; the answer from it links to the page, and the
    copy button puts the answer with its citations on the clipboard as Markdown."""
    from playwright.sync_api import expect

    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(server)
    url = f"{web_site}/second_page.html"
    page.get_by_role("tab", name="Documents").click()
    page.locator("#url input, #url textarea").first.fill(url)
    page.locator("#add-page").click()
    expect(page.locator("#upload-results")).to_contain_text("added", timeout=90_000)
    expect(page.locator("#documents")).to_contain_text("Harbour city opens its first tidal power plant")

    page.get_by_role("tab", name="Chat").click()
    _ask(page, "How many homes can the new tidal plant supply?")
    page.locator("#sources mark").first.wait_for(timeout=90_000)
    assert "30,000 homes" in " ".join(page.locator("#sources mark").all_inner_texts())
    assert page.locator("#sources a.origin").first.get_attribute("href") == url
    assert "2021-03-02" in page.locator("#sources").inner_text()

    page.locator("#copy").click()
    page.wait_for_function("async () => (await navigator.clipboard.readText()).includes('[1]')", timeout=10_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "30,000 homes" in copied and f"(2021-03-02), <{url}>: «" in copied
    context.close()


def test_abstention_in_the_browser(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(server)
    _ask(page, "Who won the 2022 football world cup?")
    page.locator("#chat .abstained").wait_for(timeout=90_000)
    # The chat and the sources panel are two outputs of one update: the panel may render a moment later.
    expect(page.locator("#sources")).to_contain_text("closest passage", timeout=30_000)
    page.close()


def test_ask_endpoint_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    data = client.predict("why is the EU looking at Mistral?", api_name="/ask")
    assert set(data) >= {"question", "answer", "abstained", "citations"}
    assert data["abstained"] is False and "Mistral" in data["answer"]
    assert json.loads(json.dumps(data))  # plain JSON, like `rag ask --json`
    with pytest.raises(Exception, match="Type a question"):
        client.predict("", api_name="/ask")


def test_twenty_people_at_once(server):
    from gradio_client import Client

    questions = ["why is the EU looking at Mistral?", "Combien Microsoft a-t-il investi dans OpenAI ?"] * 10
    clients = [Client(server, verbose=False) for _ in questions]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda cq: cq[0].predict(cq[1], api_name="/ask"), zip(clients, questions, strict=True)))
    assert [r["question"] for r in results] == questions
    assert all(not r["abstained"] and r["citations"] for r in results)
    assert "13 milliards de dollars" in results[1]["answer"]
    urllib.request.urlopen(server, timeout=5)  # and the app is still up


def test_login_required_when_auth_is_set(served_index):
    from gradio_client import Client

    index, env = served_index
    with serving(index, {**env, "RAG_AUTH": "alice:s3cret"}) as url:
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises different errors across versions
            Client(url, verbose=False).predict("why is the EU looking at Mistral?", api_name="/ask")
        client = Client(url, auth=("alice", "s3cret"), verbose=False)
        assert client.predict("why is the EU looking at Mistral?", api_name="/ask")["abstained"] is False


def _require_llamacpp() -> None:
    from rag.models.llm import BACKENDS, installed

    if not all(installed(m) for m in BACKENDS["llamacpp"].modules):
        if os.environ.get("RAG_REQUIRE_LLM_TESTS") == "1":
            pytest.fail("the llamacpp extra is not installed, and RAG_REQUIRE_LLM_TESTS=1")
        pytest.skip("the llamacpp extra is not installed")


@pytest.mark.llm
def test_generated_answer_in_the_browser_is_checked(served_index, browser):
    """With RAG_LLM=llamacpp (the bundled SmolLM2-135M), whatever the model writes is shown checked:
    unsupported sentences marked, or the notice and the quoted answer."""
    _require_llamacpp()
    index, env = served_index
    with serving(index, {**env, "RAG_LLM": "llamacpp"}) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        _ask(page, "why is the EU looking at Mistral?")
        page.locator("#sources h4").first.wait_for(timeout=90_000)
        chat = page.locator("#chat")
        checked = chat.locator(".unsupported").count() + chat.locator(".notice").count()
        assert checked >= 1 or chat.locator("a.cite").count() >= 1
        fold = chat.locator("details summary")
        if fold.count():  # the rejected answer: each sentence shown as unsupported
            fold.first.click()
            assert chat.locator("details .unsupported").first.is_visible()
        page.screenshot(path=str(SCREENSHOTS / "chat-llm.png"))
        # Back to the extractive answerer from the menu: quotes, no notice.
        page.locator("#backend input").click()
        page.get_by_role("option", name="extractive").click()
        _ask(page, "Pourquoi la Commission européenne s'intéresse-t-elle à Mistral AI ?")
        last = chat.locator(".message-row").last
        last.locator("a.cite").first.wait_for(timeout=90_000)
        assert last.locator(".notice").count() == 0 and last.locator(".unsupported").count() == 0
        page.close()


def _model_process(parent: int) -> int:
    """The llama.cpp server process that `rag serve` (pid `parent`) runs for the llamacpp backend."""
    for folder in Path("/proc").glob("[0-9]*"):
        fields = proc_stat(int(folder.name))
        if fields is None or int(fields[1]) != parent:
            continue
        try:
            if b"llama_cpp.server" in (folder / "cmdline").read_bytes():
                return int(folder.name)
        except OSError:
            continue
    raise AssertionError(f"rag serve ({parent}) runs no llama.cpp server")


def _cpu_ticks(pid: int) -> int:
    fields = proc_stat(pid)
    assert fields is not None, f"process {pid} is gone"
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.llm
def test_model_process_crash_does_not_take_the_app_down(served_index):
    """The llama.cpp process dies with SIGSEGV while the app is answering with it: that answer
    comes back with a notice and the quoted answer, and `rag serve` goes on answering with a new
    model process."""
    from gradio_client import Client

    _require_llamacpp()
    index, env = served_index
    pids: list[int] = []
    with serving(index, {**env, "RAG_LLM": "llamacpp"}, pids) as url:
        client = Client(url, verbose=False)
        first = client.predict("why is the EU looking at Mistral?", api_name="/ask")
        assert first.get("fallback") != "failed", first.get("notice")
        model = _model_process(pids[0])
        idle = _cpu_ticks(model)
        job = client.submit("Pourquoi la Commission européenne s'intéresse-t-elle à Mistral AI ?", api_name="/ask")
        deadline = time.monotonic() + 60
        while _cpu_ticks(model) < idle + 3:  # the model is reading the passages
            assert time.monotonic() < deadline, "the model process never started working"
            time.sleep(0.01)
        os.kill(model, 11)  # SIGSEGV
        crashed = job.result(timeout=120)
        assert crashed["fallback"] == "failed" and "crashed (SIGSEGV)" in crashed["notice"]
        assert crashed["backend"] == "extractive" and crashed["citations"]
        after = client.predict("How much has Microsoft invested in OpenAI?", api_name="/ask")
        assert after.get("fallback") != "failed", after.get("notice")
        assert _model_process(pids[0]) != model
        urllib.request.urlopen(url, timeout=5)


def test_a_follow_up_keeps_its_subject_and_a_new_question_does_not(served_index, server, browser, tmp_path):
    """The issue's case: after a question on the EastMed pipeline, "How much will it cost?" reads
    on EastMed, and "Combien d'argent Mistral AI a-t-elle levé ?" reads on Mistral AI: the sources
    panel shows the passages of the question asked, not the previous subject's."""
    from playwright.sync_api import expect

    eastmed = tmp_path / "eastmed.txt"
    eastmed.write_text(  # in English: the other tests' uploads hold an English article on a project's cost
        "date 2020-01-02 The EastMed pipeline will link Israel, Cyprus and Greece\n\n"
        "Greece, Cyprus and Israel signed the agreement on the EastMed gas pipeline, 1,900 kilometres long. "
        "The pipeline will cost about 6 billion euros and is due to be finished in 2025.\n"
    )
    _, env = served_index
    subprocess.run([RAG, "ingest", str(eastmed)], env=env, check=True, capture_output=True)
    page = browser.new_page()
    page.goto(server)
    _ask(page, "What is the EastMed pipeline?")
    expect(page.locator("#sources")).to_contain_text("EastMed", timeout=30_000)
    _ask(page, "Combien d'argent Mistral AI a-t-elle levé ?")
    expect(page.locator("#sources")).to_contain_text("Mistral AI", timeout=30_000)
    sources = page.locator("#sources").inner_text()
    assert "EastMed" not in sources.split("Mistral AI")[0], sources  # the seed's passages come first
    _ask(page, "What is the EastMed pipeline?")
    _ask(page, "How much will it cost?")
    expect(page.locator("#chat .message-row").last).to_contain_text("6 billion", timeout=30_000)
    expect(page.locator("#sources")).to_contain_text("EastMed", timeout=30_000)
    page.close()


def test_a_hedged_answer_looks_different_from_an_answer(server, browser):
    """The seed says that the UK and the US look at Microsoft and OpenAI too, not which countries
    "look into the relationship": the reader quotes its closest sentence, and the confidence
    model (about 0.59 against its bar of 0.69 here) hedges it: the chat says so before the quote
    and sets the quote apart. A sure answer has neither."""
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(server)
    _ask(page, "Which other countries are looking into the relationship between Microsoft and OpenAI?")
    last = page.locator("#chat .message-row").last
    expect(last.locator(".hedge")).to_contain_text("may not answer this directly", timeout=30_000)
    expect(last.locator(".hedged")).to_be_visible()
    expect(last).to_contain_text("Confidence")
    _ask(page, "How much has Microsoft invested in OpenAI?")
    last = page.locator("#chat .message-row").last
    expect(last).to_contain_text("13 milliards", timeout=30_000)
    assert last.locator(".hedge").count() == 0 and last.locator(".hedged").count() == 0
    page.close()
