"""Reading untrusted files in a worker process, under a time and a memory limit.

A file that makes a parser loop, recurse without end or swell (a PDF with a broken
cross-reference table, HTML nested 100,000 deep, a zip bomb inside a .docx) cannot be stopped
from inside the process that parses it: Python cannot interrupt lxml or pypdf, and running out
of memory there can take the whole ingest down. So each file is read and chunked in a worker
process (`python -m rag.ingest.worker`) whose address space is capped, and which is killed and
replaced when a file takes too long. The file then fails with a one-line reason and the ingest
carries on.

The worker is a plain subprocess speaking length-prefixed pickles over its stdin and stdout,
not a multiprocessing pool: those start their workers by importing the parent's main script
again, which breaks any script that calls the pipeline without an `if __name__ == "__main__"`
guard.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rag.errors import DocumentError
from rag.ingest.chunking import chunk_document
from rag.ingest.formats import Origin, read_document

if TYPE_CHECKING:
    from rag.types import Chunk, Document

_HEADER = struct.Struct("!Q")
_READY = ("ready", None)  # what a worker says once it has imported and warmed up the readers
_START_SECONDS = 120.0


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read: seconds of wall time and megabytes of address space
    (0 for either reads in this process, unguarded)."""

    seconds: float = 60.0
    memory_mb: int = 3072


def read_and_chunk(
    path: Path, data: bytes, doc_id: str, digest: str, chunk_size: int, overlap: int, origin: Origin | None = None
) -> tuple[Document, list[Chunk]]:
    """A file's (or a fetched page's) document and its chunks (what the worker runs)."""
    document = read_document(path, data, doc_id, digest, origin)
    return document, chunk_document(document, chunk_size, overlap)


def read_isolated(
    limits: Limits,
    path: Path,
    data: bytes,
    doc_id: str,
    digest: str,
    chunk_size: int,
    overlap: int,
    origin: Origin | None = None,
) -> tuple[Document, list[Chunk]]:
    """read_and_chunk in the worker, or a DocumentError that says what went wrong."""
    args = (path, data, doc_id, digest, chunk_size, overlap, origin)
    if not limits.seconds or not limits.memory_mb:
        return read_and_chunk(*args)
    return _worker(limits.memory_mb).run(args, limits.seconds)


class _Worker:
    """One worker process, started on first use (a few seconds) and kept for the process's
    life, so that ingesting again does not pay the start-up again. One file at a time."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def run(self, args: tuple[Any, ...], seconds: float) -> tuple[Document, list[Chunk]]:
        with self._lock:
            proc = self._running()
            assert proc.stdin is not None and proc.stdout is not None
            try:  # the file's time starts now, the worker being up: its start-up is not the file's cost
                _send(proc.stdin, args)
                kind, value = _receive(proc.stdout, time.monotonic() + seconds)
            except TimeoutError:
                self.stop()
                raise DocumentError(
                    f"reading it took longer than {seconds:.0f} s, so it was stopped: the file may be "
                    "malformed; convert or split it (or raise RAG_READ_TIMEOUT)"
                ) from None
            except (EOFError, OSError):
                code = self.stop()
                raise DocumentError(
                    f"the reader process died on it (exit status {code}): the file may be malformed; "
                    "convert it to another format"
                ) from None
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "memory":
            raise DocumentError(
                f"reading it needed more than {self.memory_mb} MB of memory, so it was stopped: the file "
                "may be malformed or a decompression bomb; convert or split it (or raise RAG_READ_MEMORY_MB)"
            )
        if kind == "document":
            raise DocumentError(str(value))
        raise DocumentError(f"could not be read ({value})")

    def _running(self) -> subprocess.Popen[bytes]:
        """The worker, started (and waited for until it says it is ready) if there is none."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "rag.ingest.worker", str(self.memory_mb)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # parsers' warnings are not the user's business
                env={**os.environ, "PYTHONPATH": _import_path()},
            )
            assert self._proc.stdout is not None
            try:
                # Importing the readers and splitters takes seconds, more on a slow or busy machine.
                if _receive(self._proc.stdout, time.monotonic() + _START_SECONDS) != _READY:
                    raise EOFError
            except (TimeoutError, EOFError, OSError):
                code = self.stop()
                raise DocumentError(
                    f"the reader process did not start (exit status {code}): check that this Python "
                    "can run `python -m rag.ingest.worker`, or set RAG_READ_TIMEOUT=0 to read in-process"
                ) from None
        return self._proc

    def stop(self) -> int | None:
        """Kill the worker (the next file starts a new one); its exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        return code


def _import_path() -> str:
    """Where the worker finds this package, wherever the parent was started from."""
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH", "")
    return f"{here}{os.pathsep}{rest}" if rest else here


def _send(stream: IO[bytes], value: Any) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream: IO[bytes], deadline: float) -> Any:
    """One message, waiting at most until `deadline` (TimeoutError), or EOFError if the other
    side is gone."""
    fd = stream.fileno()
    ready = select.poll()  # not select(): it fails on descriptors past 1,023 (a busy server has them)
    ready.register(fd, select.POLLIN)
    buffer = bytearray()
    needed = _HEADER.size
    header_read = False
    while True:
        while len(buffer) < needed:
            remaining = None if deadline == float("inf") else deadline - time.monotonic()
            if remaining is not None and (remaining <= 0 or not ready.poll(remaining * 1000)):
                raise TimeoutError
            chunk = os.read(fd, max(65536, needed - len(buffer)))
            if not chunk:
                raise EOFError
            buffer += chunk
        if header_read:
            return pickle.loads(bytes(buffer[_HEADER.size : needed]))
        needed += _HEADER.unpack(bytes(buffer[: _HEADER.size]))[0]
        header_read = True


_WORKERS: dict[int, _Worker] = {}
_WORKERS_LOCK = threading.Lock()


def _worker(memory_mb: int) -> _Worker:
    with _WORKERS_LOCK:
        return _WORKERS.setdefault(memory_mb, _Worker(memory_mb))


@atexit.register
def _stop_workers() -> None:
    with _WORKERS_LOCK:
        for worker in _WORKERS.values():
            worker.stop()


def _serve(memory_mb: int) -> None:
    """The worker's loop: read a request, answer ("ok", result), ("document", reason),
    ("memory", "") or ("failed", what happened), until stdin closes."""
    import resource

    limit = memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints must not write into the replies
    # Warm up before saying ready: the first read imports llama-index's splitters (seconds on a
    # slow machine), which is the worker's cost, not the first file's.
    read_and_chunk(Path("warm-up.txt"), "Warm-up. Échauffement.".encode(), "warm-up", "", 384, 64)
    _send(replies, _READY)
    while True:
        try:
            args = _receive(requests, float("inf"))
        except EOFError:
            return
        reply: tuple[str, Any]
        try:
            reply = ("ok", read_and_chunk(*args))
        except DocumentError as exc:
            reply = ("document", str(exc))
        except MemoryError:
            reply = ("memory", "")
        except RecursionError:
            reply = ("document", "the file is nested too deeply to be read: convert it to plain text")
        except Exception as exc:  # a parser bug: the file fails, the worker carries on
            reply = ("failed", f"{type(exc).__name__}: {exc}")
        try:
            _send(replies, reply)
        except MemoryError:
            _send(replies, ("memory", ""))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
