"""trace_on, trace_off: the firehose tracer of a vhost, through PUT /api/vhosts."""

from __future__ import annotations

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, Text, register
from amqpd.ctl.errors import failed


def _switch(inv: Invocation, on: bool) -> Result:
    vhost = inv.opts.vhost
    path = f"/api/vhosts/{quote(vhost)}"
    try:
        found = inv.client.get(path)
    except ApiError as err:
        if err.status != 404:
            raise failed(err.reason) from None
        found = None
    # rabbitmqctl answers the same for a vhost that does not exist; the API has no
    # way to switch one on before it is made, so nothing changes then.
    if isinstance(found, dict):
        body = {
            "description": found.get("description", ""),
            "tags": ",".join(found.get("tags") or []),
            "tracing": on,
        }
        try:
            inv.client.put(path, body)
        except ApiError as err:
            raise failed(err.reason) from None
    text = f"Trace {'enabled' if on else 'disabled'} for vhost {vhost}"
    return Text([text], json={"node": inv.node, "result": "ok", "value": text})


register(
    "ctl",
    Command(
        name="trace_on",
        usage="trace_on [--vhost <vhost>]",
        run=lambda inv: _switch(inv, True),
        banner=lambda inv: f'Starting tracing for vhost "{inv.opts.vhost}" ...',
    ),
    Command(
        name="trace_off",
        usage="trace_off [--vhost <vhost>]",
        run=lambda inv: _switch(inv, False),
        banner=lambda inv: f'Stopping tracing for vhost "{inv.opts.vhost}" ...',
    ),
)
