"""A GGUF model served by llama.cpp in a child process, restarted when it dies.

The `llamacpp` backend does not run the model inside our process: a native library that
crashes (a segfault in a build made for another CPU, an out-of-memory kill) would take `rag
serve` or the CLI down with it, with no notice and no answer. Instead the model runs in
`python -m llama_cpp.server` on a free loopback port, which we talk to as an OpenAI-compatible
server. When that process dies, the question being answered gets the extractive answer and a
one-line notice, and the next question starts a new process.

One server per GGUF file and context size is shared by everything in this process (the
answerer and the LLM judge), so a model is loaded once; servers are stopped at exit, and end
by themselves when their parent dies.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from rag.errors import RagError

MODEL_ALIAS = "local-gguf"
STARTUP_TIMEOUT = 180.0  # seconds for the model to load; a large GGUF file takes a while


class ServerError(RagError):
    """The model server could not start, or died; the text is a one-line notice."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The child runs llama_cpp.server with a watchdog thread that ends it once its parent is gone, so
# a killed `rag serve` leaves no orphan holding the model's memory. (Linux's PR_SET_PDEATHSIG
# would fire when the *thread* that started the child ends: a web server's worker threads do.)
_SERVE_WITH_WATCHDOG = """
import os, runpy, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def describe_exit(code: int) -> str:
    """ "crashed (SIGSEGV)" for a negative return code, "exited with status 1" otherwise."""
    if code < 0:
        try:
            return f"crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class LlamaServer:
    """`python -m llama_cpp.server` for one GGUF file, started on demand and again after it dies."""

    def __init__(self, model: Path, context_window: int, threads: int | None = None) -> None:
        self.model = model
        self.context_window = context_window
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = _free_port()  # kept across restarts, so clients keep their URL
        self.log = Path(tempfile.gettempdir()) / f"rag-llama-server-{os.getpid()}-{id(self):x}.log"
        self.restarts = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (the port stays the same across restarts)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def exit_code(self, wait: float = 0.0) -> int | None:
        """The process's return code once it has ended, else None. `wait`: how long to give a
        process that is dying (its sockets close before it can be reaped) to end."""
        if self.process is None:
            return None
        if wait:
            try:
                return self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                return None
        return self.process.poll()

    def ensure(self) -> str:
        """Start the server unless it runs; its URL. Raises ServerError when it cannot start."""
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                return self.url
            if self.process is not None:
                self.restarts += 1
            self._start()
            return self.url

    def _start(self) -> None:
        command = [sys.executable, "-c", _SERVE_WITH_WATCHDOG, "--model", str(self.model)]
        command += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--n_ctx", str(self.context_window), "--n_threads", str(self.threads), "--verbose", "False"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerError(f"could not load {self.model}: {self._last_log_line()} (is it a GGUF model file?)")
            try:
                urllib.request.urlopen(f"{self.url}/models", timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(
                        f"the model server did not start within {STARTUP_TIMEOUT:g} s (log: {self.log})"
                    ) from None
                time.sleep(0.2)

    def _last_log_line(self) -> str:
        try:
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else f"the server {describe_exit(self.exit_code() or 0)}"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# Children of this process, shared by every backend object that runs the same file: a
# process-wide registry because the thing it tracks (child processes) is process-wide.
_SERVERS: dict[tuple[Path, int], LlamaServer] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(model: Path, context_window: int) -> LlamaServer:
    """The shared server for this GGUF file and context size (not started until used)."""
    key = (model.resolve(), context_window)
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = LlamaServer(key[0], context_window)
        return _SERVERS[key]


@atexit.register
def stop_all() -> None:
    with _SERVERS_LOCK:
        for server in _SERVERS.values():
            server.stop()
