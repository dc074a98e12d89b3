"""A long stream stays on disk: publishing and replaying 100 MB of stream
messages leaves amqpd's resident memory tens of megabytes above its start, not
a hundred (the log's tail and one read batch per consumer are in memory)."""

from __future__ import annotations

from pamqp import commands as C
from pamqp import frame, header
from pamqp.body import ContentBody

from conformance import typed
from conformance.rawclient import RawClient
from tests.broker_process import HOST, ProcessBroker

COUNT, SIZE = 100_000, 1000  # 100 MB of bodies
ALLOWED = 40 * 1024 * 1024  # growth allowed over the broker's resident memory at start


def rss_of(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        lines = [line.split(":") for line in status if line.startswith(("VmRSS:", "VmHWM:"))]
    return {key: int(value.split()[0]) * 1024 for key, value in lines}


def test_a_long_stream_is_published_and_replayed_in_bounded_memory(tmp_path):
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs", "--management-port", "off",
                           "--prometheus-port", "off")  # fmt: skip
    port = broker.start()
    try:
        start = rss_of(broker.proc.pid)["VmRSS"]
        publisher = RawClient(HOST, port, timeout=60)
        publisher.handshake()
        publisher.open_channel(1)
        fields = typed.encode_table([("x-queue-type", "S", "stream")])
        publisher.send_with_table(1, C.Queue.Declare(queue="big", durable=True), fields)
        publisher.expect(C.Queue.DeclareOk)
        publisher.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
        one = b"".join(frame.marshal(part, 1) for part in (
            C.Basic.Publish(routing_key="big"),
            header.ContentHeader(0, SIZE, C.Basic.Properties()),
            ContentBody(b"x" * SIZE),
        ))  # fmt: skip
        confirmed = 0
        for sent in range(2000, COUNT + 1, 2000):
            publisher.send_raw(one * 2000)
            while confirmed < sent - 4000 or (sent == COUNT and confirmed < COUNT):
                _, ack = publisher.expect(C.Basic.Ack)
                confirmed = max(confirmed, ack.delivery_tag)
        published = rss_of(broker.proc.pid)["VmRSS"]

        reader = RawClient(HOST, port, timeout=60)
        reader.handshake()
        reader.open_channel(1)
        reader.call_ok(1, C.Basic.Qos(prefetch_count=500), C.Basic.QosOk)
        fields = typed.encode_table([("x-stream-offset", "S", "first")])
        reader.send_with_table(1, C.Basic.Consume(queue="big"), fields)
        reader.expect(C.Basic.ConsumeOk)
        for got in range(1, COUNT + 1):
            _, method, props, _body = typed.read_message(reader)
            if got % 250 == 0:
                reader.send(1, C.Basic.Ack(delivery_tag=method.delivery_tag, multiple=True))
        assert props["headers"] == [("x-stream-offset", "l", COUNT - 1)]
        peak = rss_of(broker.proc.pid)["VmHWM"]
        assert published - start < ALLOWED, (start, published)
        assert peak - start < ALLOWED, (start, peak)
    finally:
        broker.kill()
