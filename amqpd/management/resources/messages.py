"""POST /api/queues/{vhost}/{name}/get and /api/exchanges/{vhost}/{name}/publish.

Both go through the model as basic.get and basic.publish do (``model.admin``),
so routing, limits, dead-lettering and the journal hold; an answer waits until
a durable change is on disk, as a publisher confirm would. Bodies, fields and
refusals are RabbitMQ's, including its quirks: missing keys are listed as the
Erlang term it prints, and a message without properties shows ``[]``.
"""

from __future__ import annotations

import base64
import binascii

from amqpd.errors import AMQPError, ReplyCode
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request
from amqpd.management.request import Request
from amqpd.management.resources.common import amqp_fault, apply, vhost_param
from amqpd.management.resources.values import to_field, typed_json
from amqpd.model.admin import ACKMODES, Got, Outcome
from amqpd.model.ready import LANE_MIN
from amqpd.wire import properties as props_codec
from amqpd.wire.fieldtable import TableError

DEFAULT_IN_URLS = "amq.default"
_GET_KEYS = ("ackmode", "count", "encoding")
_PUBLISH_KEYS = ("routing_key", "properties", "payload", "payload_encoding")
_INTEGER_PROPERTIES = ("delivery_mode", "priority", "timestamp")
_TEXT_PROPERTIES = tuple(name for name, kind in props_codec.FIELDS if kind == "s")


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/queues/{vhost}/{name}/get", post=get)
    router.add("/api/exchanges/{vhost}/{name}/publish", post=publish)


def _missing(body: dict, keys: tuple[str, ...]) -> None:
    """RabbitMQ names every missing key at once, as the Erlang list ~p prints."""
    missing = [f"{{key_missing,{key}}}" for key in keys if key not in body]
    if not missing:
        return
    flat = "[" + ",".join(missing) + "]"
    raise bad_request(flat if len(flat) <= 75 else "[" + ",\n ".join(missing) + "]")


def _integer(value: object, name: str) -> int:
    """An integer, or a string of one (RabbitMQ parses both)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise HTTPError(400, "bad_request", ["not_integer", value])


# ---- get --------------------------------------------------------------------------
async def get(ctx: ManagementContext, request: Request) -> list:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    body = request.json_object()
    _missing(body, _GET_KEYS)
    ackmode, encoding = body["ackmode"], body["encoding"]
    if encoding not in ("auto", "base64"):
        raise bad_request("Unsupported encoding. Please use auto or base64.")
    count = _integer(body["count"], "count")
    truncate = _integer(body["truncate"], "truncate") if "truncate" in body else None
    if ackmode not in ACKMODES:  # RabbitMQ fails with 500 here; amqpd says why
        raise bad_request(f"Unsupported ackmode '{ackmode}'. Please use one of "
                          + ", ".join(ACKMODES) + ".")  # fmt: skip
    if count < 1:
        return []
    await _page_in(ctx, vhost, name, count)

    def take() -> Outcome:
        try:
            return ctx.admin.get(vhost, name, count, ackmode, request.user.name)
        except AMQPError as err:
            raise _get_fault(err) from None

    outcome = await apply(ctx, take)
    return [_render(got, encoding, truncate) for got in outcome.got]


async def _page_in(ctx: ManagementContext, vhost: str, name: str, count: int) -> None:
    """A deep queue's next messages are in the store: have them read back first
    (a few rounds at most; each reads up to a lane's window)."""
    for _ in range(1 + count // LANE_MIN):
        if not ctx.admin.page_in_for_get(vhost, name, count):
            return
        await ctx.written()


def _get_fault(err: AMQPError) -> HTTPError:
    if err.code == ReplyCode.NOT_FOUND:
        return HTTPError(404, "not_found", f"NOT_FOUND - {err.detail}")
    if err.code == ReplyCode.NOT_IMPLEMENTED:  # a stream: RabbitMQ's reason carries the code
        return HTTPError(400, "bad_request", f"{int(err.code)} {err.detail}")
    return amqp_fault(err)


def _render(got: Got, encoding: str, truncate: int | None) -> dict:
    message = got.message
    payload = message.body if truncate is None else message.body[: max(truncate, 0)]
    shown, kind = None, "base64"
    if encoding == "auto":
        try:
            shown, kind = payload.decode("utf-8"), "string"
        except UnicodeDecodeError:
            pass
    if shown is None:
        shown = base64.b64encode(payload).decode()
    return {
        "payload_bytes": len(message.body),
        "redelivered": got.redelivered,
        "exchange": message.exchange,
        "routing_key": message.routing_key,
        "message_count": got.message_count,
        "properties": _properties(message.props) or [],
        "payload": shown,
        "payload_encoding": kind,
    }


def _properties(props: dict) -> dict:
    """Properties as RabbitMQ renders them: the last property first, headers sorted."""
    out: dict = {}
    for name, kind in reversed(props_codec.FIELDS):
        if name not in props or props[name] is None:
            continue
        value = props[name]
        if kind == "s":
            value = bytes(value).decode("utf-8", "replace")
        elif kind == "F":
            value = typed_json(("F", value))
        out[name] = value
    return out


# ---- publish ----------------------------------------------------------------------
async def publish(ctx: ManagementContext, request: Request) -> dict:
    vhost = vhost_param(ctx, request)
    name = request.params["name"]
    exchange = "" if name == DEFAULT_IN_URLS else name
    body = request.json_object()
    _missing(body, _PUBLISH_KEYS)
    payload = _payload(body["payload"], body["payload_encoding"])
    properties = _publish_properties(body["properties"])
    key = body["routing_key"]
    if not isinstance(key, str):
        raise bad_request("not_json")

    def send() -> Outcome:
        try:
            return ctx.admin.publish(vhost, exchange, key, properties, payload, request.user.name)
        except AMQPError as err:
            code = int(err.code)
            raise bad_request(f"{code} {ReplyCode(code).name} - {err.detail}") from None

    outcome = await apply(ctx, send)
    return {"routed": outcome.routed}


def _payload(payload: object, encoding: object) -> bytes:
    if not isinstance(payload, str):
        raise bad_request("payload_not_string")
    if encoding == "string":
        return payload.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPError(400, "bad_request", ["not_base64", payload]) from None
    raise HTTPError(400, "bad_request", ["unsupported_encoding", encoding])


def _publish_properties(given: object) -> dict:
    """JSON properties as typed ones; unknown names are ignored, as RabbitMQ does."""
    if not isinstance(given, dict):
        raise bad_request("not_json")  # RabbitMQ fails with 500 here
    props: dict = {}
    for name, value in given.items():
        typed = _property(name, value)
        if typed is not None:
            props[name] = typed
    mode = props.get("delivery_mode", 1)
    if not 0 <= mode <= 255:  # 0 and 3..255 are refused by publish's own check
        reason = f"406 PRECONDITION_FAILED - invalid message: {{delivery_mode_unknown,{mode}}}"
        raise HTTPError(400, "bad_request", reason)
    if not 0 <= props.get("priority", 0) <= 255:
        raise HTTPError(400, "bad_request", ["not_int", "priority"])
    try:
        props_codec.encode(props)
    except (TableError, ValueError, OverflowError):
        raise bad_request("not_json") from None
    return props


def _property(name: str, value: object) -> object:
    """One property as the codec takes it, or None for a name RabbitMQ ignores."""
    if name in _INTEGER_PROPERTIES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise HTTPError(400, "bad_request", ["not_int", name])
        return value
    if name in _TEXT_PROPERTIES:
        return (value if isinstance(value, str) else str(value)).encode("utf-8")
    if name == "headers":
        if not isinstance(value, dict):
            raise bad_request("not_json")  # RabbitMQ fails with 500 here
        return {str(k): to_field(v) for k, v in value.items()}
    return None
