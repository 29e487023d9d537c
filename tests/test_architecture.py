"""The architecture as a test: import contracts (pyproject.toml [tool.importlinter], README
"Architecture") hold and bite when broken, and every unit stays small enough to read at once."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).with_name("lint-imports"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Units over the limits, each with why it is better whole.
LONGER: dict[str, str] = {}


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT, "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_the_contracts_fail_when_broken(tmp_path: Path):
    """A low stage importing the pipeline, the web app reaching into a stage, the product importing
    the training scripts and a deferred cycle each break a contract."""
    for name in ("rag", "ui", "eval"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "corpus", "*.jsonl"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    breaches = {
        "rag/text/words.py": "from rag.pipeline import Pipeline",
        "ui/app.py": "from rag.index.store import ChunkStore",
        "rag/evaluate/metrics.py": "import eval.manifest",
        "rag/models/bundled.py": "def _late():\n    from rag.models import embedder",
    }
    for path, line in breaches.items():
        with (tmp_path / path).open("a", encoding="utf-8") as handle:
            handle.write(f"\n\n{line}\n")
    out = lint(tmp_path).stdout
    assert "rag's stages import only the stages below them BROKEN" in out
    assert "rag.text.words -> rag.pipeline" in out
    assert "the CLI and the web app reach the stages only through rag.pipeline BROKEN" in out
    assert "the product never imports the training and evaluation scripts BROKEN" in out
    assert "no import cycles, even deferred ones, among the modules of rag/ and ui/ BROKEN" in out


def _units() -> list[tuple[str, int]]:
    """Every module of rag/ and ui/ and every function in them, with its length in lines."""
    units = []
    for path in sorted([*(REPO / "rag").rglob("*.py"), *(REPO / "ui").rglob("*.py")]):
        name = path.relative_to(REPO).as_posix()
        source = path.read_text(encoding="utf-8")
        units.append((name, len(source.splitlines())))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                units.append((f"{name}::{node.name}", node.end_lineno - node.lineno + 1))  # decorators aside
    return units


@pytest.mark.parametrize("limit_kind", ["module", "function"])
def test_every_unit_reads_at_once(limit_kind: str):
    too_long = [
        f"{unit}: {lines} lines"
        for unit, lines in _units()
        if ("::" in unit) == (limit_kind == "function")
        and lines > (MAX_FUNCTION_LINES if "::" in unit else MAX_MODULE_LINES)
        and unit not in LONGER
    ]
    assert not too_long, "split these, or say in LONGER why they are better whole:\n" + "\n".join(too_long)
