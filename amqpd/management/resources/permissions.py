"""/api/permissions and /api/topic-permissions: all, and one user's in one vhost.

Administrators only. A permission is three regular expressions (configure,
write, read); a topic permission names an exchange and two (write, read). An
invalid pattern is refused with 400 and PCRE's words for it, as RabbitMQ does.
"""

from __future__ import annotations

from amqpd.management import listing
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply
from amqpd.management.resources.users import render_permission, render_topic_permission
from amqpd.model.access import ADMINISTRATOR, Permission, TopicPermission, pattern_problem
from amqpd.model.accounts import Accounts


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/permissions", ADMINISTRATOR, get=list_all)
    router.add("/api/permissions/{vhost}/{user}", ADMINISTRATOR, get=show, put=put,
               delete=delete)  # fmt: skip
    router.add("/api/topic-permissions", ADMINISTRATOR, get=list_topic)
    router.add("/api/topic-permissions/{vhost}/{user}", ADMINISTRATOR, get=show_topic,
               put=put_topic, delete=delete_topic)  # fmt: skip


def _chars(text: str) -> list[int]:
    return [ord(c) for c in text]


def _patterns(body: dict, keys: tuple[str, ...], as_chars: bool) -> dict[str, str]:
    """The body's keys, each present and (but the exchange) a valid pattern.
    RabbitMQ shows the faulty pattern as a character list for permissions and
    as a string for topic permissions."""
    for key in keys:
        if key not in body:
            raise bad_request(f"[{{key_missing,{key}}}]")
    found = {}
    for key in keys:
        value = body[key]
        if not isinstance(value, str):
            raise bad_request(f"{key} must be a string")
        problem = pattern_problem(value) if key != "exchange" else None
        if problem is not None:
            text, offset = problem
            shown = _chars(value) if as_chars else value
            raise HTTPError(400, "bad_request", ["invalid_regexp", shown, [_chars(text), offset]])
        found[key] = value
    return found


def _existing(ctx: ManagementContext, request: Request) -> tuple[str, str]:
    vhost, user = request.params["vhost"], request.params["user"]
    if vhost not in ctx.access.vhosts or user not in ctx.access.users:
        raise bad_request("vhost_or_user_not_found")
    return vhost, user


# ---- permissions ------------------------------------------------------------------


async def list_all(ctx: ManagementContext, request: Request) -> object:
    items = [render_permission(u, v, p) for (u, v), p in ctx.access.permissions.items()]
    return listing.render(request, items, ("user", "vhost"))


async def show(ctx: ManagementContext, request: Request) -> dict:
    vhost, user = request.params["vhost"], request.params["user"]
    found = ctx.access.permissions.get((user, vhost))
    if found is None:
        raise not_found()
    return render_permission(user, vhost, found)


async def put(ctx: ManagementContext, request: Request) -> Response:
    body = request.json_object()
    p = _patterns(body, ("configure", "write", "read"), as_chars=True)
    vhost, user = _existing(ctx, request)
    permission = Permission(p["configure"], p["write"], p["read"])
    outcome = await apply(ctx, lambda: Accounts(ctx.broker).set_permission(user, vhost,
                                                                           permission))  # fmt: skip
    return created_or_updated(outcome.created)


async def delete(ctx: ManagementContext, request: Request) -> Response:
    vhost, user = request.params["vhost"], request.params["user"]
    if (user, vhost) not in ctx.access.permissions:
        raise not_found()
    await apply(ctx, lambda: Accounts(ctx.broker).clear_permission(user, vhost))
    return NO_CONTENT


# ---- topic permissions ------------------------------------------------------------


def _topic_items(ctx: ManagementContext, vhost: str | None, user: str | None) -> list[dict]:
    return [
        render_topic_permission(u, v, p)
        for (u, v), found in ctx.access.topic_permissions.items()
        if (vhost is None or v == vhost) and (user is None or u == user)
        for p in found.values()
    ]


async def list_topic(ctx: ManagementContext, request: Request) -> object:
    return listing.render(request, _topic_items(ctx, None, None), ("user", "vhost", "exchange"))


async def show_topic(ctx: ManagementContext, request: Request) -> object:
    items = _topic_items(ctx, request.params["vhost"], request.params["user"])
    if not items:
        raise not_found()
    return listing.render(request, items, ("exchange",))


async def put_topic(ctx: ManagementContext, request: Request) -> Response:
    body = request.json_object()
    p = _patterns(body, ("exchange", "write", "read"), as_chars=False)
    vhost, user = _existing(ctx, request)
    permission = TopicPermission(p["exchange"], p["write"], p["read"])
    outcome = await apply(ctx, lambda: Accounts(ctx.broker).set_topic_permission(
        user, vhost, permission))  # fmt: skip
    return created_or_updated(outcome.created)


async def delete_topic(ctx: ManagementContext, request: Request) -> Response:
    vhost, user = request.params["vhost"], request.params["user"]
    if not _topic_items(ctx, vhost, user):
        raise not_found()
    await apply(ctx, lambda: Accounts(ctx.broker).clear_topic_permissions(user, vhost))
    return NO_CONTENT
