"""The shipped weights' manifest (rag/models/weights.py) and its recorder (eval/manifest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eval.manifest import check, record
from rag.errors import ModelError
from rag.models.weights import WEIGHTS_DIR, read_manifest, verified


def test_every_shipped_file_is_in_the_manifest_with_its_hash():
    listed = set(read_manifest())
    shipped = {p.relative_to(WEIGHTS_DIR).as_posix() for p in WEIGHTS_DIR.rglob("*") if p.is_file()}
    assert listed == shipped - {"manifest.json"}
    assert check() == []
    for entry in read_manifest().values():
        assert entry.command.startswith("python -m eval.") and entry.data and entry.date[:2] == "20"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, folder)
    return folder


def test_a_shipped_folder_loads_only_when_its_files_match(weights: Path):
    assert verified(weights / "reader_adapter", weights) == weights / "reader_adapter"
    with (weights / "decider_adapter" / "adapter.safetensors").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="do not match their hash in manifest.json: reinstall the package"):
        verified(weights / "decider_adapter", weights)
    (weights / "judge.json").unlink()
    with pytest.raises(ModelError, match=r"judge.json are missing: reinstall"):
        verified(weights / "judge.json", weights)


def test_a_file_outside_the_shipped_folder_is_not_checked(tmp_path: Path, weights: Path):
    other = tmp_path / "my-adapter"
    other.mkdir()
    assert verified(other, weights) == other


def test_an_unlisted_or_unreadable_manifest_is_a_clear_error(weights: Path):
    (weights / "extra.json").write_text("{}")
    with pytest.raises(ModelError, match="not listed in the weights manifest"):
        verified(weights / "extra.json", weights)
    (weights / "manifest.json").write_text("not json")
    with pytest.raises(ModelError, match="manifest .* cannot be read"):
        read_manifest(weights)


def test_record_enters_a_trained_file_and_ignores_a_trial_run(tmp_path: Path, weights: Path):
    (weights / "judge.json").write_text('{"retrained": true}\n')
    assert check(weights) == ["judge.json: hash differs from the manifest"]
    record(weights / "judge.json", "some data", command="python -m eval.judge.train", folder=weights)
    assert check(weights) == []
    entry = json.loads((weights / "manifest.json").read_text())["files"]["judge.json"]
    assert entry["command"] == "python -m eval.judge.train" and entry["data"] == "some data"
    before = (weights / "manifest.json").read_text()
    (tmp_path / "trial.json").write_text("{}")
    record(tmp_path / "trial.json", "trial", folder=weights)
    assert (weights / "manifest.json").read_text() == before


def test_each_loader_checks_its_shipped_weights(monkeypatch, weights: Path):
    """The evidence reader, its adapters and the judge load shipped files only through the manifest."""
    from rag.judge.embedded import EmbeddedJudge
    from rag.models import weights as module
    from rag.read.evidence import EvidenceModel

    monkeypatch.setattr(module, "WEIGHTS_DIR", weights.resolve())
    module._check.cache_clear()
    (weights / "judge.json").write_text((weights / "judge.json").read_text() + " ")
    with pytest.raises(ModelError, match="judge.json do not match their hash"):
        EmbeddedJudge(embedder=None, weights=weights / "judge.json")  # type: ignore[arg-type]
    assert EvidenceModel.read(weights / "evidence.json").answer_cosine > 0
    module._check.cache_clear()  # checked once per process: a new process would see the change
    (weights / "evidence.json").write_text((weights / "evidence.json").read_text() + "\n")
    with pytest.raises(ModelError, match="evidence.json do not match their hash in manifest.json"):
        EvidenceModel.read(weights / "evidence.json")
    module._check.cache_clear()


def test_the_confidence_model_is_checked_too(monkeypatch, weights: Path):
    from rag.answer.confidence import load_calibration
    from rag.models import weights as module

    monkeypatch.setattr(module, "WEIGHTS_DIR", weights.resolve())
    module._check.cache_clear()
    assert load_calibration(weights / "confidence.json") is not None
    module._check.cache_clear()
    (weights / "confidence.json").write_text((weights / "confidence.json").read_text() + " ")
    load_calibration.cache_clear()  # read once per process, like the hashes
    with pytest.raises(ModelError, match="confidence.json do not match their hash"):
        load_calibration(weights / "confidence.json")
    module._check.cache_clear()
