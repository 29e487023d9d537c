"""One typed settings object, read from RAG_* environment variables and overridden by options."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rag.errors import SettingsError

# The embedding model that ships inside a Python package (rag/models/bundled.py prepares it), and
# the prompts e5 was trained with.
BUNDLED_MODEL = "bundled:multilingual-e5-small"
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
# The answerers RAG_LLM names: the extractive one, then the LLM backends (rag/models/llm.py
# registers one for each; a test keeps the two in step). Here so that the CLI lists them without
# importing the pipeline.
JUDGES = ("embedded", "cross-encoder", "llm")  # rag/judge/registry.py
LLM_BACKENDS = ("extractive", "llamacpp", "openai-like", "ollama", "mistral", "replay")


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag"


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline. `Settings.from_env()` reads `RAG_<FIELD>` for each field."""

    index: Path = Path(".rag")
    # Chroma: embedded (persistent, under `index`) unless a server URL is given.
    chroma_url: str = ""
    collection: str = "chunks"
    # Embeddings: any sentence-transformers name or folder; the default is the bundled e5.
    embed_backend: str = "sentence-transformers"
    embed_model: str = BUNDLED_MODEL
    model_cache: Path = _default_cache()
    query_prefix: str = QUERY_PROMPT
    passage_prefix: str = PASSAGE_PROMPT
    embed_batch_size: int = 16
    # "auto": bf16 matrix products on a CPU that does them natively (AMX, AVX-512 BF16), else
    # float32; or force "float32" / "bfloat16".
    embed_dtype: str = "auto"
    # Chunking, in tokens of the splitter's tokenizer (e5 reads at most 512 of its own).
    chunk_size: int = 384
    chunk_overlap: int = 64
    # Retrieval: each retriever proposes `candidates` chunks; their min-max normalised scores
    # are mixed with `lexical_weight` for BM25 ("relative") or fused by rank ("rrf").
    # Chosen on PIAF (eval/piaf/README.md, README "Retrieval quality").
    top_k: int = 5
    candidates: int = 100
    fusion: str = "relative"
    lexical_weight: float = 0.4
    # A question's names (rag/text/names.py) found verbatim in a passage weigh this much beside
    # the dense and BM25 sides (1 - lexical_weight and lexical_weight), when the name is rare
    # enough to tell passages apart: in at most `candidates` chunks. 0 turns it off.
    name_weight: float = 0.4
    # A question naming a year or a month ("in 2016", "en mars 2018") searches the documents
    # dated then (rag/text/dates.py); off: only --since/--until narrow.
    dates_from_question: bool = True
    # Answering: "extractive" quotes passages (the default, needs no model); an LLM backend
    # ("llamacpp", "openai-like", "ollama", "mistral"; "replay" replays recorded answers, for
    # tests) writes the answer, and every sentence it writes is checked against the passage it
    # cites (rag/answer/generative.py).
    llm: str = "extractive"
    llm_model: str = ""  # a GGUF file for llamacpp, a model name for the servers, a JSONL file for replay
    llm_base_url: str = ""  # the server, e.g. http://localhost:8000/v1 (openai-like)
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 60.0  # seconds to wait for the server, for each request
    llm_max_tokens: int = 300
    llm_temperature: float = 0.1
    llm_context_window: int = 4096
    # What happens to a generated sentence its cited passages don't support: "mark" or "drop".
    unsupported: str = "mark"
    # Who judges faithfulness (guards and `rag eval`): "embedded" (no LLM; fitted on RAGTruth),
    # "cross-encoder" (a judge trained from a checkout by `python -m eval.judge.train_reader` into
    # `judge_dir`; measured worse, README "The judge") or "llm" (the RAG_LLM backend, `rag eval` only).
    judge: str = "embedded"
    judge_dir: Path = _default_cache() / "judge_reader"
    # Who picks the answer's sentences: "evidence" (the default: a logistic regression over a
    # fine-tuned e5's cosine, word and name overlap and answer type; its weights ship in
    # rag/weights/), "cosine" (the retrieval model's similarity, for any embedding model) or
    # "cross-encoder" (a reader trained from a checkout by `python -m eval.reader.train` into
    # `reader_dir`; its thresholds are calibrated with it, in reader.json). README "The reader"
    # has the measurements.
    reader: str = "evidence"
    reader_dir: Path = _default_cache() / "reader"
    max_answer_sentences: int = 3
    # The cosine reader's bar, calibrated on the PIAF suite: the best sentence must be at
    # least this close to the question, or the answerer abstains; lower by the margin across
    # languages.
    min_sentence_score: float = 0.845
    cross_lingual_margin: float = 0.03
    # Ingest limits. Each file is read in a worker process that is stopped after read_timeout
    # seconds or read_memory_mb of address space (rag/ingest/worker.py; 0 reads in this process).
    max_file_mb: float = 50.0
    read_timeout: float = 60.0
    read_memory_mb: int = 3072
    # Fetching web pages and feeds (rag ingest URL / --feed, the chat's Documents tab).
    fetch_timeout: float = 20.0  # seconds for each request
    fetch_max_mb: float = 10.0  # largest page or feed accepted
    fetch_max_redirects: int = 5
    fetch_max_items: int = 200  # articles read from one feed (the first ones it lists)
    # Whether the web app may fetch loopback, private and link-local addresses (the command
    # line always may: it runs as you, on your machine).
    allow_private_urls: bool = False
    # The evaluation suites `rag eval` runs when it is given none: the repository's, from its folder.
    suites_dir: Path = Path("eval/suites")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `RAG_*` variables, then explicit overrides (None means: not given)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw, cls.__dataclass_fields__[f.name].default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def validate(self) -> None:
        if self.top_k < 1:
            raise SettingsError(f"top_k must be at least 1 (got {self.top_k})")
        if self.chunk_overlap >= self.chunk_size:
            raise SettingsError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        if self.unsupported not in {"mark", "drop"}:
            raise SettingsError(f"unsupported must be 'mark' or 'drop' (got {self.unsupported!r})")
        if self.embed_dtype not in {"auto", "float32", "bfloat16"}:
            raise SettingsError(f"embed_dtype must be auto, float32 or bfloat16 (got {self.embed_dtype!r})")
        if self.reader not in {"cross-encoder", "cosine", "evidence"}:
            raise SettingsError(f"reader must be one of cosine, evidence, cross-encoder (got {self.reader!r})")
        if self.max_answer_sentences < 1:
            raise SettingsError(f"max_answer_sentences must be at least 1 (got {self.max_answer_sentences})")
        if self.llm_timeout <= 0:
            raise SettingsError(f"llm_timeout must be a positive number of seconds (got {self.llm_timeout})")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise SettingsError(f"lexical_weight must be between 0 and 1 (got {self.lexical_weight})")
        if not 0.0 <= self.name_weight <= 1.0:
            raise SettingsError(f"name_weight must be between 0 and 1 (got {self.name_weight})")


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise SettingsError(f"RAG_{name.upper()}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw
