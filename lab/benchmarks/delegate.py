"""Benchmarks that live with their own part, run as they would be by hand:
serving (``manage.py bench_serving``) and the engine (``python -m videobert_engine bench``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_delegate(argv: list[str], *, timeout: float) -> dict:
    """Run ``argv`` from the repository root, echo its output, return its tail and exit status."""
    started = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(
        argv, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        try:
            for line in proc.stdout:
                sys.stdout.write(f"    {line}")
                lines.append(line.rstrip("\n"))
                if time.perf_counter() - started > timeout:
                    proc.kill()
                    lines.append(f"(stopped after {timeout:.0f} s)")
                    break
        finally:
            proc.wait()
    return {
        "command": " ".join(argv[1:] if argv[0] == sys.executable else argv),
        "figures": last_json_object(lines),
        "returncode": proc.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "output": lines[-40:],
    }


def last_json_object(lines: list[str]) -> dict | None:
    """The last output line that is a JSON object (how the engine bench reports with --json)."""
    for line in reversed(lines):
        if line.lstrip().startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def bench_serving(extra: list[str], *, timeout: float = 1800) -> dict:
    return run_delegate([sys.executable, "manage.py", "bench_serving", *extra], timeout=timeout)


def bench_embedding(device: str, extra: list[str], *, timeout: float = 1800) -> dict:
    argv = [sys.executable, "-m", "videobert_engine", "bench", "--device", device, "--json", *extra]
    return run_delegate(argv, timeout=timeout)
