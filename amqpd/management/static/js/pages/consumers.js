// Consumers: who consumes which queue, with what prefetch and acks.

import { enc } from "../api.js";
import { Table } from "../table.js";
import { h, route, kv, section } from "../ui.js";

export default function consumers(main, _params, ctx) {
  const vhost = ctx.vhost;
  const table = new Table({
    source: vhost ? `consumers/${enc(vhost)}` : "consumers", label: "consumers", filterable: false,
    defaultSort: "queue.name", rowKey: (c) => `${c.channel_details.name}|${c.consumer_tag}`,
    empty: "Nobody consumes.",
    columns: [
      { key: "queue.name", label: "Queue", render: (c) => h("a", { href: route("queues", c.queue.vhost, c.queue.name) }, c.queue.name) },
      !vhost && { key: "queue.vhost", label: "Vhost" },
      { key: "consumer_tag", label: "Tag", render: (c) => h("code", {}, c.consumer_tag) },
      { key: "channel_details.name", label: "Channel", render: (c) => h("a", { href: route("connections", c.channel_details.connection_name) }, c.channel_details.name) },
      { key: "ack_required", label: "Ack", render: (c) => (c.ack_required ? "manual" : "auto") },
      { key: "prefetch_count", label: "Prefetch", num: true },
      { key: "exclusive", label: "Exclusive", render: (c) => (c.exclusive ? "yes" : "") },
      { key: "activity_status", label: "Status" },
      { key: "arguments", label: "Arguments", sort: false, render: (c) => (Object.keys(c.arguments || {}).length ? kv(c.arguments) : "") },
    ].filter(Boolean),
  });
  main.append(h("h1", {}, "Consumers"), section("", table.element));
  return { refresh: () => table.refresh() };
}
