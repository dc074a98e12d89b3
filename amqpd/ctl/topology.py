"""list_exchanges and list_bindings."""

from __future__ import annotations

from amqpd.ctl.command import register
from amqpd.ctl.lists import ListSpec, blank_if_none, list_command

EXCHANGE_ITEMS = ("name", "type", "durable", "auto_delete", "internal", "arguments", "policy")
BINDING_ITEMS = (
    "source_name", "source_kind", "destination_name", "destination_kind", "routing_key",
    "arguments",
)  # fmt: skip

register(
    "ctl",
    list_command(
        ListSpec(
            name="list_exchanges",
            path="/api/exchanges/{vhost}",
            known=EXCHANGE_ITEMS,
            default=("name", "type"),
            banner=lambda inv: f"Listing exchanges for vhost {inv.opts.vhost} ...",
            getters={"policy": blank_if_none("policy")},
            usage_extra="[--vhost <vhost>] ",
        )
    ),
    list_command(
        ListSpec(
            name="list_bindings",
            path="/api/bindings/{vhost}",
            known=BINDING_ITEMS,
            default=BINDING_ITEMS,
            banner=lambda inv: f"Listing bindings for vhost {inv.opts.vhost}...",
            getters={
                "source_name": lambda b: b.get("source"),
                "source_kind": lambda b: "exchange",
                "destination_name": lambda b: b.get("destination"),
                "destination_kind": lambda b: b.get("destination_type"),
            },
            usage_extra="[--vhost <vhost>] ",
        )
    ),
)
