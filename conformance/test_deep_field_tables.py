"""Field tables nested 64 levels deep work end to end on both brokers.

64 levels is the deepest amqpd decodes (docs/compatibility.md); RabbitMQ takes
far more. At that depth headers survive publishing, expiry and dead-lettering
byte for byte, and queue arguments are accepted.
"""

import struct

from pamqp import commands as C

from conformance import typed
from conformance.helpers import declare, dlx, wait_get
from conformance.rawclient import raw_frame

DEPTH = 64


def nested_items(depth: int) -> list:
    """Typed items of a table ``depth`` levels deep, counting itself: key "a"
    holds the next level down, and the deepest holds a string."""
    items = [("leaf", "S", "bottom")]
    for _ in range(depth - 1):
        items = [("a", "F", items)]
    return items


def test_headers_64_levels_deep_are_dead_lettered_intact(lab):
    client = lab.connect()
    dlq, queue = lab.queue("dlq"), lab.queue("ttl")
    declare(client, dlq)
    declare(client, queue, *dlx("", dlq), ("x-message-ttl", "l", 1))
    headers = nested_items(DEPTH)
    props = struct.pack(">H", 0x2000) + typed.encode_table(headers)
    client.send(1, C.Basic.Publish(exchange="", routing_key=queue))
    header = struct.pack(">HHQ", 60, 0, 4) + props
    client.send_raw(raw_frame(2, 1, header) + raw_frame(3, 1, b"deep"))
    _method, got, body = wait_get(client, dlq)
    assert body == b"deep"
    by_name = {name: (code, value) for name, code, value in got["headers"]}
    assert by_name["a"] == ("F", headers[0][2])
    assert by_name["x-first-death-reason"] == ("S", "expired")


def test_queue_arguments_64_levels_deep_are_accepted(lab):
    client = lab.connect()
    queue = lab.queue()
    ok = declare(client, queue, ("x-app-data", "F", nested_items(DEPTH - 1)))
    assert ok.queue == queue
