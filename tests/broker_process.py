"""``amqpd`` as a subprocess, the way users run it (``python -m amqpd``).

``ProcessBroker`` starts it on a data folder (a fresh port each start, read
back from its log), kills it with SIGKILL or stops it with SIGTERM, and reads
what each start restored. ``run_amqpd`` runs it to completion, for start-ups
that must fail; ``assert_one_line_refusal`` checks how they fail.
``connection_parameters`` are pika's for a broker on 127.0.0.1.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pika

HOST = "127.0.0.1"
# The reference RabbitMQ may hold ports 15672 and 15692: ours take free ones.
AMQPD = (sys.executable, "-m", "amqpd", "--management-port", "0", "--prometheus-port", "0")
START_DEADLINE = 20.0  # seconds for the broker to start serving
EXIT_DEADLINE = 15.0  # seconds for the broker to exit after a signal or an error
LISTENING = re.compile(r"amqpd listening on \S+:(\d+)")
RESTORED = re.compile(
    r"store: restored (\d+) exchanges, (\d+) queues, (\d+) bindings, (\d+) messages, (\d+) delayed"
)


def connection_parameters(port: int) -> pika.ConnectionParameters:
    """pika's parameters for guest on 127.0.0.1:port: no heartbeats, one attempt,
    short timeouts (the broker may have just been killed)."""
    return pika.ConnectionParameters(
        HOST,
        port,
        "/",
        pika.PlainCredentials("guest", "guest"),
        heartbeat=0,
        connection_attempts=1,
        socket_timeout=5,
        stack_timeout=10,
        blocked_connection_timeout=10,
    )


class ProcessBroker:
    """``amqpd`` as a subprocess on one data folder; ``kill()`` is SIGKILL.

    Each start listens on a fresh port (``--port 0``, read back from the log
    line), so no port is ever raced for; its stderr goes to its own file.
    """

    def __init__(self, data_dir: Path, log_dir: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0
        self.log_path: Path | None = None

    def start(self) -> int:
        """Start and wait until it serves (after recovery); returns the port."""
        self.spawn()
        deadline = time.monotonic() + START_DEADLINE
        while True:
            found = LISTENING.search(self.log())
            if found:
                self.port = int(found.group(1))
                return self.port
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"amqpd exited with {self.proc.returncode} before serving:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"amqpd did not listen within {START_DEADLINE} s")
            time.sleep(0.01)

    def spawn(self) -> None:
        """Start the process without waiting for it."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"amqpd-{self.starts}.log"
        self.starts += 1
        with self.log_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [*AMQPD, "--bind", HOST, "--port", "0", "--data-dir", str(self.data_dir),
                 "--log-level", "info", *self.extra_args],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def restored(self) -> tuple[int, ...] | None:
        """(exchanges, queues, bindings, messages, delayed) from this start's log."""
        found = RESTORED.search(self.log())
        return tuple(int(n) for n in found.groups()) if found else None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.port = None

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.port = None
        return code


def run_amqpd(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``amqpd`` to completion, for invocations that must exit on their own."""
    return subprocess.run(
        [*AMQPD, *args], cwd=cwd, capture_output=True, text=True, timeout=EXIT_DEADLINE
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """amqpd failed with a single line on stderr, ``amqpd: ...``, naming each fragment."""
    assert result.returncode != 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("amqpd: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
