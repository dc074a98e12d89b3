"""set_permissions, clear_permissions, list_permissions, list_user_permissions."""

from __future__ import annotations

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, register
from amqpd.ctl.errors import NOUSER, failed
from amqpd.ctl.lists import ListSpec, list_command

PATTERNS = ("configure", "write", "read")


def permission_path(inv: Invocation) -> str:
    return f"/api/permissions/{quote(inv.opts.vhost)}/{quote(inv.args[0])}"


def check_subjects(inv: Invocation) -> None:
    if not inv.client.exists(f"/api/vhosts/{quote(inv.opts.vhost)}"):
        raise failed(f"Virtual host {inv.opts.vhost} does not exist")
    if not inv.client.exists(f"/api/users/{quote(inv.args[0])}"):
        raise failed(f'User "{inv.args[0]}" does not exist', NOUSER)


def set_permissions(inv: Invocation) -> Result:
    check_subjects(inv)
    try:
        inv.client.put(permission_path(inv), dict(zip(PATTERNS, inv.args[1:], strict=True)))
    except ApiError as err:
        raise failed(err.reason) from None
    return None


def clear_permissions(inv: Invocation) -> Result:
    check_subjects(inv)
    try:
        inv.client.delete(permission_path(inv))
    except ApiError as err:
        if err.status != 404:  # nothing to clear is not an error
            raise failed(err.reason) from None
    return None


register(
    "ctl",
    Command(
        name="set_permissions",
        usage="set_permissions [--vhost <vhost>] <username> <conf> <write> <read>",
        run=set_permissions,
        banner=lambda inv: (
            f'Setting permissions for user "{inv.args[0]}" in vhost "{inv.opts.vhost}" ...'
        ),
        nargs=(4, 4),
    ),
    Command(
        name="clear_permissions",
        usage="clear_permissions [--vhost <vhost>] <username>",
        run=clear_permissions,
        banner=lambda inv: (
            f'Clearing permissions for user "{inv.args[0]}" in vhost "{inv.opts.vhost}" ...'
        ),
        nargs=(1, 1),
    ),
    list_command(
        ListSpec(
            name="list_permissions",
            path="/api/vhosts/{vhost}/permissions",
            known=("user", *PATTERNS),
            default=("user", *PATTERNS),
            banner=lambda inv: f'Listing permissions for vhost "{inv.opts.vhost}" ...',
            usage_extra="[--vhost <vhost>] ",
        )
    ),
)


def list_user_permissions(inv: Invocation) -> Result:
    spec = ListSpec(
        name="list_user_permissions",
        path=f"/api/users/{quote(inv.args[0])}/permissions",
        known=("vhost", *PATTERNS),
        default=("vhost", *PATTERNS),
        banner=lambda inv: "",
    )
    if not inv.client.exists(f"/api/users/{quote(inv.args[0])}"):
        raise failed(f'User "{inv.args[0]}" does not exist', NOUSER)
    return list_command(spec).run(Invocation([], inv.opts, inv.argv, inv.client))


register(
    "ctl",
    Command(
        name="list_user_permissions",
        usage="list_user_permissions [--no-table-headers] <username>",
        run=list_user_permissions,
        banner=lambda inv: f'Listing permissions for user "{inv.args[0]}" ...',
        nargs=(1, 1),
    ),
)
