"""kill -9 amqpd while publishers append to a stream, again and again, and lose
nothing confirmed: afterwards the log holds every confirmed message once or
more, undamaged, at dense offsets, each publisher's messages in their order."""

from __future__ import annotations

import random
import threading
import time

import pika
from pamqp import commands as C

from conformance import typed
from conformance.rawclient import RawClient
from tests.broker_process import HOST, ProcessBroker, connection_parameters

ROUNDS = 4
PUBLISHERS = 2
STREAM = "crash-stream"


def body_for(msg_id: str) -> bytes:
    return msg_id.encode() + b":" + msg_id.encode()[::-1] * 20


class Publisher(threading.Thread):
    """Publishes ids p<n>-<seq> with confirms, one at a time, reconnecting after kills."""

    def __init__(self, number: int, broker: ProcessBroker, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number, self.broker, self.stop = number, broker, stop
        self.confirmed: list[str] = []
        self.seq = 0

    def run(self) -> None:
        while not self.stop.is_set():
            port = self.broker.port
            if port is None:
                time.sleep(0.05)
                continue
            try:
                connection = pika.BlockingConnection(connection_parameters(port))
                channel = connection.channel()
                channel.confirm_delivery()
                while not self.stop.is_set():
                    msg_id = f"p{self.number}-{self.seq}"
                    self.seq += 1
                    channel.basic_publish("", STREAM, body_for(msg_id))
                    self.confirmed.append(msg_id)
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                time.sleep(0.05)


def read_log(port: int) -> list[tuple[int, bytes]]:
    client = RawClient(HOST, port, timeout=30)
    client.handshake()
    client.open_channel(1)
    ok = client.call_ok(1, C.Queue.Declare(queue=STREAM, passive=True), C.Queue.DeclareOk)
    assert ok.message_count == 0
    client.call_ok(1, C.Basic.Qos(prefetch_count=1000), C.Basic.QosOk)
    fields = typed.encode_table([("x-stream-offset", "S", "first")])
    client.send_with_table(1, C.Basic.Consume(queue=STREAM), fields)
    client.expect(C.Basic.ConsumeOk)
    got = []
    try:
        while True:
            _, method, props, body = typed.read_message(client, timeout=2)
            (offset,) = [v for k, _t, v in props["headers"] if k == "x-stream-offset"]
            got.append((offset, body))
            client.send(1, C.Basic.Ack(delivery_tag=method.delivery_tag))
    except TimeoutError:
        pass
    client.close()
    return got


def test_confirmed_stream_messages_survive_repeated_kill_9(tmp_path):
    rng = random.Random(20261205)
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs", "--management-port", "off",
                           "--prometheus-port", "off")  # fmt: skip
    port = broker.start()
    connection = pika.BlockingConnection(connection_parameters(port))
    connection.channel().queue_declare(STREAM, durable=True, arguments={"x-queue-type": "stream"})
    connection.close()
    stop = threading.Event()
    publishers = [Publisher(n, broker, stop) for n in range(PUBLISHERS)]
    for publisher in publishers:
        publisher.start()
    try:
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(0.3, 1.5))
            broker.kill()
            broker.start()
        time.sleep(0.5)
        stop.set()
        for publisher in publishers:
            publisher.join(timeout=20)
        broker.kill()
        port = broker.start()
        log = read_log(port)
    finally:
        stop.set()
        broker.kill()
    assert [offset for offset, _ in log] == list(range(len(log)))
    ids = []
    for _offset, body in log:
        msg_id = body.split(b":", 1)[0].decode()
        assert body == body_for(msg_id), msg_id
        ids.append(msg_id)
    confirmed = [m for p in publishers for m in p.confirmed]
    assert len(confirmed) > 100
    assert set(confirmed) <= set(ids)
    for publisher in publishers:  # each publisher's first appearances are in order
        seqs = [
            int(m.split("-")[1])
            for m in dict.fromkeys(ids)
            if m.startswith(f"p{publisher.number}-")
        ]
        assert seqs == sorted(seqs)
