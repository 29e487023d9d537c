"""A new user's first run, timed: `./setup.sh` in a fresh clone, with empty caches.

    .venv/bin/python -m eval.first_run [--keep-caches] [--port 7861]

Clones this repository's HEAD into a temporary folder and runs its `./setup.sh` there under a
terminal (`script`), with HOME pointed at an empty folder so that nothing is reused: no pip
cache, no prepared model, no llama.cpp wheel (`--keep-caches` keeps yours). Debian's Chromium is
not removed: if it is installed, that step takes no time. Then it times, from the start:

- each step line the set-up prints;
- the first answer in the browser's API: the README's first question through `/ask`, asked
  every few seconds from the moment the chat serves;
- the rest of corpus/ indexed (the server's "Indexed corpus..." lines: passages stored, then the
  reader's sentence vectors);
- the background install's end (Chromium, the llama.cpp build, the LLM extras).

It prints a timeline and stops the server. Run it on an otherwise idle machine: it reads wall
time. Say the CPU (it prints /proc/cpuinfo's model name and flags of note).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from eval.machine import cpu_description

REPO = Path(__file__).resolve().parents[1]
QUESTION = "why is the EU looking at Mistral?"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colours and line clearing
STEP = re.compile(r"✓ (.+?)\s+(\d+) s$")
EVENTS = {
    "chat serving": re.compile(r"^Serving "),
    "passages of corpus/ stored": re.compile(r"^Indexed corpus.*Now embedding"),
    "corpus/ indexed, reader's vectors included": re.compile(r"^Indexed corpus.*, in "),
    "background install done": re.compile(r"^Test tools and LLM backends installed"),
    "background install failed": re.compile(r"^The background install of the test tools failed"),
}


def answered(port: int) -> bool:
    try:
        from gradio_client import Client

        result = Client(f"http://127.0.0.1:{port}", verbose=False).predict(QUESTION, api_name="/ask")
    except Exception:  # noqa: BLE001 - not serving yet
        return False
    return "[1]" in str(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-caches", action="store_true", help="reuse your pip cache, model and llama.cpp wheel")
    parser.add_argument("--port", type=int, default=7861, help="the chat's port for this run (default 7861)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory() as tmp:
        clone, home, log = Path(tmp) / "rag-news", Path(tmp) / "home", Path(tmp) / "terminal.log"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        home.mkdir()
        env = {**os.environ, "RAG_PORT": str(args.port)}
        if not args.keep_caches:
            env["HOME"] = str(home)
        started = time.monotonic()
        proc = subprocess.Popen(
            ["script", "-qfec", "./setup.sh", str(log)],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        seen: dict[str, float] = {}
        try:
            while time.monotonic() - started < args.timeout and proc.poll() is None:
                text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
                for line in text.replace("\r", "\n").splitlines():
                    line = ANSI.sub("", line).strip()
                    step = STEP.search(line)
                    if step and f"step: {step.group(1)}" not in seen:
                        seen[f"step: {step.group(1)}"] = time.monotonic() - started
                        print(f"{seen[f'step: {step.group(1)}']:7.0f} s  {line}", flush=True)
                    for name, pattern in EVENTS.items():
                        if name not in seen and pattern.search(line):
                            seen[name] = time.monotonic() - started
                            print(f"{seen[name]:7.0f} s  {name}: {line[:110]}", flush=True)
                if "chat serving" in seen and "first answer in the browser" not in seen and answered(args.port):
                    seen["first answer in the browser"] = time.monotonic() - started
                    print(f"{seen['first answer in the browser']:7.0f} s  first answer in the browser", flush=True)
                if "corpus/ indexed, reader's vectors included" in seen and (
                    "background install done" in seen or "background install failed" in seen
                ):
                    break
                time.sleep(3)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            subprocess.run(["pkill", "-f", str(clone)], check=False)
    print("timeline (seconds from ./setup.sh):")
    for name, seconds in seen.items():
        print(f"  {name:<45} {seconds:7.0f}")


if __name__ == "__main__":
    main()
