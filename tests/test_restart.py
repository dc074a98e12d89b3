"""What survives a restart of amqpd, graceful or ``kill -9``, and what does not.

Each test runs twice on a fresh data folder: once restarting an in-process
broker gracefully (``BrokerThread`` stopped and started again on the same
folder), once killing an ``amqpd`` subprocess with SIGKILL and starting a new
one. Durable exchanges, queues and bindings come back; persistent messages in
durable queues come back in order with their bytes unchanged; transient things
do not. Message TTL deadlines and delayed messages keep their wall-clock times
across the downtime, queue leases start again, deep (paged) queues come back
whole.

Before a kill, ``restart()`` first passes a commit barrier (it declares a fresh
durable queue: its declare-ok is only sent once everything before it is
committed), because acks and delivery marks are written lazily with the next
commit. Tests about promises (confirms, declare-ok) kill without the barrier.

The ``ProcessBroker`` helper here is shared with tests/test_crash.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
import pytest
import trio
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.model.queue import PAGE_WINDOW
from amqpd.store import StoreError
from amqpd.testing import BrokerThread
from amqpd.wire.fieldtable import encode_table
from conformance.rawclient import RawClient

HOST = "127.0.0.1"
AMQPD = (sys.executable, "-m", "amqpd")
START_DEADLINE = 20.0
LISTENING = re.compile(r"amqpd listening on \S+:(\d+)")
RESTORED = re.compile(
    r"store: restored (\d+) exchanges, (\d+) queues, (\d+) bindings, (\d+) messages, (\d+) delayed"
)
PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


def wait_for(check, timeout: float = 5.0, what: str = "the condition", interval: float = 0.01):
    """Poll ``check`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def connection_parameters(port: int) -> pika.ConnectionParameters:
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


class Node:
    """A broker on one data folder that a test can restart; tracks the client
    connections it opened so a restart can drop them."""

    mode = ""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self._clients: list = []

    # ---- clients ----------------------------------------------------------------
    def connect(self) -> pika.BlockingConnection:
        connection = pika.BlockingConnection(connection_parameters(self.port))
        self._clients.append(connection)
        return connection

    def channel(self):
        return self.connect().channel()

    def raw(self) -> RawClient:
        client = RawClient(HOST, self.port)
        self._clients.append(client)
        client.handshake()
        client.open_channel(1)
        return client

    def drop_clients(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - the broker may be gone already
                pass
        self._clients.clear()

    def barrier(self) -> None:
        """Return once everything the broker did so far is committed."""
        connection = pika.BlockingConnection(connection_parameters(self.port))
        try:
            channel = connection.channel()
            name = f"barrier.{uuid.uuid4().hex}"
            channel.queue_declare(name, durable=True)
            channel.queue_delete(name)
        finally:
            connection.close()

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def stop(self, barrier: bool) -> None:
        raise NotImplementedError

    def restart(self, downtime: float = 0.0, barrier: bool = True) -> None:
        """Stop (gracefully or by SIGKILL), stay down ``downtime`` s, start again."""
        self.stop(barrier)
        if downtime:
            time.sleep(downtime)  # time passing while the broker is down
        self.start()

    def close(self) -> None:
        raise NotImplementedError


class ThreadNode(Node):
    mode = "graceful"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.broker: BrokerThread | None = None

    def start(self) -> None:
        self.broker = BrokerThread(BrokerConfig(data_dir=str(self.data_dir))).start()
        self.port = self.broker.port

    def stop(self, barrier: bool) -> None:
        self.drop_clients()  # closed politely: their unacked messages are requeued
        self.broker.stop()
        self.broker = None

    def close(self) -> None:
        if self.broker is not None:
            self.stop(False)

    def in_memory(self, queue: str) -> int:
        """How many ready messages of ``queue`` the broker holds in memory."""
        broker = self.broker
        return trio.from_thread.run_sync(
            lambda: broker._server.broker.vhosts["/"].queues[queue].in_memory,
            trio_token=broker._token,
        )


class KilledNode(Node):
    mode = "kill9"

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        super().__init__(data_dir)
        self.process = ProcessBroker(data_dir, log_dir)

    def start(self) -> None:
        self.port = self.process.start()

    def stop(self, barrier: bool) -> None:
        if barrier:
            self.barrier()
        self.process.kill()  # clients still connected, deliveries still unacked
        self.drop_clients()

    def close(self) -> None:
        self.drop_clients()
        self.process.kill()


@pytest.fixture(params=["graceful", "kill9"])
def node(request, tmp_path):
    if request.param == "graceful":
        started = ThreadNode(tmp_path / "data")
    else:
        started = KilledNode(tmp_path / "data", tmp_path / "logs")
    started.start()
    yield started
    started.close()


@pytest.fixture
def killed(tmp_path):
    started = KilledNode(tmp_path / "data", tmp_path / "logs")
    started.start()
    yield started
    started.close()


# ---- helpers ----------------------------------------------------------------------


def count(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def exists(node: Node, kind: str, name: str) -> bool:
    """Whether the exchange or queue exists (a passive declare on its own channel)."""
    channel = node.connect().channel()
    try:
        if kind == "queue":
            channel.queue_declare(name, passive=True)
        else:
            channel.exchange_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as err:
        assert err.reply_code == 404, err
        return False
    channel.close()
    return True


def channel_error(node: Node, action) -> tuple[int, str]:
    """Run ``action(channel)`` on a fresh channel; it must close the channel."""
    channel = node.connect().channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        action(channel)
    return caught.value.reply_code, caught.value.reply_text


def get_all(channel, queue: str, ack: bool = True) -> list[tuple]:
    """(method, properties, body) of every ready message, by basic.get."""
    got = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return got
        if ack:
            channel.basic_ack(method.delivery_tag)
        got.append((method, properties, body))


def bodies(channel, queue: str) -> list[bytes]:
    return [body for _m, _p, body in get_all(channel, queue)]


def consume_all(channel, queue: str, expected: int, timeout: float = 20.0) -> list[tuple]:
    """Consume ``expected`` messages with a prefetch window, acking in batches."""
    channel.basic_qos(prefetch_count=500)
    got = []
    deadline = time.monotonic() + timeout
    for method, properties, body in channel.consume(queue, inactivity_timeout=0.5):
        if method is None:
            assert time.monotonic() < deadline, f"only {len(got)} of {expected} consumed"
            continue
        got.append((method, properties, body))
        if len(got) % 100 == 0 or len(got) == expected:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if len(got) == expected:
            break
    channel.cancel()
    return got


# ---- exchanges, queues, bindings ------------------------------------------------


EXCHANGES = {
    # name: (type, auto_delete, internal, arguments)
    "x.direct": ("direct", False, False, {}),
    "x.fanout": ("fanout", False, False, {}),
    "x.topic": ("topic", False, False, {}),
    "x.headers": ("headers", False, False, {}),
    "x.internal": ("direct", False, True, {}),
    "x.with-ae": ("direct", False, False, {"alternate-exchange": "x.fanout"}),
    "x.delayed": ("x-delayed-message", False, False, {"x-delayed-type": "topic"}),
}


def test_durable_exchanges_survive_and_transient_ones_do_not(node):
    channel = node.channel()
    for name, (type_, auto_delete, internal, arguments) in EXCHANGES.items():
        channel.exchange_declare(name, type_, durable=True, auto_delete=auto_delete,
                                 internal=internal, arguments=arguments)  # fmt: skip
    channel.exchange_declare("x.transient", "direct", durable=False)
    channel.queue_declare("ae.catch", durable=True)
    channel.queue_bind("ae.catch", "x.fanout")

    node.restart()

    channel = node.channel()
    for name, (type_, auto_delete, internal, arguments) in EXCHANGES.items():
        # The same declaration is equivalent: type and flags came back as declared.
        channel.exchange_declare(name, type_, durable=True, auto_delete=auto_delete,
                                 internal=internal, arguments=arguments)  # fmt: skip
        other = "fanout" if type_ != "fanout" else "direct"
        code, text = channel_error(
            node,
            lambda ch, n=name, t=other, a=auto_delete, i=internal: ch.exchange_declare(
                n, t, durable=True, auto_delete=a, internal=i
            ),
        )
        assert code == 406 and "inequivalent arg 'type'" in text, (name, text)
    code, text = channel_error(
        node, lambda ch: ch.exchange_declare("x.direct", "direct", durable=False)
    )
    assert code == 406 and "durable" in text
    assert not exists(node, "exchange", "x.transient")
    for name in ("amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"):
        assert exists(node, "exchange", name)
    code, _ = channel_error(
        node,
        lambda ch: (
            ch.basic_publish("x.internal", "k", b"no"),
            ch.queue_declare("ae.catch", passive=True),
        ),
    )
    assert code == 403  # still internal
    # The alternate exchange still catches what x.with-ae cannot route.
    channel.basic_publish("x.with-ae", "no-binding", b"caught", PERSISTENT)
    assert count(channel, "ae.catch") == 1


def test_durable_queues_survive_and_transient_and_exclusive_ones_do_not(node):
    owner = node.connect()
    channel = owner.channel()
    arguments = {"x-message-ttl": 600_000, "x-max-length": 100,
                 "x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"}  # fmt: skip
    channel.queue_declare("q.plain", durable=True)
    channel.queue_declare("q.args", durable=True, arguments=arguments)
    channel.queue_declare("q.auto-delete", durable=True, auto_delete=True)
    channel.queue_declare("q.quorum", durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare("q.priority", durable=True, arguments={"x-max-priority": 5})
    server_named = channel.queue_declare("", durable=True, exclusive=False).method.queue
    channel.queue_declare("q.exclusive", durable=True, exclusive=True)
    channel.queue_declare("q.transient", durable=False)
    survivors = ["q.plain", "q.args", "q.auto-delete", "q.quorum", "q.priority", server_named]
    for queue in [*survivors, "q.exclusive", "q.transient"]:
        channel.basic_publish("", queue, queue.encode(), PERSISTENT)

    node.restart()

    channel = node.channel()
    for queue in survivors:
        assert count(channel, queue) == 1, queue
    assert not exists(node, "queue", "q.exclusive")
    assert not exists(node, "queue", "q.transient")
    # Declarations are compared against what was restored.
    channel.queue_declare("q.args", durable=True, arguments=arguments)
    channel.queue_declare("q.auto-delete", durable=True, auto_delete=True)
    changed = {**arguments, "x-message-ttl": 1000}
    code, text = channel_error(
        node, lambda ch: ch.queue_declare("q.args", durable=True, arguments=changed)
    )
    assert code == 406 and "x-message-ttl" in text
    code, text = channel_error(
        node, lambda ch: ch.queue_declare("q.plain", durable=True, auto_delete=True)
    )
    assert code == 406 and "auto_delete" in text
    code, text = channel_error(
        node, lambda ch: ch.queue_declare("q.quorum", durable=True,
                                          arguments={"x-queue-type": "classic"}))  # fmt: skip
    assert code == 406 and "x-queue-type" in text
    # The messages went back to their own queues.
    for queue in survivors:
        assert bodies(channel, queue) == [queue.encode()]
    # A restored auto-delete queue is still auto-delete: its last consumer's
    # cancel deletes it, for good.
    tag = channel.basic_consume("q.auto-delete", lambda *args: None)
    channel.basic_cancel(tag)
    assert not exists(node, "queue", "q.auto-delete")
    node.restart()
    assert not exists(node, "queue", "q.auto-delete")
    assert exists(node, "queue", "q.plain")


ANY_H3 = {"x-match": "any", "h3": "v3", "n": 7}


def declare_topology(channel) -> None:
    for name, type_ in (
        ("b.direct", "direct"),
        ("b.topic", "topic"),
        ("b.fanout", "fanout"),
        ("b.headers", "headers"),
        ("b.src", "direct"),
        ("b.dst", "fanout"),
    ):
        channel.exchange_declare(name, type_, durable=True)
    channel.exchange_declare("b.auto", "direct", durable=True, auto_delete=True)
    channel.exchange_declare("b.transient", "direct", durable=False)
    for queue in ("q.direct", "q.topic", "q.fanout", "q.headers", "q.e2e", "q.amq", "q.unbound"):
        channel.queue_declare(queue, durable=True)
    channel.queue_declare("q.transient", durable=False)
    channel.queue_bind("q.direct", "b.direct", "k")
    channel.queue_bind("q.topic", "b.topic", "a.*.c")
    channel.queue_bind("q.topic", "b.topic", "#.z")
    channel.queue_bind("q.fanout", "b.fanout")
    channel.queue_bind("q.headers", "b.headers",
                       arguments={"x-match": "all", "h1": "v1", "h2": 2})  # fmt: skip
    channel.queue_bind("q.e2e", "b.headers", arguments=ANY_H3)
    channel.exchange_bind("b.dst", "b.src", "e")  # exchange to exchange
    channel.queue_bind("q.e2e", "b.dst")
    channel.queue_bind("q.amq", "amq.direct", "amqk")
    channel.queue_bind("q.amq", "amq.topic", "t.#")
    channel.queue_bind("q.direct", "b.auto", "auto")
    channel.queue_bind("q.unbound", "b.direct", "gone")
    channel.queue_unbind("q.unbound", "b.direct", "gone")
    # Bindings with a transient end do not survive.
    channel.queue_bind("q.direct", "b.transient", "t")
    channel.queue_bind("q.transient", "b.direct", "k")
    channel.exchange_bind("b.transient", "b.src", "e")


ROUTES = [
    # (exchange, routing key, headers, queue it must reach or None)
    ("b.direct", "k", None, "q.direct"),
    ("b.direct", "gone", None, None),
    ("b.topic", "a.b.c", None, "q.topic"),
    ("b.topic", "y.z", None, "q.topic"),
    ("b.topic", "a.b", None, None),
    ("b.fanout", "anything", None, "q.fanout"),
    ("b.headers", "", {"h1": "v1", "h2": 2}, "q.headers"),
    ("b.headers", "", {"h1": "v1"}, None),
    ("b.headers", "", {"h3": "v3"}, "q.e2e"),
    ("b.src", "e", None, "q.e2e"),
    ("b.src", "other", None, None),
    ("amq.direct", "amqk", None, "q.amq"),
    ("amq.topic", "t.x.y", None, "q.amq"),
    ("b.auto", "auto", None, "q.direct"),
]
ROUTED_QUEUES = ["q.direct", "q.topic", "q.fanout", "q.headers", "q.e2e", "q.amq", "q.unbound"]


def route_all(channel) -> dict[str, list[bytes]]:
    for n, (exchange, key, headers, _queue) in enumerate(ROUTES):
        channel.basic_publish(exchange, key, f"{n}".encode(),
                              pika.BasicProperties(headers=headers))  # fmt: skip
    return {queue: bodies(channel, queue) for queue in ROUTED_QUEUES}


def expected_routes() -> dict[str, list[bytes]]:
    expected: dict[str, list[bytes]] = {queue: [] for queue in ROUTED_QUEUES}
    for n, (_x, _k, _h, queue) in enumerate(ROUTES):
        if queue is not None:
            expected[queue].append(f"{n}".encode())
    return expected


def test_bindings_between_durable_ends_survive(node):
    channel = node.channel()
    declare_topology(channel)
    assert route_all(channel) == expected_routes()  # as declared, before any restart

    node.restart()

    channel = node.channel()
    assert route_all(channel) == expected_routes()
    assert not exists(node, "exchange", "b.transient")
    assert not exists(node, "queue", "q.transient")


def test_removed_bindings_and_entities_stay_removed(node):
    channel = node.channel()
    declare_topology(channel)
    node.restart()

    channel = node.channel()
    channel.queue_unbind("q.topic", "b.topic", "#.z")  # a restored binding removed
    channel.exchange_unbind("b.dst", "b.src", "e")
    channel.queue_unbind("q.e2e", "b.headers", arguments=ANY_H3)  # one with arguments
    channel.queue_unbind("q.direct", "b.auto", "auto")  # its last binding: b.auto goes
    channel.exchange_delete("b.fanout")
    channel.queue_delete("q.headers")
    node.restart()

    channel = node.channel()
    assert not exists(node, "exchange", "b.auto")
    assert not exists(node, "exchange", "b.fanout")
    assert not exists(node, "queue", "q.headers")
    # Declared again under the same names, they start without the old bindings.
    channel.exchange_declare("b.fanout", "fanout", durable=True)
    channel.exchange_declare("b.auto", "direct", durable=True, auto_delete=True)
    channel.queue_declare("q.headers", durable=True)
    node.restart()

    channel = node.channel()
    expected = expected_routes()
    expected["q.topic"] = [b"2"]  # "y.z" no longer matches
    expected["q.fanout"] = []
    expected["q.headers"] = []
    expected["q.e2e"] = []
    expected["q.direct"] = [b"0"]
    assert route_all(channel) == expected
    assert exists(node, "exchange", "b.auto")  # not auto-deleted: it never had a binding


# ---- messages ---------------------------------------------------------------------


def test_persistent_messages_in_durable_queues_survive_in_order(node):
    channel = node.channel()
    channel.queue_declare("durable", durable=True)
    channel.queue_declare("transient", durable=False)
    channel.basic_publish("", "durable", b"p0", PERSISTENT)
    channel.basic_publish("", "durable", b"t1", TRANSIENT)
    channel.basic_publish("", "durable", b"p2", PERSISTENT)
    channel.basic_publish("", "durable", b"t3")  # no delivery mode: transient
    channel.basic_publish("", "transient", b"p4", PERSISTENT)

    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "transient")
    assert count(channel, "durable") == 2
    channel.basic_publish("", "durable", b"p5", PERSISTENT)  # after the recovered ones
    node.restart()

    channel = node.channel()
    got = get_all(channel, "durable")
    assert [body for _m, _p, body in got] == [b"p0", b"p2", b"p5"]
    assert not any(method.redelivered for method, _p, _b in got)
    node.restart()  # the acks reached the store too
    assert count(node.channel(), "durable") == 0


def raw_properties() -> bytes:
    """Every basic property set, headers of every field type: as a client sent them."""

    def shortstr(text: str) -> bytes:
        data = text.encode()
        return bytes([len(data)]) + data

    headers = encode_table({
        "bool": ("t", True), "byte": ("b", -5), "ubyte": ("B", 250), "short": ("s", -300),
        "ushort": ("u", 65000), "int": ("I", -70000), "uint": ("i", 4_000_000_000),
        "long": ("l", -(2**40)), "float": ("f", 1.5), "double": ("d", -2.25),
        "decimal": ("D", __import__("decimal").Decimal("3.14")),
        "text": ("S", "zürich".encode()), "bytes": ("x", bytes(range(256))),
        "time": ("T", 1_700_000_000), "void": ("V", None),
        "table": ("F", {"nested": ("S", b"yes"), "n": ("I", 1)}),
        "array": ("A", [("S", b"a"), ("I", 2), ("F", {})]),
    })  # fmt: skip
    return (
        (0xFFFC).to_bytes(2, "big")  # all fourteen property flags
        + shortstr("application/octet-stream")
        + shortstr("gzip")
        + headers
        + bytes([2, 7])  # delivery mode 2, priority 7
        + shortstr("corr-1")
        + shortstr("reply.here")
        + shortstr("86400000")
        + shortstr("msg-1")
        + (1_700_000_123).to_bytes(8, "big")
        + shortstr("type-x")
        + shortstr("guest")
        + shortstr("app-y")
        + shortstr("cluster-z")
    )


def raw_publish(client: RawClient, exchange: str, key: str, props: bytes, body: bytes) -> None:
    data = pika_frame(1, commands.Basic.Publish(exchange=exchange, routing_key=key))
    header = (60).to_bytes(2, "big") + b"\0\0" + len(body).to_bytes(8, "big") + props
    data += frame_bytes(2, 1, header)
    frame_max = client.tune.frame_max - 8
    for start in range(0, len(body), frame_max):
        data += frame_bytes(3, 1, body[start : start + frame_max])
    client.send_raw(data)


def pika_frame(channel: int, method) -> bytes:
    from pamqp import frame

    return frame.marshal(method, channel)


def frame_bytes(kind: int, channel: int, payload: bytes) -> bytes:
    return bytes([kind]) + channel.to_bytes(2, "big") + len(payload).to_bytes(4, "big") \
        + payload + b"\xce"  # fmt: skip


def read_raw_frame(client: RawClient) -> tuple[int, bytes]:
    head = client.read_bytes(7)
    size = int.from_bytes(head[3:7], "big")
    rest = client.read_bytes(size + 1)
    assert rest[-1:] == b"\xce"
    return head[0], rest[:-1]


def raw_get(client: RawClient, queue: str) -> tuple[object, bytes, bytes]:
    """basic.get: (get-ok, the content header payload as sent, the body)."""
    client.send(1, commands.Basic.Get(queue=queue, no_ack=True))
    _, method = client.read_frame()
    assert isinstance(method, commands.Basic.GetOk), method
    kind, header = read_raw_frame(client)
    assert kind == 2
    size = int.from_bytes(header[4:12], "big")
    body = b""
    while len(body) < size:
        kind, part = read_raw_frame(client)
        assert kind == 3
        body += part
    return method, header, body


def test_properties_headers_and_body_come_back_byte_identical(node):
    channel = node.channel()
    channel.exchange_declare("props.x", "direct", durable=True)
    channel.queue_declare("props.q", durable=True)
    channel.queue_bind("props.q", "props.x", "rk")
    props = raw_properties()
    big = os.urandom(300_000)  # several body frames
    client = node.raw()
    sent = [(props, big), (props, b""), (b"\x10\x00\x02", b"\x00\xff plain")]
    for p, body in sent:
        raw_publish(client, "props.x", "rk", p, body)
    assert wait_for(lambda: count(channel, "props.q") == 3, what="the publishes")

    node.restart()

    client = node.raw()
    for p, body in sent:
        method, header, got_body = raw_get(client, "props.q")
        assert (method.exchange, method.routing_key, method.redelivered) == ("props.x", "rk", False)
        assert header == (60).to_bytes(2, "big") + b"\0\0" + len(body).to_bytes(8, "big") + p
        assert got_body == body


def test_unacked_messages_come_back_redelivered_and_acked_ones_never(node):
    channel = node.channel()
    channel.queue_declare("redeliver", durable=True)
    for n in range(6):
        channel.basic_publish("", "redeliver", f"p{n}".encode(), PERSISTENT)
    consumer = node.channel()
    method, _, body = consumer.basic_get("redeliver")
    assert body == b"p0"
    consumer.basic_ack(method.delivery_tag)  # acked: never again
    assert consumer.basic_get("redeliver")[2] == b"p1"  # left unacked
    assert consumer.basic_get("redeliver")[2] == b"p2"  # left unacked
    method, _, body = consumer.basic_get("redeliver")
    assert body == b"p3"
    consumer.basic_nack(method.delivery_tag, requeue=True)  # back, redelivered
    consumer.basic_qos(prefetch_count=1)
    delivered = next(consumer.consume("redeliver", inactivity_timeout=5))
    assert delivered[0].redelivered and delivered[2] == b"p3"  # left unacked, in flight
    # p4 and p5 were never delivered. Deliveries without acks are gone at once:
    channel.queue_declare("no-ack", durable=True)
    for body in (b"got", b"consumed"):
        channel.basic_publish("", "no-ack", body, PERSISTENT)
    assert channel.basic_get("no-ack", auto_ack=True)[2] == b"got"
    auto = next(channel.consume("no-ack", auto_ack=True, inactivity_timeout=5))
    assert auto[2] == b"consumed"
    channel.cancel()
    channel.basic_publish("", "no-ack", b"stays", PERSISTENT)

    node.restart()  # kill9: the consumer's connection is still open at the kill

    channel = node.channel()
    got = get_all(channel, "redeliver")
    assert [(body, method.redelivered) for method, _p, body in got] == [
        (b"p1", True), (b"p2", True), (b"p3", True), (b"p4", False), (b"p5", False)
    ]  # fmt: skip
    assert bodies(channel, "no-ack") == [b"stays"]
    node.restart()
    assert count(node.channel(), "redeliver") == 0


def test_expired_rejected_and_uncommitted_messages_stay_gone(node):
    channel = node.channel()
    channel.exchange_declare("gone.dlx", "fanout", durable=True)
    channel.queue_declare("gone.dead", durable=True)
    channel.queue_bind("gone.dead", "gone.dlx")
    channel.queue_declare("gone.q", durable=True, arguments={"x-dead-letter-exchange": "gone.dlx"})
    channel.queue_declare("gone.plain", durable=True)
    channel.basic_publish("", "gone.q", b"expires",
                          pika.BasicProperties(delivery_mode=2, expiration="100"))  # fmt: skip
    wait_for(lambda: count(channel, "gone.dead") == 1, what="the expiry")
    channel.basic_publish("", "gone.plain", b"rejected", PERSISTENT)
    channel.basic_publish("", "gone.plain", b"nacked", PERSISTENT)
    channel.basic_publish("", "gone.plain", b"kept", PERSISTENT)
    method, _, _ = channel.basic_get("gone.plain")
    channel.basic_reject(method.delivery_tag, requeue=False)
    method, _, _ = channel.basic_get("gone.plain")
    channel.basic_nack(method.delivery_tag, requeue=False)
    tx = node.channel()
    tx.tx_select()
    tx.basic_publish("", "gone.plain", b"rolled back", PERSISTENT)
    tx.tx_rollback()
    tx.basic_publish("", "gone.plain", b"never committed", PERSISTENT)

    node.restart()

    channel = node.channel()
    assert count(channel, "gone.q") == 0
    assert count(channel, "gone.dead") == 1  # dead-lettered once, not again at the restart
    assert bodies(channel, "gone.plain") == [b"kept"]


def test_queues_and_exchanges_keep_their_virtual_host(tmp_path):
    data = tmp_path / "data"

    def start(vhosts) -> BrokerThread:
        return BrokerThread(BrokerConfig(data_dir=str(data), vhosts=vhosts)).start()

    def connect(broker, vhost):
        params = connection_parameters(broker.port)
        params.virtual_host = vhost
        return pika.BlockingConnection(params)

    broker = start(("/", "other"))
    with connect(broker, "other") as connection:
        channel = connection.channel()
        channel.exchange_declare("v.x", "fanout", durable=True)
        channel.queue_declare("v.q", durable=True)
        channel.queue_bind("v.q", "v.x")
        channel.basic_publish("v.x", "", b"in other", PERSISTENT)
    broker.stop()
    broker = start(("/",))  # "other" left out of the configuration for a while
    try:
        with connect(broker, "/") as connection:
            assert not exists_on(connection, "v.q")
            connection.channel().queue_declare("v.q", durable=True)  # a different queue
    finally:
        broker.stop()
    broker = start(("/", "other"))
    try:
        with connect(broker, "other") as connection:
            channel = connection.channel()
            channel.basic_publish("v.x", "", b"again", PERSISTENT)
            assert bodies(channel, "v.q") == [b"in other", b"again"]
        with connect(broker, "/") as connection:
            assert count(connection.channel(), "v.q") == 0
    finally:
        broker.stop()


def exists_on(connection, queue: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as err:
        assert err.reply_code == 404
        return False
    return True


def test_confirmed_and_declared_things_survive_a_kill_without_a_barrier(node):
    """A declare-ok, a bind-ok, a delete-ok, an unbind-ok, a tx.commit-ok, a
    confirm: each is sent only once its change is committed, so nothing is
    needed before the kill."""
    channel = node.channel()
    channel.exchange_declare("c.x", "topic", durable=True)
    channel.queue_declare("c.q", durable=True)
    channel.queue_bind("c.q", "c.x", "c.#")
    channel.queue_declare("c.deleted", durable=True)
    channel.queue_bind("c.deleted", "c.x", "d")
    channel.queue_bind("c.q", "c.x", "unbound")
    channel.queue_delete("c.deleted")
    channel.queue_unbind("c.q", "c.x", "unbound")
    tx = node.channel()
    tx.tx_select()
    tx.basic_publish("c.x", "c.tx", b"committed", PERSISTENT)
    tx.tx_commit()
    channel.confirm_delivery()
    for n in range(50):
        channel.basic_publish("c.x", f"c.{n}", f"confirmed {n}".encode(), PERSISTENT,
                              mandatory=True)  # fmt: skip

    node.restart(barrier=False)

    channel = node.channel()
    assert not exists(node, "queue", "c.deleted")
    assert bodies(channel, "c.q") == [b"committed"] + [f"confirmed {n}".encode() for n in range(50)]
    channel.basic_publish("c.x", "c.again", b"routed", PERSISTENT)
    channel.basic_publish("c.x", "unbound", b"not routed", PERSISTENT)
    assert bodies(channel, "c.q") == [b"routed"]


HEAVY = 16 * 1024 * 1024  # a commit that takes a while to write and fsync

PROMISES = {
    # name: (the command whose reply is the promise, what must hold after the kill)
    "confirm": (
        lambda ch: (ch.confirm_delivery(), ch.basic_publish("", "p.q", b"kept", PERSISTENT)),
        lambda node, ch: bodies(ch, "p.q") == [b"kept"],
    ),
    "confirm of a delayed message": (
        lambda ch: (
            ch.confirm_delivery(),
            ch.basic_publish(
                "p.delayed",
                "d",
                b"kept",
                pika.BasicProperties(delivery_mode=2, headers={"x-delay": 300}),
            ),
        ),
        lambda node, ch: (
            wait_for(lambda: count(ch, "p.q") == 1, what="the delayed message")
            and bodies(ch, "p.q") == [b"kept"]
        ),
    ),
    "tx.commit-ok": (
        lambda ch: (
            ch.tx_select(),
            ch.basic_publish("", "p.q", b"kept", PERSISTENT),
            ch.tx_commit(),
        ),
        lambda node, ch: bodies(ch, "p.q") == [b"kept"],
    ),
    "queue.declare-ok": (
        lambda ch: ch.queue_declare("p.new", durable=True),
        lambda node, ch: exists(node, "queue", "p.new"),
    ),
    "exchange.declare-ok": (
        lambda ch: ch.exchange_declare("p.new", "fanout", durable=True),
        lambda node, ch: exists(node, "exchange", "p.new"),
    ),
    "queue.bind-ok": (
        lambda ch: ch.queue_bind("p.q", "p.x", "new"),
        lambda node, ch: (
            (ch.basic_publish("p.x", "new", b"routed"), bodies(ch, "p.q"))[1] == [b"routed"]
        ),
    ),
    "exchange.bind-ok": (
        lambda ch: ch.exchange_bind("p.x", "amq.direct", "k"),  # p.x routes "k" to p.q
        lambda node, ch: (
            (ch.basic_publish("amq.direct", "k", b"r"), bodies(ch, "p.q"))[1] == [b"r"]
        ),
    ),
    "queue.unbind-ok": (
        lambda ch: ch.queue_unbind("p.q", "p.x", "k"),
        lambda node, ch: (ch.basic_publish("p.x", "k", b"x"), bodies(ch, "p.q"))[1] == [],
    ),
    "queue.delete-ok": (
        lambda ch: ch.queue_delete("p.doomed"),
        lambda node, ch: not exists(node, "queue", "p.doomed"),
    ),
    "exchange.delete-ok": (
        lambda ch: ch.exchange_delete("p.doomed"),
        lambda node, ch: not exists(node, "exchange", "p.doomed"),
    ),
}


@pytest.mark.parametrize("promise", list(PROMISES))
def test_a_promise_holds_when_the_broker_is_killed_right_after_it(killed, promise):
    """The promise is made while a heavy commit is still being written (another
    connection's 16 MiB message): a reply sent before its own commit would be
    lost by a kill that follows the reply at once."""
    make, holds = PROMISES[promise]
    setup = killed.channel()
    setup.exchange_declare("p.x", "direct", durable=True)
    setup.exchange_declare("p.doomed", "direct", durable=True)
    setup.queue_declare("p.q", durable=True)
    setup.queue_declare("p.doomed", durable=True)
    setup.queue_declare("p.heavy", durable=True)
    setup.queue_bind("p.q", "p.x", "k")
    setup.exchange_declare("p.delayed", "x-delayed-message", durable=True,
                           arguments={"x-delayed-type": "direct"})  # fmt: skip
    setup.queue_bind("p.q", "p.delayed", "d")
    setup.basic_publish("", "p.heavy", b"h" * HEAVY, PERSISTENT)  # no confirm: not waited for
    setup.queue_declare("p.heavy", passive=True)  # the publish was handled (not committed)
    make(killed.channel())
    killed.restart(barrier=False)
    channel = killed.channel()
    assert holds(killed, channel), promise
    assert count(channel, "p.heavy") == 1  # commits are in order: the heavy one is in too


def test_message_ttl_deadlines_are_kept_across_the_downtime(node):
    """TTL 2 s, broker down 1.2 s: the message still expires 2 s after it was
    published (a restarted clock would keep it until 3.2 s or later)."""
    channel = node.channel()
    channel.exchange_declare("ttl.dlx", "fanout", durable=True)
    channel.queue_declare("ttl.dead", durable=True)
    channel.queue_bind("ttl.dead", "ttl.dlx")
    channel.queue_declare("ttl.per-message", durable=True,
                          arguments={"x-dead-letter-exchange": "ttl.dlx"})  # fmt: skip
    channel.queue_declare("ttl.queue", durable=True, arguments={"x-message-ttl": 2000})
    channel.queue_declare("ttl.missed", durable=True,
                          arguments={"x-dead-letter-exchange": "ttl.dlx"})  # fmt: skip
    published = time.monotonic()
    channel.basic_publish("", "ttl.per-message", b"dies",
                          pika.BasicProperties(delivery_mode=2, expiration="2000"))  # fmt: skip
    channel.basic_publish("", "ttl.per-message", b"stays", PERSISTENT)
    channel.basic_publish("", "ttl.queue", b"dies too", PERSISTENT)
    channel.basic_publish("", "ttl.missed", b"dies while down",
                          pika.BasicProperties(delivery_mode=2, expiration="500"))  # fmt: skip

    node.restart(downtime=1.2)
    restarted = time.monotonic()
    assert restarted < published + 2.0, "the restart took too long for this test to tell"

    channel = node.channel()
    wait_for(lambda: count(channel, "ttl.missed") == 0, timeout=1.0,
             what="the message whose deadline passed while the broker was down")  # fmt: skip
    wait_for(lambda: count(channel, "ttl.per-message") == 1 and count(channel, "ttl.queue") == 0,
             timeout=4.0, what="the messages to expire")  # fmt: skip
    expired = time.monotonic()
    assert expired >= published + 2.0 - 0.05, "expired before its deadline"
    assert expired < published + 3.0, (
        f"expired {expired - published:.2f} s after publishing: the deadline restarted"
    )
    assert bodies(channel, "ttl.per-message") == [b"stays"]
    node.restart()  # what expired at or after the restart is not dead-lettered twice

    channel = node.channel()
    dead = get_all(channel, "ttl.dead")
    assert [body for _m, _p, body in dead] == [b"dies while down", b"dies"]
    for (_m, properties, _b), queue in zip(dead, ("ttl.missed", "ttl.per-message"), strict=True):
        death = properties.headers["x-death"][0]
        assert (death["reason"], death["queue"]) == ("expired", queue)


def test_queue_leases_start_again_after_a_restart(node):
    channel = node.channel()
    channel.queue_declare("leased", durable=True, arguments={"x-expires": 1000})
    declared = time.monotonic()
    node.restart(downtime=1.2)
    restarted = time.monotonic()
    assert restarted > declared + 1.0

    channel = node.channel()
    channel.confirm_delivery()

    def gone() -> bool:  # a mandatory publish does not count as using the queue
        try:
            channel.basic_publish("", "leased", b"probe", mandatory=True)
        except pika.exceptions.UnroutableError:
            return True
        return False

    assert not gone(), "the lease was not started again at the restart"
    wait_for(gone, timeout=5.0, what="the restarted lease to run out")
    assert time.monotonic() >= restarted + 1.0 - 0.05
    node.restart()  # a queue its lease deleted stays deleted
    assert not exists(node, "queue", "leased")


def test_delayed_messages_survive_and_keep_their_due_time(node):
    channel = node.channel()
    channel.exchange_declare("delay.x", "x-delayed-message", durable=True,
                             arguments={"x-delayed-type": "direct"})  # fmt: skip
    channel.queue_declare("delay.q", durable=True)
    channel.queue_bind("delay.q", "delay.x", "k")

    def delayed(ms: int, body: bytes) -> None:
        props = pika.BasicProperties(delivery_mode=2, headers={"x-delay": ms, "tag": body.decode()})
        channel.basic_publish("delay.x", "k", body, props)

    published = time.monotonic()
    delayed(200, b"soon")
    delayed(900, b"missed")  # due while the broker is down
    delayed(3000, b"later")
    wait_for(lambda: count(channel, "delay.q") == 1, what="the first delayed message")
    assert bodies(channel, "delay.q") == [b"soon"]  # delivered and acked before the stop

    node.restart(downtime=1.0)
    assert time.monotonic() < published + 3.0, "the restart took too long for this test"

    channel = node.channel()
    wait_for(lambda: count(channel, "delay.q") == 1, timeout=2.0, what="the missed message")
    ((_m, properties, body),) = get_all(channel, "delay.q")
    assert body == b"missed"
    assert properties.headers == {"x-delay": 900, "tag": "missed"}
    assert time.monotonic() < published + 3.0 - 0.05
    assert count(channel, "delay.q") == 0
    wait_for(lambda: count(channel, "delay.q") == 1, timeout=4.0, what="the later message")
    arrived = time.monotonic()
    assert arrived >= published + 3.0 - 0.05, "released before its due time"
    assert arrived < published + 4.0, (
        f"released {arrived - published:.2f} s after publishing: the due time restarted"
    )
    assert bodies(channel, "delay.q") == [b"later"]
    node.restart()  # each delayed message is released once, also across restarts
    assert count(node.channel(), "delay.q") == 0


def test_a_delayed_message_dies_with_its_exchange(node):
    """Without a restart, a delayed message whose exchange is deleted (even if
    declared again) is dropped when due; a restart must not bring it back
    through the new exchange of the same name."""
    channel = node.channel()
    arguments = {"x-delayed-type": "direct"}
    channel.exchange_declare("delay.x", "x-delayed-message", durable=True, arguments=arguments)
    channel.basic_publish(
        "delay.x",
        "k",
        b"orphaned",
        pika.BasicProperties(delivery_mode=2, headers={"x-delay": 1000}),
    )
    channel.exchange_delete("delay.x")
    channel.exchange_declare("delay.x", "x-delayed-message", durable=True, arguments=arguments)
    channel.queue_declare("delay.q", durable=True)
    channel.queue_bind("delay.q", "delay.x", "k")
    channel.basic_publish(
        "delay.x",
        "k",
        b"sentinel",  # due after the orphaned one
        pika.BasicProperties(delivery_mode=2, headers={"x-delay": 1300}),
    )

    node.restart()

    channel = node.channel()
    wait_for(lambda: count(channel, "delay.q") >= 1, timeout=4.0, what="the sentinel")
    assert bodies(channel, "delay.q") == [b"sentinel"]


def test_dead_lettered_messages_survive_with_their_x_death(node):
    channel = node.channel()
    channel.exchange_declare("dl.x", "fanout", durable=True)
    channel.queue_declare("dl.dead", durable=True)
    channel.queue_bind("dl.dead", "dl.x")
    channel.queue_declare("dl.src", durable=True, arguments={"x-dead-letter-exchange": "dl.x"})
    props = pika.BasicProperties(delivery_mode=2, headers={"app": "v", "n": 1})
    channel.basic_publish("", "dl.src", b"rejected", props)
    method, _, _ = channel.basic_get("dl.src")
    channel.basic_reject(method.delivery_tag, requeue=False)
    wait_for(lambda: count(channel, "dl.dead") == 1, what="the dead-lettered message")
    method, before, body = channel.basic_get("dl.dead")  # left unacked over the restart
    assert before.headers["x-death"][0]["reason"] == "rejected"

    node.restart()

    channel = node.channel()
    method, after, body = channel.basic_get("dl.dead")
    assert (body, method.redelivered) == (b"rejected", True)
    assert after.headers == before.headers
    channel.basic_ack(method.delivery_tag)
    # The source queue still dead-letters after the restart.
    channel.basic_publish("", "dl.src", b"again", props)
    method, _, _ = channel.basic_get("dl.src")
    channel.basic_reject(method.delivery_tag, requeue=False)
    wait_for(lambda: count(channel, "dl.dead") == 1, what="the second dead-lettered message")
    assert bodies(channel, "dl.dead") == [b"again"]


def test_quorum_delivery_counts_survive(node):
    channel = node.channel()
    channel.exchange_declare("qq.dlx", "fanout", durable=True)
    channel.queue_declare("qq.dead", durable=True)
    channel.queue_bind("qq.dead", "qq.dlx")
    channel.queue_declare(
        "qq",
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": 3,
            "x-dead-letter-exchange": "qq.dlx",
        },
    )
    channel.basic_publish("", "qq", b"counted", PERSISTENT)
    for expected in (0, 1):
        method, properties, _ = channel.basic_get("qq")
        assert (properties.headers or {}).get("x-delivery-count", 0) == expected
        channel.basic_nack(method.delivery_tag, requeue=True)

    node.restart()  # the message is ready, returned twice

    channel = node.channel()
    method, properties, body = channel.basic_get("qq")
    assert (body, properties.headers["x-delivery-count"], method.redelivered) == (
        b"counted",
        2,
        True,
    )
    channel.basic_nack(method.delivery_tag, requeue=True)  # the third return: the limit
    method, properties, _ = channel.basic_get("qq")
    assert properties.headers["x-delivery-count"] == 3
    channel.basic_nack(method.delivery_tag, requeue=True)  # over the limit: dead-lettered
    wait_for(lambda: count(channel, "qq.dead") == 1, what="the message over its delivery limit")
    assert count(channel, "qq") == 0


def test_sender_selected_copies_come_back_without_bcc(node):
    channel = node.channel()
    for queue in ("cc.main", "cc.copy", "cc.blind"):
        channel.queue_declare(queue, durable=True)
    headers = {"CC": ["cc.copy"], "BCC": ["cc.blind"], "app": "x"}
    channel.basic_publish("", "cc.main", b"copied",
                          pika.BasicProperties(delivery_mode=2, headers=headers))  # fmt: skip

    node.restart()

    channel = node.channel()
    for queue in ("cc.main", "cc.copy", "cc.blind"):
        ((_m, properties, body),) = get_all(channel, queue)
        assert body == b"copied"
        assert properties.headers == {"CC": ["cc.copy"], "app": "x"}, queue  # BCC stays hidden


def test_a_priority_queue_comes_back_in_priority_order(node):
    channel = node.channel()
    channel.queue_declare("prio", durable=True, arguments={"x-max-priority": 5})
    for body, priority in ((b"1", 1), (b"5a", 5), (b"3", 3), (b"5b", 5), (b"0", None),
                           (b"9->5", 9), (b"2", 2)):  # fmt: skip
        channel.basic_publish("", "prio", body,
                              pika.BasicProperties(delivery_mode=2, priority=priority))  # fmt: skip
    taken = channel.basic_get("prio")  # 5a, left unacked over the restart
    assert taken[2] == b"5a"

    node.restart()

    channel = node.channel()
    got = get_all(channel, "prio")
    assert [(body, method.redelivered) for method, _p, body in got] == [
        (b"5a", True), (b"5b", False), (b"9->5", False), (b"3", False), (b"2", False),
        (b"1", False), (b"0", False),
    ]  # fmt: skip


def test_a_length_limited_queue_deeper_than_the_window_comes_back_whole(node):
    """Length-limited queues keep every message in memory (they choose what to
    drop); all of them must come back, and the limit still holds."""
    channel = node.channel()
    channel.queue_declare("limited", durable=True, arguments={"x-max-length": 2500})
    publish_numbered(channel, "limited", 3000)  # drop-head: 500..2999 remain

    node.restart()

    channel = node.channel()
    assert count(channel, "limited") == 2500
    publish_numbered(channel, "limited", 1)  # number 0 again, pushing out 500
    got = consume_all(channel, "limited", 2500)
    assert numbers(got) == [*range(501, 3000), 0]


# ---- deep queues ------------------------------------------------------------------

DEEP = 5000  # well past the 2,048 messages a queue keeps in memory


def publish_numbered(channel, queue: str, total: int, transient_every: int = 0) -> list[int]:
    """Publish ``total`` numbered messages; returns the numbers of the persistent ones."""
    kept = []
    for n in range(total):
        transient = transient_every and n % transient_every == 0
        channel.basic_publish("", queue, b"%06d" % n + b"." * 100,
                              TRANSIENT if transient else PERSISTENT)  # fmt: skip
        if not transient:
            kept.append(n)
    return kept


def numbers(got: list[tuple]) -> list[int]:
    return [int(body[:6]) for _m, _p, body in got]


def test_a_deep_queue_comes_back_whole_and_in_order(node):
    channel = node.channel()
    channel.queue_declare("deep", durable=True)
    kept = publish_numbered(channel, "deep", DEEP, transient_every=7)

    node.restart()

    channel = node.channel()
    assert count(channel, "deep") == len(kept)
    if node.mode == "graceful":  # restored without reading the backlog into memory
        assert node.in_memory("deep") == PAGE_WINDOW
    # basic.get through the restored window into the paged part, then a consumer.
    got = [channel.basic_get("deep", auto_ack=True) for _ in range(2500)]
    got += consume_all(channel, "deep", len(kept) - 2500)
    assert numbers(got) == kept
    assert not any(method.redelivered for method, _p, _b in got)
    assert count(channel, "deep") == 0


def test_a_deep_queue_read_past_its_window_comes_back_from_where_it_was(node):
    channel = node.channel()
    channel.queue_declare("deep", durable=True)
    publish_numbered(channel, "deep", DEEP)
    # basic.get through the first window and into the paged part, acking each.
    taken = []
    for _ in range(3000):
        method, _props, body = channel.basic_get("deep")
        channel.basic_ack(method.delivery_tag)
        taken.append(int(body[:6]))
    assert taken == list(range(3000))
    unacked = [channel.basic_get("deep") for _ in range(2)]  # 3000 and 3001, left unacked
    assert [int(body[:6]) for _m, _p, body in unacked] == [3000, 3001]

    node.restart()

    channel = node.channel()
    assert count(channel, "deep") == DEEP - 3000
    got = consume_all(channel, "deep", DEEP - 3000)
    assert numbers(got) == list(range(3000, DEEP))
    assert [method.redelivered for method, _p, _b in got[:3]] == [True, True, False]


def test_purged_and_deleted_deep_queues_stay_empty_and_gone(node):
    channel = node.channel()
    channel.queue_declare("deep.purged", durable=True)
    channel.queue_declare("deep.deleted", durable=True)
    publish_numbered(channel, "deep.purged", DEEP)
    publish_numbered(channel, "deep.deleted", DEEP)
    assert channel.queue_purge("deep.purged").method.message_count == DEEP
    assert channel.queue_delete("deep.deleted").method.message_count == DEEP
    channel.basic_publish("", "deep.purged", b"%06d after the purge" % 1, PERSISTENT)

    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "deep.deleted")
    channel.queue_declare("deep.deleted", durable=True)
    assert count(channel, "deep.deleted") == 0
    assert bodies(channel, "deep.purged") == [b"000001 after the purge"]
    publish_numbered(channel, "deep.purged", 3)
    node.restart()
    channel = node.channel()
    assert numbers(get_all(channel, "deep.purged")) == [0, 1, 2]


def test_a_restored_deep_queue_can_be_purged_and_deleted(node):
    channel = node.channel()
    for queue in ("deep.purged", "deep.deleted"):
        channel.queue_declare(queue, durable=True)
        publish_numbered(channel, queue, DEEP)

    node.restart()  # both come back with most of their messages paged

    channel = node.channel()
    assert channel.queue_purge("deep.purged").method.message_count == DEEP
    assert channel.queue_delete("deep.deleted").method.message_count == DEEP
    publish_numbered(channel, "deep.purged", 2)
    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "deep.deleted")
    assert numbers(get_all(channel, "deep.purged")) == [0, 1]


# ---- start-up: damage and refusals --------------------------------------------------


def run_amqpd(tmp_path: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AMQPD, "--bind", HOST, "--port", "0", "--data-dir", str(data_dir)],
        cwd=tmp_path, capture_output=True, text=True, timeout=START_DEADLINE,
    )  # fmt: skip


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("amqpd: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_garbage_database_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "amqpd.sqlite3").write_bytes(b"definitely not SQLite\n" * 500)
    assert_one_line_refusal(run_amqpd(tmp_path, data), "not a database", str(data))


def test_a_file_in_place_of_the_data_folder_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.write_text("a file where the folder should be")
    assert_one_line_refusal(run_amqpd(tmp_path, data), str(data))


@pytest.mark.parametrize(
    "in_the_way",
    [
        "amqpd.sqlite3",
        "amqpd.lock",
        "amqpd.sqlite3-wal",
    ],
)
def test_a_folder_in_place_of_a_store_file_stops_start_up_with_one_line(tmp_path, in_the_way):
    data = tmp_path / "data"
    (data / in_the_way).mkdir(parents=True)
    assert_one_line_refusal(run_amqpd(tmp_path, data), in_the_way)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any folder")
def test_a_folder_without_permissions_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        assert_one_line_refusal(run_amqpd(tmp_path, data), str(data))
    finally:
        data.chmod(0o700)


def test_a_second_broker_on_the_same_folder_is_refused(tmp_path, killed):
    assert_one_line_refusal(run_amqpd(tmp_path, killed.data_dir), "in use", str(killed.data_dir))
    with pytest.raises(RuntimeError) as caught:
        BrokerThread(BrokerConfig(data_dir=str(killed.data_dir))).start()
    cause = caught.value.__cause__
    while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
        cause = cause.exceptions[0]  # BrokerThread's nursery wraps it
    assert isinstance(cause, StoreError) and "in use" in str(cause), repr(cause)
    assert exists(killed, "exchange", "amq.direct")  # the first broker serves on


def test_a_clean_stop_leaves_nothing_to_recover_and_a_kill_is_noticed(killed):
    channel = killed.channel()
    channel.queue_declare("clean", durable=True)
    channel.basic_publish("", "clean", b"kept", PERSISTENT)
    killed.drop_clients()
    assert killed.process.terminate() == 0
    killed.start()
    assert "unclean" not in killed.process.log() and "torn" not in killed.process.log()
    assert killed.process.restored()[3] == 1
    killed.restart()
    assert "unclean stop" in killed.process.log(), killed.process.log()
    assert count(killed.channel(), "clean") == 1


def test_a_torn_write_ahead_log_recovers_what_was_confirmed_before_it(killed):
    channel = killed.channel()
    channel.queue_declare("torn", durable=True)
    channel.confirm_delivery()
    channel.basic_publish("", "torn", b"confirmed", PERSISTENT)
    wal = killed.data_dir / "amqpd.sqlite3-wal"
    before = wal.stat().st_size
    channel.basic_publish("", "torn", b"torn away", PERSISTENT)
    killed.stop(barrier=False)
    size = wal.stat().st_size
    assert size > before
    with open(wal, "r+b") as fh:
        page_size = int.from_bytes(fh.read(32)[8:12], "big")
        fh.truncate(size - (24 + page_size) // 2)  # cut inside the last frame
    killed.start()
    log = killed.process.log()
    assert re.search(r"WARNING .*torn", log), log
    channel = killed.channel()
    assert bodies(channel, "torn") == [b"confirmed"]
    assert killed.process.restored()[3] == 1, log
