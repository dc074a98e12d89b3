"""Helpers every resource module shares: AMQP faults as HTTP, body fields, the durable wait."""

from __future__ import annotations

from amqpd.errors import AMQPError, ReplyCode
from amqpd.management.auth import require_vhost
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_authorised, not_found
from amqpd.management.request import Request
from amqpd.management.resources.values import check_depth
from amqpd.model.admin import Outcome
from amqpd.model.snapshot import QueueSnapshot

NODE_DEFAULT = "rabbit@localhost"


def amqp_fault(err: AMQPError) -> HTTPError:
    """An AMQP refusal as the management API reports it."""
    if err.code == ReplyCode.ACCESS_REFUSED:
        return not_authorised("Access refused.")
    if err.code == ReplyCode.NOT_FOUND:
        return not_found()
    return bad_request(err.detail)


async def apply(ctx: ManagementContext, change) -> Outcome:  # noqa: ANN001 - () -> Outcome
    """Run a model change; once it made a durable change, answer only when it is on disk."""
    try:
        outcome = change()
    except AMQPError as err:
        raise amqp_fault(err) from None
    if outcome.durable:
        await ctx.written()
    return outcome


def boolean(body: dict, key: str, default: bool) -> bool:
    """A JSON boolean, or the strings "true" and "false" (rabbitmqadmin sends those)."""
    value = body.get(key, default)
    if value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise HTTPError(400, "bad_request", ["not_boolean", value])
    return value


def table(body: dict, key: str) -> dict:
    """Arguments as a JSON object; RabbitMQ takes an empty list (pyrabbit2 sends []) as none."""
    value = body.get(key, {})
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise bad_request("not_json")
    return check_depth(value)


def flag(request: Request, name: str) -> bool:
    """A query flag such as ``if-empty=true``."""
    return request.query.get(name) == "true"


def vhost_param(ctx: ManagementContext, request: Request) -> str:
    """The request's vhost, once the user may see it (404 unknown, 401 not theirs)."""
    vhost = request.params["vhost"]
    require_vhost(ctx.access, request.user, vhost)
    return vhost


# A rate the API reports (all are zero for now): one object shared by every
# answer, never changed, so a long list makes no garbage for it.
ZERO_RATE = {"rate": 0.0}


def queue_totals(queues: list[QueueSnapshot]) -> dict:
    """messages, messages_ready and messages_unacknowledged summed, as the
    overview and each vhost show them."""
    ready = sum(q.messages_ready for q in queues)
    unacked = sum(q.messages_unacknowledged for q in queues)
    return {
        "messages": ready + unacked,
        "messages_details": ZERO_RATE,
        "messages_ready": ready,
        "messages_ready_details": ZERO_RATE,
        "messages_unacknowledged": unacked,
        "messages_unacknowledged_details": ZERO_RATE,
    }
