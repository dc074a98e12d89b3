"""/api/parameters and /api/global-parameters.

Vhost-scoped parameters belong to components; RabbitMQ 3.10 without plugins
has one, vhost-limits, kept with the vhosts (model/access.py) and listed here
as RabbitMQ lists it. Any other component is refused with RabbitMQ's text.
Global parameters are stored as given (cluster_name and the rest).
"""

from __future__ import annotations

import json

from amqpd.management import listing
from amqpd.management.auth import visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply, vhost_param
from amqpd.management.resources.policies import required
from amqpd.model.access import LIMIT_NAMES
from amqpd.model.accounts import Accounts
from amqpd.model.admin import Outcome
from amqpd.model.policy_admin import PolicyAdmin

VHOST_LIMITS = "vhost-limits"


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/parameters", tag="policymaker", get=list_all)
    router.add("/api/parameters/{component}", tag="policymaker", get=list_component)
    router.add("/api/parameters/{component}/{vhost}", tag="policymaker", get=list_vhost)
    router.add("/api/parameters/{component}/{vhost}/{name}", tag="policymaker",
               get=show, put=put, delete=delete)  # fmt: skip
    router.add("/api/global-parameters", tag="administrator", get=list_globals)
    router.add("/api/global-parameters/{name}", tag="administrator",
               get=show_global, put=put_global, delete=delete_global)  # fmt: skip


# ---- vhost parameters -------------------------------------------------------------------
def _parameters(ctx: ManagementContext, vhosts: list[str]) -> list[dict]:
    found = []
    for vhost in vhosts:
        info = ctx.access.vhosts.get(vhost)
        if info is not None and info.limits:
            found.append({"value": dict(info.limits), "vhost": vhost,
                          "component": VHOST_LIMITS, "name": "limits"})  # fmt: skip
    return found


async def list_all(ctx: ManagementContext, request: Request) -> object:
    return listing.render(request, _parameters(ctx, visible_vhosts(ctx.access, request.user)))


async def list_component(ctx: ManagementContext, request: Request) -> object:
    component = request.params["component"]
    items = _parameters(ctx, visible_vhosts(ctx.access, request.user))
    return listing.render(request, [p for p in items if p["component"] == component])


async def list_vhost(ctx: ManagementContext, request: Request) -> object:
    component, vhost = request.params["component"], vhost_param(ctx, request)
    items = [p for p in _parameters(ctx, [vhost]) if p["component"] == component]
    return listing.render(request, items)


def _find(ctx: ManagementContext, request: Request) -> dict:
    vhost = vhost_param(ctx, request)
    for p in _parameters(ctx, [vhost]):
        if p["component"] == request.params["component"] and p["name"] == request.params["name"]:
            return p
    raise not_found()


async def show(ctx: ManagementContext, request: Request) -> object:
    return _find(ctx, request)


async def put(ctx: ManagementContext, request: Request) -> Response:
    vhost, component = request.params["vhost"], request.params["component"]
    if vhost not in ctx.access.vhosts:
        raise HTTPError(404, "not_found", "vhost_not_found")
    vhost_param(ctx, request)
    body = request.json_object()
    required(body, "value")
    value = body["value"]
    if component != VHOST_LIMITS:
        raise bad_request(f"Validation failed\n\ncomponent {component} not found\n")
    limits = _limits_value(value)
    existed = bool(ctx.access.vhosts[vhost].limits)
    await apply(ctx, lambda: _replace_limits(ctx, vhost, limits))
    return created_or_updated(not existed)


def _limits_value(value: object) -> dict[str, int]:
    """The vhost-limits parameter's value, as RabbitMQ validates it (its
    parameters endpoint HTML-escapes the reason)."""
    if not isinstance(value, dict):
        raise bad_request(f"Validation failed\n\nlimits not a list {_escaped(value)}\n")
    unknown = [(k, v) for k, v in value.items() if k not in LIMIT_NAMES]
    if unknown:
        terms = ",".join(f"{{{_escaped(k)},{_escaped(v)}}}" for k, v in unknown)
        raise bad_request(f"Validation failed\n\nUnrecognised terms [{terms}] in limits\n")
    for name, limit in value.items():
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise bad_request(
                f"Validation failed\n\n{name} should be a number, actually was "
                f"{_escaped(limit)}\n"
            )
    return dict(value)


def _escaped(value: object) -> str:
    """A JSON value as RabbitMQ prints it in these reasons: strings as Erlang
    binaries, HTML-escaped as its parameters endpoint escapes them."""
    if isinstance(value, str):
        return f"&lt;&lt;{json.dumps(value)}&gt;&gt;"
    return json.dumps(value)


def _replace_limits(ctx: ManagementContext, vhost: str, limits: dict[str, int]) -> Outcome:
    """The parameter holds every limit at once: those left out are cleared."""
    accounts = Accounts(ctx.broker)
    durable = False
    for name in LIMIT_NAMES:
        outcome = accounts.set_vhost_limit(vhost, name, limits.get(name))
        durable = durable or outcome.durable
    return Outcome(durable=durable)


async def delete(ctx: ManagementContext, request: Request) -> Response:
    _find(ctx, request)
    vhost = request.params["vhost"]
    await apply(ctx, lambda: _replace_limits(ctx, vhost, {}))
    return NO_CONTENT


# ---- global parameters ------------------------------------------------------------------
def _render_global(name: str, value: object) -> dict:
    return {"name": name, "value": value}


async def list_globals(ctx: ManagementContext, request: Request) -> object:
    items = [_render_global(k, v) for k, v in ctx.broker.parameters.items()]
    return listing.render(request, items)


async def show_global(ctx: ManagementContext, request: Request) -> object:
    name = request.params["name"]
    if name not in ctx.broker.parameters:
        raise not_found()
    return _render_global(name, ctx.broker.parameters[name])


async def put_global(ctx: ManagementContext, request: Request) -> Response:
    name, body = request.params["name"], request.json_object()
    required(body, "value")
    outcome = await apply(ctx, lambda: PolicyAdmin(ctx.broker).put_global(name, body["value"]))
    return created_or_updated(outcome.created)


async def delete_global(ctx: ManagementContext, request: Request) -> Response:
    name = request.params["name"]
    if name not in ctx.broker.parameters:
        raise not_found()
    await apply(ctx, lambda: PolicyAdmin(ctx.broker).clear_global(name))
    return NO_CONTENT
