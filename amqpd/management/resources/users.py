"""/api/users (+ one user, their permissions, without-permissions, bulk-delete).

Administrators only, as in RabbitMQ. Passwords never leave the broker: a user
shows its salted hash (RabbitMQ's ``rabbit_password_hashing_sha256``), and no
error or log line repeats a password.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from amqpd.management import listing
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply
from amqpd.model.access import ADMINISTRATOR, SHA256, User, hash_password
from amqpd.model.accounts import Accounts


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/users", ADMINISTRATOR, get=list_all)
    router.add("/api/users/without-permissions", ADMINISTRATOR, get=without_permissions)
    router.add("/api/users/bulk-delete", ADMINISTRATOR, post=bulk_delete)
    router.add("/api/users/{user}", ADMINISTRATOR, get=show, put=put, delete=delete)
    router.add("/api/users/{user}/permissions", ADMINISTRATOR, get=permissions)
    router.add("/api/users/{user}/topic-permissions", ADMINISTRATOR, get=topic_permissions)


def render(user: User) -> dict:
    return {
        "name": user.name,
        "password_hash": user.password_hash,
        "hashing_algorithm": user.hashing_algorithm,
        "tags": list(user.tags),
        "limits": dict(user.limits),
    }


def render_permission(user: str, vhost: str, p) -> dict:  # noqa: ANN001 - a Permission
    return {"user": user, "vhost": vhost, "configure": p.configure, "write": p.write,
            "read": p.read}  # fmt: skip


def render_topic_permission(user: str, vhost: str, p) -> dict:  # noqa: ANN001
    return {"user": user, "vhost": vhost, "exchange": p.exchange, "write": p.write,
            "read": p.read}  # fmt: skip


def parse_tags(value: object) -> tuple[str, ...]:
    """Tags as RabbitMQ takes them: "a,b" (spaces and empty items dropped) or a list."""
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(t.strip() for t in value if t.strip())
    raise bad_request("tags must be a comma-separated string or a list of strings")


def _user(ctx: ManagementContext, request: Request) -> User:
    found = ctx.access.users.get(request.params["user"])
    if found is None:
        raise not_found()
    return found


async def list_all(ctx: ManagementContext, request: Request) -> object:
    return listing.render(request, [render(u) for u in ctx.access.users.values()])


async def without_permissions(ctx: ManagementContext, request: Request) -> object:
    holders = {user for user, _vhost in ctx.access.permissions}
    items = [render(u) for u in ctx.access.users.values() if u.name not in holders]
    return listing.render(request, items)


async def show(ctx: ManagementContext, request: Request) -> dict:
    return render(_user(ctx, request))


def _password_hash(body: dict, existing: User | None) -> tuple[str, str]:
    """(hash, algorithm) from ``password`` or ``password_hash``; neither clears an
    existing user's password and gives a new one a random one, as RabbitMQ does."""
    algorithm = body.get("hashing_algorithm", SHA256)
    if not isinstance(algorithm, str):
        raise bad_request("hashing_algorithm must be a string")
    if "password" in body and "password_hash" in body:
        raise bad_request("both_password_and_password_hash_are_provided")
    if "password" in body:
        password = body["password"]
        if not isinstance(password, str):
            raise bad_request("password must be a string")
        return hash_password(password), SHA256
    if "password_hash" in body:
        given = body["password_hash"]
        if not isinstance(given, str):
            raise bad_request("password_hash must be a string")
        try:
            base64.b64decode(given, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPError(400, "bad_request", ["not_base64", given]) from None
        return given, algorithm
    if existing is not None:
        return "", SHA256
    return hash_password(secrets.token_urlsafe(24)), SHA256


async def put(ctx: ManagementContext, request: Request) -> Response:
    name = request.params["user"]
    body = request.json_object()
    if "tags" not in body:
        raise bad_request("tags_not_present")
    tags = parse_tags(body["tags"])
    existing = ctx.access.users.get(name)
    password_hash, algorithm = _password_hash(body, existing)
    limits = body.get("limits", existing.limits if existing is not None else {})
    if not isinstance(limits, dict):
        raise bad_request("limits must be an object")
    user = User(name, password_hash, tags, dict(limits), algorithm)
    outcome = await apply(ctx, lambda: Accounts(ctx.broker).put_user(user))
    return created_or_updated(outcome.created)


async def delete(ctx: ManagementContext, request: Request) -> Response:
    name = _user(ctx, request).name
    await apply(ctx, lambda: Accounts(ctx.broker).delete_user(name))
    return NO_CONTENT


async def bulk_delete(ctx: ManagementContext, request: Request) -> Response:
    """Deletes in the order given; an unknown name stops there with 400
    (those before it are gone), as RabbitMQ does."""
    body = request.json_object()
    if "users" not in body:
        raise bad_request("[{key_missing,users}]")
    names = body["users"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_request("users must be a list of names")
    accounts = Accounts(ctx.broker)
    for name in names:
        if name not in ctx.access.users:
            await ctx.written()
            raise HTTPError(400, "bad_request", ["no_such_user", name])
        accounts.delete_user(name)
    await ctx.written()
    return NO_CONTENT


async def permissions(ctx: ManagementContext, request: Request) -> object:
    name = _user(ctx, request).name
    items = [render_permission(user, vhost, p)
             for (user, vhost), p in ctx.access.permissions.items() if user == name]  # fmt: skip
    return listing.render(request, items, ("vhost",))


async def topic_permissions(ctx: ManagementContext, request: Request) -> object:
    name = _user(ctx, request).name
    items = [render_topic_permission(user, vhost, p)
             for (user, vhost), found in ctx.access.topic_permissions.items() if user == name
             for p in found.values()]  # fmt: skip
    return listing.render(request, items, ("vhost", "exchange"))
