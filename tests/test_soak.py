"""The soak run (eval.soak), bounded for CI: questions from ten concurrent API clients while
uploads and a `rag ingest` write to the same served index. Its memory figures are reported by
the script (README "Soak"), not asserted here: they need a quiet machine and a long run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_questions_uploads_and_a_cli_ingest_at_once_without_an_error(real_settings):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "eval.soak",
            "--json",
            "--questions=150",
            "--clients=10",
            "--warmup=2",
            "--articles=20",
            "--uploads=6",
            "--upload-every=0.5",
            "--cli-articles=8",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env={**os.environ, "RAG_MODEL_CACHE": str(real_settings.model_cache)},
    )
    result = json.loads(run.stdout)
    assert result["errors"] == [], run.stderr[-2000:]
    assert result["answered"] == 150
    assert result["uploads"] == {"added": 6, "unchanged": 2, "updated": 2}
    assert result["cli_ingest"] == {"added": 8, "updated": 0, "unchanged": 0, "failed": 0}
    assert result["documents"] == 1 + 20 + 6 + 8 + 1  # the seed, the start, uploads, CLI, warm-up
