"""/api/policies and /api/operator-policies: list, show, set, clear.

Validation and its texts are RabbitMQ's (model/policies.py). RabbitMQ escapes
the angle brackets of a policy's refusal as HTML, and not an operator
policy's; we answer the same bytes.
"""

from __future__ import annotations

from amqpd.management import listing
from amqpd.management.auth import require_vhost, visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply, vhost_param
from amqpd.model import policies
from amqpd.model.policy_admin import PolicyAdmin


def register(router) -> None:  # noqa: ANN001 - a Router
    for path, operator, tag in (("policies", False, "policymaker"),
                                ("operator-policies", True, "administrator")):  # fmt: skip
        router.add(f"/api/{path}", get=_lister(operator))
        router.add(f"/api/{path}/{{vhost}}", get=_lister(operator, one_vhost=True))
        router.add(f"/api/{path}/{{vhost}}/{{name}}", tag=tag, get=_shower(operator),
                   put=_setter(operator), delete=_clearer(operator))  # fmt: skip


def _table(ctx: ManagementContext, vhost: str, operator: bool) -> dict[str, policies.Policy]:
    found = ctx.broker.vhosts.get(vhost)
    return found.policies.table(operator) if found is not None else {}


def _lister(operator: bool, one_vhost: bool = False):  # noqa: ANN202 - a handler
    async def handler(ctx: ManagementContext, request: Request) -> object:
        if one_vhost:
            vhosts = [vhost_param(ctx, request)]
        else:
            vhosts = visible_vhosts(ctx.access, request.user)
        items = [p.render() for v in vhosts for p in _table(ctx, v, operator).values()]
        return listing.render(request, items, ("priority",))

    return handler


def _shower(operator: bool):  # noqa: ANN202 - a handler
    async def handler(ctx: ManagementContext, request: Request) -> object:
        found = _table(ctx, vhost_param(ctx, request), operator).get(request.params["name"])
        if found is None:
            raise not_found()
        return found.render()

    return handler


def escape_html_tags(text: str) -> str:
    """rabbit_mgmt_format:escape_html_tags, as the policy resource applies it."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def required(body: dict, *keys: str) -> None:
    """rabbit_mgmt_util:with_decode: every key must be there."""
    for key in keys:
        if key not in body:
            raise bad_request(f"[{{key_missing,{key}}}]")


def _setter(operator: bool):  # noqa: ANN202 - a handler
    async def handler(ctx: ManagementContext, request: Request) -> Response:
        vhost, name = request.params["vhost"], request.params["name"]
        if vhost not in ctx.access.vhosts:
            raise HTTPError(404, "not_found", "vhost_not_found")
        require_vhost(ctx.access, request.user, vhost)
        body = request.json_object()
        required(body, "pattern", "definition")
        try:
            policy = policies.parse(vhost, name, body, operator)
        except policies.PolicyError as err:
            raise bad_request(err.text if operator else escape_html_tags(err.text)) from None
        outcome = await apply(ctx, lambda: PolicyAdmin(ctx.broker).put_policy(policy, operator))
        return created_or_updated(outcome.created)

    return handler


def _clearer(operator: bool):  # noqa: ANN202 - a handler
    async def handler(ctx: ManagementContext, request: Request) -> Response:
        vhost, name = vhost_param(ctx, request), request.params["name"]
        if name not in _table(ctx, vhost, operator):
            raise not_found()
        await apply(ctx, lambda: PolicyAdmin(ctx.broker).clear_policy(vhost, name, operator))
        return NO_CONTENT

    return handler
