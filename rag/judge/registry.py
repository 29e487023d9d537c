"""The judges, picked by name (RAG_JUDGE): the embedded judge (the default, no LLM), a trained
cross-encoder judge ("cross-encoder", weights trained from a checkout into RAG_JUDGE_DIR), or the
LLM judge ("llm"). The generative path's guards and `rag eval` use the same local judge."""

from __future__ import annotations

from rag.errors import SettingsError
from rag.judge.embedded import EmbeddedJudge, Judge
from rag.models.embedder import Embedder
from rag.settings import JUDGES, Settings


def local_judge(settings: Settings, embedder: Embedder) -> Judge:
    """The judge that needs no LLM: the embedded one, or the cross-encoder (RAG_JUDGE=cross-encoder)."""
    if settings.judge != "cross-encoder":
        return EmbeddedJudge(embedder)
    from rag.judge.trained import TrainedJudge
    from rag.models.bundled import bundled_model_dir

    return TrainedJudge(embedder, bundled_model_dir(settings.model_cache), settings.judge_dir)


def make_judge(settings: Settings, embedder: Embedder) -> Judge:
    """The judge `rag eval` uses: the local one, or the LLM judge over the RAG_LLM backend, which
    falls back on the local one for answers whose verdicts it cannot read."""
    if settings.judge not in JUDGES:
        raise SettingsError(f"Unknown judge {settings.judge!r} (RAG_JUDGE); valid: {', '.join(JUDGES)}")
    if settings.judge != "llm":
        return local_judge(settings, embedder)
    if settings.llm == "extractive":
        raise SettingsError("The LLM judge needs an LLM backend: set RAG_LLM (or --llm), see `rag ask --help`")
    from rag.judge.llm import LLMJudge
    from rag.models.llm import make_llm

    return LLMJudge(make_llm(settings), settings, local_judge(settings, embedder))
