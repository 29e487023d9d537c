"""The CPU a figure was measured on, for the scripts that print figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides fp32, bf16 or AMX here


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what platform says."""
    name = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "")
    return name or platform.processor() or "unknown"


def cpu_description() -> str:
    """'AMD EPYC (avx2; 2 cores)': the model name, the flags of note and the cores."""
    flags = next((line.split(":", 1)[1].split() for line in _cpuinfo() if line.startswith("flags")), [])
    notable = [flag for flag in NOTABLE_FLAGS if flag in flags]
    return f"{cpu_name()} ({', '.join(notable)}; {os.cpu_count()} cores)"
