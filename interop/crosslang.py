"""Messages that cross client languages, written down once as typed JSON.

A header value is ``{"t": TAG, "v": VALUE}``, TAG an AMQP 0-9-1 field-table type
letter as RabbitMQ reads them (t b B s u I i l f d D S x T V F A). Bytes travel as
base64, decimals as ``{"scale": s, "value": n}``, timestamps as seconds. Each
language's publisher encodes every tag with exactly that wire type; each
consumer reports what its library decoded, as exactly as the library can tell:
Go's amqp091 keeps every type, amqplib and the Python clients fold all numbers
into one (reported as tag ``n``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import json
import time

import pika

from interop.helpers import py_amqp_connection, unique

NUMERIC = set("bBsuIilfdn")


def typed(tag: str, value=None) -> dict:
    return {"t": tag, "v": value}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def header_set(*, without: str = "", drop=None) -> dict:
    """Every field type, at its edges, but for the tags in ``without``: a consumer
    whose library cannot decode a type (Go's amqp091: u and i; Ruby's amq-protocol:
    B, u and i) fails the whole delivery on it. ``drop(value, in_array)`` leaves
    out any other value a client is known to mangle."""
    headers = {
        "bool-true": typed("t", True),
        "bool-false": typed("t", False),
        "int8": typed("b", -128),
        "uint8": typed("B", 255),
        "int16": typed("s", -32768),
        "int32": typed("I", -(2**31)),
        "int32-max": typed("I", 2**31 - 1),
        "int64": typed("l", 2**53 - 1),
        "int64-neg": typed("l", -(2**40) - 5),
        "float32": typed("f", 1.5),
        "float64": typed("d", 3.141592653589793),
        "float64-neg": typed("d", -0.25),
        "decimal": typed("D", {"scale": 2, "value": 12345}),
        "string": typed("S", "häagen-dazs ✓ \u4e2d"),
        "empty-string": typed("S", ""),
        "bytes": typed("x", b64(b"\x00\x01\x7f\x80\xfe\xff")),
        "timestamp": typed("T", 1_700_000_000),
        "void": typed("V"),
        "table": typed(
            "F",
            {
                "inner": typed("I", 1),
                "deeper": typed("F", {"s": typed("S", "x"), "b": typed("t", True)}),
            },
        ),
        "array": typed(
            "A",
            [
                typed("I", 1),
                typed("S", "two"),
                typed("t", False),
                typed("A", [typed("d", 2.5), typed("V")]),
                typed("F", {"k": typed("S", "v")}),
            ],
        ),
        "x-custom-routing": typed("S", "kept as is"),
    }
    headers["uint16"] = typed("u", 65535)
    headers["uint32"] = typed("i", 2**32 - 1)
    return _without(headers, without, drop)


def _without(table: dict, tags: str, drop=None, in_array: bool = False) -> dict:
    out = {}
    for key, value in table.items():
        if value["t"] in tags or (drop is not None and drop(value, in_array)):
            continue
        if value["t"] == "F":
            value = typed("F", _without(value["v"], tags, drop))
        elif value["t"] == "A":
            kept = _without(dict(enumerate(value["v"])), tags, drop, in_array=True)
            value = typed("A", list(kept.values()))
        out[key] = value
    return out


def messages(user: str, *, without: str = "ui", drop=None) -> list[dict]:
    """A JSON message with every property and header type, a binary one spanning
    several frames, and an empty one with no properties at all."""
    binary = bytes(range(256)) * 1200 + b"\x00tail"
    return [
        {
            "body": b64(json.dumps({"order": 17, "items": ["a", "ü"], "ok": True}).encode()),
            "properties": {
                "content_type": "application/json",
                "content_encoding": "utf-8",
                "delivery_mode": 2,
                "priority": 7,
                "correlation_id": "corr-7",
                "reply_to": "reply-queue",
                "expiration": "600000",
                "message_id": "msg-1",
                "timestamp": 1_700_000_123,
                "type": "order.created",
                "user_id": user,
                "app_id": "interop",
                "headers": header_set(without=without, drop=drop),
            },
        },
        {
            "body": b64(binary),
            "properties": {
                "content_type": "application/octet-stream",
                "delivery_mode": 1,
                "priority": 1,
                "headers": {"part": typed("I", 2), "raw": typed("x", b64(b"\x00\xff" * 300))},
            },
        },
        {"body": "", "properties": {}},
    ]


# --- comparison ---------------------------------------------------------------


def decimal_text(v) -> str:
    number = decimal.Decimal(v["value"]).scaleb(-v["scale"]) if isinstance(v, dict) else v
    return str(decimal.Decimal(number).normalize())


def fold(value: dict, fidelity: str):
    """A typed value as a consumer of the given fidelity can see it.

    ``exact``: every wire type (Go's amqp091). ``coarse``: numbers of any width
    are one kind (amqplib, the Python clients). ``ruby``: coarse, and long strings
    and byte arrays are one kind too (Bunny).
    """
    tag, v = value["t"], value.get("v")
    if tag == "F":
        return ("F", {k: fold(x, fidelity) for k, x in v.items()})
    if tag == "A":
        return ("A", [fold(x, fidelity) for x in v])
    if fidelity == "exact":
        return (tag, float(v)) if tag in "fd" else (tag, v)
    if tag in NUMERIC:
        return ("n", float(v))
    if tag == "D":
        return ("D", decimal_text(v))
    if fidelity == "ruby" and tag in ("S", "x", "str"):
        raw = v.encode() if tag == "S" else base64.b64decode(v)
        return ("str", b64(raw))
    return (tag, v)


def normalise(message: dict, *, fidelity: str) -> dict:
    """A sent or received message in comparable form (see ``fold``)."""
    props = dict(message.get("properties", {}))
    headers = props.pop("headers", None)
    out = {"body": message["body"], "properties": props}
    if headers:
        out["headers"] = {k: fold(v, fidelity) for k, v in headers.items()}
    return out


def assert_same_messages(sent: list[dict], received: list[dict], *, fidelity: str) -> None:
    assert len(received) == len(sent)
    for i, (s, r) in enumerate(zip(sent, received, strict=True)):
        want, got = normalise(s, fidelity=fidelity), normalise(r, fidelity=fidelity)
        assert got["body"] == want["body"], f"message {i}: body differs"
        assert got["properties"] == want["properties"], (
            f"message {i}: properties differ: sent {want['properties']}, "
            f"received {got['properties']}"
        )
        want_h, got_h = want.get("headers") or {}, got.get("headers") or {}
        differ = {
            k: {"sent": want_h.get(k), "received": got_h.get(k)}
            for k in sorted(set(want_h) | set(got_h))
            if want_h.get(k) != got_h.get(k)
        }
        assert not differ, f"message {i}: headers differ: {differ}"


# --- the Python side ----------------------------------------------------------


def to_python(value: dict):
    """A typed value as the Python clients write it (their own choice of width)."""
    tag, v = value["t"], value.get("v")
    if tag == "t":
        return bool(v)
    if tag in "bBsuIil":
        return int(v)
    if tag in "fd":
        return float(v)
    if tag == "D":
        return decimal.Decimal(v["value"]).scaleb(-v["scale"])
    if tag == "S":
        return v
    if tag == "x":
        return base64.b64decode(v)
    if tag == "T":
        return datetime.datetime.fromtimestamp(v, datetime.UTC).replace(tzinfo=None)
    if tag == "V":
        return None
    if tag == "F":
        return {k: to_python(x) for k, x in v.items()}
    if tag == "A":
        return [to_python(x) for x in v]
    raise ValueError(tag)


def from_python(value):
    """What a Python client decoded, as typed JSON (numbers folded to ``n``)."""
    if value is None:
        return typed("V")
    if isinstance(value, bool):
        return typed("t", value)
    if isinstance(value, int | float):
        return typed("n", value)
    if isinstance(value, decimal.Decimal):
        sign, digits, exponent = value.as_tuple()
        n = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        return typed("D", {"scale": -exponent, "value": n})
    if isinstance(value, str):
        return typed("S", value)
    if isinstance(value, bytes | bytearray | memoryview):
        return typed("x", b64(bytes(value)))
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return typed("T", int(aware.timestamp()))
    if isinstance(value, dict):
        return typed("F", {k: from_python(x) for k, x in value.items()})
    if isinstance(value, list | tuple):
        return typed("A", [from_python(x) for x in value])
    raise TypeError(type(value))


@contextlib.contextmanager
def temp_queue(broker, prefix: str = "xlang"):
    """A fresh queue for one exchange of messages; deleted afterwards (and it
    expires on its own should the test die first)."""
    name = unique(prefix)
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        ch.queue_declare(name, arguments={"x-expires": 120_000})
        yield name
        ch.queue_delete(name)
    finally:
        conn.close()


def pika_publish(url: str, routing_key: str, sent: list[dict]) -> None:
    """Publish with pika on a confirm channel. pika writes ints as I or l, bytes as
    x, and has no float field type (its tables refuse floats)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        for m in sent:
            p = dict(m["properties"])
            headers = p.pop("headers", None)
            props = pika.BasicProperties(
                headers={k: to_python(v) for k, v in headers.items()} if headers else None,
                **p,
            )
            ch.basic_publish("", routing_key, base64.b64decode(m["body"]), props)
    finally:
        conn.close()


def py_amqp_consume(broker, queue: str, count: int, seconds: float = 20) -> list[dict]:
    """Consume with py-amqp (kombu's and Celery's transport) and describe each message."""
    conn = py_amqp_connection(broker)
    conn.connect()
    got: list[dict] = []
    try:
        ch = conn.channel()

        def on_message(message):
            props = {}
            for name, value in message.properties.items():
                if name == "application_headers":
                    props["headers"] = {k: from_python(v) for k, v in value.items()}
                elif name == "timestamp" and isinstance(value, datetime.datetime):
                    props[name] = int(value.replace(tzinfo=datetime.UTC).timestamp())
                elif value is not None:
                    props[name] = value
            body = message.body
            if isinstance(body, str):
                # py-amqp decodes bodies that declare a content encoding.
                body = body.encode(props.get("content_encoding", "utf-8"))
            got.append({"body": b64(body), "properties": props})
            ch.basic_ack(message.delivery_tag)

        ch.basic_consume(queue, callback=on_message)
        deadline = time.monotonic() + seconds
        while len(got) < count:
            assert time.monotonic() < deadline, f"timed out with {len(got)} of {count}"
            try:
                conn.drain_events(timeout=0.05)
            except TimeoutError:
                pass
    finally:
        conn.close()
    return got
