"""The trained weights that ship with the package, in rag/weights/, and their manifest.

`rag/weights/manifest.json` lists every shipped file with its sha256 and where it came from:
the command that produced it, the data it was trained on and the date. `verified(name)` is the
one place a shipped file is checked against it before it loads; the training scripts (under
eval/, not part of the package) write their entries with `eval.manifest.record`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = "manifest.json"
REINSTALL = "reinstall the package (pip install --force-reinstall rag-news, or ./setup.sh in a checkout)"


@dataclass(frozen=True)
class WeightFile:
    """One shipped file: its path under rag/weights/, hash and provenance."""

    name: str
    sha256: str
    command: str
    data: str
    date: str


def weight_path(name: str) -> Path:
    """The shipped file or folder `name` in rag/weights/ (not checked: see `verified`)."""
    return WEIGHTS_DIR / name


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path = WEIGHTS_DIR) -> dict[str, WeightFile]:
    """The manifest's entries by name; a missing or unreadable manifest is a ModelError."""
    path = folder / MANIFEST
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["files"]
        return {
            name: WeightFile(name, str(e["sha256"]), str(e["command"]), str(e["data"]), str(e["date"]))
            for name, e in entries.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"The weights manifest {path} cannot be read ({exc}): {REINSTALL}") from exc


def verified(path: Path, folder: Path | None = None) -> Path:
    """`path` itself once its files match the manifest's hashes, when it is a shipped file or
    folder (under `folder`, by default rag/weights/); a file or folder elsewhere (a retrained
    adapter, a test's copy) is returned unchecked: its own loader checks what it can."""
    folder = (folder or WEIGHTS_DIR).resolve()
    try:
        relative = path.resolve().relative_to(folder)
    except ValueError:
        return path
    _check(relative.as_posix(), folder)
    return path


@functools.cache
def _check(name: str, folder: Path) -> None:
    """Hash every manifest entry that is `name` or lies under it, once per process."""
    entries = [e for e in read_manifest(folder).values() if e.name == name or e.name.startswith(name + "/")]
    if not entries:
        raise ModelError(f"{folder / name} is not listed in the weights manifest {folder / MANIFEST}: {REINSTALL}")
    for entry in entries:
        path = folder / entry.name
        if not path.is_file():
            raise ModelError(f"The shipped weights {path} are missing: {REINSTALL}")
        if file_sha256(path) != entry.sha256:
            raise ModelError(f"The shipped weights {path} do not match their hash in {MANIFEST}: {REINSTALL}")
