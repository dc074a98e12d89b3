"""C librabbitmq through its command-line tools (Debian's amqp-tools).

The generated C publisher with every header type is in test_cross_language.py.
"""

import subprocess
import time

import pika

from interop import clients
from interop.crosslang import temp_queue
from interop.helpers import unique


def amqp_tool(tool: str, broker, *args: str, input: bytes | None = None) -> bytes:
    path = clients.require_tool(tool)
    proc = subprocess.run(
        [path, f"--url={broker.url}", *args],
        input=input,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, f"{tool} exited {proc.returncode}: {proc.stderr!r}"
    return proc.stdout


def get_one(broker, queue: str, wait: float = 0):
    """basic.get, retried for ``wait`` seconds while the queue is empty."""
    deadline = time.monotonic() + wait
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is not None or time.monotonic() >= deadline:
                return method, props, body
    finally:
        conn.close()


def test_amqp_publish_properties_and_headers_reach_pika(broker):
    with temp_queue(broker, "c-publish") as queue:
        amqp_tool(
            "amqp-publish", broker,
            f"--routing-key={queue}", "--persistent",
            "--content-type=application/json", "--content-encoding=utf-8",
            "--reply-to=replies", "-H", "x-tenant: acme", "-H", "trace-id: 0af7651916cd43dd",
            '--body={"hello": "wörld"}',
        )  # fmt: skip
        method, props, body = get_one(broker, queue, wait=10)
    assert method is not None, "nothing arrived"
    assert body == '{"hello": "wörld"}'.encode()
    assert props.delivery_mode == 2
    assert props.content_type == "application/json"
    assert props.content_encoding == "utf-8"
    assert props.reply_to == "replies"
    assert props.headers == {"x-tenant": b"acme", "trace-id": b"0af7651916cd43dd"} or (
        props.headers == {"x-tenant": "acme", "trace-id": "0af7651916cd43dd"}
    )


def test_amqp_publish_line_buffered_to_a_topic_exchange(broker):
    exchange = unique("c-topic")
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        ch.exchange_declare(exchange, "topic", auto_delete=True)
        with temp_queue(broker, "c-lines") as queue:
            ch.queue_bind(queue, exchange, "log.#")
            amqp_tool(
                "amqp-publish", broker, f"--exchange={exchange}", "--routing-key=log.app.info",
                "--line-buffered", input=b"first line\nsecond line\nthird line\n",
            )  # fmt: skip
            bodies = []
            deadline = time.monotonic() + 10
            while len(bodies) < 3 and time.monotonic() < deadline:
                method, _, body = ch.basic_get(queue, auto_ack=True)
                if method is not None:
                    bodies.append(body)
    finally:
        conn.close()
    # Each line is one message, its newline included.
    assert bodies == [b"first line\n", b"second line\n", b"third line\n"]


def test_amqp_consume_hands_binary_bodies_to_a_command(broker):
    bodies = [bytes(range(256)), b"\x00" * 10 + b"end", b"plain text\n"]
    with temp_queue(broker, "c-consume") as queue:
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            for body in bodies:
                ch.basic_publish("", queue, body)
        finally:
            conn.close()
        # amqp-consume runs the command once per message with the body on stdin.
        out = amqp_tool(
            "amqp-consume", broker, f"--queue={queue}", "--count=3", "--prefetch-count=1", "cat"
        )
        leftover = get_one(broker, queue)[0]
    assert out == b"".join(bodies)
    assert leftover is None


def test_declare_get_and_delete_queue_tools(broker):
    queue = unique("c-tools")
    declared = amqp_tool("amqp-declare-queue", broker, f"--queue={queue}")
    assert declared.strip() == queue.encode()
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("", queue, b"fetched by amqp-get")
    finally:
        conn.close()
    assert amqp_tool("amqp-get", broker, f"--queue={queue}") == b"fetched by amqp-get"
    # amqp-get exits non-zero on an empty queue.
    empty = subprocess.run(
        [clients.require_tool("amqp-get"), f"--url={broker.url}", f"--queue={queue}"],
        capture_output=True,
        timeout=30,
    )
    assert empty.returncode != 0 and empty.stdout == b""
    amqp_tool("amqp-delete-queue", broker, f"--queue={queue}")
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        try:
            ch.queue_declare(queue, passive=True)
            raise AssertionError("the queue is still there")
        except pika.exceptions.ChannelClosedByBroker as exc:
            assert exc.reply_code == 404
    finally:
        if conn.is_open:
            conn.close()
