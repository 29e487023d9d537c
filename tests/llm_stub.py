"""A misbehaving LLM server for the failure tests: real HTTP, real client libraries, scripted faults.

The first path segment picks the fault, e.g. base URL http://127.0.0.1:PORT/notfound/v1:
  notfound      404 with OpenAI's "model does not exist" error (and Ollama's, on /api/chat)
  unauthorized  401 with OpenAI's "invalid API key" error
  hang          accepts the request and never answers (until the test ends)
  empty         a well-formed stream whose content is empty
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CHUNK = {"id": "stub", "object": "chat.completion.chunk", "created": 0, "model": "stub"}


class _Handler(BaseHTTPRequestHandler):
    server: LLMStub

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        fault = self.path.strip("/").split("/")[0]
        if fault == "notfound":
            if self.path.endswith("/api/chat"):  # Ollama
                self._json(404, {"error": 'model "nope" not found, try pulling it first'})
            else:
                error = {"message": "The model `nope` does not exist.", "type": "invalid_request_error"}
                self._json(404, {"error": {**error, "code": "model_not_found"}})
        elif fault == "unauthorized":
            error = {"message": "Incorrect API key provided.", "type": "invalid_request_error"}
            self._json(401, {"error": {**error, "code": "invalid_api_key"}})
        elif fault == "hang":
            self.server.stop.wait(60)
        elif fault == "empty":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for delta, finish in (({"role": "assistant", "content": ""}, None), ({}, "stop")):
                chunk = {**_CHUNK, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
        else:
            self._json(400, {"error": {"message": f"unknown fault {fault!r}"}})


class LLMStub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, fault: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{fault}"

    def __enter__(self) -> LLMStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        time.sleep(0.05)
        self.shutdown()
        self.server_close()
