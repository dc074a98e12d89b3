"""A bug inside the broker costs one connection, never the process.

Each test plants a failing piece of the model (monkeypatched in this process,
where the broker runs) and drives it with real clients: the connection the
bug met gets connection.close 541 INTERNAL_ERROR, the traceback is logged
once, and every other connection goes on being served.
"""

import logging
import struct
import tempfile

import pytest
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.model import handlers
from amqpd.model.broker import Broker
from amqpd.testing import BrokerThread
from amqpd.wire import fastpath
from conformance.helpers import count, wait_for
from conformance.rawclient import RawClient, raw_frame


class PlantedBug(Exception):
    """What the planted faults raise."""


@pytest.fixture
def running_broker():
    with tempfile.TemporaryDirectory() as data:
        with BrokerThread(BrokerConfig(data_dir=data, store="memory")) as running:
            yield running


def connect(broker) -> RawClient:
    client = RawClient(broker.host, broker.port)
    client.handshake()
    client.open_channel(1)
    return client


def frames(*methods) -> bytes:
    out = b""
    for method in methods:
        index = struct.pack(">HH", *divmod(method.index, 1 << 16))
        out += raw_frame(1, 1, index + method.marshal())
    return out


def internal_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "internal error" in r.getMessage() and r.exc_info]


def test_a_failing_handler_closes_its_connection_with_541(running_broker, monkeypatch, caplog):
    def broken(*_args):
        raise PlantedBug("queue.purge")

    monkeypatch.setitem(handlers.TABLE, commands.Queue.Purge, broken)
    with connect(running_broker) as other, connect(running_broker) as client:
        other.call_ok(1, commands.Queue.Declare(queue="kept"), commands.Queue.DeclareOk)
        # The purge fails; the declare sent behind it in the same packet is not run.
        client.send_raw(
            frames(commands.Queue.Purge(queue="kept"), commands.Queue.Declare(queue="after-bug"))
        )
        assert client.expect_connection_error() == (541, "INTERNAL_ERROR", 0, 0)
        for _ in range(3):
            other.publish(1, b"still served", routing_key="kept")
        wait_for(lambda: count(other, "kept") == 3, what="the other connection's messages")
        reply = other.call(1, commands.Queue.Declare(queue="after-bug", passive=True))
        assert isinstance(reply, commands.Channel.Close) and reply.reply_code == 404
    (record,) = internal_errors(caplog)
    assert "Queue.Purge" in record.getMessage()
    assert isinstance(record.exc_info[1], PlantedBug)


def test_a_failing_delivery_closes_only_the_consumer_it_was_for(
    running_broker, monkeypatch, caplog
):
    deliver_frame = fastpath.deliver_frame

    def broken(channel, consumer_tag, *rest):
        if consumer_tag == "doomed":
            raise PlantedBug("basic.deliver")
        return deliver_frame(channel, consumer_tag, *rest)

    monkeypatch.setattr(fastpath, "deliver_frame", broken)
    with connect(running_broker) as doomed, connect(running_broker) as healthy:
        with connect(running_broker) as publisher:
            publisher.call(1, commands.Queue.Declare(queue="work"))
            for client, tag in ((doomed, "doomed"), (healthy, "healthy")):
                client.send(1, commands.Basic.Consume(queue="work", consumer_tag=tag))
                client.expect(commands.Basic.ConsumeOk)
            for n in range(4):
                publisher.publish(1, f"job {n}".encode(), routing_key="work")
            assert doomed.expect_connection_error() == (541, "INTERNAL_ERROR", 0, 0)
            bodies = set()
            while len(bodies) < 4:  # the doomed one's message is requeued to the healthy one
                _, deliver, _, body = healthy.read_message()
                healthy.send(1, commands.Basic.Ack(delivery_tag=deliver.delivery_tag))
                bodies.add(body)
            assert bodies == {f"job {n}".encode() for n in range(4)}
            publisher.call(1, commands.Queue.Delete(queue="work"))
    assert len(internal_errors(caplog)) == 1


def test_a_failing_timer_is_logged_and_the_timers_go_on(running_broker, monkeypatch, caplog):
    handle_timer = Broker.handle_timer
    failures = []

    def broken_once(self, now):
        if not failures:
            failures.append(now)
            raise PlantedBug("timers")
        return handle_timer(self, now)

    monkeypatch.setattr(Broker, "handle_timer", broken_once)
    with connect(running_broker) as client:
        client.call(1, commands.Queue.Declare(queue="ttl-dead", exclusive=True))
        arguments = {"x-message-ttl": 50, "x-dead-letter-exchange": ""}
        arguments["x-dead-letter-routing-key"] = "ttl-dead"
        method = commands.Queue.Declare(queue="ttl-src", exclusive=True, arguments=arguments)
        client.call_ok(1, method, commands.Queue.DeclareOk)
        client.publish(1, b"expiring", routing_key="ttl-src")
        wait_for(lambda: failures, what="the planted timer bug")
        # The timers still run: the message expires at a later try, by its timer.
        wait_for(lambda: count(client, "ttl-dead") == 1, what="the expiry after the bug")
    (record,) = internal_errors(caplog)
    assert isinstance(record.exc_info[1], PlantedBug)


def test_a_bug_after_a_store_write_stops_the_broker_loudly(running_broker, monkeypatch, caplog):
    def broken(self, commit):
        raise PlantedBug("committed")

    with connect(running_broker) as client:
        journal = running_broker._server.broker.journal
        wait_for(
            lambda: not journal.pending and journal.written == journal.taken,
            what="what the start-up wrote",
        )
        monkeypatch.setattr(Broker, "committed", broken)
        declare = commands.Queue.Declare(queue="durable-bug", durable=True)
        client.send(1, declare)  # its declare-ok waits for the store
        close = client.expect(commands.Connection.Close)[1]
        assert (close.reply_code, close.reply_text) == (
            320,
            "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        )
        client.send(0, commands.Connection.CloseOk())
        client.wait_closed()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical and isinstance(critical[0].exc_info[1], PlantedBug)
