"""Record what a training script wrote into rag/weights/manifest.json (hash, command, data, date).

    .venv/bin/python -m eval.manifest            # check every entry's hash against its file

Training scripts call `record(path, data)` after they write a shipped file; the package reads
the manifest with `rag.models.weights.verified` before it loads the file.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
from pathlib import Path

from rag.models.weights import MANIFEST, WEIGHTS_DIR, file_sha256, read_manifest


def record(path: Path, data: str, command: str | None = None, folder: Path = WEIGHTS_DIR) -> None:
    """Enter `path` (a file, or every file of a folder) in the manifest with its hash, the
    command that produced it (this process's, by default), the data and today's date. A path
    outside `folder` (a trial run's output) is not shipped: nothing is recorded."""
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {"files": {}}
    command = command or "python -m " + shlex.join([_module_name(), *sys.argv[1:]])
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        manifest["files"][file.resolve().relative_to(folder).as_posix()] = {
            "sha256": file_sha256(file),
            "command": command,
            "data": data,
            "date": dt.date.today().isoformat(),
        }
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def check(folder: Path = WEIGHTS_DIR) -> list[str]:
    """The manifest entries whose file is missing or has another hash."""
    problems = []
    for entry in read_manifest(folder).values():
        path = folder / entry.name
        if not path.is_file():
            problems.append(f"{entry.name}: missing")
        elif file_sha256(path) != entry.sha256:
            problems.append(f"{entry.name}: hash differs from the manifest")
    return problems


if __name__ == "__main__":
    found = check()
    print("\n".join(found) or f"every file in {WEIGHTS_DIR / MANIFEST} matches its hash")
    sys.exit(1 if found else 0)
