"""The PIAF retrieval suite: its data is consistent, and hybrid search keeps its recall on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.pipeline import build_pipeline

SUITE = Path(__file__).resolve().parent.parent / "eval" / "piaf"


def _questions(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (SUITE / name).read_text(encoding="utf-8").splitlines()]


def test_suite_files_point_at_real_paragraphs():
    corpus = {p.name for p in (SUITE / "corpus").glob("*.md")}
    assert len(corpus) == 419
    for name in ("questions_fr.jsonl", "questions_en.jsonl"):
        questions = _questions(name)
        assert questions and all(q["doc"] in corpus and q["question"].strip() for q in questions)
    assert len(_questions("questions_fr.jsonl")) == 2116
    assert (SUITE / "LICENSE.piaf").exists()


@pytest.mark.slow
def test_hybrid_recall_at_5_on_a_piaf_sample(real_settings, tmp_path):
    """A fifth of the corpus (articles whose number ends in 0 or 5), every question about it."""
    files = sorted(p for p in (SUITE / "corpus").glob("*.md") if p.name[2] in "05")
    pipeline = build_pipeline(real_settings.with_(index=tmp_path / "piaf"))
    assert pipeline.ingest(files).ok
    names = {p.name for p in files}
    for suite, floor in (("questions_fr.jsonl", 0.90), ("questions_en.jsonl", 0.90)):
        questions = [q for q in _questions(suite) if q["doc"] in names]
        found = sum(
            q["doc"] in {Path(h.source).name for h in pipeline.search(q["question"], top_k=5)} for q in questions
        )
        assert len(questions) >= 20
        assert found / len(questions) >= floor, f"{suite}: recall@5 {found / len(questions):.3f}"
