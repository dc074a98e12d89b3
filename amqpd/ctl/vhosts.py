"""add_vhost, delete_vhost, list_vhosts."""

from __future__ import annotations

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, register
from amqpd.ctl.errors import DATAERR, CtlError, failed
from amqpd.ctl.lists import ListSpec, list_command

VHOST_ITEMS = ("name", "description", "tags", "tracing", "cluster_state", "default_queue_type")


def add(inv: Invocation) -> Result:
    body: dict[str, object] = {}
    for flag, key in (("--description", "description"), ("--tags", "tags")):
        if inv.switch(flag):
            body[key] = inv.switch(flag)
    try:
        inv.client.put(f"/api/vhosts/{quote(inv.args[0])}", body)
    except ApiError as err:
        raise failed(err.reason) from None
    return None


def delete(inv: Invocation) -> Result:
    try:
        inv.client.delete(f"/api/vhosts/{quote(inv.args[0])}")
    except ApiError as err:
        if err.status == 404:
            raise CtlError(f"Virtual host '{inv.args[0]}' does not exist", DATAERR) from None
        raise failed(err.reason) from None
    return None


register(
    "ctl",
    Command(
        name="add_vhost",
        usage='add_vhost <vhost> [--description <description> --tags "<tag1>,<tag2>,<...>"]',
        run=add,
        banner=lambda inv: f'Adding vhost "{inv.args[0]}" ...',
        nargs=(1, 1),
        switches={"--description": True, "--tags": True, "--default-queue-type": True},
    ),
    Command(
        name="delete_vhost",
        usage="delete_vhost <vhost>",
        run=delete,
        banner=lambda inv: f'Deleting vhost "{inv.args[0]}" ...',
        nargs=(1, 1),
    ),
    list_command(
        ListSpec(
            name="list_vhosts",
            path="/api/vhosts",
            known=VHOST_ITEMS,
            default=("name",),
            banner=lambda inv: "Listing vhosts ...",
        )
    ),
)
