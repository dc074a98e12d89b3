"""set_policy, clear_policy, list_policies."""

from __future__ import annotations

import html
import json

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, UsageError, register
from amqpd.ctl.errors import failed
from amqpd.ctl.lists import ListSpec, list_command

POLICY_ITEMS = ("vhost", "name", "pattern", "apply-to", "definition", "priority")


def policy_path(inv: Invocation) -> str:
    return f"/api/policies/{quote(inv.opts.vhost)}/{quote(inv.args[0])}"


def priority(inv: Invocation) -> int:
    text = str(inv.switch("--priority", "0"))
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"Invalid options for this command:\n--priority : {text}", inv.argv
        ) from None


def check_priority(inv: Invocation) -> None:
    priority(inv)


def set_policy(inv: Invocation) -> Result:
    try:
        definition = json.loads(inv.args[2])
    except ValueError:
        raise failed("JSON decoding error. Reason: badarg") from None
    body = {
        "pattern": inv.args[1],
        "definition": definition,
        "priority": priority(inv),
        "apply-to": inv.switch("--apply-to", "all"),
    }
    try:
        inv.client.put(policy_path(inv), body)
    except ApiError as err:
        raise failed(html.unescape(err.reason).rstrip("\n")) from None
    return None


def clear_policy(inv: Invocation) -> Result:
    try:
        inv.client.delete(policy_path(inv))
    except ApiError as err:
        raise failed("Parameter does not exist" if err.status == 404 else err.reason) from None
    return None


def set_banner(inv: Invocation) -> str:
    name, pattern, definition = inv.args
    return (
        f'Setting policy "{name}" for pattern "{pattern}" to "{definition}" with priority '
        f'"{inv.switch("--priority", "0")}" for vhost "{inv.opts.vhost}" ...'
    )


register(
    "ctl",
    Command(
        name="set_policy",
        usage=(
            "set_policy [--vhost <vhost>] [--priority <priority>] [--apply-to <apply-to>] "
            "<name> <pattern> <definition>"
        ),
        run=set_policy,
        banner=set_banner,
        nargs=(3, 3),
        switches={"--priority": True, "--apply-to": True},
        validate=check_priority,
    ),
    Command(
        name="clear_policy",
        usage="clear_policy [--vhost <vhost>] <name>",
        run=clear_policy,
        banner=lambda inv: f'Clearing policy "{inv.args[0]}" on vhost "{inv.opts.vhost}" ...',
        nargs=(1, 1),
    ),
    list_command(
        ListSpec(
            name="list_policies",
            path="/api/policies/{vhost}",
            known=POLICY_ITEMS,
            default=POLICY_ITEMS,
            banner=lambda inv: f'Listing policies for vhost "{inv.opts.vhost}" ...',
            getters={
                "definition": lambda p: json.dumps(p.get("definition"), separators=(",", ":"))
            },
            usage_extra="[--vhost <vhost>] ",
        )
    ),
)
