"""The ``amqpd`` command as users run it: a real subprocess (``python -m amqpd``).

Covers start-up errors (taken port, bad config), graceful shutdown on
SIGTERM/SIGINT, config files with extra users and vhosts, and the connection
log lines; data folders it refuses are in test_data_folder. Nothing here
depends on the reference RabbitMQ.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest
from pamqp import commands

from conformance.rawclient import RawClient
from tests.broker_process import AMQPD, EXIT_DEADLINE, HOST, START_DEADLINE, run_amqpd

SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class BrokerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_until_serving(self, interval: float) -> None:
        """Poll until the port accepts TCP connections; fail early if the broker exits."""
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=1.0).close()
                return
            except OSError:
                pass
            try:
                code = self.proc.wait(timeout=interval)  # doubles as the poll interval
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"amqpd exited with {code} before serving:\n{self.stderr()}")
        pytest.fail(f"amqpd did not accept connections within {START_DEADLINE} s")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=EXIT_DEADLINE)


@pytest.fixture
def start_broker(tmp_path):
    """Start amqpd on a free port of 127.0.0.1; every process is killed at teardown."""
    started: list[BrokerProcess] = []

    def start(*args: str, poll_interval: float = 0.01) -> BrokerProcess:
        port = free_port()
        stderr_path = tmp_path / f"amqpd-{len(started)}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [*AMQPD, "--bind", HOST, "--port", str(port), *args]
                + ["--data-dir", str(tmp_path / "data")],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        broker = BrokerProcess(proc, port, stderr_path)
        started.append(broker)
        broker.wait_until_serving(poll_interval)
        return broker

    yield start
    for broker in started:
        if broker.proc.poll() is None:
            broker.proc.kill()
            broker.proc.wait()


def test_version_prints_version_and_exits_0(tmp_path):
    result = run_amqpd(tmp_path, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"amqpd \d+\.\d+\.\d+\S*\n", result.stdout)


def test_taken_port_is_a_one_line_error_naming_port_and_flag(tmp_path):
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_amqpd(
            tmp_path, "--bind", HOST, "--port", str(port), "--data-dir", str(tmp_path / "d")
        )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0]
    assert "--port" in lines[0]


SIGNALS = pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)


@SIGNALS
def test_signal_closes_clients_with_320_then_exits_0(start_broker, signum):
    broker = start_broker()
    with RawClient(HOST, broker.port, timeout=EXIT_DEADLINE) as client:
        client.handshake()
        broker.proc.send_signal(signum)
        close = client.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (320, SHUTDOWN_TEXT)
    assert broker.proc.wait(timeout=EXIT_DEADLINE) == 0, broker.stderr()


@SIGNALS
def test_signal_as_soon_as_port_accepts_still_exits_0(start_broker, signum):
    # Regression: the port opened before the handlers were installed, so an early
    # SIGTERM killed the process (-15) and an early SIGINT raised KeyboardInterrupt.
    # Polling without pause signals as early as a client possibly could.
    broker = start_broker(poll_interval=0.0)
    assert broker.stop(signum) == 0, broker.stderr()


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        ("no_such_setting = 1\n", ["unknown setting", "'no_such_setting'"]),
        ('port = "abc"\n', ["'port'", "int", "str"]),
    ],
    ids=["unknown-key", "wrong-type"],
)
def test_bad_config_file_exits_2_with_one_line(tmp_path, toml, fragments):
    config = tmp_path / "amqpd.toml"
    config.write_text(toml)
    result = run_amqpd(
        tmp_path, "--config", str(config), "--port", "0", "--data-dir", str(tmp_path / "d")
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_config_file_users_and_vhosts(tmp_path, start_broker):
    config = tmp_path / "amqpd.toml"
    config.write_text('users = {app = "secret"}\nvhosts = ["/", "staging"]\n')
    broker = start_broker("--config", str(config))
    params = pika.ConnectionParameters(
        HOST, broker.port, "staging", pika.PlainCredentials("app", "secret")
    )
    connection = pika.BlockingConnection(params)
    try:
        assert connection.is_open
        assert connection.channel().is_open
    finally:
        connection.close()
    assert broker.stop() == 0, broker.stderr()


def test_info_log_has_one_line_for_connection_open_and_close(start_broker):
    broker = start_broker("--log-level", "info")
    with RawClient(HOST, broker.port) as client:
        client.handshake()
        host, port = client.sock.getsockname()[:2]
        # Like real clients (and as RabbitMQ expects) we drop the socket after close-ok.
        client.send(0, commands.Connection.Close(200, "bye", 0, 0))
        client.expect(commands.Connection.CloseOk)
    assert broker.stop() == 0
    peer = f"{host}:{port}"
    lines = [line for line in broker.stderr().splitlines() if f"connection {peer} " in line]
    opened = [line for line in lines if " opened" in line]
    closed = [line for line in lines if " closed" in line]
    assert len(opened) == 1, lines
    assert "user 'guest'" in opened[0] and "vhost '/'" in opened[0]
    assert len(closed) == 1, lines
    assert re.search(r"closed \(user 'guest'\): \S", closed[0]), closed[0]
    assert len(lines) == 2, lines
