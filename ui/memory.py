"""Memory freed by answers, handed back to the system while the page serves."""

from __future__ import annotations

import threading


class MemoryTrimmer:
    """Hands the memory freed by answers back to the system (glibc's malloc_trim), at most every
    `every_s` seconds. Concurrent answers leave freed buffers in each thread's malloc arena, which
    glibc keeps until asked, so a served page's resident memory grows with every burst of
    questions (eval/soak.py measures the served app; docs/decisions.md has the figures)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        import ctypes
        import time

        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every_s:
                return
            self._last = now
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing to do
            pass


release_memory = MemoryTrimmer(every_s=2.0)
