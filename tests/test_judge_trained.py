"""The cross-encoder judge (rag/judge/trained.py, RAG_JUDGE=cross-encoder): its claims, the
evidence it reads, its weights' check, and how it is picked. No weights ship (README "The judge"),
so the model itself is exercised by its training script, not here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rag.errors import ModelError, SettingsError
from rag.judge.embedded import EmbeddedJudge, JudgeCase
from rag.judge.registry import make_judge
from rag.judge.trained import EvidencePicker, checked_config, claims_of, pair_text
from rag.models.weights import file_sha256
from tests.conftest import FakeEmbedder


class WordTokenizer:
    """One token per word: enough to test the evidence window."""

    def __call__(self, texts: Any, add_special_tokens: bool = False) -> dict[str, Any]:
        if isinstance(texts, str):
            return {"input_ids": list(range(len(texts.split())))}
        return {"input_ids": [list(range(len(t.split()))) for t in texts]}

    def decode(self, ids: list[int]) -> str:
        return f"<{len(ids)} words>"


def test_claims_are_the_sentences_that_say_something_with_their_place_in_the_answer():
    answer = "Mistral AI raised 385 million euros [1]. 2. Yes. It is based in Paris [2]."
    claims = claims_of([JudgeCase("Is Mistral French?", ("p",), answer)])
    assert [c.text for c in claims] == [
        "Mistral AI raised 385 million euros.",
        "Is Mistral French? Yes.",  # a bare "yes" asserts what its question asks
        "It is based in Paris.",
    ]
    assert answer[slice(*claims[0].span)] == "Mistral AI raised 385 million euros [1]."
    assert answer[slice(*claims[2].span)] == "It is based in Paris [2]."


def test_short_passages_are_read_whole_and_long_ones_by_their_closest_sentences():
    picker = EvidencePicker(FakeEmbedder(), WordTokenizer(), max_length=40)
    short = ("Mistral AI is a French start-up. It raised money.",)
    assert picker.pick(["q"], ["Mistral raised money"], [short]) == [
        " ".join(short[0].split(". ", 1)).replace(" It", ". It")
    ]
    filler = " ".join(f"Sentence number {n} talks about the weather in spring." for n in range(8))
    long = (f"{filler} Microsoft invested 15 million euros in Mistral AI. {filler}",)
    [evidence] = picker.pick(["q"], ["Microsoft invested 15 million euros in Mistral AI"], [long])
    assert "Microsoft invested 15 million euros in Mistral AI." in evidence
    head = len(pair_text("q", "Microsoft invested 15 million euros in Mistral AI", "")[0].split()) + 1
    assert len(evidence.split()) <= 40 - 4 - head


def test_a_long_question_is_cut():
    picker = EvidencePicker(FakeEmbedder(), WordTokenizer())
    assert picker.cut_question("short question") == "short question"
    assert picker.cut_question("word " * 100) == "<48 words>"


def test_judges_are_picked_by_name(settings, tmp_path):
    assert isinstance(make_judge(settings, FakeEmbedder()), EmbeddedJudge)
    with pytest.raises(ModelError, match="RAG_JUDGE_DIR"):  # none trained there
        make_judge(settings.with_(judge="cross-encoder", judge_dir=tmp_path / "none"), FakeEmbedder())
    with pytest.raises(SettingsError, match="Unknown judge 'oracle'.*embedded, cross-encoder, llm"):
        make_judge(settings.with_(judge="oracle"), FakeEmbedder())


def test_damaged_or_missing_weights_are_refused(tmp_path):
    folder = tmp_path / "judge_reader"
    folder.mkdir()
    (folder / "judge.safetensors").write_bytes(b"weights")
    config = {"sha256": file_sha256(folder / "judge.safetensors"), "threshold": 0.6, "layers": 6, "max_length": 256}
    (folder / "judge.json").write_text(json.dumps(config), encoding="utf-8")
    assert checked_config(folder).threshold == 0.6
    with (folder / "judge.safetensors").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="do not match their hash"):
        checked_config(folder)
    (folder / "judge.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="judge.json cannot be read"):
        checked_config(folder)
