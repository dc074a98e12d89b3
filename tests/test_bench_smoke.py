"""The benchmarks still run: tiny counts, no timing assertions (timed tests are not benchmarks)."""

from __future__ import annotations

import importlib
import pstats
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench(monkeypatch):
    """Import a module of bench/ (the folder is not a package: its scripts run from there)."""
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"confirms": True},
        {"confirms": True, "ack_every": 10, "prefetch": 20},
        {"size": 200_000, "batch": 3, "window": 7},  # bodies split over frames
    ],
)
def test_hotpath_delivers_and_acks_every_message_once(bench, options):
    hotpath = bench("hotpath")
    # run() itself fails on a gap, a duplicate or a redelivery, on a channel or
    # connection close, and when anything is left in the queue or comes back.
    result = hotpath.run(300, **options)
    assert (result.published, result.delivered, result.acked) == (300, 300, 300)
    assert result.confirmed == (300 if options.get("confirms") else 0)


def test_hotpath_script_prints_its_figures_and_writes_a_profile(tmp_path):
    profile = tmp_path / "hotpath.pstats"
    out = subprocess.run(
        [sys.executable, str(BENCH / "hotpath.py"), "--messages", "500"]
        + ["--profile-messages", "200", "--confirms", "--profile", str(profile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "msg/s" in out
    assert "calls/message" in out
    assert "every message delivered and acked once, confirmed once" in out
    assert pstats.Stats(str(profile)).total_calls > 0


def test_ratio_table(bench):
    harness = bench("harness")
    table = harness.Table()
    table.add("throughput (msg/s)", 30_000, 60_000, "rate")
    table.add("latency p99 (ms)", 2.5, None, "ms")
    table.add("RSS (MiB)", 40 * harness.MIB, 160 * harness.MIB, "mib", with_ratio=False)
    table.text("restart", "0.30 s", "not restarted")
    assert table.render().splitlines() == [
        "| metric | amqpd | RabbitMQ | amqpd / RabbitMQ |",
        "|---|---:|---:|---:|",
        "| throughput (msg/s) | 30,000 | 60,000 | 0.50x |",
        "| latency p99 (ms) | 2.50 | n/a |  |",
        "| RSS (MiB) | 40 | 160 |  |",
        "| restart | 0.30 s | not restarted |  |",
    ]


def test_amqp_bench_runs_against_amqpd_alone():
    """The harness end to end: an amqpd process, client processes, the scenario runner."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "amqp_bench.py"), "--reference", "none"]
        + ["--messages", "400", "--producers", "1", "--consumers", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 * 4  # the header, then four figures per scenario
    assert all("n/a" in row for row in rows[1:])  # no reference: its column is empty


def test_paging_bench_runs_every_kind_against_amqpd_alone():
    out = subprocess.run(
        [sys.executable, str(BENCH / "paging_bench.py"), "--reference", "none"]
        + ["--backlog", "3000", "--producers", "1", "--consumers", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| in-memory", "| transient", "| priority", "| limited",
    ]  # fmt: skip
    assert "left in the queue" not in out
