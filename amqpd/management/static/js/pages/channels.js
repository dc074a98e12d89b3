// Channels: prefetch, unacked and mode of every open channel.

import { enc } from "../api.js";
import { Table } from "../table.js";
import { h, route, badge, section } from "../ui.js";

export default function channels(main, _params, ctx) {
  const vhost = ctx.vhost;
  const table = new Table({
    source: vhost ? `vhosts/${enc(vhost)}/channels` : "channels", label: "channels", defaultSort: "name",
    empty: "No channels open.",
    columns: [
      { key: "name", label: "Channel", render: (c) => h("a", { href: route("connections", c.connection_details.name) }, c.name) },
      { key: "user", label: "User" },
      !vhost && { key: "vhost", label: "Vhost" },
      { key: "confirm", label: "Mode", render: (c) => [c.confirm && badge("confirm", "dim"), c.transactional && badge("tx", "dim")] },
      { key: "prefetch_count", label: "Prefetch", num: true },
      { key: "global_prefetch_count", label: "Global prefetch", num: true },
      { key: "messages_unacknowledged", label: "Unacked", num: true },
      { key: "messages_unconfirmed", label: "Unconfirmed", num: true },
      { key: "consumer_count", label: "Consumers", num: true },
      { key: "state", label: "State" },
    ].filter(Boolean),
  });
  main.append(h("h1", {}, "Channels"), section("", table.element));
  return { refresh: () => table.refresh() };
}
