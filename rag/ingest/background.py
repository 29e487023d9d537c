"""An ingest that runs behind a serving chat: `rag serve --ingest corpus/`.

The set-up script serves the chat as soon as the seed article is indexed, and indexes the rest
of corpus/ here, in the server's own process (one model in memory, and each batch answerable as
soon as it is stored). `BackgroundIngest` runs the ordinary ingest in a thread, in two phases:
the passages first, without the reader's sentence vectors (half the work: every article is
searchable twice as soon), then those vectors (`Pipeline.prepare_reader`; until a document has
them, a question about it embeds the sentences it reads). It keeps where it is, for the page's
line ("Indexing corpus/: 412 of 1,142 files, about 2 min left") and the terminal's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.types import IngestReport

Progress = Callable[[str, int, int], None]
IngestFunction = Callable[[list[Path], Progress], IngestReport]
"""ingest(paths, progress) -> report: the pipeline's ingest, the reader's vectors deferred."""
PrepareFunction = Callable[[Progress], int]
"""prepare(progress) -> documents: the reader's sentence vectors of what the ingest stored."""


@dataclass(frozen=True)
class IngestState:
    """Where a background ingest is: files read of all (then, in the reader phase, documents
    whose sentences are embedded), seconds since it started, once the passages are stored the
    report, and once it has all ended `finished` (or the error that stopped it)."""

    label: str
    done: int
    total: int
    elapsed: float
    report: IngestReport | None = None
    error: str = ""
    finished: bool = False
    phase_started: float = 0.0  # `elapsed` when the reader's phase began

    @property
    def running(self) -> bool:
        return not self.finished and not self.error

    def seconds_left(self) -> float | None:
        """A guess at the current phase's time left, from its pace so far (None until a tenth
        of its files or documents, or 20, are done)."""
        if not self.running or not self.total or self.done < min(20, max(1, self.total // 10)):
            return None
        spent = self.elapsed - (self.phase_started if self.report is not None else 0.0)
        return spent / self.done * (self.total - self.done)

    def describe(self) -> str:
        if self.error:
            return f"Indexing {self.label} stopped: {self.error}"
        if self.report is not None:
            r = self.report
            parts = [f"{len(r.added):,} added", f"{len(r.updated):,} updated", f"{len(r.unchanged):,} unchanged"]
            if r.failed:
                parts.append(f"{len(r.failed):,} failed (`rag ingest {self.label}` lists why)")
            line = f"Indexed {self.label}: {', '.join(parts)}"
            if self.finished:
                return f"{line}, in {duration(self.elapsed)}."
            left = self.seconds_left()
            return (
                f"{line}. Now embedding their sentences for the reader ({self.done:,} of {self.total:,} documents"
                + (f", about {duration(left)} left" if left is not None else "")
                + "); until then an answer about them takes a second longer."
            )
        line = f"Indexing {self.label}: {self.done:,} of {self.total:,} files"
        left = self.seconds_left()
        line += f", about {duration(left)} left" if left is not None else ", starting"
        return line + ". What is indexed can be asked about already."


def duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 05 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class BackgroundIngest:
    """One ingest of `paths` in a daemon thread, holding `lock` (the Documents tab's write lock,
    so that an upload waits for it rather than interleaving)."""

    def __init__(
        self,
        ingest: IngestFunction,
        paths: Sequence[Path],
        lock: threading.Lock | None = None,
        label: str = "",
        prepare: PrepareFunction | None = None,
    ) -> None:
        self._ingest = ingest
        self._prepare = prepare
        self.paths = list(paths)
        self.label = label or " ".join(str(p) for p in self.paths)
        self._lock = lock or threading.Lock()
        self._state = IngestState(self.label, 0, 0, 0.0)
        self._started = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundIngest:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="background-ingest", daemon=True)
        self._thread.start()
        return self

    def state(self) -> IngestState:
        state = self._state
        if state.running and self._started:
            return replace(state, elapsed=time.monotonic() - self._started)
        return state

    def wait(self, timeout: float | None = None) -> IngestState:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state()

    def _progress(self, stage: str, done: int, total: int) -> None:
        if stage in ("reading", "reader"):
            self._state = replace(self._state, done=done, total=total, elapsed=time.monotonic() - self._started)

    def _run(self) -> None:
        try:
            with self._lock:
                report = self._ingest(self.paths, self._progress)
                took = time.monotonic() - self._started
                self._state = replace(self._state, done=0, total=0, report=report, elapsed=took, phase_started=took)
                if self._prepare is not None:
                    self._prepare(self._progress)
        except Exception as exc:  # noqa: BLE001 - the chat goes on; the tab and the terminal say why
            self._state = replace(
                self._state, elapsed=time.monotonic() - self._started, error=f"{type(exc).__name__}: {exc}"
            )
            return
        self._state = replace(self._state, elapsed=time.monotonic() - self._started, finished=True)
