"""Start-up as tools see it: "Server startup complete" once every listener is up, one
summary line, recovery progress for a large store, and the Prometheus port's flag."""

from __future__ import annotations

import logging
import re
import socket
import time

import pika

from amqpd.model import recovery
from amqpd.model.broker import Broker
from amqpd.model.journal import Journal
from amqpd.server.startup import RecoveryProgress
from tests.broker_process import (
    HOST,
    START_DEADLINE,
    ProcessBroker,
    assert_one_line_refusal,
    connection_parameters,
    run_amqpd,
)
from tests.model_world import World, declare, send

SUMMARY = re.compile(
    r"Server startup complete\n.*listening on amqp \S+:(\d+), management \S+:(\d+), "
    r"prometheus \S+:(\d+); data folder (.+); recovered (\d+) exchanges, (\d+) queues, "
    r"(\d+) messages in [\d.]+ s"
)


def wait_for_summary(broker: ProcessBroker) -> re.Match:
    deadline = time.monotonic() + START_DEADLINE
    while (found := SUMMARY.search(broker.log())) is None:
        assert broker.proc.poll() is None, broker.log()
        assert time.monotonic() < deadline, broker.log()
        time.sleep(0.01)  # the log is written by another process
    return found


def test_startup_complete_names_listeners_folder_and_what_was_recovered(tmp_path):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    port = broker.start()
    try:
        first = wait_for_summary(broker)
        assert int(first.group(1)) == port
        assert first.group(4) == str((tmp_path / "data").resolve())
        assert first.group(5, 6, 7) == ("0", "0", "0")
        with pika.BlockingConnection(connection_parameters(port)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare("kept", "direct", durable=True)
            channel.queue_declare("kept", durable=True)
            for _ in range(3):
                channel.basic_publish("", "kept", b"m", pika.BasicProperties(delivery_mode=2))
        assert broker.terminate() == 0
        broker.start()
        again = wait_for_summary(broker)
        assert again.group(5, 6, 7) == ("1", "1", "3")
        # The line comes once everything listens: each listener's own line is before it.
        log = broker.log()
        assert log.index("Prometheus metrics listening") < log.index("Server startup complete")
        assert log.index("management API listening") < log.index("Server startup complete")
    finally:
        broker.kill()


def test_a_taken_prometheus_port_is_a_one_line_error(tmp_path):
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_amqpd(tmp_path, "--bind", HOST, "--port", "0", "--data-dir",
                           str(tmp_path / "d"), "--prometheus-port", str(port))  # fmt: skip
    assert_one_line_refusal(result, str(port), "--prometheus-port")


def test_prometheus_port_off_and_out_of_range(tmp_path):
    result = run_amqpd(tmp_path, "--prometheus-port", "70000", "--data-dir", str(tmp_path / "d"))
    assert_one_line_refusal(result, "prometheus port 70000 is out of range")
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs", "--prometheus-port", "off")
    broker.start()
    try:
        summary = wait_for_summary_without_prometheus(broker)
        assert re.match(r"listening on amqp \S+, management \S+; data folder", summary), summary
    finally:
        broker.kill()


def wait_for_summary_without_prometheus(broker: ProcessBroker) -> str:
    deadline = time.monotonic() + START_DEADLINE
    pattern = re.compile(r"Server startup complete\n.*(listening on .*)")
    while (found := pattern.search(broker.log())) is None:
        assert time.monotonic() < deadline, broker.log()
        time.sleep(0.01)  # the log is written by another process
    return found.group(1)


# ---- recovery progress ---------------------------------------------------------------


def test_recovery_reports_progress_after_each_queue():
    world = World()
    session = world.session()
    for name, count in (("a", 2), ("b", 0), ("c", 3)):
        declare(session, name)
        for _ in range(count):
            send(session, key=name, persistent=True)
    world.settle()
    calls = []
    recovered = recovery.restore(Broker(journal=Journal(enabled=True)), world.store.open(),
                                 world.store.read_messages,
                                 lambda *args: calls.append(args))  # fmt: skip
    assert calls == [(1, 3, 2), (2, 3, 2), (3, 3, 5)]
    assert (recovered.queues, recovered.messages) == (3, 5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_every_n_queues_or_every_few_seconds(caplog):
    clock = FakeClock()
    progress = RecoveryProgress(every=10, interval=5.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="amqpd.server"):
        for done in range(1, 26):
            progress(done, 40, done * 100)
        clock.now = 6.0  # a slow queue: reported by time
        progress(26, 40, 2600)
    assert [r.getMessage() for r in caplog.records] == [
        "recovery: 10 of 40 queues read, 1000 messages so far",
        "recovery: 20 of 40 queues read, 2000 messages so far",
        "recovery: 26 of 40 queues read, 2600 messages so far",
    ]


def test_a_small_store_logs_no_progress(caplog):
    progress = RecoveryProgress(every=10, interval=5.0, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="amqpd.server"):
        for done in range(1, 4):
            progress(done, 3, 0)
    assert caplog.records == []


def test_prometheus_port_in_the_toml_file(tmp_path):
    from amqpd.config import load_toml

    path = tmp_path / "amqpd.toml"
    path.write_text('prometheus_port = "off"\n')
    assert load_toml(path).prometheus_port is None
    path.write_text("prometheus_port = 9419\n")
    assert load_toml(path).prometheus_port == 9419
