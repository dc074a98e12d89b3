"""/api/definitions and /api/definitions/{vhost}: export (GET) and import (POST).

Administrators only, as in RabbitMQ. The format, the import order and the
answers to bad files are RabbitMQ 3.10's (amqpd/model/definitions.py). An
import is answered once everything it changed is on disk, a refused one too
(what it imported before the bad record stays, as in RabbitMQ).
"""

from __future__ import annotations

import json

from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request
from amqpd.management.request import NO_CONTENT, Request, Response
from amqpd.management.resources.values import json_safe
from amqpd.model import definitions
from amqpd.model.access import ADMINISTRATOR

JSON_TYPES = ("application/json",)


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/definitions", ADMINISTRATOR, get=export, post=import_all)
    router.add("/api/definitions/{vhost}", ADMINISTRATOR, get=export_vhost, post=import_vhost)


def _download(request: Request, body: dict) -> Response:
    """``?download=NAME`` asks for the file as an attachment, as RabbitMQ answers it."""
    headers = {}
    name = request.query.get("download")
    if name is not None:
        headers["content-disposition"] = f"attachment; filename={name}"
    return Response(200, json_safe(body), headers)


async def export(ctx: ManagementContext, request: Request) -> Response:
    node = ctx.node
    body = definitions.export(ctx.broker, node.product_name, node.product_version,
                              node.rabbitmq_version)  # fmt: skip
    return _download(request, body)


async def export_vhost(ctx: ManagementContext, request: Request) -> Response:
    vhost = request.params["vhost"]
    if vhost not in ctx.broker.vhosts:
        raise bad_request("vhost_not_found")
    return _download(request, definitions.export_vhost(ctx.broker, vhost,
                                                       ctx.node.rabbitmq_version))  # fmt: skip


def _parse(request: Request) -> dict:
    """The body as a JSON object: 415 without a JSON content type (RabbitMQ's
    cowboy answers it with no body), 400 "failed_to_parse_json" if it is not one."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise HTTPError(415, "", "")
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise bad_request("failed_to_parse_json")
    return body


async def _import(ctx: ManagementContext, request: Request, vhost: str | None) -> Response:
    body = _parse(request)
    if vhost is not None and vhost not in ctx.broker.vhosts:
        raise HTTPError(404, "not_found", "vhost_not_found")
    try:
        outcome = definitions.apply(ctx.broker, body, request.user.name, vhost)
    except definitions.DefinitionsError as err:
        if err.durable:
            await ctx.written()
        raise HTTPError(400, "bad_request", err.reason) from None
    if outcome.durable:
        await ctx.written()
    return NO_CONTENT


async def import_all(ctx: ManagementContext, request: Request) -> Response:
    return await _import(ctx, request, None)


async def import_vhost(ctx: ManagementContext, request: Request) -> Response:
    return await _import(ctx, request, request.params["vhost"])
