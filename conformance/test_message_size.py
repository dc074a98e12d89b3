"""A message over max_message_size (128 MiB, RabbitMQ 3.10's default).

RabbitMQ answers once the whole body has arrived; amqpd answers as soon as the
content header declares too large a body and drops the body frames after it
(docs/compatibility.md). A client that sends its whole message, as clients do,
sees the same reply from both: channel.close 406 with RabbitMQ's text, naming
basic.publish, and its connection goes on.
"""

import struct

from pamqp import commands as C

from conformance.helpers import count, wait_for
from conformance.rawclient import raw_frame

MAX_MESSAGE_SIZE = 128 * 1024 * 1024
FRAME_PAYLOAD = 131072 - 8  # the most a body frame holds at the default frame_max


def send_content(client, size: int) -> None:
    client.send_raw(raw_frame(2, 1, struct.pack(">HHQH", 60, 0, size, 0)))
    full = raw_frame(3, 1, b"s" * FRAME_PAYLOAD)
    whole, rest = divmod(size, FRAME_PAYLOAD)
    for _ in range(whole):
        client.send_raw(full)
    if rest:
        client.send_raw(raw_frame(3, 1, b"s" * rest))


def test_a_message_one_byte_over_the_limit_closes_the_channel_with_406(lab):
    client = lab.connect()
    queue = lab.queue()
    client.call_ok(1, C.Queue.Declare(queue=queue), C.Queue.DeclareOk)
    client.send(1, C.Basic.Publish(exchange="", routing_key=queue))
    send_content(client, MAX_MESSAGE_SIZE + 1)
    code, text, class_id, method_id = client.expect_channel_error(1, timeout=60)
    assert (code, class_id, method_id) == (406, 60, 40)
    assert text == (
        f"PRECONDITION_FAILED - message size {MAX_MESSAGE_SIZE + 1} "
        f"is larger than configured max size {MAX_MESSAGE_SIZE}"
    )
    client.open_channel(1)
    client.publish(1, b"small", routing_key=queue)
    # RabbitMQ's queue takes the message a moment after the publish: poll for it.
    wait_for(lambda: count(client, queue) == 1, 10, "the small message to be queued")
