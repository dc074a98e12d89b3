"""bench/management_bench.py still runs: a few queues, a short flow, no timing assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_management_bench_prints_each_phase():
    out = subprocess.run(
        [sys.executable, str(BENCH / "management_bench.py"), "--reference", "none"]
        + ["--queues", "20", "--rate", "200", "--seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for phase in ("unpolled", "polling /api/queues", "polling ?page=1&page_size=100"):
        assert f"| {phase}: latency p99 (ms) |" in out
    assert "| polling /api/queues: polls |" in out
